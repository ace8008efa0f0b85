"""The Alembic revisions create exactly the schema of ``storage/tables.py``, on both databases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.database import create_engine
from storage.migrate import alembic_config, compare_type, is_current, upgrade
from storage.tables import metadata


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        # Types are compared as the migrations see them: a VARCHAR's length is not compared on SQLite,
        # which does not enforce it (see ``compare_type``); on PostgreSQL everything is.
        opts={"compare_type": compare_type, "compare_server_default": True},
    )
    return list(compare_metadata(context, metadata))


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def test_migrations_match_the_tables(database_url: str) -> None:
    database = create_engine(database_url)
    try:
        async with database.connect() as connection:
            diff = await connection.run_sync(_diff)
            tables = await connection.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
    finally:
        await database.dispose()
    assert diff == []
    assert tables == {*metadata.tables, "alembic_version"}


async def test_upgrade_is_current_and_idempotent(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    database = create_engine(database_url)
    try:
        assert await is_current(database)
        await upgrade(database)
        await upgrade(database)
        assert await is_current(database)
        async with database.connect() as connection:
            assert await connection.run_sync(_revision) == head
            diff = await connection.run_sync(_diff)
    finally:
        await database.dispose()
    assert diff == []


async def test_upgrade_from_empty_database(database_url: str) -> None:
    """A database with no tables at all is not current; ``upgrade`` brings it to head."""
    database = create_engine(database_url)
    try:
        async with database.begin() as connection:
            await connection.run_sync(metadata.drop_all)
            await connection.execute(sa.text("DROP TABLE alembic_version"))
        assert not await is_current(database)
        await upgrade(database)
        assert await is_current(database)
        await upgrade(database)
        assert await is_current(database)
        async with database.connect() as connection:
            diff = await connection.run_sync(_diff)
    finally:
        await database.dispose()
    assert diff == []
