"""WhatsApp benchmarks, each scenario in its own process, printing one JSON line of medians.

``--scenario out``: replies written to the outbox of a fresh SQLite database, then drained through
the real :class:`OutboxSender` and :class:`WhatsAppChannel` (our Graph client on aiohttp, the channel's
pacing at ``WHATSAPP_MAX_PER_SECOND``) into the fake Graph API in its own process, which enforces
the number's throughput (at most that many sends accepted in any second, error 130429 beyond) and
the pair rate (131056). Sustained messages/s as the fake accepted them, and the errors it answered.
A fresh database and a fresh fake per round.

``--scenario in``: whole conversations (the scripts of ``bench/common.py``: typed text and presses of the
bot's reply buttons and list rows, by their ids) sent as signed webhooks (``X-Hub-Signature-256``)
to the real app's ``POST /webhooks/whatsapp`` (uvicorn on loopback, SQLite, durable defaults,
pacing lifted) until every message is processed and every reply delivered to the fake (its own
process); in the same run, a bare route (signature checked, JSON parsed, 200: the fixed cost of
the HTTP stack) fed the same bodies with the same concurrency. Then the same with batched
webhooks: each carries the next message of several clients, as Meta batches them. Besides the
wall-clock rates, the CPU time of the benchmark's process per message (app, its threads and the
load generator; the fake is another process) for both: their ratio hardly moves when other
work loads the machine, where the rates do.

``python -m bench --only whatsapp-in --only whatsapp-out`` runs both and prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response

from bench.common import (
    SCRIPTS,
    App,
    accepted_rate,
    count,
    drain,
    failed_and_retried,
    free_port,
    lifted_pacing,
    medians,
    outbound_rows,
    peak_rss_mib,
    percentile,
    run_clients,
    run_durable,
    serving,
    wait_drained,
)
from bench.fake_whatsapp_server import FakeWhatsAppProcess
from bench.whatsapp_webhooks import (
    BATCH,
    RESENT,
    Hook,
    Messages,
    Pressed,
    find_choice,
    post_webhook,
    wa_id,
    workload,
)
from tests.fakes.whatsapp import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    new_wamid,
)

MAX_PER_SECOND = 80  # WHATSAPP_MAX_PER_SECOND for the outbound scenario, enforced by the fake
TARGET_OUT_PER_S = 0.95 * MAX_PER_SECOND
PAIR_LIMIT = 20  # sends to one client in 6 s before the fake answers 131056 (the channel's own)
DEFAULT_ROUNDS = 3

# --- (a) outbound ---------------------------------------------------------------------------------


def _settings(folder: Path, api_url: str, **overrides: Any) -> Any:
    from bot.settings import Settings

    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{folder}/bench.db",
        "optibot_data_dir": folder / "data",
        "whatsapp_access_token": TOKEN,
        "whatsapp_phone_number_id": PHONE_NUMBER_ID,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_api_url": api_url,
    }
    return Settings(_env_file=None, **{**values, **overrides})


def _max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most of ``times`` in any half-open interval ``window`` long."""
    ordered = sorted(times)
    best = start = 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def outbound_round(messages_count: int, clients: int, seed: int) -> dict[str, Any]:
    from bot.channels.whatsapp.channel import WhatsAppChannel
    from bot.engine import Engine, utcnow
    from bot.messages import Inbound as EngineInbound
    from bot.outbox import OutboxSender
    from bot.rows import inbox_row
    from flows.catalog import Catalog
    from flows.types import ClientInput
    from storage.conversations import insert_message
    from storage.database import create_engine
    from storage.files import FileStore
    from storage.inbox import insert_inbox
    from storage.migrate import upgrade
    from storage.privacy import Pseudonyms

    async with FakeWhatsAppProcess(max_per_second=MAX_PER_SECOND, pair_limit=PAIR_LIMIT) as fake:
        with tempfile.TemporaryDirectory() as folder:
            settings = _settings(Path(folder), fake.api_url, whatsapp_max_per_second=MAX_PER_SECOND)
            database = create_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
            await upgrade(database)
            rows = outbound_rows("whatsapp", wa_id, messages_count, clients, seed, what="client")
            parties = sorted({row["party"] for row in rows})
            now = datetime.now(UTC)
            catalog = Catalog.load()
            files = FileStore(settings.optibot_data_dir, settings.optibot_file_key, settings.max_upload_bytes)
            pseudonyms = Pseudonyms(files.derived_key("ids"))
            async with database.begin() as connection:
                # Each client wrote a moment ago: the 24-hour window is open (read from the inbox).
                said = ClientInput(text="bonjour")
                inbox = [
                    inbox_row(EngineInbound("whatsapp", p, new_wamid(p), said), pseudonyms) for p in parties
                ]
                await insert_inbox(connection, inbox, now, processing=True)
                for row in rows:
                    await insert_message(connection, row)
            await fake.clients(windows=parties)
            engine = Engine(database, catalog, files)  # not started: the channel is only sending
            channel = WhatsAppChannel(settings, catalog, files, engine=engine, database=database)
            sender = OutboxSender(database, [channel], utcnow)
            try:
                elapsed = await drain(database, sender)
            finally:
                await channel.stop()
            failed, retried = await failed_and_retried(database)
            await database.dispose()
        state = await fake.state()
    times = sorted(state["sent_at"])
    return {
        "messages_per_s": accepted_rate(times),
        "too_many": state["too_many"],
        "pair_rate": state["pair_rate"],
        "accepted": len(times),
        "replies": len(rows),
        "max_accepted_in_1s": _max_in_window(times),
        "max_arrived_in_1s": _max_in_window(state["arrived_at"]),
        "drain_s": elapsed,
        "failed": failed,
        "retried": retried,
        "calls": state["calls"],
    }


async def outbound(rounds: int, messages_count: int, clients: int) -> dict[str, Any]:
    results = [await outbound_round(messages_count, clients, seed) for seed in range(rounds)]
    return {
        "scenario": "whatsapp-out",
        "rounds": rounds,
        "replies": messages_count,
        "clients": clients,
        "max_per_second": MAX_PER_SECOND,
        "messages_per_s": statistics.median(r["messages_per_s"] for r in results),
        "too_many": statistics.median(r["too_many"] for r in results),
        "too_many_total": sum(r["too_many"] for r in results),
        "pair_rate_total": sum(r["pair_rate"] for r in results),
        "per_round": results,
        "peak_rss_mib": peak_rss_mib(),
    }


# --- (b) inbound ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve_app(folder: Path, api_url: str, read_marks: bool = True) -> AsyncIterator[App]:
    """The whole app as ``optibot run`` serves it (SQLite, durable defaults), WhatsApp enabled."""
    from bot.web.app import create_app

    port = free_port()
    # Pacing lifted: the fake enforces no limits here, and the rate measured is the service's.
    marks = {} if read_marks else {"whatsapp_read_marks": False}
    settings = _settings(folder, api_url, public_url=f"http://127.0.0.1:{port}", **marks)
    app = create_app(settings, limiters=lifted_pacing)
    async with serving(app, port):
        yield App(app.state.services, f"http://127.0.0.1:{port}/webhooks/whatsapp")


@contextlib.asynccontextmanager
async def serve_bare() -> AsyncIterator[str]:
    """The fixed cost of the HTTP stack: a FastAPI route on uvicorn that checks the signature,
    parses the JSON and answers 200; nothing stored, nothing answered."""
    from bot.channels.whatsapp.updates import SIGNATURE_HEADER, signed

    app = FastAPI()
    secret = APP_SECRET.encode()

    @app.post("/webhooks/whatsapp")
    async def webhook(request: Request) -> Response:
        body = await request.body()
        if not signed(body, request.headers.get(SIGNATURE_HEADER), secret):
            raise HTTPException(401, "invalid signature")
        json.loads(body)
        return Response(status_code=200)

    port = free_port()
    async with serving(app, port):
        yield f"http://127.0.0.1:{port}/webhooks/whatsapp"


async def calibrate(app: App, fake: FakeWhatsAppProcess, http: Any, base: int) -> list[list[Pressed | None]]:
    """Go through each script once, a step at a time, waiting for the bot's answers, and learn each
    press from the interactive message the bot really sent (its buttons' or rows' ids)."""
    from storage.tables import cases

    build = Messages()
    database = app.services.database
    before = await count(database, cases)  # the database may hold other runs' (bench.scale_bench)
    learnt: list[list[Pressed | None]] = []
    for index, script in enumerate(SCRIPTS):
        user = wa_id(base + index)
        presses: list[Pressed | None] = []
        for step in script:
            pressed = None if step.button is None else await find_choice(fake, user, step.button)
            inbound = build.step(user, step, pressed)
            await fake.clients(messages={inbound.wamid: user})
            await post_webhook(http, app.webhook, build.hook([inbound]))
            await wait_drained(database, 20.0, 0.01)
            presses.append(pressed)
        learnt.append(presses)
    made = await count(database, cases) - before
    if made != len(SCRIPTS):
        raise RuntimeError(f"the scripts made {made} cases instead of {len(SCRIPTS)}")
    return learnt


async def _durable(
    app: App,
    http: Any,
    sequences: list[list[Hook]],
    concurrency: int,
    messages_count: int,
    profile: cProfile.Profile | None = None,
) -> dict[str, Any]:
    from storage.tables import cases, inbox, messages

    database = app.services.database
    cases_before = await count(database, cases)
    out_before = await count(database, messages, messages.c.direction == "out")

    async def post(hook: Hook) -> None:
        await post_webhook(http, app.webhook, hook)

    cpu = time.process_time()
    run = await run_durable(database, sequences, concurrency, post, profile)
    cpu = time.process_time() - cpu
    latencies, acknowledged, elapsed = run.latencies, run.acknowledged_s, run.elapsed_s
    made = await count(database, cases) - cases_before
    if await count(database, inbox, inbox.c.processed_at.is_(None)):
        raise RuntimeError("unprocessed messages left")
    return {
        "updates_per_s": messages_count / elapsed,
        "cpu_ms": 1000 * cpu / messages_count,
        "acknowledged_per_s": messages_count / acknowledged,
        "webhooks_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "cases": made,
        "replies": await count(database, messages, messages.c.direction == "out") - out_before,
    }


async def _bare(
    url: str, http: Any, sequences: list[list[Hook]], concurrency: int, count: int
) -> dict[str, Any]:
    async def post(hook: Hook) -> None:
        await post_webhook(http, url, hook)

    started, cpu = time.perf_counter(), time.process_time()
    latencies = await run_clients(sequences, concurrency, post)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "updates_per_s": count / elapsed,
        "cpu_ms": 1000 * cpu / count,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


async def inbound_round(
    app: App,
    bare_url: str,
    fake: FakeWhatsAppProcess,
    http: Any,
    learnt: list[list[Pressed | None]],
    conversations: int,
    concurrency: int,
    base: int,
    profile: cProfile.Profile | None = None,
) -> dict[str, Any]:
    work = workload(learnt, conversations, base)
    await fake.clients(messages=work.wamids)
    before = await fake.state()
    resent_before = RESENT[0]
    posters = max(1, concurrency // BATCH)  # as many clients at once as with single webhooks
    single = await _durable(app, http, work.singles, concurrency, work.messages, profile)
    bare = await _bare(bare_url, http, work.singles, concurrency, work.messages)
    batched = await _durable(app, http, work.batched, posters, work.messages)
    bare_batched = await _bare(bare_url, http, work.batched, posters, work.messages)
    after = await fake.state()
    for result in (single, batched):
        if result["cases"] != conversations:
            raise RuntimeError(f"{result['cases']} cases made for {conversations} conversations")
    calls = {
        k: v - before["calls"].get(k, 0) for k, v in after["calls"].items() if v - before["calls"].get(k, 0)
    }
    return {
        "updates": work.messages,
        "webhooks_batched": sum(len(s) for s in work.batched),
        "durable_updates_per_s": single["updates_per_s"],
        "acknowledged_updates_per_s": single["acknowledged_per_s"],
        "p50_ms": single["p50_ms"],
        "p99_ms": single["p99_ms"],
        "bare_updates_per_s": bare["updates_per_s"],
        "bare_p50_ms": bare["p50_ms"],
        "bare_p99_ms": bare["p99_ms"],
        "share": single["updates_per_s"] / bare["updates_per_s"],
        # CPU time of this process (app, its threads, the load generator) a message: the share
        # least disturbed by other work on the machine.
        "cpu_ms": single["cpu_ms"],
        "bare_cpu_ms": bare["cpu_ms"],
        "cpu_share": bare["cpu_ms"] / single["cpu_ms"],
        "batched_cpu_share": bare_batched["cpu_ms"] / batched["cpu_ms"],
        "batched_updates_per_s": batched["updates_per_s"],
        "batched_webhooks_per_s": batched["webhooks_per_s"],
        "batched_acknowledged_updates_per_s": batched["acknowledged_per_s"],
        "batched_p50_ms": batched["p50_ms"],
        "batched_p99_ms": batched["p99_ms"],
        "bare_batched_updates_per_s": bare_batched["updates_per_s"],
        "batched_share": batched["updates_per_s"] / bare_batched["updates_per_s"],
        "replies": single["replies"],
        "graph_calls": calls,
        "errors": after["errors"] - before["errors"],
        "resent": RESENT[0] - resent_before,
    }


async def inbound(
    rounds: int,
    conversations: int,
    concurrency: int,
    statuses: bool,
    profile_to: str | None,
    read_marks: bool = True,
) -> dict[str, Any]:
    import aiohttp

    results: list[dict[str, Any]] = []
    profile = cProfile.Profile() if profile_to else None
    base = itertools.count(1_000_000, 100_000)
    # Idle connections are dropped before uvicorn's keep-alive (5 s) would close them under a request.
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=2.0)
    async with FakeWhatsAppProcess(statuses=statuses) as fake:
        with tempfile.TemporaryDirectory() as folder:
            async with (
                serve_app(Path(folder), fake.api_url, read_marks) as app,
                serve_bare() as bare_url,
                aiohttp.ClientSession(connector=connector) as http,
            ):
                if statuses:
                    await fake.set_webhook(app.webhook)
                learnt = await calibrate(app, fake, http, next(base))
                warmup = max(10, conversations // 10)
                await inbound_round(app, bare_url, fake, http, learnt, warmup, concurrency, next(base))
                for number in range(rounds):
                    last = number == rounds - 1
                    results.append(
                        await inbound_round(
                            app,
                            bare_url,
                            fake,
                            http,
                            learnt,
                            conversations,
                            concurrency,
                            next(base),
                            profile if last else None,
                        )
                    )
    if profile is not None and profile_to:
        profile.dump_stats(profile_to)
    return {
        "scenario": "whatsapp-in",
        "rounds": rounds,
        "conversations": conversations,
        "concurrency": concurrency,
        "batch": BATCH,
        "statuses": statuses,
        "read_marks": read_marks,
        "updates": results[0]["updates"],
        "webhooks_batched": results[0]["webhooks_batched"],
        **medians(results),
        "per_round": results,
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=("out", "in"), required=True)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--messages", type=int, default=600, help="out: replies in the outbox")
    parser.add_argument("--clients", type=int, default=300, help="out: clients they go to")
    parser.add_argument("--conversations", type=int, default=200, help="in: per round")
    parser.add_argument("--concurrency", type=int, default=50, help="in: clients at once")
    parser.add_argument("--statuses", action="store_true", help="in: the fake pushes sent/delivered back")
    parser.add_argument("--profile", help="in: cProfile the durable path of the last round into this file")
    parser.add_argument("--no-read-marks", action="store_true", help="in: WHATSAPP_READ_MARKS=false")
    args = parser.parse_args()
    if args.scenario == "out":
        result = asyncio.run(outbound(args.rounds, args.messages, args.clients))
    else:
        result = asyncio.run(
            inbound(
                args.rounds,
                args.conversations,
                args.concurrency,
                args.statuses,
                args.profile,
                not args.no_read_marks,
            )
        )
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
