"""Migrating a database that holds data loses none of it, on both databases.

Upgrades run as in production: on an engine from ``storage.database.create_engine`` (SQLite with
``PRAGMA foreign_keys=ON``) and through the project's Alembic environment.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.database import create_engine
from storage.migrate import alembic_config, compare_type
from storage.tables import (
    cases,
    clients,
    conversations,
    dispatch_offers,
    identities,
    messages,
    metadata,
    opticians,
)

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
# Everything that points at ``messages`` (a foreign key) or that ``messages`` points at.
WATCHED = {
    "clients": clients,
    "identities": identities,
    "conversations": conversations,
    "messages": messages,
    "cases": cases,
    "opticians": opticians,
    "dispatch_offers": dispatch_offers,
}
# Columns that do not exist at revision 0003 (0004 adds the receipts columns to ``messages``, 0005
# the case a message is about and the follow-up and anonymisation times of ``cases``, 0007 the
# "as soon as possible" visit wish, 0009 the client's insurance, 0010 the opticians' kit reminders,
# 0011 the waitlist's department and contact, 0013 the optician's WhatsApp number and declared kit).
ADDED_SINCE_0003 = {
    "delivered_at",
    "read_at",
    "case_id",
    "client_wrote_at",
    "reopened_at",
    "anonymised_at",
    "slot_asap",
    "insurance_status",
    "insurer",
    "insurance_card_path",
    "kit_reminded_on",
    "kit_reminded_days",
    "department",
    "contact_email",
    "contact_phone",
    "whatsapp",
    "kit_declared_on",
    "kit_declared_at",
}


def test_only_dispatch_offers_refers_to_messages() -> None:
    """The rows inserted below cover every foreign key to ``messages``."""
    referring = {
        table.name
        for table in metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table is messages
    }
    assert referring == {"dispatch_offers"}


async def _alembic(engine: AsyncEngine, action: str, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    async with engine.connect() as connection:
        await connection.run_sync(run)
        await connection.commit()


async def _empty(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.execute(sa.text("DROP TABLE alembic_version"))


async def _fill(engine: AsyncEngine) -> None:
    """A client whose visit was offered to two opticians, each offer sent as a message."""
    async with engine.begin() as connection:
        await connection.execute(clients.insert().values(id=1, created_at=NOW))
        await connection.execute(
            identities.insert().values(
                id=1, client_id=1, channel="telegram", external_id="9001", key="telegram:9001", created_at=NOW
            )
        )
        await connection.execute(
            conversations.insert().values(
                id=1,
                public_id="c1",
                client_id=1,
                identity_id=1,
                channel="telegram",
                state="done",
                answers={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await connection.execute(
            messages.insert(),
            [
                {
                    "id": number,
                    "conversation_id": 1 if number == 1 else None,
                    "direction": "out",
                    "author": "bot",
                    "channel": "telegram",
                    "party": str(9000 + number),
                    "text": f"message {number}",
                    "created_at": NOW,
                    "sent_at": NOW,
                    "external_id": str(100 + number),
                }
                for number in (1, 2, 3)
            ],
        )
        await connection.execute(
            cases.insert().values(
                id=1,
                reference="OB-1",
                public_id="k1",
                client_id=1,
                conversation_id=1,
                kind="emergency",
                status="dispatching",
                channel="telegram",
                language="fr",
                priority_rank=1,
                slot_date=date(2026, 11, 21),
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await connection.execute(
            opticians.insert(),
            [
                {
                    "id": number,
                    "public_id": f"o{number}",
                    "name": f"Optician {number}",
                    "phone": "+33600000000",
                    "departments": ["75"],
                    "telegram_chat": str(number),
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for number in (1, 2)
            ],
        )
        await connection.execute(
            dispatch_offers.insert(),
            [
                {
                    "id": number,
                    "public_id": f"d{number}",
                    "case_id": 1,
                    "optician_id": number,
                    "round": 1,
                    "status": "offered",
                    "message_id": number + 1,
                    "created_at": NOW,
                }
                for number in (1, 2)
            ],
        )


async def _snapshot(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as connection:
        snapshot = {}
        for name, table in WATCHED.items():
            columns = [column for column in table.c if column.name not in ADDED_SINCE_0003]
            rows = await connection.execute(sa.select(*columns).order_by(table.c.id))
            snapshot[name] = [tuple(row) for row in rows]
        return snapshot


async def _offers(engine: AsyncEngine) -> list[sa.Row[Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(sa.select(dispatch_offers).order_by(dispatch_offers.c.id))
        return list(result)


async def _fk_violations(engine: AsyncEngine) -> list[Any]:
    if engine.dialect.name != "sqlite":
        return []
    async with engine.connect() as connection:
        return list(await connection.execute(sa.text("PRAGMA foreign_key_check")))


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": compare_type, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


async def test_upgrade_to_0004_and_back_keeps_every_row(database_url: str) -> None:
    database = create_engine(database_url)
    try:
        await _empty(database)
        await _alembic(database, "upgrade", "0003")
        await _fill(database)
        before = await _snapshot(database)
        assert [row.message_id for row in await _offers(database)] == [2, 3]

        for action, revision in [("upgrade", "head"), ("downgrade", "0003"), ("upgrade", "head")]:
            await _alembic(database, action, revision)
            # Batch mode's copy of ``messages`` on SQLite (foreign keys on) used to set these to NULL.
            assert [row.message_id for row in await _offers(database)] == [2, 3], (action, revision)
            assert await _snapshot(database) == before
            assert await _fk_violations(database) == []
        async with database.connect() as connection:
            diff = await connection.run_sync(_diff)
    finally:
        await database.dispose()
    assert diff == []


async def test_only_varchar_lengths_on_sqlite_are_not_compared(database_url: str) -> None:
    """``compare_type`` hides exactly what SQLite does not enforce; PostgreSQL sees every difference."""
    database_table = sa.Table(
        "probe", sa.MetaData(), sa.Column("short", sa.String(64)), sa.Column("n", sa.Integer)
    )
    models = sa.MetaData()
    sa.Table("probe", models, sa.Column("short", sa.String(128)), sa.Column("n", sa.String(16)))

    def diff(connection: Connection) -> list[tuple[str, Any, Any]]:
        def only_probe(name: str | None, kind: str, parents: Any) -> bool:
            return kind != "table" or name == "probe"

        opts = {"compare_type": compare_type, "include_name": only_probe}
        context = MigrationContext.configure(connection, opts=opts)
        # Column changes come as lists of ("modify_type", schema, table, column, existing, old, new).
        groups = [group for group in compare_metadata(context, models) if isinstance(group, list)]
        return [(change[3], change[5], change[6]) for group in groups for change in group]

    database = create_engine(database_url)
    try:
        async with database.begin() as connection:
            await connection.run_sync(database_table.create)
        async with database.connect() as connection:
            changes = await connection.run_sync(diff)
    finally:
        await database.dispose()
    columns = {column for column, _, _ in changes}
    assert columns == ({"n"} if database.dialect.name == "sqlite" else {"short", "n"})
