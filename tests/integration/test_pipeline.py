"""The group-commit pipeline on its own: fairness between conversations, order within one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.pipeline import Pipeline
from storage.database import create_engine


async def test_busy_conversations_do_not_starve_a_quiet_one(tmp_path: Path) -> None:
    database = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    batches: list[list[str]] = []

    async def accept(connection: AsyncConnection, items: Sequence[str]) -> list[None]:
        return [None] * len(items)

    async def process(connection: AsyncConnection, items: Sequence[str]) -> list[None]:
        batches.append(list(items))
        return [None] * len(items)

    async def fail(item: str, error: BaseException) -> None:
        raise AssertionError(f"{item} failed: {error}")

    pipeline: Pipeline[str, str] = Pipeline(database, accept=accept, process=process, fail=fail, batch_size=2)
    futures = [pipeline.process(key, f"{key}{n}") for n in range(5) for key in ("A", "B")]
    futures.append(pipeline.process("C", "C0"))
    pipeline.start()
    try:
        await asyncio.wait_for(asyncio.gather(*futures), 10)
    finally:
        await pipeline.stop()
        await database.dispose()
    assert any("C0" in batch for batch in batches[:2]), batches
    for key in ("A", "B"):  # each conversation in order, one message per batch
        assert [i for b in batches for i in b if i[0] == key] == [f"{key}{n}" for n in range(5)]
        assert all(sum(i[0] == key for i in b) <= 1 for b in batches)
