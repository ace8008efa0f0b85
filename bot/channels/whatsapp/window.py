"""WhatsApp's 24-hour customer-service window: free-form messages only within 24 hours of the
client's last message; outside it, only an approved template."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import messages

WINDOW = timedelta(hours=24)


async def closes_at(connection: AsyncConnection, party: str) -> datetime | None:
    """When the window with this WhatsApp client closes (or closed); None if they never wrote."""
    last = await connection.scalar(
        sa.select(messages.c.created_at)
        .where(messages.c.channel == "whatsapp", messages.c.party == party, messages.c.direction == "in")
        .order_by(messages.c.id.desc())
        .limit(1)
    )
    return None if last is None else last + WINDOW


def is_open(closes: datetime | None, now: datetime) -> bool:
    return closes is not None and now < closes
