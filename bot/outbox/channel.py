"""What the outbox asks of a channel, and what a channel answers: the delivery contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.payloads import DeliveryNote, OutboundPayload, SendProgress


class DeliveryError(Exception):
    """The channel could not deliver now.

    ``permanent``: it never will (blocked, invalid); ``unreachable``: the recipient cannot be
    reached on this channel any more (they blocked the bot), which operators must see;
    ``retry_after``: the platform's own delay; ``progress``: payload fields to keep for the retry
    (the parts of a long text already sent, so that they are not sent twice).
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        unreachable: bool = False,
        progress: SendProgress | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.unreachable = unreachable
        self.progress = progress


@dataclass(frozen=True, slots=True)
class Delivered:
    """What a channel may return for a sent message: the platform's id, and payload fields to keep
    on the message about how it went out (WhatsApp: as a template, outside the 24-hour window)."""

    external_id: str | None
    note: DeliveryNote


class Channel(Protocol):
    """What the outbox needs of a channel: deliver one message to one recipient."""

    name: str

    async def deliver(self, recipient: str, payload: OutboundPayload) -> str | Delivered | None:
        """Send; returns the platform's id of the message (to edit it later), if it has one."""
        ...


class PacedChannel(Channel, Protocol):
    """A channel pacing its sends per recipient may also have this (optional): the outbox tells it,
    when it leases a recipient's rows, of that recipient's sends recorded lately by any process
    (``ages``: seconds ago), so that a recipient moving between processes is paced as one."""

    def recently_sent(self, recipient: str, ages: Sequence[float]) -> None: ...
