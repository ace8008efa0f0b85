"""The inbox as other features read it: when a client last wrote (the inbox keeps when each
message came, even after the client's data was erased: then under the key's keyed hash)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import inbox


async def last_received_at(connection: AsyncConnection, identity_keys: Sequence[str]) -> datetime | None:
    """When the newest message of any of these identity keys came; None if none did."""
    found: datetime | None = await connection.scalar(
        sa.select(inbox.c.received_at)
        .where(inbox.c.identity_key.in_(list(identity_keys)))
        .order_by(inbox.c.id.desc())
        .limit(1)
    )
    return found
