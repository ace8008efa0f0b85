"""What ``/metrics`` reads from the database at scrape time: counts and ages, never a row's content.

Each query is one aggregate over an indexed set (the outbox's partial index, the queued cases), so
a scrape costs a few small reads; ``bot/metrics.py`` caches the answer for a few seconds anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.offers import OUT_ON_A_VISIT
from storage.tables import cases, messages

QUEUED = "queued"
MOBILISED_RANK = 0  # flows.lifecycle.PRIORITY_RANK: every mobilised worker's priority ranks 0
NO_PRIORITY = "none"


@dataclass(frozen=True, slots=True)
class Backlog:
    """A channel's unsent outbound messages (due or backing off) and when the oldest was written."""

    channel: str
    messages: int
    oldest: datetime | None


@dataclass(frozen=True, slots=True)
class Gauges:
    backlog: list[Backlog] = field(default_factory=list)
    queued_by_priority: dict[str, int] = field(default_factory=dict)
    oldest_mobilised_queued: datetime | None = None
    untaken_visits: int = 0


async def read_gauges(connection: AsyncConnection) -> Gauges:
    """The outbox per channel, the queue by priority, the oldest mobilised worker still waiting in
    the queue, and the visits nobody took in time."""
    outbox = await connection.execute(
        sa.select(messages.c.channel, sa.func.count(), sa.func.min(messages.c.created_at))
        .where(
            messages.c.direction == "out",
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
        )
        .group_by(messages.c.channel)
    )
    backlog = [Backlog(channel, count, oldest) for channel, count, oldest in outbox.all()]
    queue = await connection.execute(
        sa.select(cases.c.priority, sa.func.count())
        .where(cases.c.status == QUEUED)
        .group_by(cases.c.priority)
    )
    by_priority = {priority or NO_PRIORITY: count for priority, count in queue.all()}
    oldest = await connection.scalar(
        sa.select(sa.func.min(cases.c.created_at)).where(
            cases.c.status == QUEUED, cases.c.priority_rank == MOBILISED_RANK
        )
    )
    untaken = await connection.scalar(
        sa.select(sa.func.count()).where(
            cases.c.status == OUT_ON_A_VISIT,
            cases.c.optician_id.is_(None),
            cases.c.no_taker_at.is_not(None),
        )
    )
    return Gauges(backlog, by_priority, oldest, int(untaken or 0))
