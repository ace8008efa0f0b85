"""The announcements' writes (issue 16): an announcement and one delivery per member written at
once, the next deliveries claimed and tied to their outbound rows, their outcomes settled, the
finished ones closed, cancelling. What is read (the members, the progress, the per-member table,
the outbox share) is in ``storage/announcement_views.py``.

A delivery is ``pending`` until it is handed to the outbox, then ``queued`` in the transaction that
writes its outbound row (``message_id``): a rollback leaves it pending, a commit has it in the
outbox, so a kill between the two can never make a second row. From then on its state is its
outbound row's: sent once ``sent_at`` is set, failed once ``failed_at`` is, and the worker then
settles that outcome into the delivery (:func:`settle`), so a row deleted later changes nothing.
``unreachable``: the member was linked nowhere or inactive when it was sent (never tried);
``failed``: cancelled before it was handed over, unlinked meanwhile, or its row gone unsent
(``error``).

Every claim is an UPDATE that re-checks ``status = 'pending'``; the hand-over and the sends are
serialised across processes by :func:`lock_sends` (the outbox share is counted, then filled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.announcement_views import outbound_row, progress, running_ids
from storage.tables import announcement_deliveries, announcements, messages

SEND_LOCK = 0x0A770CE5  # PostgreSQL advisory lock: announcements sent and handed over one at a time
CHANNELS = ("telegram", "whatsapp")


@dataclass(frozen=True, slots=True)
class NewDelivery:
    optician_id: int
    channel: str | None  # None: unreachable
    status: str  # pending | unreachable
    error: str | None = None  # unlinked | inactive


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    announcement_id: int
    optician_id: int
    text: str


async def lock_sends(connection: AsyncConnection) -> None:
    """Serialise, until the caller's transaction ends, sending an announcement and handing
    deliveries to the outbox: the outbox share is counted then filled by one process at a time,
    and an announcement identical to a running one is seen. PostgreSQL: a transaction-scoped
    advisory lock; SQLite: a first write (matching no row) takes the database's write lock.
    Call it first in the transaction."""
    if connection.dialect.name == "postgresql":
        await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SEND_LOCK)))
    else:
        await connection.execute(
            sa.update(announcements).where(sa.false()).values(status=announcements.c.status)
        )


async def create(
    connection: AsyncConnection,
    *,
    public_id: str,
    text: str,
    departments: list[str] | None,
    by: str,
    now: datetime,
    deliveries: list[NewDelivery],
) -> int:
    """The announcement and one delivery per member, in the caller's transaction; its row id."""
    inserted = await connection.execute(
        sa.insert(announcements)
        .values(
            public_id=public_id,
            text=text,
            departments=departments,
            status="running",
            total=len(deliveries),
            created_by=by[:64],
            created_at=now,
        )
        .returning(announcements.c.id)
    )
    announcement_id = int(inserted.scalar_one())
    if deliveries:
        await connection.execute(
            sa.insert(announcement_deliveries),
            [
                {
                    "announcement_id": announcement_id,
                    "optician_id": d.optician_id,
                    "channel": d.channel,
                    "status": d.status,
                    "error": d.error,
                    "updated_at": now,
                }
                for d in deliveries
            ],
        )
    return announcement_id


async def claim(connection: AsyncConnection, now: datetime, limits: dict[str, int]) -> list[Claimed]:
    """The next pending deliveries of running announcements, at most ``limits[channel]`` per
    channel, oldest first, marked ``queued``: the caller writes their outbound rows and
    :func:`set_messages` in this same transaction."""
    d = announcement_deliveries
    claimed: list[Any] = []
    for channel in CHANNELS:
        limit = limits.get(channel, 0)
        if limit <= 0:
            continue
        due = (
            sa.select(d.c.id)
            .where(d.c.status == "pending", d.c.channel == channel, d.c.announcement_id.in_(running_ids()))
            .order_by(d.c.id)
            .limit(limit)
        )
        claimed += list(
            await connection.execute(
                sa.update(d)
                .where(d.c.id.in_(due.scalar_subquery()), d.c.status == "pending")
                .values(status="queued", updated_at=now)
                .returning(d.c.id, d.c.announcement_id, d.c.optician_id)
            )
        )
    if not claimed:
        return []
    texts = dict(
        (
            await connection.execute(
                sa.select(announcements.c.id, announcements.c.text).where(
                    announcements.c.id.in_(sorted({r.announcement_id for r in claimed}))
                )
            )
        ).all()
    )
    return sorted(
        (
            Claimed(int(r.id), int(r.announcement_id), int(r.optician_id), texts[r.announcement_id])
            for r in claimed
        ),
        key=lambda c: c.id,
    )


async def set_messages(connection: AsyncConnection, carried: list[tuple[int, str, int]]) -> None:
    """Each delivery ``(id, channel, message id)``: the outbound row that carries it."""
    if carried:
        await connection.execute(
            sa.update(announcement_deliveries)
            .where(announcement_deliveries.c.id == sa.bindparam("d_id"))
            .values(channel=sa.bindparam("d_channel"), message_id=sa.bindparam("d_message")),
            [{"d_id": d, "d_channel": c, "d_message": m} for d, c, m in carried],
        )


async def fail(connection: AsyncConnection, delivery_ids: list[int], error: str, now: datetime) -> None:
    """These claimed deliveries cannot be made (``error``: a kind, never personal data)."""
    if delivery_ids:
        await connection.execute(
            sa.update(announcement_deliveries)
            .where(announcement_deliveries.c.id.in_(delivery_ids))
            .values(status="failed", error=error[:64], updated_at=now)
        )


async def settle(connection: AsyncConnection, now: datetime) -> int:
    """Queued deliveries take their outbound row's outcome and time once it is known (``sent`` or
    ``failed``), so that the row may go later (a client erasure deletes every conversation-less row
    to the same chat) without changing what staff read. A row gone before it settled was never
    sent (nothing sends a deleted row): ``failed`` / ``erased``. How many settled."""
    d, row = announcement_deliveries, outbound_row()
    queued = d.c.status == "queued"
    settled = 0
    for status, column in (("sent", messages.c.sent_at), ("failed", messages.c.failed_at)):
        settled += (
            await connection.execute(
                sa.update(d)
                .where(queued, row.where(column.is_not(None)).exists())
                .values(
                    status=status,
                    updated_at=sa.select(column).where(messages.c.id == d.c.message_id).scalar_subquery(),
                )
            )
        ).rowcount
    settled += (
        await connection.execute(
            sa.update(d).where(queued, ~row.exists()).values(status="failed", error="erased", updated_at=now)
        )
    ).rowcount
    return settled


async def close_finished(connection: AsyncConnection, now: datetime) -> list[str]:
    """Running announcements with nothing left (no delivery pending, every outbound row sent or
    failed) become ``done``; their public ids."""
    ids = list(
        (
            await connection.execute(
                sa.select(announcements.c.public_id).where(announcements.c.status == "running")
            )
        ).scalars()
    )
    finished = [p.public_id for p in await progress(connection, ids) if p.remaining == 0]
    if finished:
        await connection.execute(
            sa.update(announcements)
            .where(announcements.c.public_id.in_(finished), announcements.c.status == "running")
            .values(status="done", finished_at=now)
        )
    return finished


async def cancel(connection: AsyncConnection, public_id: str, now: datetime) -> bool:
    """A running announcement cancelled: its deliveries not handed over yet are failed as
    ``cancelled`` (messages already in the outbox go). Whether it was running."""
    row = (
        await connection.execute(
            sa.update(announcements)
            .where(announcements.c.public_id == public_id, announcements.c.status == "running")
            .values(status="cancelled", finished_at=now)
            .returning(announcements.c.id)
        )
    ).first()
    if row is None:
        return False
    await connection.execute(
        sa.update(announcement_deliveries)
        .where(
            announcement_deliveries.c.announcement_id == row.id, announcement_deliveries.c.status == "pending"
        )
        .values(status="failed", error="cancelled", updated_at=now)
    )
    return True
