"""What the channel benchmarks (``telegram_bench``, ``whatsapp_bench``) share: the replies and the client
scripts they play, the outbox rows they drain, the database counts that say when a run is over, the app
served on loopback, the clients posting at a given concurrency, and the figures and the report's lines.

The bot's modules are imported inside the functions: a benchmark starts its fake before they load.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from bot.outbox import OutboxSender
    from bot.ratelimit import RateLimiter
    from storage.payloads import MessageRow

# --- what the clients say and what the bot answers ------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What the client does: write ``text``, or press the button whose label contains ``button``."""

    text: str | None = None
    button: str | None = None


def T(text: str) -> Step:  # noqa: N802 (reads like the scripts of the tests)
    return Step(text=text)


def B(label: str) -> Step:  # noqa: N802
    return Step(button=label)


# The engine benchmark's two conversations as a chat client goes through them: some answers typed,
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
    B("Pas de mutuelle"),
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
    T("la MGEN"),
    B("Passer"),  # no photo of the card
    T("oui"),
    T("merci"),
]
SCRIPTS = (SHIPMENT, VISIT)


def replies() -> list[Any]:
    """Replies the bot really sends: every question with its buttons, the greeting, a summary..."""
    from flows.catalog import Catalog
    from flows.steps import STEPS
    from flows.types import Choice, Reply

    catalog = Catalog.load()
    fr = "fr"
    found = [Reply("greeting", catalog.text(fr, "greeting"))]
    for name, step in STEPS.items():
        choices = tuple(Choice(c.value, catalog.text(fr, c.label)) for c in step.choices)
        found.append(Reply(step.question, catalog.text(fr, step.question), choices, name, step.expects))
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
        insurance=catalog.text(fr, "insurance.status_none"),
    )
    found.append(
        Reply(
            "summary.question",
            f"{catalog.text(fr, 'summary.intro')}\n{summary}\n\n{catalog.text(fr, 'summary.question')}",
            (Choice("confirm", catalog.text(fr, "summary.confirm")),),
            "summary",
        )
    )
    found.append(Reply("handoff.done", catalog.text(fr, "handoff.done", reference="OB-7KQ2MX")))
    found.append(Reply("stale_button", catalog.text(fr, "stale_button")))
    return found


def outbound_rows(
    channel: str, party: Callable[[int], str], messages_count: int, recipients: int, seed: int, *, what: str
) -> list[MessageRow]:
    """``messages_count`` replies to ``recipients`` recipients (``party(number)``), 1 to 3 each (a reply
    burst stays within a chat's burst of 3, so the sender's own rate is what binds), in a shuffled order
    like live traffic; ``what`` names a recipient in the error."""
    from bot.replies import reply_row
    from storage.outbound import Recipient

    rng = random.Random(seed)
    if not recipients <= messages_count <= 3 * recipients:
        raise ValueError(f"between 1 and 3 messages a {what}")
    counts = [1 + i % 3 for i in range(recipients)]  # 1, 2, 3, 1, 2, 3... : 2 a recipient on average
    while (gap := messages_count - sum(counts)) != 0:
        i = rng.randrange(recipients)
        if gap > 0 and counts[i] < 3:
            counts[i] += 1
        elif gap < 0 and counts[i] > 1:
            counts[i] -= 1
    sample = replies()
    now = datetime.now(UTC)
    order = [recipient for recipient, count in enumerate(counts) for _ in range(count)]
    rng.shuffle(order)
    return [reply_row(Recipient(channel, party(r), None, "fr"), rng.choice(sample), now) for r in order]


# --- the database: when a run is over -------------------------------------------------------------


async def count(database: AsyncEngine, table: sa.Table, *where: Any) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0)


async def pending_out(database: AsyncEngine) -> int:
    """Replies not delivered yet (nor given up)."""
    from storage.tables import messages

    undelivered = (
        messages.c.direction == "out",
        messages.c.sent_at.is_(None),
        messages.c.failed_at.is_(None),
    )
    return await count(database, messages, *undelivered)


async def failed_and_retried(database: AsyncEngine) -> tuple[int, int]:
    """Replies given up, and replies sent more than once."""
    from storage.tables import messages

    failed = await count(database, messages, messages.c.failed_at.is_not(None))
    return failed, await count(database, messages, messages.c.attempts > 1)


async def drained(database: AsyncEngine) -> bool:
    """Every stored update processed and every reply delivered (or given up)."""
    from storage.tables import inbox

    return not await count(database, inbox, inbox.c.processed_at.is_(None)) and not await pending_out(
        database
    )


async def wait_drained(database: AsyncEngine, within: float = 120.0, interval: float = 0.005) -> None:
    deadline = time.monotonic() + within
    while not await drained(database):
        if time.monotonic() > deadline:
            raise RuntimeError(f"not processed and delivered within {within} s")
        await asyncio.sleep(interval)


async def drain(database: AsyncEngine, sender: OutboxSender) -> float:
    """Run the outbox sender until nothing is left to send; returns how long it took."""
    started = time.monotonic()
    task = asyncio.create_task(sender.run())
    try:
        deadline = started + 120
        while await pending_out(database):
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


# --- serving and posting --------------------------------------------------------------------------


@dataclass
class App:
    """The app being measured: its services and the URL of the channel's webhook."""

    services: Any
    webhook: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[None]:
    """``app`` served by uvicorn on loopback ``port`` until the block ends."""
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


_Item = TypeVar("_Item")


async def run_clients(
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


@dataclass(frozen=True)
class Durable:
    """A run of the durable path: every latency, and the seconds until all was acknowledged and until
    all was processed and delivered."""

    latencies: list[float]
    acknowledged_s: float
    elapsed_s: float


async def run_durable(
    database: AsyncEngine,
    conversations: list[list[_Item]],
    concurrency: int,
    send: Callable[[_Item], Awaitable[None]],
    profile: cProfile.Profile | None = None,
) -> Durable:
    """Post ``conversations`` through the app and wait until everything is processed and delivered."""
    if profile is not None:
        profile.enable()
    started = time.perf_counter()
    latencies = await run_clients(conversations, concurrency, send)
    acknowledged = time.perf_counter() - started
    await wait_drained(database)
    elapsed = time.perf_counter() - started
    if profile is not None:
        profile.disable()
    return Durable(latencies, acknowledged, elapsed)


# --- figures and the report -----------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def accepted_rate(times: Sequence[float]) -> float:
    """Sends a second between the first and the last one accepted."""
    ordered = sorted(times)
    span = ordered[-1] - ordered[0]
    return (len(ordered) - 1) / span if span > 0 else 0.0


def medians(results: list[dict[str, Any]]) -> dict[str, float]:
    """The median over the rounds of every figure (float) of a round."""
    keys = [k for k, v in results[0].items() if isinstance(v, float)]
    return {key: statistics.median(r[key] for r in results) for key in keys}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_scenario(command: list[str]) -> dict[str, Any]:
    """Run one scenario's process (``python -m <command>``); its last line of output is its JSON result."""
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def format_rounds(values: list[float], digits: int = 1) -> str:
    """The rounds' values of a figure, for a report line."""
    return ", ".join(f"{v:,.{digits}f}" for v in values)


def lifted_pacing() -> RateLimiter:
    """A chat channel's limiter with its sliding windows out of the way (the fakes enforce none in
    these runs: the rate measured is the service's); pauses still hold. ``build`` calls it once per
    channel, so a pause of one channel does not pause the other."""
    from bot.ratelimit import RateLimiter, Window

    return RateLimiter(Window(10**6, 1.0), Window(10**6, 1.0))
