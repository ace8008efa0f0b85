"""Locks between processes: one process at a time does a job (e.g. polls Telegram for the bot).

On PostgreSQL a named lock is a session-level advisory lock, held as long as the connection that
took it lives: a process that dies lets it go with its connection. SQLite serves one process, so
there is no one to exclude and the lock is always this process's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from storage.conversations import lock_key
from storage.database import Connection, Database

# What a database that is down or unreachable raises while a lock is taken or checked.
_UNAVAILABLE = (OSError, SQLAlchemyError)


class LockUnavailableError(Exception):
    """The database could not be asked for the lock (down, refusing connections): ask again later.
    The database's own error is its ``__cause__``."""


@dataclass(frozen=True, slots=True)
class SessionLock:
    """A named lock this process holds, on ``connection`` (None: a one-process database)."""

    connection: Connection | None

    @property
    def exclusive(self) -> bool:
        """Whether another process could have wanted it (False on SQLite: always this process's)."""
        return self.connection is not None

    async def still_held(self) -> bool:
        """A session-level lock lives as long as its session: is the connection still up?"""
        if self.connection is None:
            return True
        try:
            await self.connection.execute(sa.select(1))
        except _UNAVAILABLE:
            return False
        return True

    async def release(self) -> None:
        """Let the lock go (with its connection); a connection already gone has let it go."""
        if self.connection is not None:
            await _close(self.connection)


async def try_session_lock(database: Database, name: str) -> SessionLock | None:
    """The lock called ``name`` if no other session holds it, else None; never waits.

    Raises :class:`LockUnavailableError` when the database could not be asked.
    """
    if database.dialect.name != "postgresql":
        return SessionLock(None)
    connection: Connection | None = None
    try:
        connection = await database.connect()
        held = bool(await connection.scalar(sa.select(sa.func.pg_try_advisory_lock(lock_key(name)))))
    except _UNAVAILABLE as error:
        if connection is not None:
            await _close(connection)
        raise LockUnavailableError(name) from error
    if not held:
        await _close(connection)
        return None
    return SessionLock(connection)


async def _close(connection: Connection) -> None:
    with contextlib.suppress(*_UNAVAILABLE):
        await connection.close()
