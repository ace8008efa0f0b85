"""The reports' reads (issue 15): what the federation steers by, for the cases handed off between two
instants and, optionally, in one department. Counts are grouped in SQL; the durations and the
per-day series come back as plain instants, for ``bot/reports.py`` to measure (percentiles, Paris
days: neither is portable SQL between SQLite and PostgreSQL).

Nothing here reads a column that holds personal data: a report names no one. Anonymised cases keep
every column read here (``storage/privacy/classification.py``), so they still count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import appointments, cases, dispatch_offers, waitlist

# The columns a report counts cases by (``cases_by``).
DIMENSIONS = ("need", "channel", "mode", "priority", "status", "kind")


@dataclass(frozen=True, slots=True)
class Window:
    """Cases handed off in ``[start, end)`` (UTC instants), in ``department`` if given."""

    start: datetime
    end: datetime
    department: str | None = None

    def cases(self) -> list[sa.ColumnElement[bool]]:
        where = [cases.c.created_at >= self.start, cases.c.created_at < self.end]
        if self.department is not None:
            where.append(cases.c.department == self.department)
        return where

    def waitlist(self) -> list[sa.ColumnElement[bool]]:
        return [] if self.department is None else [waitlist.c.department == self.department]


@dataclass(frozen=True, slots=True)
class CaseTimes:
    """One case's hand-off and first claim (None: never claimed), and whether its client is a
    mobilised worker (``priority_rank`` 0)."""

    created_at: datetime
    claimed_at: datetime | None
    mobilised: bool
    kind: str


@dataclass(frozen=True, slots=True)
class Acceptance:
    """An accepted offer: when it was made and when the optician accepted it."""

    offered_at: datetime
    accepted_at: datetime


async def read_as_one(connection: AsyncConnection) -> None:
    """Before the first query: on PostgreSQL, every read of the connection's transaction sees the
    same snapshot (REPEATABLE READ), so that a report's tables add up while cases keep coming. (On
    SQLite the reads follow each other within milliseconds: a case committed in between may show
    in one table and not yet in another.)"""
    if connection.dialect.name == "postgresql":
        await connection.execution_options(isolation_level="REPEATABLE READ")


async def cases_by(connection: AsyncConnection, window: Window, dimension: str) -> dict[str | None, int]:
    """How many cases of the window per value of ``dimension`` (one of :data:`DIMENSIONS`)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"no report dimension {dimension!r}")
    column = cases.c[dimension]
    rows = await connection.execute(
        sa.select(column, sa.func.count()).where(*window.cases()).group_by(column)
    )
    return {value: int(count) for value, count in rows}


async def case_times(connection: AsyncConnection, window: Window) -> list[CaseTimes]:
    """Every case of the window: hand-off, first claim, mobilised or not, kind (oldest first)."""
    rows = await connection.execute(
        sa.select(cases.c.created_at, cases.c.claimed_at, cases.c.priority_rank == 0, cases.c.kind)
        .where(*window.cases())
        .order_by(cases.c.created_at, cases.c.id)
    )
    return [CaseTimes(created, claimed, bool(mobilised), kind) for created, claimed, mobilised, kind in rows]


async def acceptances(connection: AsyncConnection, window: Window) -> list[Acceptance]:
    """The offers of the window's cases that an optician accepted and that still stand (``accepted``:
    a visit later reported impossible, or withdrawn, had its answer time rewritten)."""
    rows = await connection.execute(
        sa.select(dispatch_offers.c.created_at, dispatch_offers.c.answered_at)
        .join(cases, cases.c.id == dispatch_offers.c.case_id)
        .where(
            *window.cases(),
            dispatch_offers.c.status == "accepted",
            dispatch_offers.c.answered_at.is_not(None),
        )
        .order_by(dispatch_offers.c.id)
    )
    return [Acceptance(offered, accepted) for offered, accepted in rows]


def _taken() -> sa.Exists:
    """An optician accepted the case's visit at some point: its appointment exists."""
    return sa.exists().where(appointments.c.case_id == cases.c.id)


async def visit_outcomes(connection: AsyncConnection, window: Window) -> dict[str, int]:
    """The window's visit cases that an optician took, by how their visit ended: ``done`` (the
    optician's "visite faite", or the case closed while they were on the way), ``failed:<reason>``
    (reported impossible and never done since), ``cancelled`` (the visit was called off: the client
    cancelled, the case went to shipment), ``open`` (not ended yet)."""
    outcome = sa.case(
        (sa.or_(appointments.c.status == "done", cases.c.visit_outcome == "done"), sa.literal("done")),
        (cases.c.visit_outcome.like("failed:%"), cases.c.visit_outcome),
        (appointments.c.status == "cancelled", sa.literal("cancelled")),
        else_=sa.literal("open"),
    ).label("outcome")
    ended = (
        sa.select(outcome)
        .select_from(cases.join(appointments, appointments.c.case_id == cases.c.id))
        .where(*window.cases())
        .subquery()
    )
    rows = await connection.execute(sa.select(ended.c.outcome, sa.func.count()).group_by(ended.c.outcome))
    return {str(value): int(count) for value, count in rows}


async def dispatch_results(connection: AsyncConnection, window: Window) -> dict[str, int]:
    """The window's cases offered to the opticians (at least one round of offers), by result:
    ``taken`` (an optician accepted, at some point), ``no_taker`` (nobody did: the no-taker alert is
    up, or the visit was turned into a shipment), ``pending`` (offers still open in time, or the
    case ended before anyone answered)."""
    result = sa.case(
        (_taken(), sa.literal("taken")),
        (sa.or_(cases.c.no_taker_at.is_not(None), cases.c.mode == "shipment"), sa.literal("no_taker")),
        else_=sa.literal("pending"),
    )
    results = sa.select(result.label("result")).where(*window.cases(), cases.c.dispatch_round > 0).subquery()
    rows = await connection.execute(sa.select(results.c.result, sa.func.count()).group_by(results.c.result))
    return {str(value): int(count) for value, count in rows}


async def waitlist_joins(connection: AsyncConnection, window: Window) -> list[datetime]:
    """When each client still on the waitlist joined it within the window (oldest first)."""
    rows = await connection.execute(
        sa.select(waitlist.c.created_at)
        .where(waitlist.c.created_at >= window.start, waitlist.c.created_at < window.end, *window.waitlist())
        .order_by(waitlist.c.created_at)
    )
    return [created for (created,) in rows]


async def waiting_now(connection: AsyncConnection, window: Window) -> int:
    """How many clients wait on the waitlist now, not told yet (whenever they joined)."""
    count = await connection.execute(
        sa.select(sa.func.count())
        .select_from(waitlist)
        .where(waitlist.c.notified_at.is_(None), *window.waitlist())
    )
    return int(count.scalar_one())
