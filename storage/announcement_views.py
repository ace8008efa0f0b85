"""What is read of the announcements (issue 16): the members as an announcement sees them (the
preview's counts, who is reached where), the progress and the per-member table staff read, and what
the worker asks (is there work, the announcements' share of the outbox). Reads only; the writes
(create, hand-over, settle, cancel, the lock) are in ``storage/announcements.py``, whose docstring
tells a delivery's states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import announcement_deliveries, announcements, messages, opticians

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


def running_ids() -> Any:
    """The running announcements' ids (a subquery)."""
    return sa.select(announcements.c.id).where(announcements.c.status == "running")


def _state() -> Any:
    """A delivery's state as staff read it: a queued one is its outbound row's until
    :func:`storage.announcements.settle` copies the outcome (a row gone unsettled never went: failed)."""
    d = announcement_deliveries
    queued = d.c.status == "queued"
    return sa.case(
        (sa.and_(queued, messages.c.sent_at.is_not(None)), "sent"),
        (sa.and_(queued, sa.or_(messages.c.id.is_(None), messages.c.failed_at.is_not(None))), "failed"),
        else_=d.c.status,
    )


def outbound_row() -> Any:
    """A delivery's outbound row (a correlated subquery)."""
    return sa.select(messages.c.id).where(messages.c.id == announcement_deliveries.c.message_id)


def _settleable() -> Any:
    """A queued delivery whose outbound row is sent, failed, or gone."""
    d, row = announcement_deliveries, outbound_row()
    done = sa.or_(messages.c.sent_at.is_not(None), messages.c.failed_at.is_not(None))
    return sa.and_(d.c.status == "queued", sa.or_(row.where(done).exists(), ~row.exists()))


async def unsent_by_channel(connection: AsyncConnection) -> dict[str, int]:
    """Per outbox channel, how many outbound rows of running announcements are neither sent nor
    failed yet: the announcements' share of the outbox."""
    d = announcement_deliveries
    result = await connection.execute(
        sa.select(messages.c.channel, sa.func.count())
        .select_from(d.join(messages, messages.c.id == d.c.message_id))
        .where(
            d.c.announcement_id.in_(running_ids()),
            d.c.status == "queued",
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
        )
        .group_by(messages.c.channel)
    )
    return {str(channel): int(n) for channel, n in result}


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
