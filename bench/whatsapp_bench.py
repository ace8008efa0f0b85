"""WhatsApp benchmarks, each scenario in its own process, printing one JSON line of medians.

``--scenario out``: replies written to the outbox of a fresh SQLite database, then drained through
the real :class:`OutboxSender` and :class:`WhatsAppChannel` (our httpx Graph client, the channel's
pacing at ``WHATSAPP_MAX_PER_SECOND``) into the fake Graph API in its own process, which enforces
the number's throughput (at most that many sends accepted in any second, error 130429 beyond) and
the pair rate (131056). Sustained messages/s as the fake accepted them, and the errors it answered.
A fresh database and a fresh fake per round.

``--scenario in``: whole conversations (the Telegram bench's scripts: typed text and presses of the
bot's reply buttons and list rows, by their ids) sent as signed webhooks (``X-Hub-Signature-256``)
to the real app's ``POST /webhooks/whatsapp`` (uvicorn on loopback, SQLite, durable defaults,
pacing lifted) until every message is processed and every reply delivered to the fake (its own
process); in the same run, a bare route (signature checked, JSON parsed, 200: the fixed cost of
the HTTP stack) fed the same bodies with the same concurrency. Then the same with batched
webhooks: each carries the next message of several clients, as Meta batches them.

``python -m bench --only whatsapp-in --only whatsapp-out`` runs both and prints the figures.
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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Request, Response

from bench.fake_whatsapp_server import FakeServer
from bench.telegram_bench import (
    SCRIPTS,
    Step,
    _count,
    _drain,
    _free_port,
    _percentile,
    _replies,
    _run_clients,
    _wait_drained,
)
from tests.fakes.whatsapp import (
    APP_SECRET,
    DISPLAY_PHONE_NUMBER,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    WABA_ID,
    FakeWhatsApp,
    Inbound,
    encode_body,
    new_wamid,
    sign,
)

MAX_PER_SECOND = 80  # WHATSAPP_MAX_PER_SECOND for the outbound scenario, enforced by the fake
TARGET_OUT_PER_S = 0.95 * MAX_PER_SECOND
PAIR_LIMIT = 20  # sends to one client in 6 s before the fake answers 131056 (the channel's own)
DEFAULT_ROUNDS = 3
BATCH = 5  # clients per batched webhook
NAME = "Camille"

# --- (a) outbound ---------------------------------------------------------------------------------


def wa_id(number: int) -> str:
    return f"{33_600_000_000 + number}"


def outbound_rows(messages_count: int, clients: int, seed: int) -> list[dict[str, Any]]:
    """``messages_count`` replies to ``clients`` clients, 1 to 3 each, in a shuffled order."""
    from bot.rows import outbound_row

    rng = random.Random(seed)
    if not clients <= messages_count <= 3 * clients:
        raise ValueError("between 1 and 3 messages a client")
    counts = [1 + i % 3 for i in range(clients)]
    while (gap := messages_count - sum(counts)) != 0:
        i = rng.randrange(clients)
        if gap > 0 and counts[i] < 3:
            counts[i] += 1
        elif gap < 0 and counts[i] > 1:
            counts[i] -= 1
    replies = _replies()
    now = datetime.now(UTC)
    order = [client for client, count in enumerate(counts) for _ in range(count)]
    rng.shuffle(order)
    return [outbound_row("whatsapp", wa_id(c), None, rng.choice(replies), now, "fr") for c in order]


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
    from storage.inbox import insert_inbox
    from storage.database import create_engine
    from storage.files import FileStore
    from storage.migrate import upgrade
    from storage.tables import messages

    async with FakeServer(max_per_second=MAX_PER_SECOND, pair_limit=PAIR_LIMIT) as fake:
        with tempfile.TemporaryDirectory() as folder:
            settings = _settings(Path(folder), fake.api_url, whatsapp_max_per_second=MAX_PER_SECOND)
            database = create_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
            await upgrade(database)
            rows = outbound_rows(messages_count, clients, seed)
            parties = sorted({row["party"] for row in rows})
            now = datetime.now(UTC)
            async with database.begin() as connection:
                # Each client wrote a moment ago: the 24-hour window is open (read from the inbox).
                said = ClientInput(text="bonjour")
                inbox = [inbox_row(EngineInbound("whatsapp", p, new_wamid(p), said)) for p in parties]
                await insert_inbox(connection, inbox, now, processing=True)
                for row in rows:
                    await insert_message(connection, row)
            await fake.clients(windows=parties)
            catalog = Catalog.load()
            files = FileStore(settings.optibot_data_dir, settings.optibot_file_key, settings.max_upload_bytes)
            channel = WhatsAppChannel(settings, catalog, files)
            channel.engine = Engine(database, catalog, files)  # not started: the window is read through it
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
        "pair_rate": state["pair_rate"],
        "accepted": len(times),
        "replies": len(rows),
        "max_accepted_in_1s": _max_in_window(times),
        "max_arrived_in_1s": _max_in_window(state["arrived_at"]),
        "drain_s": elapsed,
        "failed": int(failed or 0),
        "retried": int(retried or 0),
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
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# --- (b) inbound ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pressed:
    """A choice learnt once from the bot's real interactive message: a reply button or a list row."""

    kind: str  # "button" or "list"
    id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class Hook:
    """One signed webhook body and the number of client messages it carries."""

    body: bytes
    signature: str
    messages: int


class Messages:
    """Client messages as Meta's webhooks carry them, built (and their wamids kept) by the test fake,
    which is only used here to build them: it is not started in this process."""

    def __init__(self) -> None:
        self.builder = FakeWhatsApp()
        self.wamids: dict[str, str] = {}  # wamid -> wa_id, for the fake server to know them

    def text(self, user: str, text: str) -> Inbound:
        inbound = self.builder.text_message(user, text, name=NAME)
        self.wamids[inbound.wamid] = user
        return inbound

    def press(self, user: str, pressed: Pressed) -> Inbound:
        reply = {"id": pressed.id, "title": pressed.title}
        if pressed.kind == "button":
            content = {"type": "button_reply", "button_reply": reply}
        else:
            if pressed.description:
                reply["description"] = pressed.description
            content = {"type": "list_reply", "list_reply": reply}
        context = {"from": DISPLAY_PHONE_NUMBER, "id": new_wamid()}  # the interactive message pressed
        inbound = self.builder._inbound_message(
            user, "interactive", content, user_id=None, name=NAME, context=context
        )
        self.wamids[inbound.wamid] = user
        return inbound

    def step(self, user: str, step: Step, pressed: Pressed | None) -> Inbound:
        return self.text(user, step.text or "") if pressed is None else self.press(user, pressed)

    def hook(self, items: Sequence[Inbound]) -> Hook:
        """One webhook: one entry, one change per client (their contact and messages, in order)."""
        groups: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        for item in items:
            groups.setdefault(item.contact["wa_id"], (item.contact, []))[1].append(item.message)
        changes = [
            self.builder._change({"contacts": [contact], "messages": found})
            for contact, found in groups.values()
        ]
        payload = {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": changes}]}
        body = encode_body(payload)
        return Hook(body, sign(body, APP_SECRET), len(items))

    def conversation(self, user: str, script: list[Step], presses: list[Pressed | None]) -> list[Inbound]:
        return [self.step(user, s, p) for s, p in zip(script, presses, strict=True)]


@dataclass
class App:
    services: Any
    webhook: str


@contextlib.asynccontextmanager
async def _serve(app: Any, port: int) -> AsyncIterator[None]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serve_app(folder: Path, api_url: str) -> AsyncIterator[App]:
    """The whole app as ``optibot run`` serves it (SQLite, durable defaults), WhatsApp enabled."""
    from bot.ratelimit import RateLimiter, Window
    from bot.web.app import create_app

    port = _free_port()
    app = create_app(_settings(folder, api_url, public_url=f"http://127.0.0.1:{port}"))
    async with _serve(app, port):
        services = app.state.services
        # Pacing lifted: the fake enforces no limits here, and the rate measured is the service's.
        services.whatsapp.limiter = RateLimiter(Window(10**6, 1.0), Window(10**6, 1.0))
        yield App(services, f"http://127.0.0.1:{port}/webhooks/whatsapp")


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

    port = _free_port()
    async with _serve(app, port):
        yield f"http://127.0.0.1:{port}/webhooks/whatsapp"


RESENT = [0]  # webhooks sent again after a connection error (a keep-alive closed by the server)


async def _post(http: Any, url: str, hook: Hook) -> None:
    """POST one webhook; on a connection error, again (as Meta does: a message is stored once)."""
    import aiohttp

    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": hook.signature}
    for attempt in range(3):
        try:
            async with http.post(url, data=hook.body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the webhook answered {response.status}")
                return
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
            if attempt == 2:
                raise
            RESENT[0] += 1


async def calibrate(app: App, fake: FakeServer, http: Any, base: int) -> list[list[Pressed | None]]:
    """Go through each script once, a step at a time, waiting for the bot's answers, and learn each
    press from the interactive message the bot really sent (its buttons' or rows' ids)."""
    from storage.tables import cases

    build = Messages()
    database = app.services.database
    learnt: list[list[Pressed | None]] = []
    for index, script in enumerate(SCRIPTS):
        user = wa_id(base + index)
        presses: list[Pressed | None] = []
        for step in script:
            pressed = None if step.button is None else await _find_choice(fake, user, step.button)
            inbound = build.step(user, step, pressed)
            await fake.clients(messages={inbound.wamid: user})
            await _post(http, app.webhook, build.hook([inbound]))
            await _wait_drained(database, 20.0, 0.01)
            presses.append(pressed)
        learnt.append(presses)
    made = await _count(database, cases)
    if made != len(SCRIPTS):
        raise RuntimeError(f"the scripts made {made} cases instead of {len(SCRIPTS)}")
    return learnt


async def _find_choice(fake: FakeServer, user: str, label: str) -> Pressed:
    sent = [m for m in await fake.messages_to(user) if m["type"] == "interactive"]
    if not sent:
        raise RuntimeError(f"no interactive message to press {label!r} on")
    message = sent[-1]
    wanted = label.casefold()
    for choice in message["buttons"]:
        if wanted in choice["title"].casefold() or wanted in choice["description"].casefold():
            return Pressed(message["interactive_type"], choice["id"], choice["title"], choice["description"])
    raise RuntimeError(f"no choice {label!r} in {message['buttons']}")


@dataclass
class Workload:
    """One round's conversations on fresh clients, as single webhooks and as batched ones."""

    conversations: int
    singles: list[list[Hook]]  # per conversation, one webhook a message
    batched: list[list[Hook]]  # per group of BATCH conversations, the next message of each
    users: list[str]
    batched_users: list[str]
    messages: int
    wamids: dict[str, str]


def workload(learnt: list[list[Pressed | None]], conversations: int, base: int) -> Workload:
    build = Messages()
    users = [wa_id(base + i) for i in range(conversations)]
    singles = []
    for i, user in enumerate(users):
        script = i % len(SCRIPTS)
        singles.append([build.hook([m]) for m in build.conversation(user, SCRIPTS[script], learnt[script])])
    batched_users = [wa_id(base + conversations + i) for i in range(conversations)]
    batched = []
    for start in range(0, conversations, BATCH):
        group = [
            build.conversation(user, SCRIPTS[i % len(SCRIPTS)], learnt[i % len(SCRIPTS)])
            for i, user in enumerate(batched_users[start : start + BATCH], start)
        ]
        batched.append([build.hook([c[k] for c in group if k < len(c)]) for k in range(max(map(len, group)))])
    messages = sum(len(c) for c in singles)
    return Workload(conversations, singles, batched, users, batched_users, messages, build.wamids)


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
    cases_before = await _count(database, cases)
    out_before = await _count(database, messages, messages.c.direction == "out")

    async def post(hook: Hook) -> None:
        await _post(http, app.webhook, hook)

    if profile is not None:
        profile.enable()
    started = time.perf_counter()
    latencies = await _run_clients(sequences, concurrency, post)
    acknowledged = time.perf_counter() - started
    await _wait_drained(database)
    elapsed = time.perf_counter() - started
    if profile is not None:
        profile.disable()
    made = await _count(database, cases) - cases_before
    if await _count(database, inbox, inbox.c.processed_at.is_(None)):
        raise RuntimeError("unprocessed messages left")
    return {
        "updates_per_s": messages_count / elapsed,
        "acknowledged_per_s": messages_count / acknowledged,
        "webhooks_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * _percentile(latencies, 0.5),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "cases": made,
        "replies": await _count(database, messages, messages.c.direction == "out") - out_before,
    }


async def _bare(
    url: str, http: Any, sequences: list[list[Hook]], concurrency: int, count: int
) -> dict[str, Any]:
    async def post(hook: Hook) -> None:
        await _post(http, url, hook)

    started = time.perf_counter()
    latencies = await _run_clients(sequences, concurrency, post)
    elapsed = time.perf_counter() - started
    return {
        "updates_per_s": count / elapsed,
        "p50_ms": 1000 * _percentile(latencies, 0.5),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
    }


async def inbound_round(
    app: App,
    bare_url: str,
    fake: FakeServer,
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
    rounds: int, conversations: int, concurrency: int, statuses: bool, profile_to: str | None
) -> dict[str, Any]:
    import aiohttp

    results: list[dict[str, Any]] = []
    profile = cProfile.Profile() if profile_to else None
    base = itertools.count(1_000_000, 100_000)
    # Idle connections are dropped before uvicorn's keep-alive (5 s) would close them under a request.
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=2.0)
    async with FakeServer(statuses=statuses) as fake:
        with tempfile.TemporaryDirectory() as folder:
            async with (
                serve_app(Path(folder), fake.api_url) as app,
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
    keys = [k for k, v in results[0].items() if isinstance(v, float)]
    medians = {key: statistics.median(r[key] for r in results) for key in keys}
    return {
        "scenario": "whatsapp-in",
        "rounds": rounds,
        "conversations": conversations,
        "concurrency": concurrency,
        "batch": BATCH,
        "statuses": statuses,
        "updates": results[0]["updates"],
        "webhooks_batched": results[0]["webhooks_batched"],
        **medians,
        "per_round": results,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# --- the report, for ``python -m bench`` ----------------------------------------------------------


def _run_scenario(arguments: list[str]) -> dict[str, Any]:
    """Run one scenario's process; its last line of output is its JSON result."""
    command = [sys.executable, "-m", "bench.whatsapp_bench", *arguments]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        raise SystemExit(f"{' '.join(command[2:])} failed ({done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _list(values: list[float], digits: int = 1) -> str:
    return ", ".join(f"{v:,.{digits}f}" for v in values)


def report_out(rounds: int | None) -> None:
    rounds = rounds or DEFAULT_ROUNDS
    r = _run_scenario(["--scenario=out", f"--rounds={rounds}"])
    print(json.dumps(r), file=sys.stderr)
    per = r["per_round"]
    print(
        f"whatsapp outbound: {r['replies']} replies to {r['clients']} clients (1-3 each, questions as"
        " reply buttons or lists) through the real WhatsAppChannel (httpx Graph client) and OutboxSender"
        f" with WHATSAPP_MAX_PER_SECOND={r['max_per_second']}, into the fake Graph API in its own process"
        f" enforcing {r['max_per_second']}/s (130429 beyond) and {PAIR_LIMIT} per client in 6 s (131056);"
        f" medians of {rounds} rounds"
    )
    print(
        f"  sustained msg/s as the fake accepted them: {r['messages_per_s']:.1f}"
        f"   (rounds: {_list([x['messages_per_s'] for x in per])}; {per[0]['accepted']} sends a round)"
    )
    print(
        f"  130429 received: {_list([x['too_many'] for x in per], 0)};"
        f" 131056 received: {_list([x['pair_rate'] for x in per], 0)};"
        f" replies sent again: {_list([x['retried'] for x in per], 0)};"
        f" failed: {sum(x['failed'] for x in per)}"
    )
    print(
        "  most sends in any 1 s, arrived / accepted: "
        + "; ".join(f"{x['max_arrived_in_1s']} / {x['max_accepted_in_1s']}" for x in per)
    )
    print(f"  outbox drained in s: {_list([x['drain_s'] for x in per])}")
    ok = r["messages_per_s"] >= TARGET_OUT_PER_S and r["too_many_total"] == 0 and r["pair_rate_total"] == 0
    print(
        f"  {'meets' if ok else 'MISSES'} target >= {TARGET_OUT_PER_S:.0f} msg/s (95 % of"
        f" {MAX_PER_SECOND}) with zero 130429 and 131056"
    )


def report_in(rounds: int | None, conversations: int) -> None:
    rounds = rounds or DEFAULT_ROUNDS
    r = _run_scenario(["--scenario=in", f"--rounds={rounds}", f"--conversations={conversations}"])
    print(json.dumps(r), file=sys.stderr)
    per = r["per_round"]
    print(
        f"whatsapp inbound: {r['conversations']} conversations ({r['updates']:,} messages, typed text and"
        f" button/list presses) by {r['concurrency']} concurrent clients, medians of {rounds} rounds;"
        " pacing lifted (the fake enforces no limits, the channel's limiter is raised);"
        f" status webhooks {'on' if r['statuses'] else 'off'}"
    )
    print(
        "  durable, one message a webhook (signed POST /webhooks/whatsapp over loopback -> inbox ->"
        f" engine -> outbox -> httpx -> fake): {r['durable_updates_per_s']:,.0f} messages/s processed and"
        f" answered   (rounds: {_list([x['durable_updates_per_s'] for x in per], 0)})"
    )
    print(
        f"    webhook answered in p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms;"
        f" all acknowledged at {r['acknowledged_updates_per_s']:,.0f}/s;"
        f" {per[0]['replies']:,} replies a round; Graph calls a round (single and batched runs):"
        f" {per[0]['graph_calls']}; webhooks resent after a connection error: {sum(x['resent'] for x in per)}"
    )
    print(
        f"  bare route (signature + JSON + 200 on FastAPI/uvicorn): {r['bare_updates_per_s']:,.0f} webhooks/s"
        f"   (rounds: {_list([x['bare_updates_per_s'] for x in per], 0)});"
        f" p50 {r['bare_p50_ms']:.1f} ms, p99 {r['bare_p99_ms']:.1f} ms"
    )
    print(
        f"  durable / bare: {100 * r['share']:.1f} %   (rounds: {_list([100 * x['share'] for x in per])} %)"
    )
    print(
        f"  batched ({BATCH} clients a webhook, {r['webhooks_batched']:,} webhooks,"
        f" {r['concurrency'] // BATCH} posters): durable {r['batched_updates_per_s']:,.0f} messages/s"
        f"   (rounds: {_list([x['batched_updates_per_s'] for x in per], 0)});"
        f" webhook p50 {r['batched_p50_ms']:.1f} ms, p99 {r['batched_p99_ms']:.1f} ms;"
        f" bare {r['bare_batched_updates_per_s']:,.0f} messages/s;"
        f" durable / bare {100 * r['batched_share']:.1f} %"
    )


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
    args = parser.parse_args()
    if args.scenario == "out":
        result = asyncio.run(outbound(args.rounds, args.messages, args.clients))
    else:
        result = asyncio.run(
            inbound(args.rounds, args.conversations, args.concurrency, args.statuses, args.profile)
        )
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
