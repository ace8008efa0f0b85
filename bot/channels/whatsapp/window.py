"""WhatsApp's 24-hour customer-service window: free-form messages only within 24 hours of the
client's last message; outside it, only an approved template."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.privacy import Pseudonyms
from storage.tables import inbox

WINDOW = timedelta(hours=24)


async def closes_at(
    connection: AsyncConnection, party: str, pseudonyms: Pseudonyms | None = None
) -> datetime | None:
    """When the window with this WhatsApp client closes (or closed); None if they never wrote.

    Read from the inbox, which keeps when each message came even after the client's data was
    erased (the goodbye after an erasure is inside the window): an erasure replaces the rows' key
    by its keyed hash (``pseudonyms``), which is looked up too."""
    key = f"whatsapp:{party}"
    keys = [key] if pseudonyms is None else [key, pseudonyms.of(key)]
    last = await connection.scalar(
        sa.select(inbox.c.received_at)
        .where(inbox.c.identity_key.in_(keys))
        .order_by(inbox.c.id.desc())
        .limit(1)
    )
    return None if last is None else last + WINDOW


def is_open(closes: datetime | None, now: datetime) -> bool:
    return closes is not None and now < closes
