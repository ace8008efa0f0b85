"""Stopping the service: a background loop that died earlier does not stop the rest of the shutdown."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.harness import harness


async def test_a_loop_that_died_does_not_stop_the_shutdown(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def dies() -> None:
        raise RuntimeError("a bug in a background loop")

    async with harness(database_url, tmp_path) as h:
        services = h.services
        dead = asyncio.create_task(dies(), name="optibot-dead")
        await asyncio.gather(dead, return_exceptions=True)
        services.tasks.insert(0, dead)  # first: the others are stopped after it
        after = services.tasks[1:]
    # The engine was stopped and every other loop awaited; the death was told, without its text.
    assert services.engine.pipeline.pending() == 0
    assert all(task.done() for task in after)
    assert services.tasks == []
    told = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("optibot-dead" in line and "RuntimeError" in line for line in told), told
    assert not any("a bug in a background loop" in line for line in told)
