"""Delivering the outbox: at-least-once, in order per recipient, with retries and backoff.

The outbox is the outbound rows of the ``messages`` table not yet sent: a reply is written once, in
the same transaction as the state that produced it, and its delivery status is kept on it.

Rows are *leased* (``available_at`` moved a short lease ahead, ``attempts`` counted) under a
PostgreSQL advisory lock, so several processes share the work. A process renews the leases of the
rows it is sending every few seconds, and records each row sent as soon as its channel returns:
another process never takes a row that is still being sent, nor one that went out. A recipient's
rows are leased by one process at a time and sent one after the other, so a chat reads in order
across processes and restarts. A process that dies leaves leases that run out within seconds; the
rows it had sent but not recorded yet go out again: such a row is counted and logged when it is
leased again (``maybe_duplicates``), the only way a reply can be sent twice.

``channel``: the contract with the channels; ``outcomes``: what became of each row and the retry
policy; ``sender``: :class:`OutboxSender`; the queries are :mod:`storage.outbox`'s.
"""

from bot.outbox.channel import Channel, Delivered, DeliveryError, PacedChannel
from bot.outbox.outcomes import MAX_ATTEMPTS, backoff
from bot.outbox.sender import LEASE, PER_RECIPIENT, RECENT, OutboxSender
from storage.outbox import Pending

__all__ = [
    "LEASE",
    "MAX_ATTEMPTS",
    "PER_RECIPIENT",
    "RECENT",
    "Channel",
    "Delivered",
    "DeliveryError",
    "OutboxSender",
    "PacedChannel",
    "Pending",
    "backoff",
]
