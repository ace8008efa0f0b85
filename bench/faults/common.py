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
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.engine_bench import SHIPMENT, VISIT  # the clients' typed conversations
from tests.e2e.servers import free_port, service_env
from tests.fakes.telegram import TOKEN

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
