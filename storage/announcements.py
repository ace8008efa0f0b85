"""The announcements' queries (issue 16): an announcement and one delivery per member written at
once, the next deliveries claimed and tied to their outbound rows, the progress, the per-member
table, cancelling.

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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import announcement_deliveries, announcements, messages, opticians

SEND_LOCK = 0x0A770CE5  # PostgreSQL advisory lock: announcements sent and handed over one at a time
CHANNELS = ("telegram", "whatsapp")
UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class Member:
    """An optician as an announcement sees them: where they are reached (None: nowhere)."""

    id: int
    name: str
    departments: tuple[str, ...]
    active: bool
    telegram_chat: str | None
    whatsapp: str | None

    @property
    def channel(self) -> str | None:
        """Telegram first, else WhatsApp; None when inactive or linked nowhere."""
        if not self.active:
            return None
        if self.telegram_chat:
            return "telegram"
        if self.whatsapp:
            return "whatsapp"
        return None

    @property
    def chat(self) -> str | None:
        channel = self.channel
        return self.telegram_chat if channel == "telegram" else self.whatsapp if channel else None


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


@dataclass(frozen=True, slots=True)
class Progress:
    public_id: str
    text: str
    departments: tuple[str, ...] | None
    status: str  # running | done | cancelled
    total: int
    sent: int
    queued: int
    pending: int
    failed: int
    unreachable: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None

    @property
    def remaining(self) -> int:
        """Not sent yet and still to be: waiting to be handed over, or in the outbox."""
        return self.pending + self.queued


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One member's delivery as staff see it (no phone, no chat id)."""

    name: str
    departments: tuple[str, ...]
    channel: str | None
    status: str  # pending | queued | sent | failed | unreachable
    error: str | None
    at: datetime


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


def _departments(raw: Any) -> tuple[str, ...]:
    return tuple(str(d) for d in raw) if isinstance(raw, list) else ()


async def members(connection: AsyncConnection) -> list[Member]:
    """Every optician of the registry (active or not), by name."""
    o = opticians
    result = await connection.execute(
        sa.select(o.c.id, o.c.name, o.c.departments, o.c.active, o.c.telegram_chat, o.c.whatsapp).order_by(
            o.c.name, o.c.id
        )
    )
    return [
        Member(int(r.id), r.name, _departments(r.departments), bool(r.active), r.telegram_chat, r.whatsapp)
        for r in result
    ]


async def member_by_id(connection: AsyncConnection, ids: Sequence[int]) -> dict[int, Member]:
    if not ids:
        return {}
    o = opticians
    result = await connection.execute(
        sa.select(o.c.id, o.c.name, o.c.departments, o.c.active, o.c.telegram_chat, o.c.whatsapp).where(
            o.c.id.in_(list(ids))
        )
    )
    return {
        int(r.id): Member(
            int(r.id), r.name, _departments(r.departments), bool(r.active), r.telegram_chat, r.whatsapp
        )
        for r in result
    }


async def running_same(connection: AsyncConnection, text: str, departments: list[str] | None) -> str | None:
    """A running announcement with this text to these departments (a second click): its id."""
    result = await connection.execute(
        sa.select(announcements.c.public_id, announcements.c.departments).where(
            announcements.c.status == "running", announcements.c.text == text
        )
    )
    for public_id, chosen in result:
        if (sorted(chosen) if isinstance(chosen, list) else None) == (
            sorted(departments) if departments is not None else None
        ):
            return str(public_id)
    return None


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


def _running() -> Any:
    return sa.select(announcements.c.id).where(announcements.c.status == "running")


async def unsent_by_channel(connection: AsyncConnection) -> dict[str, int]:
    """Per outbox channel, how many outbound rows of running announcements are neither sent nor
    failed yet: the announcements' share of the outbox."""
    d = announcement_deliveries
    result = await connection.execute(
        sa.select(messages.c.channel, sa.func.count())
        .select_from(d.join(messages, messages.c.id == d.c.message_id))
        .where(
            d.c.announcement_id.in_(_running()),
            d.c.status == "queued",
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
        )
        .group_by(messages.c.channel)
    )
    return {str(channel): int(n) for channel, n in result}


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
            .where(d.c.status == "pending", d.c.channel == channel, d.c.announcement_id.in_(_running()))
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


def _state() -> Any:
    """A delivery's state as staff read it: a queued one is its outbound row's until
    :func:`settle` copies the outcome (a row gone unsettled never went: failed)."""
    d = announcement_deliveries
    queued = d.c.status == "queued"
    return sa.case(
        (sa.and_(queued, messages.c.sent_at.is_not(None)), "sent"),
        (sa.and_(queued, sa.or_(messages.c.id.is_(None), messages.c.failed_at.is_not(None))), "failed"),
        else_=d.c.status,
    )


def _row_of_delivery() -> Any:
    return sa.select(messages.c.id).where(messages.c.id == announcement_deliveries.c.message_id)


def _settleable() -> Any:
    """A queued delivery whose outbound row is sent, failed, or gone."""
    d, row = announcement_deliveries, _row_of_delivery()
    done = sa.or_(messages.c.sent_at.is_not(None), messages.c.failed_at.is_not(None))
    return sa.and_(d.c.status == "queued", sa.or_(row.where(done).exists(), ~row.exists()))


async def settle(connection: AsyncConnection, now: datetime) -> int:
    """Queued deliveries take their outbound row's outcome and time once it is known (``sent`` or
    ``failed``), so that the row may go later (a client erasure deletes every conversation-less row
    to the same chat) without changing what staff read. A row gone before it settled was never
    sent (nothing sends a deleted row): ``failed`` / ``erased``. How many settled."""
    d, row = announcement_deliveries, _row_of_delivery()
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


async def progress(
    connection: AsyncConnection, public_ids: list[str] | None = None, limit: int = 20
) -> list[Progress]:
    """The announcements (these, or the newest ``limit``) with their counts, newest first; only
    the deliveries of the announcements shown are counted."""
    a, d = announcements, announcement_deliveries
    chosen = sa.select(a.c.id)
    chosen = (
        chosen.where(a.c.public_id.in_(public_ids))
        if public_ids is not None
        else chosen.order_by(a.c.id.desc()).limit(limit)
    )
    chosen_ids = [int(i) for i in (await connection.execute(chosen)).scalars()]
    if not chosen_ids:
        return []
    state = _state().label("state")
    per = (
        sa.select(d.c.announcement_id, state)
        .select_from(d.outerjoin(messages, messages.c.id == d.c.message_id))
        .where(d.c.announcement_id.in_(chosen_ids))
        .subquery()
    )
    counts: dict[int, dict[str, int]] = {}
    for announcement_id, name, n in await connection.execute(
        sa.select(per.c.announcement_id, per.c.state, sa.func.count()).group_by(
            per.c.announcement_id, per.c.state
        )
    ):
        counts.setdefault(int(announcement_id), {})[str(name)] = int(n)
    found = []
    for r in await connection.execute(sa.select(a).where(a.c.id.in_(chosen_ids)).order_by(a.c.id.desc())):
        c = counts.get(int(r.id), {})
        found.append(
            Progress(
                public_id=r.public_id,
                text=r.text,
                departments=tuple(r.departments) if isinstance(r.departments, list) else None,
                status=r.status,
                total=r.total,
                sent=c.get("sent", 0),
                queued=c.get("queued", 0),
                pending=c.get("pending", 0),
                failed=c.get("failed", 0),
                unreachable=c.get(UNREACHABLE, 0),
                created_by=r.created_by,
                created_at=r.created_at,
                finished_at=r.finished_at,
            )
        )
    return found


async def deliveries(connection: AsyncConnection, public_id: str) -> list[DeliveryRow]:
    """One announcement's deliveries, member by member (by name), with their state and its time
    (sent, failed, or the delivery's last change)."""
    d = announcement_deliveries
    at = sa.func.coalesce(messages.c.sent_at, messages.c.failed_at, d.c.updated_at)
    result = await connection.execute(
        sa.select(
            opticians.c.name,
            opticians.c.departments,
            d.c.channel,
            _state().label("state"),
            d.c.error,
            at.label("at"),
        )
        .select_from(
            d.join(opticians, opticians.c.id == d.c.optician_id).outerjoin(
                messages, messages.c.id == d.c.message_id
            )
        )
        .where(
            d.c.announcement_id.in_(
                sa.select(announcements.c.id).where(announcements.c.public_id == public_id)
            )
        )
        .order_by(opticians.c.name, d.c.id)
    )
    return [
        DeliveryRow(r.name, _departments(r.departments), r.channel, str(r.state), r.error, r.at)
        for r in result
    ]


async def has_work(connection: AsyncConnection) -> bool:
    """Whether an announcement is running or a delivery is to settle (a cancelled one's rows
    still go); a read: an idle worker writes nothing."""
    found = await connection.scalar(
        sa.select(announcements.c.id).where(announcements.c.status == "running").limit(1)
    )
    if found is not None:
        return True
    d = announcement_deliveries
    return await connection.scalar(sa.select(d.c.id).where(_settleable()).limit(1)) is not None


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
