"""Delivering the outbox: at-least-once, in order per recipient, with retries and backoff.

The outbox is the outbound rows of the ``messages`` table not yet sent: a reply is written once, in
the same transaction as the state that produced it, and its delivery status is kept on it.

Rows are *leased* with one UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several processes
share the work); a process that dies while delivering leaves a lease that expires, and the row is
sent again: the repeat window is one lease, and ``attempts`` counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.logs import describe
from storage.tables import messages

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
MAX_ATTEMPTS = 8


class DeliveryError(Exception):
    """The channel could not deliver now; ``permanent`` means it never will (blocked, invalid)."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class Channel(Protocol):
    """What the outbox needs of a channel: deliver one message to one recipient."""

    name: str

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    channel: str
    recipient: str
    payload: dict[str, Any]
    attempts: int


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300.0, 0.5 * 2 ** max(0, attempts - 1)))


class OutboxSender:
    """Sends committed replies through their channel; woken by the engine after each commit."""

    def __init__(
        self,
        database: AsyncEngine,
        channels: Sequence[Channel],
        clock: Callable[[], datetime],
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
    ) -> None:
        self.database = database
        self.channels = {c.name: c for c in channels}
        self.clock = clock
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever: deliver what is due, then sleep until woken or the poll interval passes."""
        while True:
            try:
                while await self.flush():
                    pass
            except Exception as error:
                log.error("outbox delivery round failed: %s", describe(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()

    async def flush(self, recipient: str | None = None) -> int:
        """Deliver due rows of this sender's channels (of one recipient if given); returns count."""
        rows = await self._lease(recipient)
        if not rows:
            return 0
        by_recipient: dict[tuple[str, str], list[Pending]] = defaultdict(list)
        for row in rows:
            by_recipient[(row.channel, row.recipient)].append(row)
        outcomes = await asyncio.gather(*(self._deliver_in_order(q) for q in by_recipient.values()))
        sent = [i for ids in outcomes for i in ids[0]]
        failures = [f for ids in outcomes for f in ids[1]]
        await self._record(sent, failures)
        self.sent += len(sent)
        return len(rows)

    async def _lease(self, recipient: str | None) -> list[Pending]:
        now = self.clock()
        earlier = messages.alias("earlier")
        # A recipient whose earlier message waits (backing off, or leased by another process) gets
        # nothing newer until it is through: a chat reads in order.
        waiting_before = (
            sa.select(earlier.c.id)
            .where(
                earlier.c.channel == messages.c.channel,
                earlier.c.party == messages.c.party,
                earlier.c.direction == "out",
                earlier.c.sent_at.is_(None),
                earlier.c.failed_at.is_(None),
                earlier.c.id < messages.c.id,
                earlier.c.available_at > now,
            )
            .exists()
        )
        due = (
            sa.select(messages.c.id)
            .where(
                messages.c.direction == "out",
                messages.c.sent_at.is_(None),
                messages.c.failed_at.is_(None),
                messages.c.available_at <= now,
                messages.c.channel.in_(list(self.channels)),
                ~waiting_before,
            )
            .order_by(messages.c.id)
            .limit(self.batch_size)
        )
        if recipient is not None:
            due = due.where(messages.c.party == recipient)
        async with self.database.begin() as connection:
            if connection.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            result = await connection.execute(
                sa.update(messages)
                .where(messages.c.id.in_(due.scalar_subquery()))
                .values(available_at=now + LEASE, attempts=messages.c.attempts + 1)
                .returning(
                    messages.c.id,
                    messages.c.channel,
                    messages.c.party,
                    messages.c.text,
                    messages.c.payload,
                    messages.c.attempts,
                )
            )
            rows = [
                Pending(r.id, r.channel, r.party, {**(r.payload or {}), "text": r.text}, r.attempts)
                for r in result
            ]
        return sorted(rows, key=lambda r: r.id)

    async def _deliver_in_order(self, queue: list[Pending]) -> tuple[list[int], list[_Failure]]:
        sent: list[int] = []
        for index, row in enumerate(queue):
            try:
                await self.channels[row.channel].deliver(row.recipient, row.payload)
            except Exception as caught:
                if isinstance(caught, DeliveryError):
                    error = caught
                else:
                    log.error("channel %s failed to deliver: %s", row.channel, describe(caught))
                    error = DeliveryError(type(caught).__name__)
                # Later messages to this recipient wait behind this one: order matters in a chat.
                later = [_Failure(r, error, row.attempts, waiting=True) for r in queue[index + 1 :]]
                return sent, [_Failure(row, error, row.attempts), *later]
            sent.append(row.id)
        return sent, []

    async def _record(self, sent: list[int], failures: list[_Failure]) -> None:
        now = self.clock()
        async with self.database.begin() as connection:
            if sent:
                await connection.execute(
                    sa.update(messages).where(messages.c.id.in_(sent)).values(sent_at=now)
                )
            for failure in failures:
                error, row = failure.error, failure.row
                values: dict[str, Any] = {"last_error": error.reason[:255]}
                if failure.waiting:
                    values["attempts"] = messages.c.attempts - 1
                if error.permanent or (row.attempts >= MAX_ATTEMPTS and not failure.waiting):
                    values["failed_at"] = now
                elif error.retry_after is not None:
                    values["available_at"] = now + timedelta(seconds=error.retry_after)
                else:
                    values["available_at"] = now + backoff(failure.head_attempts)
                await connection.execute(sa.update(messages).where(messages.c.id == row.id).values(**values))


@dataclass(frozen=True, slots=True)
class _Failure:
    row: Pending
    error: DeliveryError
    head_attempts: int  # the delay follows the first undelivered message of the recipient
    waiting: bool = False
