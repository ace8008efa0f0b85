"""Canned replies: texts the operators pick from instead of typing them again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import canned_replies


@dataclass(frozen=True, slots=True)
class CannedReply:
    public_id: str
    title: str
    text: str


async def canned_by_title(connection: AsyncConnection) -> list[CannedReply]:
    rows = await connection.execute(
        sa.select(canned_replies.c.public_id, canned_replies.c.title, canned_replies.c.text).order_by(
            canned_replies.c.title
        )
    )
    return [CannedReply(r.public_id, r.title, r.text) for r in rows]


async def add_canned(connection: AsyncConnection, reply: CannedReply, by: str, now: datetime) -> None:
    await connection.execute(
        sa.insert(canned_replies).values(
            public_id=reply.public_id, title=reply.title, text=reply.text, created_by=by, created_at=now
        )
    )


async def delete_canned(connection: AsyncConnection, public_id: str) -> bool:
    """False if there was no such reply."""
    deleted = await connection.execute(
        sa.delete(canned_replies).where(canned_replies.c.public_id == public_id)
    )
    return bool(deleted.rowcount)
