"""PostgreSQL LISTEN/NOTIFY: the one listening connection of a process, and sending a notification.

The listener is a raw asyncpg connection outside the pool (a pooled connection is handed back and
reused; a LISTEN must stay on one session). It reconnects with a growing pause when its connection
drops; ``on_state`` tells whether it is listening, so that those who rely on it can fall back to
polling meanwhile. Payloads are opaque short strings built by ``bot/live.py`` (ids only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

CHANNEL = "optibot_live"
MAX_PAYLOAD = 7900  # PostgreSQL refuses payloads of 8000 bytes or more
FIRST_PAUSE = 0.2  # seconds before the first reconnection; doubled each failure, up to MAX_PAUSE
MAX_PAUSE = 10.0
CONNECT_TIMEOUT = 5.0


def supports_notify(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


# Options of the URL that SQLAlchemy's asyncpg dialect takes for itself: asyncpg would send them to
# the server as settings, which refuses them (``?prepared_statement_cache_size=0`` behind a pooler).
_DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn")


def asyncpg_connect_args(url: str) -> dict[str, object]:
    """``asyncpg.connect``'s keyword arguments for the SQLAlchemy URL (``postgresql+asyncpg://…``),
    read the way the pooled engine reads it: ``?ssl=require`` and the like keep their meaning."""
    _args, kwargs = PGDialect_asyncpg().create_connect_args(make_url(url))  # type: ignore[no-untyped-call]
    return {key: value for key, value in kwargs.items() if key not in _DIALECT_ONLY}


async def notify(database: AsyncEngine, payload: str) -> None:
    """Send one notification on a pooled connection (delivered to every listener at once: it is
    its own transaction)."""
    async with database.connect() as connection:
        await connection.execute(
            sa.text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
        )
        await connection.commit()


class Listener:
    """Listens on :data:`CHANNEL` until cancelled, reconnecting as needed. ``on_payload`` is called
    in the event loop for each notification; ``on_state(True)`` once listening, ``(False)`` when the
    connection is lost. ``check_every``: how often an idle connection is checked (one round trip)."""

    def __init__(
        self,
        connect_args: dict[str, object],
        on_payload: Callable[[str], None],
        on_state: Callable[[bool], None],
        *,
        check_every: float = 30.0,
    ) -> None:
        self.connect_args = connect_args
        self.on_payload = on_payload
        self.on_state = on_state
        self.check_every = check_every
        self.server_pid: int | None = None  # the listening backend (tests end it on purpose)

    async def run(self) -> None:
        pause = FIRST_PAUSE
        while True:
            try:
                connection = await asyncpg.connect(**self.connect_args, timeout=CONNECT_TIMEOUT)
            except Exception as error:  # unreachable, refused, misconfigured: tried again, logged
                log.warning(
                    "live listener: cannot connect (%s), again in %.1f s", type(error).__name__, pause
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
                continue
            try:
                await self._listen(connection)
                pause = FIRST_PAUSE  # it was listening: the next failure starts short again
            except Exception as error:  # whatever ended it, the streams poll until it listens again
                log.warning("live listener: connection lost (%s)", type(error).__name__)
            finally:
                self.server_pid = None
                self.on_state(False)
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=1))
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)

    async def _listen(self, connection: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())

        def heard(_connection: object, _pid: int, _channel: str, payload: object) -> None:
            self.on_payload(str(payload))

        await connection.add_listener(CHANNEL, heard)
        self.server_pid = connection.get_server_pid()
        self.on_state(True)
        while not connection.is_closed():
            try:
                async with asyncio.timeout(self.check_every):
                    await lost.wait()
            except TimeoutError:
                await connection.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT)  # raises if gone
                continue
            return
