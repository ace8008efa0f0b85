"""What the fault scenarios share: real ``optibot run`` processes, a scratch PostgreSQL database, the
fake Bot API in this process, clients that post Telegram webhooks as Telegram does (again until
acknowledged), and the audit that turns the database's rows and the fake's sends into figures.

The audit compares, chat by chat, what was written (the outbound rows, by id) with what the fake
Bot API accepted (its sends, in order): a reply never received is lost, a reply received twice is a
duplicate (a *repeat after a crash* when a process was killed between the two copies), a chat whose
replies arrive in another order than written is out of order. An update acknowledged with a 200 and
never stored as the client's message is lost too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.engine_bench import SHIPMENT, VISIT  # the clients' typed conversations
from bench.faults import Figures
from tests.e2e.servers import free_port, service_env
from tests.fakes.telegram import TOKEN, FakeTelegram

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_URL = (
    os.environ.get("OPTIBOT_FAULTS_POSTGRES_URL")
    or os.environ.get("OPTIBOT_TEST_POSTGRES_URL")
    or DEFAULT_POSTGRES
)
SECRET = "faults-webhook-secret_0123456789"
FIRST_NAME = "Camille"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def script(index: int, length: int | None = None) -> list[str]:
    """The ``index``-th client's messages: shipments and visits alternated, cut to ``length``."""
    chosen = SHIPMENT if index % 2 == 0 else VISIT
    return list(chosen[:length])


# --- databases ------------------------------------------------------------------------------------


def dsn(url: str, database: str | None = None) -> str:
    """An asyncpg DSN from a SQLAlchemy URL (optionally another database on the same server)."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def migrate(url: str) -> None:
    from storage.database import create_engine
    from storage.migrate import upgrade

    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def scratch_database(server_url: str = POSTGRES_URL) -> AsyncIterator[str]:
    """A migrated database created on ``server_url``'s server for one scenario, dropped after."""
    name = f"optibot_faults_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await migrate(url)
        yield url
    finally:
        admin = await asyncpg.connect(dsn(server_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def database_engine(url: str) -> AsyncEngine:
    from storage.database import create_engine

    return create_engine(url, pool_size=2)


# --- service processes ----------------------------------------------------------------------------


def file_key() -> str:
    """One Fernet key for every process of a scenario (it also keys the inbox ids' hashes)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class Service:
    """One ``optibot run`` process on its own port, started again on the same port after a kill.

    Telegram in webhook mode against the fake; the scenario posts the updates to the processes
    itself, as a load balancer in front of them would."""

    def __init__(self, name: str, database_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.database_url = database_url
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.webhook = f"{self.base}/webhooks/telegram"
        self.env = {"PUBLIC_URL": self.base, **env}
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.ready = False  # answered /healthz since it was last started

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    async def start(self) -> None:
        self.starts += 1
        self.ready = False
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                "--port",
                str(self.port),
                cwd=self.workdir,
                env=service_env(self.database_url, self.workdir / "data", **self.env),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def wait_healthy(self, http: httpx.AsyncClient, within: float = 90.0) -> None:
        deadline = time.monotonic() + within
        while True:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{self.base}/healthz", timeout=2)).status_code == 200:
                    self.ready = True
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not start within {within} s:\n{self.log_tail()}")
            await asyncio.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no lease handed back, nothing recorded."""
        self.ready = False
        if self.process is not None and self.alive:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is None or not self.alive:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def services(
    count: int, database_url: str, workdir: Path, api_url: str, http: httpx.AsyncClient, **env: str
) -> AsyncIterator[list[Service]]:
    """``count`` processes on one database, started together, stopped after."""
    common = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_url,
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "OPTIBOT_FILE_KEY": file_key(),
        "AUTO_MIGRATE": "false",
        "OPTIBOT_LOG_LEVEL": "WARNING",
        **env,
    }
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    started = [Service(f"process-{i + 1}", database_url, workdir, common) for i in range(count)]
    try:
        for service in started:
            await service.start()
        await asyncio.gather(*(s.wait_healthy(http) for s in started))
        yield started
    finally:
        await asyncio.gather(*(s.stop() for s in started))


# --- Telegram clients -----------------------------------------------------------------------------


class Updates:
    """Telegram text messages as the Bot API posts them, with fresh update and message ids."""

    def __init__(self) -> None:
        self._ids = itertools.count(secrets.randbelow(10**8) + 10**8)
        self._messages = itertools.count(1)

    def text(self, chat: int, text: str) -> dict[str, Any]:
        user = {"id": chat, "is_bot": False, "first_name": FIRST_NAME, "language_code": "fr"}
        return {
            "update_id": next(self._ids),
            "message": {
                "message_id": next(self._messages),
                "from": user,
                "chat": {"id": chat, "type": "private", "first_name": FIRST_NAME},
                "date": int(time.time()),
                "text": text,
            },
        }


@dataclass
class Traffic:
    """What the clients did: the texts acknowledged per chat and every answer's status."""

    acknowledged: dict[int, list[str]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)  # every HTTP answer, 200s included
    refused: int = 0  # connection refused or reset: the process was down
    first_ok_after: dict[float, float] = field(default_factory=dict)  # see Poster.ok_times
    ok_times: list[float] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(len(texts) for texts in self.acknowledged.values())

    @property
    def server_errors(self) -> int:
        """5xx other than 503 (503 means "not stored, send it again", which the platform does)."""
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)


class Poster:
    """Posts updates to the processes like Telegram: to any one found up, again until a 200.

    A 503 or a refused connection is retried after a short pause (Telegram retries too); a 4xx is
    a bug of the scenario and stops it."""

    def __init__(self, http: httpx.AsyncClient, targets: Sequence[Service], traffic: Traffic) -> None:
        self.http = http
        self.targets = targets
        self.traffic = traffic
        self.updates = Updates()
        self.retry_pause = 0.25

    async def say(self, chat: int, text: str, within: float = 180.0) -> None:
        body = self.updates.text(chat, text)
        headers = {SECRET_HEADER: SECRET}
        deadline = time.monotonic() + within
        while True:
            # A load balancer sends to the processes its health checks found up.
            live = [t for t in self.targets if t.ready] or list(self.targets)
            target = random.choice(live)
            try:
                response = await self.http.post(target.webhook, json=body, headers=headers, timeout=60)
            except httpx.TransportError:
                self.traffic.refused += 1
            else:
                self.traffic.statuses[response.status_code] += 1
                if response.status_code == 200:
                    self.traffic.acknowledged.setdefault(chat, []).append(text)
                    self.traffic.ok_times.append(time.monotonic())
                    return
                if response.status_code < 500:
                    raise RuntimeError(f"the webhook answered {response.status_code}: {response.text[:200]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"an update was not acknowledged within {within} s")
            await asyncio.sleep(self.retry_pause)

    async def burst(self, chat: int, texts: Sequence[str], pause: tuple[float, float] = (0.0, 0.0)) -> None:
        """One client's messages, each sent once the previous one is acknowledged (not answered)."""
        for text in texts:
            await self.say(chat, text)
            if pause[1]:
                await asyncio.sleep(random.uniform(*pause))


# --- waiting and auditing -------------------------------------------------------------------------


async def _scalar(database: AsyncEngine, statement: Any) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(statement) or 0)


async def backlog(database: AsyncEngine) -> tuple[int, int]:
    """(inbound messages stored and not processed, replies neither sent nor given up)."""
    from storage.tables import inbox, messages

    count = sa.func.count()
    unprocessed = await _scalar(
        database, sa.select(count).select_from(inbox).where(inbox.c.processed_at.is_(None))
    )
    undelivered = await _scalar(
        database,
        sa.select(count)
        .select_from(messages)
        .where(messages.c.direction == "out", messages.c.sent_at.is_(None), messages.c.failed_at.is_(None)),
    )
    return unprocessed, undelivered


async def wait_settled(database: AsyncEngine, traffic: Traffic, within: float) -> float:
    """Wait until every acknowledged message is stored as the client's and processed and every
    reply is sent or given up; returns how long it took. Raises on the deadline (the audit then
    counts what is missing)."""
    from storage.tables import messages

    started = time.monotonic()
    deadline = started + within
    while True:
        unprocessed, undelivered = await backlog(database)
        stored = await _scalar(
            database, sa.select(sa.func.count()).select_from(messages).where(messages.c.direction == "in")
        )
        if not unprocessed and not undelivered and stored >= traffic.sent:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"not settled within {within} s: {unprocessed} unprocessed, {undelivered} undelivered,"
                f" {stored}/{traffic.sent} messages stored"
            )
        await asyncio.sleep(0.25)


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    party: str
    text: str
    attempts: int
    sent: bool
    failed: bool


@dataclass
class Audit:
    """Per-chat comparison of written replies with received sends (see the module docstring)."""

    replies: int = 0  # reply parts written
    sends: int = 0  # sends the fake accepted
    lost_replies: int = 0
    lost_messages: int = 0  # acknowledged, never stored as the client's message
    failed: int = 0  # replies given up (also counted lost)
    duplicated: int = 0
    repeats_after_crash: int = 0
    out_of_order_chats: list[int] = field(default_factory=list)
    duplicated_chats: set[int] = field(default_factory=set)
    max_attempts: int = 0

    @property
    def lost(self) -> int:
        return self.lost_replies + self.lost_messages

    def into(self, figures: Figures) -> Figures:
        figures.lost = self.lost
        figures.duplicated = self.duplicated
        figures.out_of_order = len(self.out_of_order_chats)
        figures.repeats_after_crash = self.repeats_after_crash
        figures.extra.update(
            replies=self.replies,
            sends=self.sends,
            max_attempts=self.max_attempts,
        )
        if self.failed:
            figures.extra["replies_given_up"] = self.failed
        if self.duplicated_chats:
            figures.extra["chats_with_duplicates"] = len(self.duplicated_chats)
        return figures


async def audit(
    database: AsyncEngine, fake: FakeTelegram, traffic: Traffic, kills: Sequence[float] = ()
) -> Audit:
    """Count lost, duplicated and out-of-order replies chat by chat (``kills``: the monotonic
    times processes were killed, which explain a repeated send between them)."""
    from bot.channels.text import split_text
    from storage.tables import messages

    chats = sorted(traffic.acknowledged)
    parties = [str(c) for c in chats]
    async with database.connect() as connection:
        rows = [
            Row(r.id, r.party, r.text, r.attempts, r.sent_at is not None, r.failed_at is not None)
            for r in await connection.execute(
                sa.select(
                    messages.c.id,
                    messages.c.party,
                    messages.c.text,
                    messages.c.attempts,
                    messages.c.sent_at,
                    messages.c.failed_at,
                )
                .where(messages.c.direction == "out", messages.c.party.in_(parties))
                .order_by(messages.c.id)
            )
        ]
        inbound = (
            await connection.execute(
                sa.select(messages.c.party, messages.c.text).where(
                    messages.c.direction == "in", messages.c.party.in_(parties)
                )
            )
        ).all()
    result = Audit()
    stored: dict[str, Counter[str]] = {}
    for party, text in inbound:
        stored.setdefault(party, Counter())[text] += 1
    written: dict[str, list[Row]] = {}
    for row in rows:
        written.setdefault(row.party, []).append(row)
    sends: dict[int, list[tuple[str, float]]] = {}
    for message in fake.sent:
        if message.method == "sendMessage":
            sends.setdefault(message.chat_id, []).append((message.text, message.at))
    for chat in chats:
        party = str(chat)
        acknowledged = Counter(traffic.acknowledged[chat])
        result.lost_messages += sum((acknowledged - stored.get(party, Counter())).values())
        chat_rows = written.get(party, [])
        result.failed += sum(r.failed for r in chat_rows)
        result.max_attempts = max([result.max_attempts, *(r.attempts for r in chat_rows)])
        expected = [part for r in chat_rows for part in split_text(r.text)]
        received = sends.get(chat, [])
        result.replies += len(expected)
        result.sends += len(received)
        wanted = Counter(expected)
        got = Counter(text for text, _ in received)
        result.lost_replies += sum((wanted - got).values())
        # Copies beyond what was written: explained by a crash if a process was killed between the
        # first copy and this one.
        first_at: dict[str, float] = {}
        seen: Counter[str] = Counter()
        in_order: list[str] = []
        for text, at in received:
            seen[text] += 1
            first_at.setdefault(text, at)
            if seen[text] <= wanted[text]:
                in_order.append(text)
                continue
            if any(first_at[text] <= kill <= at for kill in kills):
                result.repeats_after_crash += 1
            else:
                result.duplicated += 1
                result.duplicated_chats.add(chat)
        left = got.copy()
        written_and_received = []
        for text in expected:
            if left[text] > 0:
                left[text] -= 1
                written_and_received.append(text)
        if in_order != written_and_received:
            result.out_of_order_chats.append(chat)
    return result
