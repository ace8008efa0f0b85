"""Video follow-ups (issue 16): the slots staff publish, a member's take of one (one conditional
UPDATE on ``status``: two members, one slot, one wins), the reminders' claim (one conditional
UPDATE on ``reminded_at``: once across processes), and the lists the console and the CLI show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.conversations import lock_key
from storage.tables import member_messages, member_requests, opticians, video_slots

OPEN, TAKEN, CANCELLED = "open", "taken", "cancelled"


@dataclass(frozen=True, slots=True)
class Slot:
    """A slot as the console, the CLI and the member's messages need it."""

    id: int
    public_id: str
    starts_at: datetime
    minutes: int
    room: str
    staff: str
    status: str
    optician_id: int | None
    member: str | None  # the optician's name (console only: never logged)
    member_public_id: str | None
    channel: str | None
    request_id: int | None
    reference: str | None  # the request's reference, if the slot is tied to one
    taken_at: datetime | None
    remind_at: datetime | None
    reminded_at: datetime | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Due:
    """A reminder due: the slot and where its member is reached now (chats read at send time)."""

    id: int
    starts_at: datetime
    minutes: int
    room: str
    channel: str | None
    telegram_chat: str | None
    whatsapp: str | None
    request_id: int | None  # the request it was taken from (its thread gets the staff's reminder)
    member: str | None  # the optician's name (the thread only: never logged)
    staff: str


def _aware(moment: datetime) -> datetime:
    """SQLite hands times back naive (they are stored in UTC)."""
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _maybe(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)


def _select() -> Any:
    return (
        sa.select(
            video_slots,
            opticians.c.name.label("member"),
            opticians.c.public_id.label("member_public_id"),
            member_requests.c.reference,
        )
        .select_from(
            video_slots.outerjoin(opticians, opticians.c.id == video_slots.c.optician_id).outerjoin(
                member_requests, member_requests.c.id == video_slots.c.request_id
            )
        )
        .order_by(video_slots.c.starts_at, video_slots.c.id)
    )


def _slot(row: Any) -> Slot:
    return Slot(
        row.id,
        row.public_id,
        _aware(row.starts_at),
        row.minutes,
        row.room,
        row.staff,
        row.status,
        row.optician_id,
        row.member,
        row.member_public_id,
        row.channel,
        row.request_id,
        row.reference,
        _maybe(row.taken_at),
        _maybe(row.remind_at),
        _maybe(row.reminded_at),
        row.created_by,
        _aware(row.created_at),
    )


async def add_slot(
    connection: AsyncConnection,
    *,
    public_id: str,
    starts_at: datetime,
    minutes: int,
    room: str,
    staff: str,
    created_by: str,
    now: datetime,
) -> int:
    """A new open slot; its row id."""
    inserted = await connection.execute(
        sa.insert(video_slots)
        .values(
            public_id=public_id,
            starts_at=starts_at,
            minutes=minutes,
            room=room,
            staff=staff[:64],
            status=OPEN,
            created_by=created_by[:64],
            created_at=now,
        )
        .returning(video_slots.c.id)
    )
    return int(inserted.scalar_one())


async def slot(connection: AsyncConnection, public_id: str) -> Slot | None:
    row = (await connection.execute(_select().where(video_slots.c.public_id == public_id))).first()
    return None if row is None else _slot(row)


async def open_slots(connection: AsyncConnection, now: datetime, limit: int) -> list[Slot]:
    """The next open slots that have not started, soonest first."""
    rows = await connection.execute(
        _select().where(video_slots.c.status == OPEN, video_slots.c.starts_at > now).limit(limit)
    )
    return [_slot(row) for row in rows]


async def upcoming(connection: AsyncConnection, since: datetime, limit: int = 500) -> list[Slot]:
    """Every slot starting from ``since`` (the console's and the CLI's list), soonest first."""
    rows = await connection.execute(_select().where(video_slots.c.starts_at >= since).limit(limit))
    return [_slot(row) for row in rows]


async def held_by(connection: AsyncConnection, optician_id: int, now: datetime) -> list[Slot]:
    """The member's taken slots not yet over, soonest first (their own only)."""
    ends = video_slots.c.starts_at > now - timedelta(minutes=180)  # no slot lasts longer (settings)
    rows = await connection.execute(
        _select().where(video_slots.c.optician_id == optician_id, video_slots.c.status == TAKEN, ends)
    )
    return [s for s in (_slot(row) for row in rows) if s.starts_at + timedelta(minutes=s.minutes) > now]


@dataclass(frozen=True, slots=True)
class Booked:
    """What a take booked, as the row is at that instant (the room may have changed since a read)."""

    starts_at: datetime
    minutes: int
    room: str


async def lock_holder(connection: AsyncConnection, optician_id: int) -> None:
    """Serialise, until the caller's transaction ends, one member's takes: the check that they
    hold no upcoming slot and the take are then one step (two presses of theirs at once, on two
    slots or two channels, cannot both pass the check). PostgreSQL: a transaction-scoped advisory
    lock of this member (no row lock: nothing else's lock order is involved); SQLite: a first write
    (matching no row) takes the database's write lock. Call it first in the transaction."""
    if connection.dialect.name == "postgresql":
        key = lock_key(f"video-slot-holder:{optician_id}")
        await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    else:
        await connection.execute(sa.update(video_slots).where(sa.false()).values(status=video_slots.c.status))


async def take(
    connection: AsyncConnection,
    public_id: str,
    *,
    optician_id: int,
    channel: str,
    request_id: int | None,
    remind_at: datetime | None,
    now: datetime,
) -> Booked | None:
    """The member takes the slot: ONE conditional UPDATE, so of two members pressing it at once
    exactly one wins, on SQLite and PostgreSQL alike; a slot that started is not taken. What it
    booked comes from the UPDATE itself — the room as it is now, not as a read before found it (a
    slot given back meanwhile has a new room). None: taken, cancelled or started meanwhile."""
    row = (
        await connection.execute(
            sa.update(video_slots)
            .where(
                video_slots.c.public_id == public_id,
                video_slots.c.status == OPEN,
                video_slots.c.starts_at > now,
            )
            .values(
                status=TAKEN,
                optician_id=optician_id,
                channel=channel,
                request_id=request_id,
                taken_at=now,
                remind_at=remind_at,
                reminded_at=None,
            )
            .returning(video_slots.c.starts_at, video_slots.c.minutes, video_slots.c.room)
        )
    ).first()
    return None if row is None else Booked(_aware(row.starts_at), row.minutes, row.room)


async def release(
    connection: AsyncConnection, public_id: str, optician_id: int, room: str, now: datetime
) -> bool:
    """The member gives their slot back before it starts: open again for others, with a new room
    (the link the member had no longer leads to the next member's meeting)."""
    released = await connection.execute(
        sa.update(video_slots)
        .where(
            video_slots.c.public_id == public_id,
            video_slots.c.optician_id == optician_id,
            video_slots.c.status == TAKEN,
            video_slots.c.starts_at > now,
        )
        .values(
            status=OPEN,
            optician_id=None,
            channel=None,
            request_id=None,
            taken_at=None,
            remind_at=None,
            reminded_at=None,
            room=room,
        )
    )
    return bool(released.rowcount)


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A staff cancel: whether it applied, and the holding as the UPDATE found it."""

    done: bool
    holder: int | None  # the member who held it
    channel: str | None  # where they took it
    request_id: int | None  # the request they took it from


async def cancel(connection: AsyncConnection, public_id: str, now: datetime) -> Cancelled:
    """Staff withdraw a slot (open or taken) before it starts. One UPDATE that returns the holder
    (and their request), so a member who takes the slot at that very moment is either told of the
    cancel, with the event on their request's thread, or keeps it: never silently lost."""
    row = (
        await connection.execute(
            sa.update(video_slots)
            .where(
                video_slots.c.public_id == public_id,
                video_slots.c.status != CANCELLED,
                video_slots.c.starts_at > now,
            )
            .values(status=CANCELLED, remind_at=None)
            .returning(video_slots.c.optician_id, video_slots.c.channel, video_slots.c.request_id)
        )
    ).first()
    if row is None:
        return Cancelled(False, None, None, None)
    return Cancelled(True, row.optician_id, row.channel, row.request_id)


def _due_now(now: datetime) -> Any:
    return sa.and_(
        video_slots.c.status == TAKEN,
        video_slots.c.reminded_at.is_(None),
        video_slots.c.remind_at.is_not(None),
        video_slots.c.remind_at <= now,
    )


async def due_reminders(connection: AsyncConnection, now: datetime, limit: int = 100) -> list[int]:
    """The ids of taken slots whose reminder time has come and that nobody has reminded yet."""
    rows = await connection.scalars(
        sa.select(video_slots.c.id).where(_due_now(now)).order_by(video_slots.c.remind_at).limit(limit)
    )
    return [int(slot_id) for slot_id in rows]


async def next_reminder(connection: AsyncConnection) -> datetime | None:
    """When the next reminder is due (None: none is waiting)."""
    found = await connection.scalar(
        sa.select(sa.func.min(video_slots.c.remind_at)).where(
            video_slots.c.status == TAKEN, video_slots.c.reminded_at.is_(None)
        )
    )
    return _maybe(found)


async def claim_reminder(connection: AsyncConnection, slot_id: int, now: datetime) -> Due | None:
    """Mark the reminder sent, in the transaction that enqueues it: of two processes (or sweeps)
    only one gets the row, so it goes once. The slot is returned as the claim found it, with its
    member's chats read now: a slot given back and taken by another member since it was listed is
    claimed only if ITS reminder is due, and told to its holder, never to the one who gave it back.
    With the request it was taken from, its member's name and its staff: the staff's reminder goes
    on that request's thread in the same transaction."""
    row = (
        await connection.execute(
            sa.update(video_slots)
            .where(video_slots.c.id == slot_id, _due_now(now))
            .values(reminded_at=now)
            .returning(
                video_slots.c.starts_at,
                video_slots.c.minutes,
                video_slots.c.room,
                video_slots.c.channel,
                video_slots.c.optician_id,
                video_slots.c.request_id,
                video_slots.c.staff,
            )
        )
    ).first()
    if row is None:
        return None
    member = (
        None
        if row.optician_id is None
        else (
            await connection.execute(
                sa.select(opticians.c.name, opticians.c.telegram_chat, opticians.c.whatsapp).where(
                    opticians.c.id == row.optician_id
                )
            )
        ).first()
    )
    return Due(
        slot_id,
        _aware(row.starts_at),
        row.minutes,
        row.room,
        row.channel,
        None if member is None else member.telegram_chat,
        None if member is None else member.whatsapp,
        row.request_id,
        None if member is None else member.name,
        row.staff,
    )


async def member_chats(connection: AsyncConnection, optician_id: int) -> tuple[str | None, str | None]:
    """(Telegram chat, WhatsApp number) of a member, as linked now."""
    row = (
        await connection.execute(
            sa.select(opticians.c.telegram_chat, opticians.c.whatsapp).where(opticians.c.id == optician_id)
        )
    ).first()
    return (None, None) if row is None else (row.telegram_chat, row.whatsapp)


async def request_of(connection: AsyncConnection, request_id: int, optician_id: int) -> int | None:
    """The request if it is this member's and not closed (a button's request id is checked)."""
    found = await connection.scalar(
        sa.select(member_requests.c.id).where(
            member_requests.c.id == request_id,
            member_requests.c.optician_id == optician_id,
            member_requests.c.status != "closed",
        )
    )
    return None if found is None else int(found)


async def add_event(connection: AsyncConnection, request_id: int, text: str, now: datetime) -> None:
    """A step on the request's thread (kind ``event``): staff see the slot and its link there."""
    await connection.execute(
        sa.insert(member_messages).values(
            request_id=request_id, kind="event", author="bot", text=text, created_at=now
        )
    )
    await connection.execute(
        sa.update(member_requests).where(member_requests.c.id == request_id).values(updated_at=now)
    )


async def purge_started_before(connection: AsyncConnection, before: datetime) -> int:
    """Retention: slots that started before ``before`` (who met whom is not kept for ever)."""
    return int(
        (await connection.execute(sa.delete(video_slots).where(video_slots.c.starts_at < before))).rowcount
    )
