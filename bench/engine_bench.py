"""Engine benchmark: simulated clients through complete conversations, durable.

Each scenario runs in its own process (so its peak memory is its own) and prints one JSON line;
``python -m bench`` runs them all and prints a table of medians. Every message is accepted into the
inbox and processed (state, transcript, case, outbox committed) before the client sends the next.
The reference is a bare echo behind the same entry point (``handle(inbound)``): no flow, no storage.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from bot.messages import Accepted, Inbound
from flows.types import ClientInput

# Two complete conversations, alternated: a shipment (11 messages) and a home visit (14).
SHIPMENT = [
    "bonjour",
    "j'ai perdu mes lunettes",
    "oui",
    "non",
    "par la poste",
    "8 avenue Jean Jaurès 69007 Lyon",
    "Jean Dupont",
    "06 98 76 54 32",
    "pas de mutuelle",
    "oui",
    "merci !",
]
VISIT = [
    "bonjour",
    "mes lunettes sont cassées",
    "oui c'est urgent",
    "infirmière",
    "à domicile",
    "oui",
    "12 rue Oberkampf 75011 Paris",
    "demain matin",
    "Marie Curie",
    "06 12 34 56 78",
    "la MGEN",
    "passer",  # no photo of the card
    "oui",
    "merci",
]


_stats: dict[str, int] = {}


class Target(Protocol):
    async def handle(self, inbound: Inbound) -> Accepted: ...


class Echo:
    """The reference: the same entry point, answering at once, storing nothing."""

    def __init__(self) -> None:
        self.replies: list[str] = []

    async def handle(self, inbound: Inbound) -> Accepted:
        self.replies.append(inbound.said.text or "")
        if len(self.replies) > 1000:
            self.replies.clear()
        await asyncio.sleep(0)
        return Accepted(1)


class TwoStep:
    """The webhook path: store and acknowledge (one commit), then process (another commit)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def handle(self, inbound: Inbound) -> Accepted:
        accepted: Accepted = await self.engine.accept(inbound)
        await self.engine.process(accepted, inbound)
        return accepted


async def _client(target: Target, user: str, script: list[str], latencies: list[float]) -> None:
    for text in script:
        inbound = Inbound("bench", user, uuid.uuid4().hex, ClientInput(text=text))
        started = time.perf_counter()
        await target.handle(inbound)
        latencies.append(time.perf_counter() - started)


async def _round(target: Target, concurrency: int, conversations: int, tag: str) -> dict[str, float]:
    scripts = itertools.cycle([SHIPMENT, VISIT])
    queue = [(f"{tag}-{i}", next(scripts)) for i in range(conversations)]
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            user, script = queue.pop()
            await _client(target, user, script, latencies)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "conversations_per_s": conversations / elapsed,
        "messages_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


async def _with_engine(url: str, data: Path, body: Callable[[Target], Awaitable[Any]]) -> Any:
    from bot.app import build, running
    from bot.settings import Settings

    settings = Settings(_env_file=None, database_url=url, optibot_data_dir=data)  # type: ignore[call-arg]
    services = build(settings, [])
    async with running(services, deliver=False, freeze_gc=True, retention=False):
        result = await body(services.engine)
        _stats["batches"] = services.engine.pipeline.batches
        return result


async def _postgres_database(base_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"optibot_bench_{uuid.uuid4().hex[:8]}"
    admin_dsn = make_url(base_url).set(drivername="postgresql").render_as_string(False)
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()

    async def drop() -> None:
        connection = await asyncpg.connect(admin_dsn)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()

    return make_url(base_url).set(database=name).render_as_string(False), drop


async def scenario(
    backend: str, concurrency: int, conversations: int, rounds: int, pg_url: str, path: str = "handle"
) -> dict[str, Any]:
    results: list[dict[str, float]] = []

    async def run_rounds(target: Target) -> None:
        if path == "two-step":
            target = TwoStep(target)
        await _round(target, concurrency, max(4, conversations // 10), "warmup")
        for number in range(rounds):
            results.append(await _round(target, concurrency, conversations, f"r{number}"))

    if backend == "echo":
        await run_rounds(Echo())
    elif backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            await _with_engine(url, Path(folder) / "data", run_rounds)
    else:
        url, drop = await _postgres_database(pg_url)
        try:
            with tempfile.TemporaryDirectory() as folder:
                await _with_engine(url, Path(folder) / "data", run_rounds)
        finally:
            await drop()
    medians = {key: statistics.median(r[key] for r in results) for key in results[0]}
    return {
        "backend": backend,
        "path": path,
        "concurrency": concurrency,
        "rounds": rounds,
        "conversations": conversations,
        **medians,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "transactions": _stats.get("batches", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("echo", "sqlite", "postgres"), required=True)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--path", choices=("handle", "two-step"), default="handle")
    args = parser.parse_args()
    result = asyncio.run(
        scenario(
            args.backend, args.concurrency, args.conversations, args.rounds, args.postgres_url, args.path
        )
    )
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
