"""Big tables (issue 17, point 4): the console, the reports and the retention sweep on a year of data.

One process per database (``--backend sqlite|postgres``): a scratch database migrated to head, the
data set of ``bench/big_seed.py`` (100,000 cases, 1,000,000 messages by default) inserted in big
batches, then each read timed through the services the app builds (``bot.app.build``), as the
console's routes call them:

- ``queue``: the console's queue with its filters (the open statuses; queued only; visits; one
  department; "mine"; the closed cases, everywhere and in one department; every status), the first
  page and, when the service pages, the next pages by their cursor;
- ``case``: opening a case's page (case, client, consent, offers, notes, the transcript's newest
  messages, the access journal's line), on random cases and on the very long transcripts;
- ``history``: a client's previous cases (``storage.privacy.client_summary``), busiest clients first;
- ``report``: the federation's report (``bot.reports``) over 7, 30 (everywhere, one department) and
  365 days;
- ``retention``: hourly passes (the sweep's default interval) on data seeded as the sweep leaves it,
  the clock moving an hour each time.

Every statement a measured read runs is captured once and EXPLAINed; the summary says which tables
are read whole ("SCAN"/"Seq Scan") and which through an index. Then the memory one open
conversation costs: N conversations left mid-flow in the engine, the tracemalloc and RSS growth
divided by N. Prints one JSON line (the last) for ``python -m bench --only bigtables``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.big_seed import NOW, seed

TARGET_P99_MS = 50.0


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Capture:
    """The statements one sample runs, to EXPLAIN afterwards (``kind`` names the sample)."""

    kind: str | None = None
    seen: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)

    def __call__(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if self.kind is None or many:
            return
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "DELETE", "UPDATE")):
            self.seen.setdefault(self.kind, []).append((statement, parameters))


def _figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_ms": round(1000 * ordered[-1], 2),
    }


async def _timed(samples: list[float], call: Callable[[], Awaitable[Any]]) -> Any:
    started = time.perf_counter()
    result = await call()
    samples.append(time.perf_counter() - started)
    return result


async def _explain(database: Any, capture: Capture) -> dict[str, list[str]]:
    """Per kind: the distinct plan lines that read a table (whole or by index), shortened."""
    sqlite = database.dialect.name == "sqlite"
    plans: dict[str, list[str]] = {}
    async with database.connect() as connection:
        for kind, statements in capture.seen.items():
            lines: list[str] = []
            for statement, parameters in statements:
                prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
                try:
                    rows = await connection.exec_driver_sql(prefix + statement, parameters)
                except Exception as error:
                    lines.append(f"(no plan: {type(error).__name__})")
                    continue
                for row in rows:
                    text = str(row[-1]).strip()
                    if sqlite and (text.startswith(("SCAN", "SEARCH")) or "INDEX" in text):
                        lines.append(text)
                    elif not sqlite and ("Scan" in text):
                        lines.append(text.split("  (cost")[0].lstrip("-> ").strip())
            plans[kind] = sorted(set(lines))
    return plans


async def measure(services: Any, seeded: Any, clock: Clock, samples: int) -> dict[str, Any]:
    from bot.console.auth import Operator
    from bot.console.service import QueueFilter
    from bot.reports import period_of
    from storage.privacy import client_summary

    rng = random.Random(4)
    console = services.console
    me = Operator(row_id=1, id="bench", name="op03", role="admin")
    capture = Capture()
    from sqlalchemy import event

    event.listen(services.database.sync_engine, "before_cursor_execute", capture)
    results: dict[str, Any] = {}

    filters = {
        "open (default)": QueueFilter(),
        "queued": QueueFilter(("queued",)),
        "open visits": QueueFilter(mode="visit"),
        "open dept 13": QueueFilter(department="13"),
        "mine": QueueFilter(mine=True),
        "done": QueueFilter(("done",)),
        "done+cancelled dept 75": QueueFilter(("done", "cancelled"), department="75"),
        "every status": QueueFilter(("queued", "claimed", "dispatched", "done", "cancelled")),
    }
    pages = getattr(console.queries, "queue_page", None)
    for name, wanted in filters.items():
        timings: list[float] = []
        next_timings: list[float] = []
        for n in range(samples):
            capture.kind = f"queue {name}" if n == 0 else None
            if pages is None:  # before keyset pagination: one list of up to 500
                page = await _timed(timings, lambda w=wanted: console.queue(me, w))
                continue
            page = await _timed(timings, lambda w=wanted: pages(me, w))
            cursor = page.next
            for depth in range(1, 6):  # the next five pages, by their cursor
                if not cursor:
                    break
                capture.kind = f"queue {name} (next page)" if n == 0 and depth == 1 else None
                cursor = (await _timed(next_timings, lambda w=wanted, c=cursor: pages(me, w, c))).next
        results[f"queue: {name}"] = {**_figures(timings), "rows": len(getattr(page, "cases", page))}
        if next_timings:
            results[f"queue: {name}, next pages"] = _figures(next_timings)

    timings = []
    for n, public_id in enumerate(rng.sample(seeded.cases, min(samples * 4, len(seeded.cases)))):
        capture.kind = "case" if n == 0 else None
        await _timed(timings, lambda p=public_id: console.case(me, p, viewed=True))
    results["case: open"] = _figures(timings)
    timings = []
    for n in range(max(samples, 20)):
        capture.kind = "case (3,000 messages)" if n == 0 else None
        public_id = seeded.long_cases[n % len(seeded.long_cases)]
        detail = await _timed(timings, lambda p=public_id: console.case(me, p, viewed=True))
    results["case: open, 3,000 messages"] = {**_figures(timings), "shown": len(detail.messages)}

    timings = []
    for n, client in enumerate(seeded.busy_clients[: samples * 4]):
        capture.kind = "history" if n == 0 else None

        async def history(c: int = client) -> Any:
            async with services.database.connect() as connection:
                return await client_summary(connection, c)

        await _timed(timings, history)
    results["history: a client's cases"] = _figures(timings)

    today = (NOW - timedelta(hours=12)).date()
    periods = {
        "7 days": period_of(today - timedelta(days=6), today),
        "30 days": period_of(today - timedelta(days=29), today),
        "30 days, dept 75": period_of(today - timedelta(days=29), today, "75"),
        "365 days": period_of(today - timedelta(days=364), today),
    }
    for name, period in periods.items():
        timings = []
        for n in range(max(5, samples // 3)):
            capture.kind = f"report {name}" if n == 0 else None
            report = await _timed(timings, lambda p=period: services.reports.report(p))
        results[f"report: {name}"] = {**_figures(timings), "cases": report.cases}

    # Retention: the data set is seeded as the hourly sweep leaves it; the passes follow the hour.
    privacy = console.queries.privacy
    timings = []
    anonymised = 0
    for n in range(max(10, samples // 2)):
        clock.now += timedelta(hours=1)
        capture.kind = "retention (hourly pass)" if n == 0 else None
        done = await _timed(timings, privacy.purge)
        anonymised += done.cases_anonymised + done.clients_erased
    results["retention: hourly pass"] = {
        **_figures(timings),
        "cases_or_clients_per_pass": anonymised / len(timings),
    }
    capture.kind = None
    event.remove(services.database.sync_engine, "before_cursor_execute", capture)
    plans = await _explain(services.database, capture)
    return {"reads": results, "plans": plans}


async def memory_per_conversation(count: int) -> dict[str, float]:
    """``count`` conversations left mid-flow (5 messages of 11) in a running engine on SQLite."""
    from bot.app import build, running
    from bot.messages import Inbound
    from bot.settings import Settings
    from flows.types import ClientInput

    def rss_kib() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    script = ["bonjour", "j'ai perdu mes lunettes", "oui", "non", "par la poste"]
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/memory.db"
        settings = Settings(_env_file=None, database_url=url, optibot_data_dir=Path(folder) / "data")  # type: ignore[call-arg]
        services = build(settings, [])
        async with running(services, deliver=False, retention=False):
            engine = services.engine

            async def talk(user: str) -> None:
                for text in script:
                    await engine.handle(Inbound("bench", user, uuid.uuid4().hex, ClientInput(text=text)))

            await asyncio.gather(*(talk(f"warm-{i}") for i in range(50)))
            gc.collect()
            tracemalloc.start()
            before_traced, before_rss = tracemalloc.get_traced_memory()[0], rss_kib()
            for start in range(0, count, 50):
                await asyncio.gather(*(talk(f"mem-{i}") for i in range(start, min(count, start + 50))))
            gc.collect()
            after_traced, after_rss = tracemalloc.get_traced_memory()[0], rss_kib()
            tracemalloc.stop()
    return {
        "conversations": count,
        "traced_bytes_per_conversation": round((after_traced - before_traced) / count),
        "rss_kib_per_conversation": round((after_rss - before_rss) / count, 2),
    }


async def _postgres(base_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    from bench.engine_bench import _postgres_database

    return await _postgres_database(base_url)


async def scenario(backend: str, cases: int, messages: int, samples: int, pg_url: str) -> dict[str, Any]:
    from bot.app import build, running
    from bot.settings import Settings
    from storage.database import create_engine
    from storage.migrate import upgrade

    clock = Clock()
    drop = None
    with tempfile.TemporaryDirectory() as folder:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{folder}/big.db"
        else:
            url, drop = await _postgres(pg_url)
        try:
            engine = create_engine(url)
            await upgrade(engine)
            started = time.perf_counter()
            async with engine.begin() as connection:
                seeded = await seed(connection, cases, messages)
            seeding = time.perf_counter() - started
            if backend == "postgres":  # what autovacuum does on a live database
                async with engine.connect() as connection:
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
                    await connection.exec_driver_sql("ANALYZE")
            await engine.dispose()
            settings = Settings(_env_file=None, database_url=url, optibot_data_dir=Path(folder) / "data")  # type: ignore[call-arg]
            services = build(settings, [], clock=clock)
            async with running(services, deliver=False, retention=False):
                measured = await measure(services, seeded, clock, samples)
        finally:
            if drop is not None:
                await drop()
    return {
        "backend": backend,
        "cases": cases,
        "messages": messages,
        "seeding_s": round(seeding, 1),
        "rows": seeded.counts,
        **measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgres", "memory"), required=True)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--conversations", type=int, default=1000, help="memory: open conversations")
    parser.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if args.backend == "memory":
        result: dict[str, Any] = {
            "backend": "memory",
            **asyncio.run(memory_per_conversation(args.conversations)),
        }
    else:
        result = asyncio.run(
            scenario(args.backend, args.cases, args.messages, args.samples, args.postgres_url)
        )
    print(json.dumps(result, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()


def report(pg_url: str) -> None:
    """``python -m bench --only bigtables``: each database in its own process, then the memory;
    a table of p50/p99 per read, the target's verdict, and the plans' full-table reads."""
    from bench.common import run_scenario

    results = [
        run_scenario(["bench.big_tables", f"--backend={backend}", f"--postgres-url={pg_url}"])
        for backend in ("sqlite", "postgres")
    ]
    memory = run_scenario(["bench.big_tables", "--backend=memory"])
    for result in results:
        print(json.dumps(result, default=str), file=sys.stderr)
    print(
        f"big tables: {results[0]['cases']:,} cases, {results[0]['messages']:,} messages; "
        f"p99 target {TARGET_P99_MS:.0f} ms"
    )
    header = f"{'read':<44} " + " ".join(
        f"{b['backend'] + ' p50':>12} {b['backend'] + ' p99':>12}" for b in results
    )
    print(header)
    print("-" * len(header))
    for name in results[0]["reads"]:
        cells = []
        for result in results:
            found = result["reads"].get(name, {})
            p99 = found.get("p99_ms")
            mark = "" if p99 is None or p99 <= TARGET_P99_MS else " !"
            cells.append(f"{found.get('p50_ms', '—'):>12} {str(p99) + mark:>12}")
        print(f"{name:<44} " + " ".join(cells))
    for result in results:
        scans = sorted(
            {
                line
                for lines in result["plans"].values()
                for line in lines
                if line.startswith(("SCAN ", "Seq Scan"))
            }
        )
        print(f"{result['backend']}: tables read whole by a measured read: {', '.join(scans) or 'none'}")
    print(
        f"memory per open conversation (engine, SQLite, {memory['conversations']} mid-flow): "
        f"{memory['traced_bytes_per_conversation']} B traced, {memory['rss_kib_per_conversation']} KiB RSS"
    )
