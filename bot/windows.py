"""Reply windows: how long after a client's last message a channel lets the service write freely.

WhatsApp's customer-service window is 24 hours; outside it only an approved template may go. The
channel (to choose how to send) and the console (to show the operator) both read it here, so the
console never imports a channel.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.database import Connection
from storage.inbox import last_received_at
from storage.privacy import Pseudonyms

REPLY_WINDOWS: dict[str, timedelta] = {"whatsapp": timedelta(hours=24)}


def has_window(channel: str) -> bool:
    return channel in REPLY_WINDOWS


async def closes_at(
    connection: Connection, channel: str, party: str, pseudonyms: Pseudonyms | None = None
) -> datetime | None:
    """When the window with this client closes (or closed); None if they never wrote, or if the
    channel has no window.

    Read from the inbox, which keeps when each message came even after the client's data was
    erased (the goodbye after an erasure is inside the window): an erasure replaces the rows' key
    by its keyed hash (``pseudonyms``), which is looked up too."""
    window = REPLY_WINDOWS.get(channel)
    if window is None:
        return None
    key = f"{channel}:{party}"
    last = await last_received_at(connection, [key] if pseudonyms is None else [key, pseudonyms.of(key)])
    return None if last is None else last + window


def is_open(closes: datetime | None, now: datetime) -> bool:
    return closes is not None and now < closes
