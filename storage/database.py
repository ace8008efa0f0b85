"""Creating the database engine for SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

# What the rest of the service names: a database (a pool) and a connection in a transaction. The
# use cases in ``bot/`` take these and hand them to the queries here; SQL stays in ``storage/``.
Database = AsyncEngine
Connection = AsyncConnection


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None: not SQLite, or in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def create_engine(url: str, *, pool_size: int = 20, sqlite_synchronous: str = "FULL") -> AsyncEngine:
    """An async engine; for SQLite the file's folder is created and WAL mode switched on.

    Statement parameters are hidden from logs and exception messages (they carry personal data).

    SQLite runs with ``synchronous=FULL`` by default: a commit is on disk before the client is told
    the message was received (group commit keeps the fsync count low).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _tune_sqlite(engine, sqlite_synchronous)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        # The pipeline's writer then keeps reusing one warm connection, whose prepared statements
        # asyncpg has cached, instead of cycling through the pool.
        pool_use_lifo=True,
        hide_parameters=True,  # SQL parameters hold personal data: keep them out of logs and errors
    )


def _tune_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"invalid SQLite synchronous level: {synchronous}")

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted rows (an erased client's) are overwritten, not left in free pages (docs/PRIVACY.md).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


async def checkpoint(engine: AsyncEngine) -> None:
    """SQLite: copy the WAL into the database file and empty it, so that what an erasure removed
    is not left in the WAL either (with ``secure_delete`` it is gone from the file too).
    PostgreSQL keeps dead row versions until VACUUM reclaims them (see docs/PRIVACY.md)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


async def ping(connection: AsyncConnection) -> None:
    """One round trip: raises if the database cannot answer."""
    await connection.execute(sa.text("SELECT 1"))
