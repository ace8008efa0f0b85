"""The inbox: every inbound message, stored before it is processed (a re-delivery is recognised by
its channel id's keyed hash), claimed in order per conversation, marked processed or failed; and
when a client last wrote (kept even after the client's data was erased: under the key's hash)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import bulk
from storage.bulk import dialect_insert
from storage.tables import inbox


async def last_received_at(connection: AsyncConnection, identity_keys: Sequence[str]) -> datetime | None:
    """When the newest message of any of these identity keys came; None if none did."""
    found: datetime | None = await connection.scalar(
        sa.select(inbox.c.received_at)
        .where(inbox.c.identity_key.in_(list(identity_keys)))
        .order_by(inbox.c.id.desc())
        .limit(1)
    )
    return found


@dataclass(slots=True)
class InboxRow:
    channel: str
    external_id: str
    identity_key: str
    payload: dict[str, Any]


async def insert_inbox(
    connection: AsyncConnection, rows: Sequence[InboxRow], now: datetime, *, processing: bool = False
) -> list[int | None]:
    """Store inbound messages; ``None`` for one already stored (a re-delivery).

    ``processing``: the rows are processed in this same transaction, so they are stored as such.
    """
    if not rows:
        return []
    dialect = connection.dialect.name
    unique: dict[tuple[str, str], InboxRow] = {}
    for row in rows:
        unique.setdefault((row.channel, row.external_id), row)
    values = [
        {
            "channel": r.channel,
            "external_id": r.external_id,
            "identity_key": r.identity_key,
            "payload": r.payload,
            "received_at": now,
            "processed_at": now if processing else None,
            "attempts": 1 if processing else 0,
        }
        for r in unique.values()
    ]
    if dialect == "postgresql":
        inserted = await bulk.insert_inbox(connection, values)
    else:
        statement = (
            dialect_insert(inbox, dialect)
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(inbox.c.id, inbox.c.channel, inbox.c.external_id)
        )
        inserted = list((await connection.execute(statement, values)).all())
    ids = {(channel, external): id_ for id_, channel, external in inserted}
    answered: set[tuple[str, str]] = set()
    out: list[int | None] = []
    for row in rows:
        pair = (row.channel, row.external_id)
        out.append(ids.get(pair) if pair not in answered else None)
        answered.add(pair)
    return out


async def claim_oldest(
    connection: AsyncConnection, keys: Sequence[str], now: datetime
) -> dict[str, tuple[int, dict[str, Any]]]:
    """For each conversation key, mark its oldest unprocessed inbox row processed and return it.

    Run under the conversations' locks, this makes every process handle a conversation's messages
    in inbox order, whichever process stored them.
    """
    oldest = (
        sa.select(sa.func.min(inbox.c.id))
        .where(inbox.c.identity_key.in_(keys), inbox.c.processed_at.is_(None))
        .group_by(inbox.c.identity_key)
    )
    result = await connection.execute(
        sa.update(inbox)
        .where(inbox.c.id.in_(oldest.scalar_subquery()))
        .values(processed_at=now, attempts=inbox.c.attempts + 1)
        .returning(inbox.c.id, inbox.c.identity_key, inbox.c.payload)
    )
    return {row.identity_key: (row.id, row.payload) for row in result}


async def unprocessed_inbox(
    connection: AsyncConnection, received_before: datetime | None = None, limit: int = 10_000
) -> list[tuple[int, str, dict[str, Any]]]:
    query = sa.select(inbox.c.id, inbox.c.identity_key, inbox.c.payload).where(inbox.c.processed_at.is_(None))
    if received_before is not None:
        query = query.where(inbox.c.received_at < received_before)
    result = await connection.execute(query.order_by(inbox.c.id).limit(limit))
    return [(row.id, row.identity_key, row.payload) for row in result]


async def mark_inbox_failed(connection: AsyncConnection, inbox_id: int, error: str, now: datetime) -> None:
    await connection.execute(
        sa.update(inbox)
        .where(inbox.c.id == inbox_id)
        .values(processed_at=now, error=error[:255], attempts=inbox.c.attempts + 1)
    )


async def inbox_has(connection: AsyncConnection, channel: str, external_id: str) -> bool:
    """Whether a message with this channel id was stored already (a re-delivery)."""
    found = await connection.execute(
        sa.select(inbox.c.id).where(inbox.c.channel == channel, inbox.c.external_id == external_id)
    )
    return found.first() is not None


async def delete_inbox(connection: AsyncConnection, channel: str, external_id: str) -> None:
    await connection.execute(
        sa.delete(inbox).where(inbox.c.channel == channel, inbox.c.external_id == external_id)
    )
