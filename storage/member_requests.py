"""Members' requests as staff work them (issue 16, the Réseau queue): the queue with its filters
(keyset pages), a request with its member and thread, and every change as ONE conditional UPDATE
that names what must still hold (the status, who holds it), so of two staff acting at once only
one wins — correct on SQLite and PostgreSQL alike. The member's side (a request filed, the member's
messages) is bot/members/desk.py's; this module also gives it :func:`member_wrote`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import member_messages, member_requests, operators, opticians

OPEN_STATUSES = ("new", "in_progress", "answered")
# The queue's order: new requests first, then those in progress, answered, closed; oldest first.
_RANK = sa.case(
    (member_requests.c.status == "new", 0),
    (member_requests.c.status == "in_progress", 1),
    (member_requests.c.status == "answered", 2),
    else_=3,
)
_holder = operators.alias("holder")


@dataclass(frozen=True, slots=True)
class QueueRow:
    id: int
    public_id: str
    reference: str
    kind: str
    status: str
    outcome: str | None
    member: str
    departments: list[str]
    claimed_by: str | None
    claimed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    has_document: bool


@dataclass(frozen=True, slots=True)
class RequestRow:
    """A request with its member (their card in the console) and where they are reached."""

    id: int
    public_id: str
    reference: str
    kind: str
    amount_cents: int | None
    months: int | None
    details: str
    document_path: str | None
    document_name: str | None
    status: str
    outcome: str | None
    outcome_amount_cents: int | None
    outcome_months: int | None
    claimed_by_id: int | None
    claimed_by: str | None
    claimed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    channel: str
    chat: str
    optician_id: int
    member: str
    phone: str
    departments: list[str]
    kit_expires_on: date | None


@dataclass(frozen=True, slots=True)
class ThreadRow:
    id: int
    kind: str  # in | out | note | event
    author: str
    text: str
    message_id: int | None
    created_at: datetime


_QUEUE_COLUMNS = (
    member_requests.c.id,
    member_requests.c.public_id,
    member_requests.c.reference,
    member_requests.c.kind,
    member_requests.c.status,
    member_requests.c.outcome,
    opticians.c.name.label("member"),
    opticians.c.departments,
    _holder.c.name.label("claimed_by"),
    member_requests.c.claimed_at,
    member_requests.c.created_at,
    member_requests.c.updated_at,
    member_requests.c.document_path,
)


def _joined() -> Any:
    return member_requests.join(opticians, opticians.c.id == member_requests.c.optician_id).outerjoin(
        _holder, _holder.c.id == member_requests.c.claimed_by
    )


async def queue(
    connection: AsyncConnection,
    *,
    statuses: Sequence[str],
    kind: str | None = None,
    department: str | None = None,
    claimed_by: str | None = None,
    unclaimed: bool = False,
    after: str | None = None,
    limit: int = 100,
) -> list[QueueRow]:
    """The requests of these statuses, new ones first then by age; ``department``: the member
    covers it (a checked department code); ``after``: the public id of the previous page's last."""
    where: list[Any] = [member_requests.c.status.in_(list(statuses))]
    if kind is not None:
        where.append(member_requests.c.kind == kind)
    if department is not None:
        where.append(sa.cast(opticians.c.departments, sa.Text).like(f'%"{department}"%'))
    if claimed_by is not None:
        where.append(_holder.c.name == claimed_by)
    if unclaimed:
        where.append(member_requests.c.claimed_by.is_(None))
    if after is not None:
        mark = (
            await connection.execute(
                sa.select(_RANK, member_requests.c.created_at, member_requests.c.id).where(
                    member_requests.c.public_id == after
                )
            )
        ).one_or_none()
        if mark is not None:
            where.append(
                sa.tuple_(_RANK, member_requests.c.created_at, member_requests.c.id) > sa.tuple_(*mark)
            )
    rows = await connection.execute(
        sa.select(*_QUEUE_COLUMNS)
        .select_from(_joined())
        .where(*where)
        .order_by(_RANK, member_requests.c.created_at, member_requests.c.id)
        .limit(limit)
    )
    return [
        QueueRow(
            r.id,
            r.public_id,
            r.reference,
            r.kind,
            r.status,
            r.outcome,
            r.member,
            [str(d) for d in r.departments or ()],
            r.claimed_by,
            r.claimed_at,
            r.created_at,
            r.updated_at,
            r.document_path is not None,
        )
        for r in rows
    ]


async def request_of(connection: AsyncConnection, public_id: str) -> RequestRow | None:
    """A request by its public id or its reference (``A-7K3Q9X``, what the CLI is given)."""
    found = (
        await connection.execute(
            sa.select(
                member_requests,
                _holder.c.name.label("holder_name"),
                opticians.c.name.label("member"),
                opticians.c.phone,
                opticians.c.departments,
                opticians.c.kit_expires_on,
            )
            .select_from(_joined())
            .where(sa.or_(member_requests.c.public_id == public_id, member_requests.c.reference == public_id))
        )
    ).one_or_none()
    if found is None:
        return None
    r = found
    return RequestRow(
        r.id,
        r.public_id,
        r.reference,
        r.kind,
        r.amount_cents,
        r.months,
        r.details,
        r.document_path,
        r.document_name,
        r.status,
        r.outcome,
        r.outcome_amount_cents,
        r.outcome_months,
        r.claimed_by,
        r.holder_name,
        r.claimed_at,
        r.created_at,
        r.updated_at,
        r.closed_at,
        r.channel,
        r.chat,
        r.optician_id,
        r.member,
        r.phone,
        [str(d) for d in r.departments or ()],
        r.kit_expires_on,
    )


async def thread(connection: AsyncConnection, request_id: int) -> list[ThreadRow]:
    """The request's thread, oldest first."""
    rows = await connection.execute(
        sa.select(member_messages)
        .where(member_messages.c.request_id == request_id)
        .order_by(member_messages.c.id)
    )
    return [ThreadRow(r.id, r.kind, r.author, r.text, r.message_id, r.created_at) for r in rows]


async def add_to_thread(
    connection: AsyncConnection,
    request_id: int,
    kind: str,
    author: str,
    text: str,
    now: datetime,
    *,
    message_id: int | None = None,
) -> None:
    """A line of the thread (an ``out`` line names the outbound row that carries it); the request
    counts as changed (the live views see it)."""
    await connection.execute(
        sa.insert(member_messages).values(
            request_id=request_id,
            kind=kind,
            author=author[:64],
            text=text,
            message_id=message_id,
            created_at=now,
        )
    )
    await connection.execute(
        sa.update(member_requests).where(member_requests.c.id == request_id).values(updated_at=now)
    )


# --- the changes: one conditional UPDATE each ---------------------------------------------------------


async def claim(
    connection: AsyncConnection, request_id: int, staff_id: int, now: datetime
) -> Literal["first", "again"] | None:
    """Take an open request nobody holds. ``first``: it was new, and is now in progress (its
    member is told, once: said by the UPDATE itself, not by a read before it, which a claim and a
    release by someone else in between would make stale); ``again``: it keeps its status; None:
    someone else holds it, or it is closed."""
    free = (member_requests.c.id == request_id, member_requests.c.claimed_by.is_(None))
    held = {"claimed_by": staff_id, "claimed_at": now, "updated_at": now}
    first = await connection.execute(
        sa.update(member_requests)
        .where(*free, member_requests.c.status == "new")
        .values(status="in_progress", **held)
    )
    if first.rowcount == 1:
        return "first"
    again = await connection.execute(
        sa.update(member_requests)
        .where(*free, member_requests.c.status.in_(OPEN_STATUSES), member_requests.c.status != "new")
        .values(**held)
    )
    return "again" if again.rowcount == 1 else None


async def release(
    connection: AsyncConnection, request_id: int, now: datetime, *, held_by: int | None
) -> bool:
    """Nobody holds the open request any more (``held_by``: only if that staff does; None: whoever
    does). A closed one keeps who handled it."""
    where = [
        member_requests.c.id == request_id,
        member_requests.c.claimed_by.is_not(None),
        member_requests.c.status.in_(OPEN_STATUSES),
    ]
    if held_by is not None:
        where.append(member_requests.c.claimed_by == held_by)
    found = await connection.execute(
        sa.update(member_requests).where(*where).values(claimed_by=None, claimed_at=None, updated_at=now)
    )
    return found.rowcount == 1


async def take_over(
    connection: AsyncConnection, request_id: int, staff_id: int, now: datetime, *, from_id: int
) -> bool:
    """``staff_id`` holds the open request ``from_id`` holds — only if that one still does, so two
    take-overs at once cannot both win."""
    found = await connection.execute(
        sa.update(member_requests)
        .where(
            member_requests.c.id == request_id,
            member_requests.c.status.in_(OPEN_STATUSES),
            member_requests.c.claimed_by == from_id,
            member_requests.c.claimed_by != staff_id,
        )
        .values(claimed_by=staff_id, claimed_at=now, updated_at=now)
    )
    return found.rowcount == 1


async def move(
    connection: AsyncConnection,
    request_id: int,
    before: Sequence[str],
    after: str,
    held_by: int,
    now: datetime,
    **values: Any,
) -> bool:
    """The status from one of ``before`` to ``after`` (the transition table is bot/members/requests.py's),
    only while ``held_by`` holds it; ``values``: the outcome's columns."""
    extra = dict(values)
    if after == "closed":
        extra["closed_at"] = now
    found = await connection.execute(
        sa.update(member_requests)
        .where(
            member_requests.c.id == request_id,
            member_requests.c.status.in_(list(before)),
            member_requests.c.claimed_by == held_by,
        )
        .values(status=after, updated_at=now, **extra)
    )
    return found.rowcount == 1


async def hold(connection: AsyncConnection, request_id: int, held_by: int, now: datetime) -> bool:
    """True if ``held_by`` holds the open request, which is then locked until the commit (a reply
    or a step told to the member cannot cross a take-over or a release)."""
    found = await connection.execute(
        sa.update(member_requests)
        .where(
            member_requests.c.id == request_id,
            member_requests.c.claimed_by == held_by,
            member_requests.c.status.in_(OPEN_STATUSES),
        )
        .values(updated_at=now)
    )
    return found.rowcount == 1


async def member_wrote(connection: AsyncConnection, request_id: int, now: datetime) -> None:
    """The member wrote on their request: an answered one is in progress again (the ball is back in
    staff's court); any open one counts as changed. The desk calls it with the ``in`` line."""
    await connection.execute(
        sa.update(member_requests)
        .where(member_requests.c.id == request_id, member_requests.c.status.in_(OPEN_STATUSES))
        .values(
            updated_at=now,
            status=sa.case(
                (member_requests.c.status == "answered", "in_progress"), else_=member_requests.c.status
            ),
        )
    )


async def version(connection: AsyncConnection) -> tuple[object, ...]:
    """Changes when any request, or any thread, may have changed (the live views compare it):
    two aggregates, on an index and the primary key."""
    requests = (
        await connection.execute(sa.select(sa.func.count(), sa.func.max(member_requests.c.updated_at)))
    ).one()
    last_line = await connection.scalar(sa.select(sa.func.max(member_messages.c.id)))
    return (*requests, last_line)


# --- retention ----------------------------------------------------------------------------------------


async def purge_closed(connection: AsyncConnection, before: datetime) -> tuple[int, list[str]]:
    """Requests closed before ``before`` deleted with their threads: how many, and their documents'
    paths, to delete once committed."""
    old = sa.select(member_requests.c.id).where(
        member_requests.c.status == "closed", member_requests.c.closed_at < before
    )
    ids = list(await connection.scalars(old))
    if not ids:
        return 0, []
    files = [
        str(p)
        for p in await connection.scalars(
            sa.select(member_requests.c.document_path).where(
                member_requests.c.id.in_(ids), member_requests.c.document_path.is_not(None)
            )
        )
    ]
    await connection.execute(sa.delete(member_messages).where(member_messages.c.request_id.in_(ids)))
    await connection.execute(sa.delete(member_requests).where(member_requests.c.id.in_(ids)))
    return len(ids), files
