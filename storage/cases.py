"""Cases: reading them (the queue order is priority rank, then age) and moving them through the
lifecycle (``flows/lifecycle.py`` says where an action goes and from which statuses)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.conversations import lock_conversations
from storage.outbound import Recipient, case_party
from storage.tables import case_notes, cases, clients, conversations

PUBLIC_FIELDS = (
    "reference",
    "status",
    "kind",
    "need",
    "urgent",
    "mode",
    "priority",
    "postal_code",
    "department",
    "channel",
    "created_at",
)


async def list_cases(database: AsyncEngine, status: str | None = None) -> list[dict[str, Any]]:
    """Cases as plain JSON-ready dicts (no contact details), mobilised workers first, then oldest.

    ``reachable`` is false when the client can no longer be reached on their channel (they
    blocked the bot): the case needs a phone call.
    """
    query = (
        sa.select(
            *(cases.c[name] for name in PUBLIC_FIELDS), sa.not_(clients.c.unreachable).label("reachable")
        )
        .outerjoin(clients, clients.c.id == cases.c.client_id)
        .order_by(cases.c.priority_rank, cases.c.created_at, cases.c.id)
    )
    if status is not None:
        query = query.where(cases.c.status == status)
    async with database.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [
        {key: (value.isoformat() if key == "created_at" and value else value) for key, value in row.items()}
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class CaseOfConversation:
    """The newest case of a conversation, as the engine needs it for a client's follow-up."""

    id: int
    reference: str
    status: str
    closed_at: datetime | None  # done or cancelled at
    holder: str | None  # the operator who holds it, or held it last


async def latest_cases(
    connection: AsyncConnection, conversation_ids: Sequence[int]
) -> dict[int, CaseOfConversation]:
    """The newest case of each of these conversations that has one (one query for a batch)."""
    if not conversation_ids:
        return {}
    result = await connection.execute(
        sa.select(cases.c.id, cases.c.conversation_id, cases.c.reference, cases.c.status)
        .add_columns(cases.c.done_at, cases.c.claimed_by)
        .where(cases.c.conversation_id.in_(list(set(conversation_ids))), cases.c.anonymised_at.is_(None))
        .order_by(cases.c.id)
    )
    found: dict[int, CaseOfConversation] = {}
    for row in result:  # ordered by id: the newest case of a conversation is the last one seen
        found[row.conversation_id] = CaseOfConversation(
            row.id, row.reference, row.status, row.done_at, row.claimed_by
        )
    return found


async def case_of_client(
    connection: AsyncConnection, public_id: str, client_id: int
) -> CaseOfConversation | None:
    """The case ``public_id`` (a button names it) if it is this client's, whatever conversation
    they are in now; None for another client's case, or one anonymised."""
    row = (
        await connection.execute(
            sa.select(
                cases.c.id, cases.c.reference, cases.c.status, cases.c.done_at, cases.c.claimed_by
            ).where(
                cases.c.public_id == public_id,
                cases.c.client_id == client_id,
                cases.c.anonymised_at.is_(None),
            )
        )
    ).first()
    return None if row is None else CaseOfConversation(*row)


class Transition(Protocol):
    """A move of the case lifecycle table (``flows.lifecycle.move``): storage does not import the
    flows, it applies what they decide."""

    @property
    def sources(self) -> tuple[str, ...]: ...

    @property
    def destination(self) -> str: ...


async def move_case(
    connection: AsyncConnection,
    case_id: int,
    transition: Transition,
    values: dict[str, Any] | None = None,
    *,
    claimed_by: str | None = None,
) -> bool:
    """Apply a lifecycle transition as one conditional UPDATE; False if the case was not in one of
    its sources any more (someone else moved it first). This is the one place that writes a case's
    status. ``claimed_by``: only if this operator holds the case."""
    query = sa.update(cases).where(cases.c.id == case_id, cases.c.status.in_(list(transition.sources)))
    if claimed_by is not None:
        query = query.where(cases.c.claimed_by == claimed_by)
    result = await connection.execute(query.values(status=transition.destination, **(values or {})))
    return bool(result.rowcount)


async def move_cases_where(
    connection: AsyncConnection,
    transition: Transition,
    conditions: Sequence[sa.ColumnElement[bool]],
    values: dict[str, Any] | None = None,
) -> list[int]:
    """Apply a lifecycle transition to every case in one of its sources that meets
    ``conditions``, as one conditional UPDATE (each row's conditions are checked again under its
    lock, so a case another actor changed meanwhile is left alone); the ids moved."""
    result = await connection.execute(
        sa.update(cases)
        .where(cases.c.status.in_(list(transition.sources)), *conditions)
        .values(status=transition.destination, **(values or {}))
        .returning(cases.c.id)
    )
    return [int(case_id) for case_id in result.scalars().all()]


# --- an operator's work on a case (the console) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockedCase:
    """A case an operator acts on, its conversation locked like the engine locks it.

    ``owner`` is the conversation's, read under that lock; ``recipient`` is the case's own
    conversation on the client's channel (where the console's messages to the client go)."""

    id: int
    reference: str
    conversation_id: int
    owner: str
    recipient: Recipient


@dataclass(frozen=True, slots=True)
class Holding:
    """Where a case stands for the operator who wants to act on it."""

    status: str
    claimed_by: str | None


async def lock_case(connection: AsyncConnection, public_id: str, now: datetime) -> LockedCase | None:
    """The case and its conversation, the conversation locked like the engine locks it; None if
    there is no such case.

    On PostgreSQL the conversation's advisory lock comes first, then the case's row (written:
    ``updated_at``), in the order the engine and dispatch take them (the engine holds the
    conversation before it writes a case or its appointment): two transactions never wait on each
    other in reverse. On SQLite the first statement writes the case's row, which takes the
    database's write lock (the engine takes it too before it reads a conversation), so what is read
    next cannot change before this transaction ends. Then the conversation's owner."""
    if connection.dialect.name == "postgresql":
        party = await case_party(connection, cases.c.public_id == public_id)
        if party is None:
            return None
        await lock_conversations(connection, [party.key])
    touched = await connection.execute(
        sa.update(cases).where(cases.c.public_id == public_id).values(updated_at=now).returning(cases.c.id)
    )
    if touched.first() is None:
        return None
    row = await case_party(connection, cases.c.public_id == public_id)
    if row is None:
        return None
    await lock_conversations(connection, [row.key])
    owner = await connection.scalar(
        sa.select(conversations.c.owner).where(conversations.c.id == row.conversation_id)
    )
    recipient = Recipient(row.channel, row.external_id, row.conversation_id, row.language)
    return LockedCase(row.case_id, row.reference, row.conversation_id, str(owner), recipient)


async def holding(connection: AsyncConnection, case_id: int) -> Holding:
    """The case's status and who holds it (or held it last)."""
    row = (
        await connection.execute(sa.select(cases.c.status, cases.c.claimed_by).where(cases.c.id == case_id))
    ).one()
    return Holding(row.status, row.claimed_by)


async def claim_case(
    connection: AsyncConnection, case_id: int, claim: Transition, by: str, now: datetime
) -> bool:
    """``by`` takes the case (the lifecycle's ``claim``); the first claim's time is kept when a
    case is claimed again. False if it was not in a source status any more."""
    values = {"claimed_by": by, "claimed_at": sa.func.coalesce(cases.c.claimed_at, now), "updated_at": now}
    return await move_case(connection, case_id, claim, values)


async def reassign_case(
    connection: AsyncConnection,
    case_id: int,
    held: Sequence[str],
    to: str,
    now: datetime,
    *,
    held_by: str | None = None,
) -> bool:
    """The case goes to operator ``to`` if it is in one of the ``held`` statuses (and, with
    ``held_by``, only if that operator holds it); its status stays."""
    query = sa.update(cases).where(cases.c.id == case_id, cases.c.status.in_(list(held)))
    if held_by is not None:
        query = query.where(cases.c.claimed_by == held_by)
    result = await connection.execute(query.values(claimed_by=to, updated_at=now))
    return bool(result.rowcount)


async def visit_to_shipment(
    connection: AsyncConnection, case_id: int, transition: Transition, by: str, now: datetime
) -> str | None:
    """A home visit no optician has becomes a shipment (the lifecycle's ``to_shipment``), held by
    whoever held it, else by ``by``: a visit dispatched automatically had no holder. The holder, or
    None if the case is not such a visit in one of the transition's sources."""
    changed = await connection.execute(
        sa.update(cases)
        .where(
            cases.c.id == case_id,
            cases.c.mode == "visit",
            cases.c.optician_id.is_(None),
            cases.c.status.in_(list(transition.sources)),
        )
        .values(
            mode="shipment",
            status=transition.destination,
            claimed_by=sa.func.coalesce(cases.c.claimed_by, by),
            no_taker_at=None,
            updated_at=now,
        )
        .returning(cases.c.claimed_by)
    )
    holder = changed.scalar()
    return None if holder is None else str(holder)


@dataclass(frozen=True, slots=True)
class VisitState:
    status: str
    mode: str | None
    optician_id: int | None


async def visit_state(connection: AsyncConnection, case_id: int) -> VisitState:
    row = (
        await connection.execute(
            sa.select(cases.c.status, cases.c.optician_id, cases.c.mode).where(cases.c.id == case_id)
        )
    ).one()
    return VisitState(row.status, row.mode, row.optician_id)


async def mark_case_updated(connection: AsyncConnection, case_id: int, now: datetime) -> None:
    await connection.execute(sa.update(cases).where(cases.c.id == case_id).values(updated_at=now))


async def mark_case_answered(connection: AsyncConnection, case_id: int, now: datetime) -> None:
    """An operator replied: the first response's time is kept, and the queue stops saying
    "le client a écrit"."""
    await connection.execute(
        sa.update(cases)
        .where(cases.c.id == case_id)
        .values(
            first_response_at=sa.func.coalesce(cases.c.first_response_at, now),
            client_wrote_at=None,
            updated_at=now,
        )
    )


async def set_tracking_number(connection: AsyncConnection, case_id: int, number: str, now: datetime) -> None:
    await connection.execute(
        sa.update(cases).where(cases.c.id == case_id).values(tracking_number=number, updated_at=now)
    )


async def add_case_note(
    connection: AsyncConnection, case_id: int, author: str, text: str, now: datetime
) -> None:
    """An internal note on the case (never sent to the client)."""
    await connection.execute(
        sa.insert(case_notes).values(case_id=case_id, author=author, text=text, created_at=now)
    )
    await mark_case_updated(connection, case_id, now)


async def reference_of(connection: AsyncConnection, case_id: int) -> str | None:
    found = await connection.scalar(sa.select(cases.c.reference).where(cases.c.id == case_id))
    return None if found is None else str(found)


async def anonymised_at(connection: AsyncConnection, case_id: int) -> datetime | None:
    """When the case's client was erased (None: not erased)."""
    found: datetime | None = await connection.scalar(
        sa.select(cases.c.anonymised_at).where(cases.c.id == case_id)
    )
    return found


async def is_visit(connection: AsyncConnection, case_id: int) -> bool:
    mode = await connection.scalar(sa.select(cases.c.mode).where(cases.c.id == case_id))
    return mode == "visit"
