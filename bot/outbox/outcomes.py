"""What became of the rows a sender leased, and what to write for each: the retry policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.outbox.channel import DeliveryError
from storage.outbox import Pending, Sent, Undelivered
from storage.payloads import DeliveryNote, OutboundPayload, SendProgress

# Transient failures are retried with a doubling delay capped at five minutes: about an hour in all
# before a message is marked failed. Rate-limit answers (``retry_after``) never count towards it.
MAX_ATTEMPTS = 20


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300.0, 0.5 * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class Failure:
    """A row not delivered: its own failed send, or (``waiting``) one behind a failed earlier row."""

    row: Pending
    error: DeliveryError
    head_attempts: int  # the delay follows the first undelivered message of the recipient
    waiting: bool = False

    def undelivered(self, now: datetime) -> Undelivered:
        """What to write on the row: due again after the platform's delay or a backoff, or failed
        (a permanent refusal, or too many attempts); a row that waited is due as soon as the one
        before it is through, its lease not counted."""
        error, row = self.error, self.row
        if self.waiting:
            return Undelivered(row, error.reason, available_at=now, attempt_not_counted=True)
        payload = stored_with(row.payload, error.progress) if error.progress else None
        if error.permanent or (row.attempts >= MAX_ATTEMPTS and error.retry_after is None):
            return Undelivered(row, error.reason, failed_at=now, payload=payload)
        if error.retry_after is not None:
            due = now + timedelta(seconds=error.retry_after)
        else:
            due = now + backoff(self.head_attempts)
        return Undelivered(row, error.reason, available_at=due, payload=payload)

    @property
    def unreaches(self) -> bool:
        """Whether this failure says the recipient cannot be reached on the channel any more."""
        return self.error.unreachable and not self.waiting


@dataclass
class Outcomes:
    """Outcomes not recorded yet: rows sent, failed, and handed back (``released``: the lease is
    given up, the row was not sent; ``interrupted``: it may have been, its send did not return)."""

    sent: list[Sent] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    released: list[Pending] = field(default_factory=list)
    interrupted: list[Pending] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sent or self.failures or self.released or self.interrupted)

    def ids(self) -> set[int]:
        return {
            *(s.id for s in self.sent),
            *(f.row.id for f in self.failures),
            *(r.id for r in self.released),
            *(r.id for r in self.interrupted),
        }

    def extend(self, other: Outcomes) -> None:
        self.sent += other.sent
        self.failures += other.failures
        self.released += other.released
        self.interrupted += other.interrupted


def stored_with(payload: OutboundPayload, noted: DeliveryNote | SendProgress) -> OutboundPayload:
    """The payload to store: the row's, without the text (it has its own column), with what the
    channel noted added."""
    stored = payload.copy()
    stored.pop("text", None)
    merged: OutboundPayload = {**stored, **noted}
    return merged
