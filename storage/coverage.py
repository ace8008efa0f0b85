"""The figures of the map (issue 15): demand (cases per department over a period) and coverage
(opticians who can take a visit there today, kits about to expire, candidates in the pipeline).

Counts only, per department code: no personal data leaves this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.opticians import eligible_opticians
from storage.tables import appointments, candidates, cases, opticians

# The statuses of a candidate still in the pipeline (counted against the map's gaps).
PIPELINE = ("new", "contacted", "accepted")


def _each_department(lists: Iterable[list[str] | None]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for departments in lists:
        for code in set(departments or []):
            counted[str(code)] += 1
    return counted


async def demand(connection: AsyncConnection, start: datetime, end: datetime) -> Counter[str]:
    """Cases created in ``[start, end)`` per department (cases without a department are left out)."""
    rows = await connection.execute(
        sa.select(cases.c.department, sa.func.count())
        .where(cases.c.created_at >= start, cases.c.created_at < end, cases.c.department.is_not(None))
        .group_by(cases.c.department)
    )
    return Counter({str(row[0]): int(row[1]) for row in rows})


async def visits(
    connection: AsyncConnection, start: datetime, end: datetime
) -> dict[str, tuple[int, int, int]]:
    """Per department, the visit cases created in ``[start, end)`` (asked as a home visit, or offered
    to the opticians and later turned into a shipment): ``(visits, taken, no_taker)``. *taken*: an
    optician accepted (the appointment exists); *no_taker*: offered (``dispatch_round > 0``), never
    taken, and the no-taker alert went up or the visit became a shipment — the reports' rule
    (``storage.reports.dispatch_results``)."""
    taken = sa.exists().where(appointments.c.case_id == cases.c.id)
    no_taker = sa.and_(
        cases.c.dispatch_round > 0,
        sa.not_(taken),
        sa.or_(cases.c.no_taker_at.is_not(None), cases.c.mode == "shipment"),
    )
    one = sa.literal(1)
    zero = sa.literal(0)
    rows = await connection.execute(
        sa.select(
            cases.c.department,
            sa.func.count(),
            sa.func.sum(sa.case((taken, one), else_=zero)),
            sa.func.sum(sa.case((no_taker, one), else_=zero)),
        )
        .where(
            cases.c.created_at >= start,
            cases.c.created_at < end,
            cases.c.department.is_not(None),
            sa.or_(cases.c.mode == "visit", cases.c.dispatch_round > 0),
        )
        .group_by(cases.c.department)
    )
    return {str(row[0]): (int(row[1]), int(row[2] or 0), int(row[3] or 0)) for row in rows}


async def covering(connection: AsyncConnection, today: date) -> Counter[str]:
    """Per department, the opticians who can be offered a visit today: active, available, linked to
    a Telegram chat, protection kit valid through today (the same rule as dispatch's offers)."""
    return _each_department(o.departments for o in await eligible_opticians(connection, today))


async def kits_expiring(connection: AsyncConnection, today: date, until: date) -> Counter[str]:
    """Per department, the active opticians whose kit is still valid but ends by ``until``."""
    rows = await connection.execute(
        sa.select(opticians.c.departments).where(
            opticians.c.active.is_(True),
            opticians.c.kit_expires_on >= today,
            opticians.c.kit_expires_on <= until,
        )
    )
    return _each_department(row[0] for row in rows)


async def candidates_in_pipeline(connection: AsyncConnection) -> Counter[str]:
    """Per department, the candidates not yet registered nor declined."""
    rows = await connection.execute(
        sa.select(candidates.c.departments).where(candidates.c.status.in_(PIPELINE))
    )
    return _each_department(row[0] for row in rows)
