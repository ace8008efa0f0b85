"""The broadcasts' queries: a broadcast and its deliveries written at once, the next deliveries
claimed, e-mails marked sending then sent or failed, the progress, the list.

A delivery is ``pending`` until it is made. A chat delivery (Telegram, WhatsApp) becomes ``sent``
in the transaction that writes its outbound row (the outbox then delivers it: its progress is read
from that row); an e-mail becomes ``sending`` before the SMTP exchange and ``sent`` or ``failed``
after it; ``callback`` is a web chat client to call back (listed for staff). Every claim is an
UPDATE that re-checks ``status = 'pending'``: on SQLite it takes the write lock, on PostgreSQL a row
another process claimed meanwhile is no longer ``pending`` when its lock is released (the WHERE is
read again). Chat deliveries are first read without a lock, then their conversations' locks are
taken, then they are claimed: the order erasure takes its locks in (no deadlock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import broadcast_deliveries, broadcasts, messages, waitlist

CHAT_ROUTES = ("telegram", "whatsapp", "whatsapp_template", "terminal")
# The outbox channel each chat route's messages go out on (a share of the outbox is kept per channel).
CHANNEL_ROUTES = {
    "telegram": ("telegram",),
    "whatsapp": ("whatsapp", "whatsapp_template"),
    "terminal": ("terminal",),
}
START_LOCK = 0x0B0ADCA5  # PostgreSQL advisory lock serialising the broadcasts' starts
EMAIL = "email"
CALLBACK = "callback"


@dataclass(frozen=True, slots=True)
class NewDelivery:
    waitlist_id: int
    route: str
    status: str  # pending | callback | failed
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    broadcast_id: int
    waitlist_id: int
    route: str
    level: str


@dataclass(frozen=True, slots=True)
class Progress:
    public_id: str
    trigger: str
    level: str
    department: str | None
    status: str
    total: int
    sent: int
    failed: int
    callback: int
    remaining: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None


async def lock_starts(connection: AsyncConnection) -> None:
    """Serialise starting broadcasts (who is targeted, then the deliveries written) until the
    caller's transaction ends: two started at once would otherwise both pick the same clients.
    PostgreSQL: a transaction-scoped advisory lock; SQLite: a first write (matching no row) takes
    the database's write lock for the whole transaction. Call it first in the transaction."""
    if connection.dialect.name == "postgresql":
        await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(START_LOCK)))
    else:
        await connection.execute(sa.update(broadcasts).where(sa.false()).values(status=broadcasts.c.status))


async def create(
    connection: AsyncConnection,
    *,
    public_id: str,
    trigger: str,
    level: str,
    department: str | None,
    reason: str | None,
    channel: str | None,
    by: str,
    now: datetime,
    deliveries: list[NewDelivery],
) -> int:
    """The broadcast and one delivery per entry, in the caller's transaction; its row id."""
    inserted = await connection.execute(
        sa.insert(broadcasts)
        .values(
            public_id=public_id,
            trigger=trigger,
            level=level,
            department=department,
            reason=reason,
            channel=channel,
            status="running",
            total=len(deliveries),
            created_by=by[:64],
            created_at=now,
        )
        .returning(broadcasts.c.id)
    )
    broadcast_id = int(inserted.scalar_one())
    if deliveries:
        await connection.execute(
            sa.insert(broadcast_deliveries),
            [
                {
                    "broadcast_id": broadcast_id,
                    "waitlist_id": d.waitlist_id,
                    "route": d.route,
                    "status": d.status,
                    "error": d.error,
                    "updated_at": now,
                }
                for d in deliveries
            ],
        )
    return broadcast_id


def _claim(routes: tuple[str, ...], limit: int, status: str, now: datetime) -> Any:
    running = sa.select(broadcasts.c.id).where(broadcasts.c.status == "running")
    due = (
        sa.select(broadcast_deliveries.c.id)
        .where(
            broadcast_deliveries.c.status == "pending",
            broadcast_deliveries.c.route.in_(routes),
            broadcast_deliveries.c.broadcast_id.in_(running),
        )
        .order_by(broadcast_deliveries.c.id)
        .limit(limit)
    )
    return (
        sa.update(broadcast_deliveries)
        .where(
            broadcast_deliveries.c.id.in_(due.scalar_subquery()), broadcast_deliveries.c.status == "pending"
        )
        .values(status=status, updated_at=now)
        .returning(
            broadcast_deliveries.c.id,
            broadcast_deliveries.c.broadcast_id,
            broadcast_deliveries.c.waitlist_id,
            broadcast_deliveries.c.route,
        )
    )


async def _with_levels(connection: AsyncConnection, rows: list[Any]) -> list[Claimed]:
    if not rows:
        return []
    ids = sorted({r.broadcast_id for r in rows})
    levels = dict(
        (
            await connection.execute(
                sa.select(broadcasts.c.id, broadcasts.c.level).where(broadcasts.c.id.in_(ids))
            )
        ).all()
    )
    return sorted(
        (Claimed(r.id, r.broadcast_id, r.waitlist_id, r.route, levels[r.broadcast_id]) for r in rows),
        key=lambda c: c.id,
    )


async def due_chat(connection: AsyncConnection, limits: dict[str, int]) -> list[tuple[int, int]]:
    """The next pending chat deliveries, at most ``limits[channel]`` per outbox channel: (id,
    entry id), read without a lock (the caller takes the conversations' locks, then claims them)."""
    running = sa.select(broadcasts.c.id).where(broadcasts.c.status == "running")
    due: list[tuple[int, int]] = []
    for channel, routes in CHANNEL_ROUTES.items():
        if limits.get(channel, 0) <= 0:
            continue
        result = await connection.execute(
            sa.select(broadcast_deliveries.c.id, broadcast_deliveries.c.waitlist_id)
            .where(
                broadcast_deliveries.c.status == "pending",
                broadcast_deliveries.c.route.in_(routes),
                broadcast_deliveries.c.broadcast_id.in_(running),
            )
            .order_by(broadcast_deliveries.c.id)
            .limit(limits[channel])
        )
        due.extend((int(r.id), int(r.waitlist_id)) for r in result)
    return due


async def claim_chat(connection: AsyncConnection, now: datetime, delivery_ids: list[int]) -> list[Claimed]:
    """These chat deliveries, those still pending, marked sent: the caller writes their outbound
    rows in this same transaction (a rollback leaves them pending, a commit has them in the
    outbox). Claimed after the conversations' locks, as erasure takes them (no deadlock)."""
    if not delivery_ids:
        return []
    rows = list(
        await connection.execute(
            sa.update(broadcast_deliveries)
            .where(broadcast_deliveries.c.id.in_(delivery_ids), broadcast_deliveries.c.status == "pending")
            .values(status="sent", updated_at=now)
            .returning(
                broadcast_deliveries.c.id,
                broadcast_deliveries.c.broadcast_id,
                broadcast_deliveries.c.waitlist_id,
                broadcast_deliveries.c.route,
            )
        )
    )
    return await _with_levels(connection, rows)


async def unsent_by_channel(connection: AsyncConnection) -> dict[str, int]:
    """Per outbox channel, how many outbound rows of running broadcasts are not sent (nor failed)
    yet: the broadcasts' share of the outbox, kept small so that live replies never queue behind
    a whole broadcast."""
    d = broadcast_deliveries
    running = sa.select(broadcasts.c.id).where(broadcasts.c.status == "running")
    result = await connection.execute(
        sa.select(messages.c.channel, sa.func.count())
        .select_from(d.join(messages, messages.c.id == d.c.message_id))
        .where(
            d.c.broadcast_id.in_(running),
            d.c.status == "sent",
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
        )
        .group_by(messages.c.channel)
    )
    return {str(channel): int(n) for channel, n in result}


async def claim_email(connection: AsyncConnection, now: datetime) -> Claimed | None:
    """The next e-mail delivery, marked ``sending`` (committed before the SMTP exchange)."""
    rows = list(await connection.execute(_claim((EMAIL,), 1, "sending", now)))
    claimed = await _with_levels(connection, rows)
    return claimed[0] if claimed else None


async def has_pending_email(connection: AsyncConnection) -> bool:
    """Whether a running broadcast has an e-mail still to send (a read: an idle worker writes nothing)."""
    running = sa.select(broadcasts.c.id).where(broadcasts.c.status == "running")
    found = await connection.scalar(
        sa.select(broadcast_deliveries.c.id)
        .where(
            broadcast_deliveries.c.status == "pending",
            broadcast_deliveries.c.route == EMAIL,
            broadcast_deliveries.c.broadcast_id.in_(running),
        )
        .limit(1)
    )
    return found is not None


async def touch(connection: AsyncConnection, delivery_id: int, now: datetime) -> bool:
    """An e-mail about to be tried (again): still ``sending`` (not erased, not given up)? Its
    ``updated_at`` refreshed, so a live exchange is never given up as interrupted."""
    result = await connection.execute(
        sa.update(broadcast_deliveries)
        .where(broadcast_deliveries.c.id == delivery_id, broadcast_deliveries.c.status == "sending")
        .values(updated_at=now)
    )
    return bool(result.rowcount)


async def set_messages(connection: AsyncConnection, carried: list[tuple[int, int]]) -> None:
    """Each delivery ``(id, message id)``: the outbound row that carries it."""
    if carried:
        await connection.execute(
            sa.update(broadcast_deliveries)
            .where(broadcast_deliveries.c.id == sa.bindparam("b_id"))
            .values(message_id=sa.bindparam("b_message")),
            [{"b_id": d, "b_message": m} for d, m in carried],
        )


async def finish(
    connection: AsyncConnection, delivery_id: int, status: str, now: datetime, error: str | None = None
) -> bool:
    """An e-mail delivery ``sending`` → ``status`` (sent | failed); whether it still was sending."""
    result = await connection.execute(
        sa.update(broadcast_deliveries)
        .where(broadcast_deliveries.c.id == delivery_id, broadcast_deliveries.c.status == "sending")
        .values(status=status, error=None if error is None else error[:64], updated_at=now)
    )
    return bool(result.rowcount)


async def give_up_interrupted(connection: AsyncConnection, before: datetime, now: datetime) -> int:
    """E-mails left ``sending`` since before ``before`` (their process died mid-exchange): failed
    as ``interrupted``, never sent again — the SMTP server may have taken them (at most once)."""
    result = await connection.execute(
        sa.update(broadcast_deliveries)
        .where(broadcast_deliveries.c.status == "sending", broadcast_deliveries.c.updated_at < before)
        .values(status="failed", error="interrupted", updated_at=now)
    )
    return int(result.rowcount or 0)


def _counts(chosen: Any) -> Any:
    """Per broadcast: sent, failed, to call back and remaining, from its deliveries as they are now
    (an erased client's delivery is gone with their entry: it counts in none). A chat delivery is
    its outbound row's: sent or failed once that row is (sent if the row was purged since)."""
    d = broadcast_deliveries
    chat = d.c.route.in_(CHAT_ROUTES)
    handed = sa.and_(chat, d.c.status == "sent")
    row_sent = sa.or_(messages.c.id.is_(None), messages.c.sent_at.is_not(None))
    sent = sa.or_(sa.and_(handed, row_sent), sa.and_(~chat, d.c.status == "sent"))
    failed = sa.or_(d.c.status == "failed", sa.and_(handed, messages.c.failed_at.is_not(None)))
    waiting = sa.or_(
        d.c.status.in_(("pending", "sending")),
        sa.and_(
            handed, messages.c.id.is_not(None), messages.c.sent_at.is_(None), messages.c.failed_at.is_(None)
        ),
    )
    return (
        sa.select(
            d.c.broadcast_id,
            sa.func.sum(sa.case((sent, 1), else_=0)).label("sent"),
            sa.func.sum(sa.case((failed, 1), else_=0)).label("failed"),
            sa.func.sum(sa.case((d.c.status == CALLBACK, 1), else_=0)).label("callback"),
            sa.func.sum(sa.case((waiting, 1), else_=0)).label("remaining"),
        )
        .select_from(d.outerjoin(messages, messages.c.id == d.c.message_id))
        .where(d.c.broadcast_id.in_(chosen))  # only the broadcasts shown: never the whole table
        .group_by(d.c.broadcast_id)
    )


async def progress(
    connection: AsyncConnection, public_ids: list[str] | None = None, limit: int = 20
) -> list[Progress]:
    """The broadcasts (these, or the newest ``limit``) with their counts, newest first. A chat
    delivery counts as sent once its outbound row is, failed once that row failed."""
    if public_ids is not None:
        chosen_ids = [
            int(i)
            for i in (
                await connection.execute(
                    sa.select(broadcasts.c.id).where(broadcasts.c.public_id.in_(public_ids))
                )
            ).scalars()
        ]
    else:
        chosen_ids = [
            int(i)
            for i in (
                await connection.execute(
                    sa.select(broadcasts.c.id).order_by(broadcasts.c.id.desc()).limit(limit)
                )
            ).scalars()
        ]
    if not chosen_ids:
        return []
    counts = _counts(chosen_ids).subquery()
    query = (
        sa.select(broadcasts, counts.c.sent, counts.c.failed, counts.c.callback, counts.c.remaining)
        .select_from(broadcasts.outerjoin(counts, counts.c.broadcast_id == broadcasts.c.id))
        .where(broadcasts.c.id.in_(chosen_ids))
        .order_by(broadcasts.c.id.desc())
    )
    found = []
    for r in await connection.execute(query):
        sent, failed, callback = int(r.sent or 0), int(r.failed or 0), int(r.callback or 0)
        found.append(
            Progress(
                r.public_id,
                r.trigger,
                r.level,
                r.department,
                r.status,
                r.total,
                sent,
                failed,
                callback,
                int(r.remaining or 0),
                r.created_by,
                r.created_at,
                r.finished_at,
            )
        )
    return found


async def close_finished(connection: AsyncConnection, now: datetime) -> list[str]:
    """Running broadcasts with nothing left to do (every delivery made, every outbound row sent or
    failed) become ``done``; their public ids."""
    running = [
        p
        for p in await progress(
            connection,
            list(
                (
                    await connection.execute(
                        sa.select(broadcasts.c.public_id).where(broadcasts.c.status == "running")
                    )
                ).scalars()
            ),
        )
        if p.remaining == 0
    ]
    if running:
        await connection.execute(
            sa.update(broadcasts)
            .where(
                broadcasts.c.public_id.in_([p.public_id for p in running]), broadcasts.c.status == "running"
            )
            .values(status="done", finished_at=now)
        )
    return [p.public_id for p in running]


async def has_work(connection: AsyncConnection) -> bool:
    """Whether a broadcast is running."""
    found = await connection.scalar(
        sa.select(sa.func.count()).select_from(broadcasts).where(broadcasts.c.status == "running")
    )
    return bool(found)


async def callbacks(connection: AsyncConnection) -> list[dict[str, Any]]:
    """The web chat clients to call back (from broadcasts' ``callback`` deliveries whose entry is
    still not told): phone, department, language, since; oldest first, one per entry."""
    d = broadcast_deliveries
    result = await connection.execute(
        sa.select(
            waitlist.c.id,
            waitlist.c.contact_phone,
            waitlist.c.department,
            waitlist.c.language,
            waitlist.c.reason,
            waitlist.c.created_at,
        )
        .where(
            waitlist.c.id.in_(sa.select(d.c.waitlist_id).where(d.c.status == CALLBACK)),
            waitlist.c.notified_at.is_(None),
            waitlist.c.contact_phone.is_not(None),
        )
        .order_by(waitlist.c.created_at, waitlist.c.id)
    )
    return [
        {
            "phone": r.contact_phone,
            "department": r.department,
            "language": r.language,
            "reason": r.reason,
            "since": r.created_at,
        }
        for r in result
    ]


async def fail(connection: AsyncConnection, delivery_ids: list[int], error: str, now: datetime) -> None:
    """These claimed deliveries cannot be made (``error``: a kind, never personal data)."""
    if delivery_ids:
        await connection.execute(
            sa.update(broadcast_deliveries)
            .where(broadcast_deliveries.c.id.in_(delivery_ids))
            .values(status="failed", error=error[:64], updated_at=now)
        )


@dataclass(frozen=True, slots=True)
class Running:
    public_id: str
    level: str
    department: str | None


async def running(connection: AsyncConnection) -> list[Running]:
    """The running broadcasts: what each announces, where."""
    result = await connection.execute(
        sa.select(broadcasts.c.public_id, broadcasts.c.level, broadcasts.c.department).where(
            broadcasts.c.status == "running"
        )
    )
    return [Running(r.public_id, r.level, r.department) for r in result]


async def cancel(connection: AsyncConnection, public_ids: list[str], now: datetime) -> list[str]:
    """These broadcasts, those still running, cancelled: their deliveries not made yet are failed
    as ``cancelled`` (an e-mail being sent finishes; messages already in the outbox go). Their
    public ids."""
    if not public_ids:
        return []
    cancelled = list(
        await connection.execute(
            sa.update(broadcasts)
            .where(broadcasts.c.public_id.in_(public_ids), broadcasts.c.status == "running")
            .values(status="cancelled", finished_at=now)
            .returning(broadcasts.c.id, broadcasts.c.public_id)
        )
    )
    if cancelled:
        await connection.execute(
            sa.update(broadcast_deliveries)
            .where(
                broadcast_deliveries.c.broadcast_id.in_([r.id for r in cancelled]),
                broadcast_deliveries.c.status == "pending",
            )
            .values(status="failed", error="cancelled", updated_at=now)
        )
    return [r.public_id for r in cancelled]


async def cancel_in(
    connection: AsyncConnection, public_id: str, departments: list[str], now: datetime
) -> int:
    """A running broadcast's deliveries not made yet to clients of these departments failed as
    ``cancelled`` (their department's level became stricter than the one announced); how many."""
    if not departments:
        return 0
    running_one = sa.select(broadcasts.c.id).where(
        broadcasts.c.public_id == public_id, broadcasts.c.status == "running"
    )
    there = sa.select(waitlist.c.id).where(waitlist.c.department.in_(departments))
    result = await connection.execute(
        sa.update(broadcast_deliveries)
        .where(
            broadcast_deliveries.c.broadcast_id.in_(running_one.scalar_subquery()),
            broadcast_deliveries.c.status == "pending",
            broadcast_deliveries.c.waitlist_id.in_(there),
        )
        .values(status="failed", error="cancelled", updated_at=now)
    )
    return int(result.rowcount or 0)
