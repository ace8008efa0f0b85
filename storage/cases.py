"""Cases: reading them (the queue order is priority rank, then age) and moving them through the
lifecycle (``flows/lifecycle.py`` says where an action goes and from which statuses)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.tables import cases, clients

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
