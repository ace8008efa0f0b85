"""Telegram benchmarks, each scenario in its own process, printing one JSON line of medians.

``--scenario out``: the outbox drained through the real :class:`TelegramChannel` and
:class:`OutboxSender` into the fake Bot API (its own process) enforcing Telegram's limits: sustained
messages/s as the fake accepted them, and the 429s it had to answer. A fresh database and a fresh
fake per round.

``--scenario in``: whole conversations POSTed to the real app's webhook route (uvicorn on loopback,
SQLite, durable defaults, pacing lifted) until every update is processed and every reply delivered
to the fake; in the same run a bare aiogram echo (a ``Dispatcher`` answering every update through the
same fake) fed the same updates with the same concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

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
from bench.fake_telegram_server import FakeTelegramProcess
from bench.telegram_updates import SECRET, Echo, Pressed, Updates, find_button, post_update
from tests.fakes.telegram import TOKEN

TARGET_OUT_PER_S = 28.5  # 95 % of Telegram's 30 messages/s per bot
TARGET_IN_SHARE = 0.35  # of the bare echo, in the same run (issue 17)
TARGET_IN_P99_MS = 100  # the webhook's answer at 50 clients (issue 17)

# --- (a) outbound ---------------------------------------------------------------------------------


def chat_party(number: int) -> str:
    return str(900_000_000 + number)


async def outbound_round(messages_count: int, chats: int, seed: int) -> dict[str, Any]:
    from bot.channels.telegram.channel import TelegramChannel
    from bot.engine import Engine, utcnow
    from bot.outbox import OutboxSender
    from bot.settings import Settings
    from flows.catalog import Catalog
    from storage.conversations import insert_message
    from storage.database import create_engine
    from storage.files import FileStore
    from storage.migrate import upgrade

    async with FakeTelegramProcess(enforce_limits=True) as fake:
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(
                _env_file=None,
                database_url=f"sqlite+aiosqlite:///{folder}/bench.db",
                optibot_data_dir=Path(folder) / "data",
                telegram_bot_token=TOKEN,
                telegram_api_url=fake.api_url,
            )
            database = create_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
            await upgrade(database)
            async with database.begin() as connection:
                for row in outbound_rows("telegram", chat_party, messages_count, chats, seed, what="chat"):
                    await insert_message(connection, row)
            catalog = Catalog.load()
            files = FileStore(settings.optibot_data_dir, settings.optibot_file_key, settings.max_upload_bytes)
            engine = Engine(database, catalog, files)
            channel = TelegramChannel(settings, catalog, files, engine=engine, database=database)
            sender = OutboxSender(database, [channel], utcnow)
            try:
                elapsed = await drain(database, sender)
            finally:
                await channel.stop()
            failed, retried = await failed_and_retried(database)
            await database.dispose()
        state = await fake.state()
    return {
        "messages_per_s": accepted_rate(state["sent_at"]),
        "too_many": state["too_many"],
        "accepted": len(state["sent_at"]),
        "drain_s": elapsed,
        "failed": failed,
        "retried": retried,
    }


async def outbound(rounds: int, messages_count: int, chats: int) -> dict[str, Any]:
    results = [await outbound_round(messages_count, chats, seed) for seed in range(rounds)]
    return {
        "scenario": "telegram-out",
        "rounds": rounds,
        "messages": messages_count,
        "chats": chats,
        "messages_per_s": statistics.median(r["messages_per_s"] for r in results),
        "too_many": statistics.median(r["too_many"] for r in results),
        "too_many_total": sum(r["too_many"] for r in results),
        "per_round": results,
        "peak_rss_mib": peak_rss_mib(),
    }


# --- (b) inbound ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve_app(folder: Path, api_url: str) -> AsyncIterator[App]:
    """The whole app as ``optibot run`` serves it (webhook mode, SQLite, durable defaults)."""
    from bot.settings import Settings
    from bot.web.app import create_app

    port = free_port()
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{folder}/bench.db",
        optibot_data_dir=folder / "data",
        telegram_bot_token=TOKEN,
        telegram_api_url=api_url,
        telegram_mode="webhook",
        telegram_webhook_secret=SECRET,
        public_url=f"http://127.0.0.1:{port}",
    )
    # Pacing lifted: the fake does not enforce limits here, and the rate measured is the service's.
    app = create_app(settings, limiters=lifted_pacing)
    async with serving(app, port):
        yield App(app.state.services, f"http://127.0.0.1:{port}/webhooks/telegram")


async def calibrate(
    app: App, fake: FakeTelegramProcess, http: Any, chat_base: int
) -> list[list[Pressed | None]]:
    """Go through each script once, a step at a time, waiting for the bot's answers, and learn each
    button press from the keyboard the bot really sent (its callback data and message). Every chat
    is fresh in the timed rounds, so the keyboards' message ids there are the same."""
    from storage.tables import cases

    updates = Updates()
    database = app.services.database
    learnt: list[list[Pressed | None]] = []
    for index, script in enumerate(SCRIPTS):
        chat = chat_base + index
        presses: list[Pressed | None] = []
        for step in script:
            pressed = None
            if step.button is not None:
                pressed = await find_button(fake, chat, step.button)
                update = updates.press(chat, pressed)
                await fake.allow_queries(updates.query_ids[-1:])
            else:
                update = updates.text(chat, step.text or "")
            await post_update(http, app.webhook, json.dumps(update).encode())
            await wait_drained(database, 20.0, 0.01)
            presses.append(pressed)
        learnt.append(presses)
    made = await count(database, cases)
    if made != len(SCRIPTS):
        raise RuntimeError(f"the scripts made {made} cases instead of {len(SCRIPTS)}")
    return learnt


async def _explain(database: AsyncEngine, chats: list[int]) -> None:
    """The transcripts of the conversations that made no case, on stderr."""
    from storage.tables import cases, messages

    async with database.connect() as connection:
        with_case = set((await connection.execute(sa.select(cases.c.conversation_id))).scalars().all())
        rows = await connection.execute(
            sa.select(messages.c.conversation_id, messages.c.party, messages.c.direction, messages.c.text)
            .where(messages.c.party.in_([str(c) for c in chats]))
            .order_by(messages.c.id)
        )
        for row in rows:
            if row.conversation_id not in with_case:
                print(row.party, row.direction, row.text[:70].replace("\n", " "), file=sys.stderr)


async def inbound_round(
    app: App,
    fake: FakeTelegramProcess,
    echo: Echo,
    http: Any,
    learnt: list[list[Pressed | None]],
    conversations: int,
    concurrency: int,
    chat_base: int,
    profile: cProfile.Profile | None = None,
) -> dict[str, Any]:
    from storage.tables import cases, inbox, messages

    database = app.services.database
    updates = Updates()
    chats = [chat_base + i for i in range(conversations)]
    script_of = [i % len(SCRIPTS) for i in range(conversations)]
    bodies = [updates.conversation(c, SCRIPTS[s], learnt[s]) for c, s in zip(chats, script_of, strict=True)]
    total = sum(len(b) for b in bodies)
    cases_before = await count(database, cases)
    out_before = await count(database, messages, messages.c.direction == "out")
    failed_before = await count(database, messages, messages.c.failed_at.is_not(None))
    state_before = await fake.state()

    # The durable path: POSTed to the webhook; done when processed and delivered.
    await fake.allow_queries(updates.query_ids)

    async def post(body: bytes) -> None:
        await post_update(http, app.webhook, body)

    cpu = time.thread_time(), time.process_time()
    durable_run = await run_durable(database, bodies, concurrency, post, profile)
    durable_cpu = time.thread_time() - cpu[0], time.process_time() - cpu[1]
    latencies, acknowledged, elapsed = (
        durable_run.latencies,
        durable_run.acknowledged_s,
        durable_run.elapsed_s,
    )
    state_after = await fake.state()
    made = await count(database, cases) - cases_before
    if made != conversations:
        await _explain(database, chats)
        raise RuntimeError(f"{made} cases made for {conversations} conversations")
    if await count(database, inbox, inbox.c.processed_at.is_(None)):
        raise RuntimeError("unprocessed updates left")
    replies = await count(database, messages, messages.c.direction == "out") - out_before
    failed = await count(database, messages, messages.c.failed_at.is_not(None)) - failed_before
    calls = {
        key: made_calls - state_before["statuses"].get(key, 0)
        for key, made_calls in state_after["statuses"].items()
        if made_calls - state_before["statuses"].get(key, 0)
    }

    # The bare echo, fed the same updates with the same concurrency.
    await fake.allow_queries(updates.query_ids)
    started, cpu = time.perf_counter(), (time.thread_time(), time.process_time())
    echo_latencies = await run_clients(bodies, concurrency, echo.feed)
    echo_elapsed = time.perf_counter() - started
    echo_cpu = time.thread_time() - cpu[0], time.process_time() - cpu[1]

    durable = total / elapsed
    bare = total / echo_elapsed
    return {
        "updates": total,
        "durable_updates_per_s": durable,
        "acknowledged_updates_per_s": total / acknowledged,
        "echo_updates_per_s": bare,
        "share": durable / bare,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "echo_p50_ms": 1000 * percentile(echo_latencies, 0.5),
        "echo_p99_ms": 1000 * percentile(echo_latencies, 0.99),
        # CPU time per update (µs): of the event loop's thread, and of the whole process (with
        # SQLite's thread). Less sensitive than rates to other work on the machine.
        "loop_cpu_us": 1e6 * durable_cpu[0] / total,
        "process_cpu_us": 1e6 * durable_cpu[1] / total,
        "echo_loop_cpu_us": 1e6 * echo_cpu[0] / total,
        "echo_process_cpu_us": 1e6 * echo_cpu[1] / total,
        "replies": replies,
        "api_calls": state_after["requests"] - state_before["requests"],
        "failed": failed,
        "api_calls_by_method": calls,
    }


async def inbound(
    rounds: int, conversations: int, concurrency: int, profile_to: str | None
) -> dict[str, Any]:
    import aiohttp

    results: list[dict[str, Any]] = []
    profile = cProfile.Profile() if profile_to else None
    async with FakeTelegramProcess(enforce_limits=False) as fake:
        with tempfile.TemporaryDirectory() as folder:
            async with (
                serve_app(Path(folder), fake.api_url) as app,
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http,
            ):
                deadline = time.monotonic() + 20
                while not (await fake.state())["webhook"]:  # start-up's own calls are over
                    if time.monotonic() > deadline:
                        raise RuntimeError("the webhook was not registered")
                    await asyncio.sleep(0.05)
                echo = Echo(fake.api_url)
                try:
                    learnt = await calibrate(app, fake, http, 800_000_000)
                    warmup = max(10, conversations // 10)
                    await inbound_round(app, fake, echo, http, learnt, warmup, concurrency, 810_000_000)
                    for number in range(rounds):
                        last = number == rounds - 1
                        results.append(
                            await inbound_round(
                                app,
                                fake,
                                echo,
                                http,
                                learnt,
                                conversations,
                                concurrency,
                                820_000_000 + number * 100_000,
                                profile if last else None,
                            )
                        )
                finally:
                    await echo.close()
    if profile is not None and profile_to:
        profile.dump_stats(profile_to)
    figures = medians(results)
    return {
        "scenario": "telegram-in",
        "rounds": rounds,
        "conversations": conversations,
        "concurrency": concurrency,
        "updates": results[0]["updates"],
        **figures,
        "share_of_medians": figures["durable_updates_per_s"] / figures["echo_updates_per_s"],
        "per_round": results,
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=("out", "in"), required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=600, help="out: replies in the outbox")
    parser.add_argument("--chats", type=int, default=300, help="out: chats they go to")
    parser.add_argument("--conversations", type=int, default=200, help="in: per round")
    parser.add_argument("--concurrency", type=int, default=50, help="in: clients at once")
    parser.add_argument("--profile", help="in: cProfile the durable path of the last round into this file")
    args = parser.parse_args()
    if args.scenario == "out":
        result = asyncio.run(outbound(args.rounds, args.messages, args.chats))
    else:
        result = asyncio.run(inbound(args.rounds, args.conversations, args.concurrency, args.profile))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
