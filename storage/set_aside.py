"""What was set aside: webhooks and messages no database will ever take, counted, never kept.

A platform re-delivers a webhook until it gets a 200. One that cannot be stored for a reason that
will not change (the database refuses its data, it fails validation) is answered 200 and recorded
here instead, by its channel, kind, reason (an error's kind) and a digest of the raw body: enough to
count them on the console and find the webhook in the platform's logs, and no personal data.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import set_aside


async def record(
    connection: AsyncConnection,
    *,
    channel: str,
    kind: str,
    reason: str,
    digest: str,
    size: int,
    now: datetime,
) -> None:
    """Record one webhook (or message, status, update) set aside."""
    await connection.execute(
        sa.insert(set_aside).values(
            channel=channel[:16],
            kind=kind[:16],
            reason=reason[:64],
            digest=digest[:64],
            size=size,
            received_at=now,
        )
    )


async def count_since(connection: AsyncConnection, since: datetime) -> int:
    """How many were set aside from ``since`` on."""
    found = await connection.scalar(
        sa.select(sa.func.count()).select_from(set_aside).where(set_aside.c.received_at >= since)
    )
    return int(found or 0)


async def purge_before(connection: AsyncConnection, before: datetime) -> int:
    """Forget what was set aside before ``before`` (retention); how many rows went."""
    result = await connection.execute(sa.delete(set_aside).where(set_aside.c.received_at < before))
    return int(result.rowcount or 0)
