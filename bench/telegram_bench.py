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
import itertools
import json
import random
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.fake_telegram_server import FakeServer
from tests.fakes.telegram import TOKEN

if TYPE_CHECKING:  # imported late at run time: the bot's modules load after the fake starts
    from bot.outbox import OutboxSender

TARGET_OUT_PER_S = 28.5  # 95 % of Telegram's 30 messages/s per bot
TARGET_IN_SHARE = 0.15  # of the bare echo, now (0.25 later)
SECRET = "bench-webhook-secret_0123456789"
FIRST_NAME = "Camille"

# --- (a) outbound ---------------------------------------------------------------------------------


def _replies() -> list[Any]:
    """Replies the bot really sends: every question with its buttons, the greeting, a summary..."""
    from flows.catalog import Catalog
    from flows.steps import STEPS
    from flows.types import Choice, Reply

    catalog = Catalog.load()
    fr = "fr"
    replies = [Reply("greeting", catalog.text(fr, "greeting"))]
    for name, step in STEPS.items():
        choices = tuple(Choice(c.value, catalog.text(fr, c.label)) for c in step.choices)
        replies.append(Reply(step.question, catalog.text(fr, step.question), choices, name, step.expects))
    summary = catalog.text(
        fr,
        "summary.body",
        need="Lunettes perdues",
        urgent="Oui",
        priority="Non",
        mode="Envoi gratuit par Chronopost",
        address="8 avenue Jean Jaurès, 69007 Lyon",
        slot="",
        name="Jean Dupont",
        phone="06 98 76 54 32",
    )
    replies.append(
        Reply(
            "summary.question",
            f"{catalog.text(fr, 'summary.intro')}\n{summary}\n\n{catalog.text(fr, 'summary.question')}",
            (Choice("confirm", catalog.text(fr, "summary.confirm")),),
            "summary",
        )
    )
    replies.append(Reply("handoff.done", catalog.text(fr, "handoff.done", reference="OB-7KQ2MX")))
    replies.append(Reply("stale_button", catalog.text(fr, "stale_button")))
    return replies


def outbound_rows(messages_count: int, chats: int, seed: int) -> list[dict[str, Any]]:
    """``messages_count`` replies to ``chats`` chats, 1 to 3 each (a reply burst stays within the
    chat's burst of 3, so the bot's 30/s is what binds), in a shuffled order like live traffic."""
    from bot.rows import outbound_row

    rng = random.Random(seed)
    if not chats <= messages_count <= 3 * chats:
        raise ValueError("between 1 and 3 messages a chat")
    counts = [1 + i % 3 for i in range(chats)]  # 1, 2, 3, 1, 2, 3... : 2 a chat on average
    while (gap := messages_count - sum(counts)) != 0:
        i = rng.randrange(chats)
        if gap > 0 and counts[i] < 3:
            counts[i] += 1
        elif gap < 0 and counts[i] > 1:
            counts[i] -= 1
    replies = _replies()
    now = datetime.now(UTC)
    order = [chat for chat, count in enumerate(counts) for _ in range(count)]
    rng.shuffle(order)
    rows = []
    for chat in order:
        reply = rng.choice(replies)
        rows.append(outbound_row("telegram", str(900_000_000 + chat), None, reply, now, "fr"))
    return rows


async def _pending_out(database: AsyncEngine) -> int:
    """Replies not delivered yet (nor given up)."""
    from storage.tables import messages

    undelivered = (
        messages.c.direction == "out",
        messages.c.sent_at.is_(None),
        messages.c.failed_at.is_(None),
    )
    async with database.connect() as connection:
        count = await connection.scalar(sa.select(sa.func.count()).select_from(messages).where(*undelivered))
    return int(count or 0)


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
    from storage.tables import messages

    async with FakeServer(enforce_limits=True) as fake:
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
                for row in outbound_rows(messages_count, chats, seed):
                    await insert_message(connection, row)
            catalog = Catalog.load()
            files = FileStore(settings.optibot_data_dir, settings.optibot_file_key, settings.max_upload_bytes)
            engine = Engine(database, catalog, files)
            channel = TelegramChannel(settings, catalog, files, engine=engine, database=database)
            sender = OutboxSender(database, [channel], utcnow)
            try:
                elapsed = await _drain(database, sender)
            finally:
                await channel.stop()
            async with database.connect() as connection:
                failed = await connection.scalar(
                    sa.select(sa.func.count()).select_from(messages).where(messages.c.failed_at.is_not(None))
                )
                retried = await connection.scalar(
                    sa.select(sa.func.count()).select_from(messages).where(messages.c.attempts > 1)
                )
            await database.dispose()
        state = await fake.state()
    times = sorted(state["sent_at"])
    span = times[-1] - times[0]
    return {
        "messages_per_s": (len(times) - 1) / span if span > 0 else 0.0,
        "too_many": state["too_many"],
        "accepted": len(times),
        "drain_s": elapsed,
        "failed": int(failed or 0),
        "retried": int(retried or 0),
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
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# --- (b) inbound ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What the client does: write ``text``, or press the button whose label contains ``button``."""

    text: str | None = None
    button: str | None = None


def T(text: str) -> Step:  # noqa: N802 (reads like the scripts of the tests)
    return Step(text=text)


def B(label: str) -> Step:  # noqa: N802
    return Step(button=label)


# The engine benchmark's two conversations as a Telegram client goes through them: some answers typed,
# some by pressing the question's button.
SHIPMENT = [
    T("bonjour"),
    B("Lunettes perdues"),
    B("Oui"),
    T("non"),
    B("Envoi"),
    T("8 avenue Jean Jaurès 69007 Lyon"),
    T("Jean Dupont"),
    T("06 98 76 54 32"),
    B("Oui, envoyer"),
    T("merci !"),
]
VISIT = [
    T("bonjour"),
    T("mes lunettes sont cassées"),
    B("Oui"),
    T("infirmière"),
    B("Visite"),
    B("J'accepte"),
    T("12 rue Oberkampf 75011 Paris"),
    T("demain matin"),
    T("Marie Curie"),
    T("06 12 34 56 78"),
    T("oui"),
    T("merci"),
]
SCRIPTS = (SHIPMENT, VISIT)


@dataclass(frozen=True)
class Pressed:
    """A button press learnt once from the bot's real keyboard: its data and the keyboard's message."""

    data: str
    message: dict[str, Any]


class Updates:
    """Telegram ``Update`` JSON as the Bot API sends it, with fresh update and callback query ids."""

    _ids = itertools.count(500_000_001)  # update ids are per bot: never twice in a process
    _messages = itertools.count(10_001)

    def __init__(self) -> None:
        self.query_ids: list[str] = []

    @staticmethod
    def _user(chat: int) -> dict[str, Any]:
        return {"id": chat, "is_bot": False, "first_name": FIRST_NAME, "language_code": "fr"}

    def text(self, chat: int, text: str) -> dict[str, Any]:
        return {
            "update_id": next(self._ids),
            "message": {
                "message_id": next(self._messages),
                "from": self._user(chat),
                "chat": {"id": chat, "type": "private", "first_name": FIRST_NAME},
                "date": int(time.time()),
                "text": text,
            },
        }

    def press(self, chat: int, pressed: Pressed) -> dict[str, Any]:
        query_id = str(random.getrandbits(63))
        self.query_ids.append(query_id)
        message = {**pressed.message, "chat": {"id": chat, "type": "private", "first_name": FIRST_NAME}}
        return {
            "update_id": next(self._ids),
            "callback_query": {
                "id": query_id,
                "from": self._user(chat),
                "message": message,
                "chat_instance": str(chat * 7919 + 4_200_000_000_000_000),
                "data": pressed.data,
            },
        }

    def conversation(self, chat: int, script: list[Step], presses: list[Pressed | None]) -> list[bytes]:
        out = []
        for step, pressed in zip(script, presses, strict=True):
            update = self.text(chat, step.text or "") if pressed is None else self.press(chat, pressed)
            out.append(json.dumps(update).encode())
        return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class App:
    services: Any
    webhook: str


@contextlib.asynccontextmanager
async def serve_app(folder: Path, api_url: str) -> AsyncIterator[App]:
    """The whole app as ``optibot run`` serves it (webhook mode, SQLite, durable defaults)."""
    import uvicorn

    from bot.ratelimit import RateLimiter, Window
    from bot.settings import Settings
    from bot.web.app import create_app

    port = _free_port()
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
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        await asyncio.sleep(0.02)
    services = app.state.services
    # Pacing lifted: the fake does not enforce limits here, and the rate measured is the service's.
    services.telegram.limiter = RateLimiter(Window(10**6, 1.0), Window(10**6, 1.0))
    try:
        yield App(services, f"http://127.0.0.1:{port}/webhooks/telegram")
    finally:
        server.should_exit = True
        await task


async def _drained(database: AsyncEngine) -> bool:
    """Every stored update processed and every reply delivered (or given up)."""
    from storage.tables import inbox

    return not await _count(database, inbox, inbox.c.processed_at.is_(None)) and not await _pending_out(
        database
    )


async def _wait_drained(database: AsyncEngine, within: float = 120.0, interval: float = 0.005) -> None:
    deadline = time.monotonic() + within
    while not await _drained(database):
        if time.monotonic() > deadline:
            raise RuntimeError(f"not processed and delivered within {within} s")
        await asyncio.sleep(interval)


async def _count(database: AsyncEngine, table: sa.Table, *where: Any) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0)


async def _drain(database: AsyncEngine, sender: OutboxSender) -> float:
    """Run the outbox sender until nothing is left to send; returns how long it took."""
    started = time.monotonic()
    task = asyncio.create_task(sender.run())
    try:
        deadline = started + 120
        while await _pending_out(database):
            if time.monotonic() > deadline:
                raise RuntimeError("the outbox was not drained in 120 s")
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        return time.monotonic() - started
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


_Item = TypeVar("_Item")


async def _run_clients(
    conversations: list[list[_Item]], concurrency: int, send: Callable[[_Item], Awaitable[None]]
) -> list[float]:
    """``concurrency`` clients, each taking the next conversation and sending its updates (or
    webhooks) one after the other, each once the previous one is acknowledged; returns every
    update's latency."""
    queue = list(reversed(conversations))
    latencies: list[float] = []

    async def client() -> None:
        while queue:
            for update in queue.pop():
                started = time.perf_counter()
                await send(update)
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


async def calibrate(app: App, fake: FakeServer, http: Any, chat_base: int) -> list[list[Pressed | None]]:
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
                pressed = await _find_button(fake, chat, step.button)
                update = updates.press(chat, pressed)
                await fake.allow_queries(updates.query_ids[-1:])
            else:
                update = updates.text(chat, step.text or "")
            await _post(http, app.webhook, json.dumps(update).encode())
            await _wait_drained(database, 20.0, 0.01)
            presses.append(pressed)
        learnt.append(presses)
    made = await _count(database, cases)
    if made != len(SCRIPTS):
        raise RuntimeError(f"the scripts made {made} cases instead of {len(SCRIPTS)}")
    return learnt


async def _find_button(fake: FakeServer, chat: int, label: str) -> Pressed:
    sent = await fake.messages_to(chat)
    with_buttons = [m for m in sent if m.get("reply_markup", {}).get("inline_keyboard")]
    if not with_buttons:
        raise RuntimeError(f"no keyboard to press {label!r} on")
    message = with_buttons[-1]
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            data = button.get("callback_data")
            if label.casefold() in button["text"].casefold() and data not in (None, "-"):
                message = {k: v for k, v in message.items() if k != "chat"}
                return Pressed(data, message)
    raise RuntimeError(f"no button {label!r} in {message['reply_markup']}")


async def _post(http: Any, url: str, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"the webhook answered {response.status}")


class Echo:
    """The bare aiogram echo: a Dispatcher answering every message and button press at once."""

    def __init__(self, api_url: str) -> None:
        from aiogram import Bot, Dispatcher, Router
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer
        from aiogram.types import CallbackQuery, Message

        router = Router()

        @router.message()
        async def echo(message: Message) -> None:
            await message.answer(message.text or "ok")

        @router.callback_query()
        async def pressed(query: CallbackQuery) -> None:
            await query.answer()
            await bot.send_message(query.from_user.id, query.data or "ok")

        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(router)
        self.bot = bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))

    async def feed(self, body: bytes) -> None:
        from aiogram.types import Update

        update = Update.model_validate(json.loads(body), context={"bot": self.bot})
        await self.dispatcher.feed_update(self.bot, update)

    async def close(self) -> None:
        await self.bot.session.close()


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


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def inbound_round(
    app: App,
    fake: FakeServer,
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
    cases_before = await _count(database, cases)
    out_before = await _count(database, messages, messages.c.direction == "out")
    failed_before = await _count(database, messages, messages.c.failed_at.is_not(None))
    state_before = await fake.state()

    # The durable path: POSTed to the webhook; done when processed and delivered.
    await fake.allow_queries(updates.query_ids)

    async def post(body: bytes) -> None:
        await _post(http, app.webhook, body)

    if profile is not None:
        profile.enable()
    started = time.perf_counter()
    latencies = await _run_clients(bodies, concurrency, post)
    acknowledged = time.perf_counter() - started
    await _wait_drained(database)
    elapsed = time.perf_counter() - started
    if profile is not None:
        profile.disable()
    state_after = await fake.state()
    made = await _count(database, cases) - cases_before
    if made != conversations:
        await _explain(database, chats)
        raise RuntimeError(f"{made} cases made for {conversations} conversations")
    if await _count(database, inbox, inbox.c.processed_at.is_(None)):
        raise RuntimeError("unprocessed updates left")
    replies = await _count(database, messages, messages.c.direction == "out") - out_before
    failed = await _count(database, messages, messages.c.failed_at.is_not(None)) - failed_before
    calls = {
        key: count - state_before["statuses"].get(key, 0)
        for key, count in state_after["statuses"].items()
        if count - state_before["statuses"].get(key, 0)
    }

    # The bare echo, fed the same updates with the same concurrency.
    await fake.allow_queries(updates.query_ids)
    started = time.perf_counter()
    echo_latencies = await _run_clients(bodies, concurrency, echo.feed)
    echo_elapsed = time.perf_counter() - started

    durable = total / elapsed
    bare = total / echo_elapsed
    return {
        "updates": total,
        "durable_updates_per_s": durable,
        "acknowledged_updates_per_s": total / acknowledged,
        "echo_updates_per_s": bare,
        "share": durable / bare,
        "p50_ms": 1000 * _percentile(latencies, 0.5),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "echo_p50_ms": 1000 * _percentile(echo_latencies, 0.5),
        "echo_p99_ms": 1000 * _percentile(echo_latencies, 0.99),
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
    async with FakeServer(enforce_limits=False) as fake:
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
    keys = [k for k, v in results[0].items() if isinstance(v, float)]
    medians = {key: statistics.median(r[key] for r in results) for key in keys}
    return {
        "scenario": "telegram-in",
        "rounds": rounds,
        "conversations": conversations,
        "concurrency": concurrency,
        "updates": results[0]["updates"],
        **medians,
        "share_of_medians": medians["durable_updates_per_s"] / medians["echo_updates_per_s"],
        "per_round": results,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
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
