"""Bringing a database to the newest schema with Alembic, from async code."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, TypeGuard

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, String, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import VARCHAR, TypeEngine

# Held while migrating so that several processes starting together migrate once.
MIGRATION_LOCK_KEY = 0x0F71B07


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("storage") / "migrations"))
    return config


def compare_type(
    context: MigrationContext,
    inspected_column: Column[Any],
    metadata_column: Column[Any],
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Alembic's column type comparison, except for the length of a VARCHAR on SQLite.

    SQLite does not enforce VARCHAR(n): the column has TEXT affinity and stores values of any
    length, so a length differing there changes nothing. Changing it would take batch mode's copy of
    the table, whose DROP fires the ON DELETE actions of the rows referring to it (migration 0004
    leaves ``messages.external_id`` at VARCHAR(64) on SQLite for that reason). Any other difference,
    and every difference on PostgreSQL, is still reported (``None``: Alembic's own comparison)."""
    if (
        context.dialect.name == "sqlite"
        and _plain_varchar(inspected_type)
        and _plain_varchar(metadata_type)
        and inspected_type.collation == metadata_type.collation
    ):
        return False
    return None


def _plain_varchar(type_: TypeEngine[Any]) -> TypeGuard[String]:
    return type(type_) in (String, VARCHAR)


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """Apply every pending migration (idempotent; safe with several processes on PostgreSQL).

    Returns the revision before and after."""
    config = alembic_config()
    async with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            await connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            await connection.commit()
        try:
            before = await connection.run_sync(_current)
            await connection.run_sync(_upgrade, config)
            after = await connection.run_sync(_current)
            await connection.commit()
        finally:
            if postgres:
                await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                await connection.commit()
        return before, after


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def head_revision() -> str | None:
    """The newest revision of the code's migrations."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def revisions(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """The database's revision (None: never migrated) and the code's newest one; migrates nothing."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current), head_revision()


async def is_current(engine: AsyncEngine) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with engine.connect() as connection:
        return await connection.run_sync(_current) == head
