"""The reports' reads (issue 15): what the federation steers by, for the cases handed off between two
instants and, optionally, in one department. Everything that can be counted is counted in SQL
(grouped counts, the per-day series by a Paris day's bounds passed in); only durations come back as
instants — the two timestamps of each measured case and its group, nothing else — for
``bot/reports.py`` to take percentiles of (neither percentiles nor a difference of instants is
portable SQL between SQLite and PostgreSQL).

Nothing here reads a column that holds personal data: a report names no one. Anonymised cases keep
every column read here (``storage/privacy/classification.py``), so they still count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import appointments, cases, dispatch_offers, waitlist

# The columns a report counts cases by (``cases_by``).
DIMENSIONS = ("need", "channel", "mode", "priority", "status", "kind")


@dataclass(frozen=True, slots=True)
class Window:
    """Cases handed off in ``[start, end)`` (UTC instants), in ``department`` if given;
    ``mobilised``: the priority codes of the mobilised workers (``flows.lifecycle``: storage does not
    import flows), whatever the case's kind or queue rank."""

    start: datetime
    end: datetime
    department: str | None = None
    mobilised: tuple[str, ...] = field(kw_only=True)

    def is_mobilised(self) -> sa.ColumnElement[bool]:
        """The case's client is a mobilised worker: by the ``priority`` they gave, not by the queue's
        rank (a mobilised worker's ordinary request ranks after every emergency)."""
        return sa.func.coalesce(cases.c.priority.in_(self.mobilised), sa.false())

    def cases(self) -> list[sa.ColumnElement[bool]]:
        where = [cases.c.created_at >= self.start, cases.c.created_at < self.end]
        if self.department is not None:
            where.append(cases.c.department == self.department)
        return where

    def waitlist(self) -> list[sa.ColumnElement[bool]]:
        return [] if self.department is None else [waitlist.c.department == self.department]


@dataclass(frozen=True, slots=True)
class CaseCount:
    """How many cases of the window were handed off on day ``day`` (an index into the bounds
    given), of ``kind``, mobilised or not, claimed or not."""

    day: int
    kind: str
    mobilised: bool
    claimed: bool
    cases: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed case: its hand-off, its first claim, and whether its client is mobilised."""

    created_at: datetime
    claimed_at: datetime
    mobilised: bool


@dataclass(frozen=True, slots=True)
class Acceptance:
    """A visit an optician took: when the offer they accepted first was made, and when they
    accepted it."""

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


def day_of(column: sa.ColumnElement[datetime], bounds: Sequence[datetime]) -> sa.ColumnElement[int]:
    """The index of the day ``column`` falls in: 0 before ``bounds[0]``, k from ``bounds[k-1]`` to
    ``bounds[k]`` (``bounds``: the instants the second, third… day begin, ascending). A balanced tree
    of CASE expressions: about log2(days) comparisons a row, portable to both databases."""

    def between(low: int, high: int) -> sa.ColumnElement[int]:
        if low == high:
            return sa.literal_column(str(low), sa.Integer)
        middle = (low + high) // 2
        return sa.case((column < bounds[middle], between(low, middle)), else_=between(middle + 1, high))

    return between(0, len(bounds))


async def case_counts(
    connection: AsyncConnection, window: Window, bounds: Sequence[datetime]
) -> list[CaseCount]:
    """The window's cases counted in SQL by day (:func:`day_of`), kind, mobilised, claimed: at most
    days × kinds × 4 rows, however many cases."""
    grouped = (
        sa.select(
            day_of(cases.c.created_at, bounds).label("day"),
            cases.c.kind.label("kind"),
            window.is_mobilised().label("mobilised"),
            cases.c.claimed_at.is_not(None).label("claimed"),
        )
        .where(*window.cases())
        .subquery()
    )
    columns = (grouped.c.day, grouped.c.kind, grouped.c.mobilised, grouped.c.claimed)
    rows = await connection.execute(sa.select(*columns, sa.func.count()).group_by(*columns))
    return [
        CaseCount(int(day), kind, bool(mobilised), bool(claimed), int(n))
        for day, kind, mobilised, claimed, n in rows
    ]


async def claims(connection: AsyncConnection, window: Window) -> list[Claim]:
    """The window's claimed cases: the two instants and the group only (for the percentiles)."""
    rows = await connection.execute(
        sa.select(cases.c.created_at, cases.c.claimed_at, window.is_mobilised()).where(
            *window.cases(), cases.c.claimed_at.is_not(None)
        )
    )
    return [Claim(created, claimed, bool(mobilised)) for created, claimed, mobilised in rows]


# An offer an optician accepted at some point: still standing, or later reported impossible, or
# withdrawn (both rewrite its answer time, never its creation).
ONCE_ACCEPTED = ("accepted", "failed", "withdrawn")


async def acceptances(connection: AsyncConnection, window: Window) -> list[Acceptance]:
    """The window's visits an optician took, each measured from the offer to the first accept.

    The first accept is exact: the case's appointment is created in the accepting transaction, at
    its instant, and never re-created (a later optician's accept, after an impossible visit,
    updates it). The offer it answered is the case's once-accepted offer made last before that
    instant (offers of one round share their instant; a re-offer rewrites an offer's creation, so
    an offer re-made since is not mistaken for it). A visit taken without an offer (none found)
    is not measured."""
    offered = (
        sa.select(sa.func.max(dispatch_offers.c.created_at))
        .where(
            dispatch_offers.c.case_id == appointments.c.case_id,
            dispatch_offers.c.status.in_(ONCE_ACCEPTED),
            dispatch_offers.c.created_at <= appointments.c.created_at,
        )
        .scalar_subquery()
    )
    taken = (
        sa.select(offered.label("offered_at"), appointments.c.created_at.label("accepted_at"))
        .select_from(cases.join(appointments, appointments.c.case_id == cases.c.id))
        .where(*window.cases())
        .subquery()
    )
    rows = await connection.execute(
        sa.select(taken.c.offered_at, taken.c.accepted_at).where(taken.c.offered_at.is_not(None))
    )
    return [Acceptance(offered_at, accepted_at) for offered_at, accepted_at in rows]


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


async def waitlist_joins(
    connection: AsyncConnection, window: Window, bounds: Sequence[datetime]
) -> dict[int, int]:
    """How many clients still on the waitlist joined it within the window, by day (:func:`day_of`)."""
    joined = (
        sa.select(day_of(waitlist.c.created_at, bounds).label("day"))
        .where(waitlist.c.created_at >= window.start, waitlist.c.created_at < window.end, *window.waitlist())
        .subquery()
    )
    rows = await connection.execute(sa.select(joined.c.day, sa.func.count()).group_by(joined.c.day))
    return {int(day): int(n) for day, n in rows}


async def waiting_now(connection: AsyncConnection, window: Window) -> int:
    """How many clients wait on the waitlist now, not told yet (whenever they joined)."""
    count = await connection.execute(
        sa.select(sa.func.count())
        .select_from(waitlist)
        .where(waitlist.c.notified_at.is_(None), *window.waitlist())
    )
    return int(count.scalar_one())
