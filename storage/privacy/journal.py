"""The access journal: who saw or did what to whose data (never the data itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import (
    access_journal,
    cases,
)


async def record_access(
    connection: AsyncConnection,
    now: datetime,
    actor: str,
    action: str,
    *,
    client_id: int | None = None,
    case_id: int | None = None,
    detail: str | None = None,
) -> None:
    """One line of the access journal: who did what to whose personal data (never the data)."""
    await connection.execute(
        sa.insert(access_journal).values(
            at=now,
            actor=actor[:64],
            action=action[:32],
            client_id=client_id,
            case_id=case_id,
            detail=None if detail is None else detail[:64],
        )
    )


async def last_access(connection: AsyncConnection, actor: str, action: str, case_id: int) -> datetime | None:
    """When ``actor`` last did ``action`` on this case, by the journal (None: never)."""
    found = await connection.scalar(
        sa.select(sa.func.max(access_journal.c.at)).where(
            access_journal.c.actor == actor[:64],
            access_journal.c.action == action[:32],
            access_journal.c.case_id == case_id,
        )
    )
    return found if isinstance(found, datetime) else None


async def journal_lines(
    connection: AsyncConnection, limit: int = 50, before: int | None = None
) -> list[dict[str, Any]]:
    """The newest lines of the journal for the console: which case each one is about, as its
    reference and public id while the case keeps its data, and ``anonymised`` once it is gone.
    A line about a client without a case (an erasure) names the client's newest case that is
    not anonymised, if any (``client_of``). No row ids of clients or cases."""
    remaining = (
        sa.select(cases.c.reference)
        .where(cases.c.client_id == access_journal.c.client_id, cases.c.anonymised_at.is_(None))
        .order_by(cases.c.id.desc())
        .limit(1)
        .correlate(access_journal)
        .scalar_subquery()
    )
    query = (
        sa.select(
            access_journal.c.id,
            access_journal.c.at,
            access_journal.c.actor,
            access_journal.c.action,
            access_journal.c.detail,
            access_journal.c.case_id,
            access_journal.c.client_id,
            cases.c.reference,
            cases.c.public_id,
            cases.c.anonymised_at,
            remaining.label("client_of"),
        )
        .outerjoin(cases, cases.c.id == access_journal.c.case_id)
        .order_by(access_journal.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(access_journal.c.id < before)
    lines = []
    for row in await connection.execute(query):
        if row.case_id is not None:
            gone = row.public_id is None or row.anonymised_at is not None
            client_of = None
        else:
            client_of = row.client_of
            gone = row.client_id is not None and client_of is None
        lines.append(
            {
                "id": row.id,
                "at": row.at.isoformat(),
                "actor": row.actor,
                "action": row.action,
                "detail": row.detail,
                "case": None if gone else row.reference,
                "case_id": None if gone else row.public_id,
                "client_of": client_of,
                "anonymised": gone,
            }
        )
    return lines
