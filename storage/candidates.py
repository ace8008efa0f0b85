"""Opticians who asked to join the network (issue 15): stored from the public form, listed for the
console and the CLI, moved along new → contacted → accepted → registered (or declined) by one
conditional UPDATE each, and deleted once past their retention delay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import candidates, opticians


class CandidateValues(TypedDict):
    """What the form gives, checked and normalised by :class:`bot.recruitment.Recruitment`."""

    name: str
    phone: str
    email: str
    departments: list[str]
    registration: str
    has_kit: bool
    source: str


@dataclass(frozen=True, slots=True)
class Candidate:
    public_id: str
    name: str
    phone: str
    email: str
    departments: list[str]
    registration: str
    has_kit: bool
    source: str
    status: str
    note: str | None
    optician: str | None  # the optician's public id once registered
    created_at: datetime
    updated_at: datetime
    status_by: str | None


_COLUMNS = (
    candidates.c.id,
    candidates.c.public_id,
    candidates.c.name,
    candidates.c.phone,
    candidates.c.email,
    candidates.c.departments,
    candidates.c.registration,
    candidates.c.has_kit,
    candidates.c.source,
    candidates.c.status,
    candidates.c.note,
    opticians.c.public_id.label("optician"),
    candidates.c.created_at,
    candidates.c.updated_at,
    candidates.c.status_by,
)
_JOINED = candidates.outerjoin(opticians, opticians.c.id == candidates.c.optician_id)


def _candidate(row: Any) -> Candidate:
    return Candidate(
        row.public_id,
        row.name,
        row.phone,
        row.email,
        [str(d) for d in row.departments or []],
        row.registration,
        bool(row.has_kit),
        row.source,
        row.status,
        row.note,
        row.optician,
        row.created_at,
        row.updated_at,
        row.status_by,
    )


async def add_candidate(
    connection: AsyncConnection, public_id: str, values: CandidateValues, now: datetime
) -> Candidate:
    await connection.execute(
        sa.insert(candidates).values(
            public_id=public_id, status="new", created_at=now, updated_at=now, **values
        )
    )
    found = await candidate(connection, public_id)
    assert found is not None
    return found


async def candidate(connection: AsyncConnection, public_id: str) -> Candidate | None:
    row = (
        await connection.execute(
            sa.select(*_COLUMNS).select_from(_JOINED).where(candidates.c.public_id == public_id)
        )
    ).one_or_none()
    return None if row is None else _candidate(row)


async def candidate_id_of(connection: AsyncConnection, public_id: str) -> int | None:
    found = await connection.scalar(sa.select(candidates.c.id).where(candidates.c.public_id == public_id))
    return None if found is None else int(found)


async def list_candidates(
    connection: AsyncConnection,
    *,
    statuses: Sequence[str] = (),
    department: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Candidate], int]:
    """One page of candidates, newest first, with these statuses (all when empty) and naming
    ``department`` (a known code: matched as ``"<code>"`` in the JSON list's text, the same on
    SQLite and PostgreSQL), and how many match in all (the page is cut in SQL)."""
    where: list[sa.ColumnElement[bool]] = []
    if statuses:
        where.append(candidates.c.status.in_(list(statuses)))
    if department is not None:
        where.append(sa.cast(candidates.c.departments, sa.Text).like(f'%"{department}"%'))
    total = await connection.scalar(sa.select(sa.func.count()).select_from(candidates).where(*where))
    query = (
        sa.select(*_COLUMNS)
        .select_from(_JOINED)
        .where(*where)
        .order_by(candidates.c.created_at.desc(), candidates.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_candidate(row) for row in await connection.execute(query)], int(total or 0)


async def move_candidate(
    connection: AsyncConnection,
    public_id: str,
    sources: Sequence[str],
    target: str,
    *,
    by: str,
    now: datetime,
    optician_id: int | None = None,
) -> bool:
    """Move a candidate to ``target`` if its status is one of ``sources`` (one conditional UPDATE:
    of two staff members acting at once, one wins); whether it moved."""
    values: dict[str, Any] = {"status": target, "status_by": by[:64], "updated_at": now}
    if optician_id is not None:
        values["optician_id"] = optician_id
    moved = await connection.execute(
        sa.update(candidates)
        .where(candidates.c.public_id == public_id, candidates.c.status.in_(list(sources)))
        .values(**values)
    )
    return bool(moved.rowcount)


async def claim_retry(
    connection: AsyncConnection, public_id: str, seen: datetime, *, by: str, now: datetime
) -> bool:
    """Take a registration left half-done (``registered`` without its optician: a crash between the
    steps) to finish it: one conditional UPDATE on the ``updated_at`` read, so that of two admins
    retrying at once one wins; whether this one did."""
    claimed = await connection.execute(
        sa.update(candidates)
        .where(
            candidates.c.public_id == public_id,
            candidates.c.status == "registered",
            candidates.c.optician_id.is_(None),
            candidates.c.updated_at == seen,
        )
        .values(status_by=by[:64], updated_at=now)
    )
    return bool(claimed.rowcount)


async def optician_like(connection: AsyncConnection, name: str, phone: str, since: datetime) -> str | None:
    """The public id of an optician with this name and phone entered since ``since`` (the one a
    half-done registration may already have made), newest first; None when there is none."""
    found = await connection.scalar(
        sa.select(opticians.c.public_id)
        .where(opticians.c.name == name, opticians.c.phone == phone, opticians.c.created_at >= since)
        .order_by(opticians.c.id.desc())
        .limit(1)
    )
    return None if found is None else str(found)


async def set_optician(connection: AsyncConnection, public_id: str, optician_id: int, now: datetime) -> None:
    await connection.execute(
        sa.update(candidates)
        .where(candidates.c.public_id == public_id)
        .values(optician_id=optician_id, updated_at=now)
    )


async def set_note(connection: AsyncConnection, public_id: str, note: str | None, now: datetime) -> bool:
    changed = await connection.execute(
        sa.update(candidates).where(candidates.c.public_id == public_id).values(note=note, updated_at=now)
    )
    return bool(changed.rowcount)


async def purge_candidates(connection: AsyncConnection, before: datetime) -> int:
    """The retention sweep: candidates declined, or left untouched (any status), since before
    ``before`` are deleted; how many. A registered optician's own entry stays in the registry."""
    gone = await connection.execute(sa.delete(candidates).where(candidates.c.updated_at < before))
    return int(gone.rowcount or 0)
