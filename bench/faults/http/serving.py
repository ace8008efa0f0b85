"""The in-process side of the HTTP scenarios: their databases, the app served as ``optibot run``
serves it with the fakes of ``tests/fakes`` wired in, and the requests the platforms and clients post.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.common import lifted_pacing
from bench.faults import Figures, common
from tests.fakes import telegram as tg
from tests.fakes import whatsapp as wa

Json = dict[str, Any]
SECRET = "faults-webhook-secret_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SIGNATURE_HEADER = "X-Hub-Signature-256"
JSON_TYPE = {"Content-Type": "application/json"}
TELEGRAM_HEADERS = {**JSON_TYPE, SECRET_HEADER: SECRET}
TEXTS = ("Bonjour", "lunettes cassées", "oui", "non", "je ne sais pas", "Lyon 69003", "merci")


# --- databases ---------------------------------------------------------------------------------------


async def postgres_unreachable() -> str | None:
    """Why the shared PostgreSQL server cannot be used, or None."""
    try:
        connection = await asyncpg.connect(common.dsn(common.POSTGRES_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}"
    await connection.close()
    return None


_template: list[bytes] = []  # a migrated SQLite file, made once per process


async def _sqlite_template() -> bytes:
    if not _template:
        with tempfile.TemporaryDirectory(prefix="faults-template-") as folder:
            path = Path(folder) / "template.db"
            await common.migrate(f"sqlite+aiosqlite:///{path}")
            _template.append(path.read_bytes())
    return _template[0]


class _PostgresTemplate:
    """A migrated database on the shared server, made once per process (dropped when it exits);
    each scenario runs on a copy (``CREATE DATABASE ... TEMPLATE``), dropped after."""

    def __init__(self) -> None:
        self.name = f"optibot_faults_tpl_{os.getpid()}_{secrets.token_hex(3)}"
        self.ready = False

    def url(self, database: str) -> str:
        return make_url(common.POSTGRES_URL).set(database=database).render_as_string(hide_password=False)

    async def _admin(self, statement: str) -> None:
        admin = await asyncpg.connect(common.dsn(common.POSTGRES_URL))
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    @contextlib.asynccontextmanager
    async def copy(self) -> AsyncIterator[str]:
        if not self.ready:
            await self._admin(f'CREATE DATABASE "{self.name}"')
            atexit.register(lambda: asyncio.run(self._drop(self.name)))
            await common.migrate(self.url(self.name))
            self.ready = True
        name = f"optibot_faults_{os.getpid()}_{secrets.token_hex(3)}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        try:
            yield self.url(name)
        finally:
            await self._drop(name)

    async def _drop(self, name: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_postgres = _PostgresTemplate()


@contextlib.asynccontextmanager
async def _database(kind: str, folder: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        path = folder / "faults.db"
        path.write_bytes(await _sqlite_template())
        yield f"sqlite+aiosqlite:///{path}"
        return
    async with _postgres.copy() as url:
        yield url


async def each_database(name: str, run: Callable[[str, str, Path, Figures], Awaitable[None]]) -> Figures:
    """Run ``run(kind, url, folder, figures)`` on SQLite then PostgreSQL, into one Figures."""
    figures = Figures(name)
    for kind in ("sqlite", "postgres"):
        with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as folder:
            async with _database(kind, Path(folder)) as url:
                started = time.monotonic()
                await run(kind, url, Path(folder), figures)
                figures.extra[f"{kind}_seconds"] = round(time.monotonic() - started, 1)
    return figures


def add(figures: Figures, key: str, value: int) -> None:
    """Add ``value`` to the counter ``key`` of ``figures.extra`` (the databases' sum)."""
    current = figures.extra.get(key, 0)
    figures.extra[key] = (current if isinstance(current, int) else 0) + value


# --- the app -----------------------------------------------------------------------------------------


@dataclass
class App:
    """The app served on a free port of this process: its services and base URL."""

    services: Any
    base: str

    async def rows(self, query: sa.Select[Any]) -> list[Any]:
        async with self.services.database.connect() as connection:
            return list((await connection.execute(query)).all())


def free_port() -> int:
    from tests.e2e.servers import free_port

    return free_port()


@contextlib.asynccontextmanager
async def serve(database_url: str, folder: Path, **overrides: Any) -> AsyncIterator[App]:
    """``create_app`` under uvicorn, as ``optibot run`` serves it (forwarded addresses only from
    ``FORWARDED_ALLOW_IPS``), on a free port unless ``port`` is given: the tests' own server."""
    from tests.integration.serving import serve_app

    async with serve_app(database_url, folder, **overrides) as service:
        yield App(service.services, service.base)


def _channels(telegram: tg.FakeTelegram, whatsapp: wa.FakeWhatsApp, port: int) -> Json:
    """The settings that point the app's channels at the fakes (Telegram by webhook)."""
    return {
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "telegram_bot_token": tg.TOKEN,
        "telegram_api_url": telegram.base_url,
        "telegram_mode": "webhook",
        "telegram_webhook_secret": SECRET,
        "whatsapp_access_token": wa.TOKEN,
        "whatsapp_phone_number_id": wa.PHONE_NUMBER_ID,
        "whatsapp_app_secret": wa.APP_SECRET,
        "whatsapp_verify_token": wa.VERIFY_TOKEN,
        "whatsapp_api_url": whatsapp.base_url,
    }


@contextlib.asynccontextmanager
async def serve_with_fakes(
    url: str,
    folder: Path,
    telegram: tg.FakeTelegram | None = None,
    whatsapp: wa.FakeWhatsApp | None = None,
    *,
    pacing: bool = False,
) -> AsyncIterator[tuple[App, httpx.AsyncClient, tg.FakeTelegram, wa.FakeWhatsApp]]:
    """The app with both channels pointed at fakes (new ones unless given), once Telegram's webhook
    is set, and a client of it; WhatsApp pushes no statuses. ``pacing``: keep the channels' own
    sliding windows (lifted otherwise)."""
    port = free_port()
    telegram = telegram or tg.FakeTelegram(enforce_limits=False)
    whatsapp = whatsapp or wa.FakeWhatsApp()
    whatsapp.webhook_url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
    whatsapp.auto_statuses = ()
    async with (
        telegram,
        whatsapp,
        serve(
            url, folder, limiters=None if pacing else lifted_pacing, **_channels(telegram, whatsapp, port)
        ) as app,
        httpx.AsyncClient(base_url=app.base, timeout=60) as http,
    ):
        await telegram.wait_for(lambda: telegram.webhook is not None, 20)
        yield app, http, telegram, whatsapp


# --- what the platforms post -------------------------------------------------------------------------

_update_ids = itertools.count(700_000_001 + secrets.randbelow(10**8))
_message_ids = itertools.count(1)


def telegram_text(chat: int, text: str) -> Json:
    """A Telegram ``Update`` carrying a client's text, as the Bot API posts it."""
    user = {"id": chat, "is_bot": False, "first_name": "Camille", "language_code": "fr"}
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_message_ids),
            "from": user,
            "chat": {"id": chat, "type": "private", "first_name": "Camille"},
            "date": int(time.time()),
            "text": text,
        },
    }


def signed(body: bytes) -> dict[str, str]:
    return {**JSON_TYPE, SIGNATURE_HEADER: wa.sign(body)}


def whatsapp_hook(changes: list[Json]) -> tuple[bytes, dict[str, str]]:
    """A signed WhatsApp webhook body with these ``changes`` values (one entry)."""
    metadata = {"display_phone_number": wa.DISPLAY_PHONE_NUMBER, "phone_number_id": wa.PHONE_NUMBER_ID}
    wrapped = [
        {"value": {"messaging_product": "whatsapp", "metadata": metadata, **value}, "field": "messages"}
        for value in changes
    ]
    payload = {"object": "whatsapp_business_account", "entry": [{"id": wa.WABA_ID, "changes": wrapped}]}
    body = wa.encode_body(payload)
    return body, signed(body)


Hook = tuple[str, bytes, dict[str, str]]  # path, body, headers


def tagged_telegram(chat: int, step: int) -> tuple[str, Hook]:
    """The ``step``-th text of a Telegram client, tagged ``#t<chat>-<step>``: (tag, webhook)."""
    tag = f"#t{chat}-{step}"
    body = json.dumps(telegram_text(chat, f"{TEXTS[step % len(TEXTS)]} {tag}")).encode()
    return tag, ("/webhooks/telegram", body, TELEGRAM_HEADERS)


def tagged_whatsapp(fake: wa.FakeWhatsApp, number: int, step: int) -> tuple[str, Hook]:
    """The ``step``-th text of the WhatsApp client ``336<number>``, tagged ``#w<number>-<step>``."""
    tag = f"#w{number}-{step}"
    item = fake.text_message(f"336{number:08d}", f"{TEXTS[step % len(TEXTS)]} {tag}")
    body, headers = whatsapp_hook([{"contacts": [item.contact], "messages": [item.message]}])
    return tag, ("/webhooks/whatsapp", body, headers)


@dataclass
class Poster:
    """POSTs as a platform does: a 5xx or a dropped connection is counted and sent again."""

    http: httpx.AsyncClient
    statuses: Counter[int] = field(default_factory=Counter)
    tries: int = 8

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        status = 0
        for attempt in range(self.tries):
            try:
                response = await self.http.post(url, content=body, headers=headers)
            except httpx.TransportError:
                status = 0
            else:
                status = response.status_code
                self.statuses[status] += 1
                if status < 500:
                    return status
            await asyncio.sleep(min(0.1 * 2**attempt, 1.0))
        return status

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)
