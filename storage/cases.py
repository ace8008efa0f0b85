"""Reading cases: the queue order is priority rank, then age."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

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
