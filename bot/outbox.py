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
from storage.conversations import set_reachable
from storage.tables import messages

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
# Transient failures are retried with a doubling delay capped at five minutes: about an hour in all
# before a message is marked failed. Rate-limit answers (``retry_after``) never count towards it.
MAX_ATTEMPTS = 20
# Rows leased per recipient at a time: what a paced channel sends well within one lease.
PER_RECIPIENT = 10
_LEASE_LOCK = 0x6F7574626F78  # "outbox": serialises leasing between processes on PostgreSQL


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
        progress: dict[str, Any] | None = None,
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
    note: dict[str, Any]


class Channel(Protocol):
    """What the outbox needs of a channel: deliver one message to one recipient."""

    name: str

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> str | Delivered | None:
        """Send; returns the platform's id of the message (to edit it later), if it has one."""
        ...


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    channel: str
    recipient: str
    payload: dict[str, Any]
    attempts: int


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300.0, 0.5 * 2 ** max(0, attempts - 1)))


# The row's id, the platform's id of the message, the payload to store (if the channel noted something).
_Sent = tuple[int, str | None, dict[str, Any] | None]
_Outcome = tuple[list[_Sent], list["_Failure"]]


class OutboxSender:
    """Sends committed replies through their channel; woken by the engine after each commit.

    :meth:`run` keeps one delivery task per recipient, so a slow chat (paced, backing off, or a
    hung request) never holds up the others; at most ``batch_size`` rows are in flight, which a
    paced channel sends well within the lease. :meth:`flush` delivers what is due and waits.
    """

    def __init__(
        self,
        database: AsyncEngine,
        channels: Sequence[Channel],
        clock: Callable[[], datetime],
        *,
        batch_size: int = 200,
        per_recipient: int = PER_RECIPIENT,
        poll_interval: float = 1.0,
    ) -> None:
        self.database = database
        self.channels = {c.name: c for c in channels}
        self.clock = clock
        self.batch_size = batch_size
        self.per_recipient = per_recipient
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._busy: set[tuple[str, str]] = set()  # recipients with a delivery task running
        self._finished: list[_Outcome] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Callable[[], None]] = []

    def on_record(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` once deliveries are recorded (sent or failed): live views show it."""
        self._listeners.append(listener)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever: record finished deliveries, start new ones, then sleep until woken."""
        try:
            while True:
                try:
                    await self._round()
                except Exception as error:
                    log.error("outbox delivery round failed: %s", describe(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                self._wake.clear()
        finally:
            await self._shut_down()

    async def _round(self) -> None:
        await self._record_finished()
        room = self.batch_size - len(self._in_flight)
        if room <= 0:
            return
        rows = await self._lease(None, room)
        for key, queue in _by_recipient(rows).items():
            self._in_flight.update(r.id for r in queue)
            self._busy.add(key)
            task = asyncio.create_task(self._deliver_task(key, queue), name="optibot-deliver")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _record_finished(self) -> None:
        finished, self._finished = self._finished, []
        if not finished:
            return
        try:
            await self._record([i for f in finished for i in f[0]], [x for f in finished for x in f[1]])
        except BaseException:
            self._finished[:0] = finished  # recorded next round; the rows stay leased meanwhile
            raise
        for sent, failures in finished:
            self._in_flight.difference_update((s[0] for s in sent), (f.row.id for f in failures))

    async def _deliver_task(self, key: tuple[str, str], queue: list[Pending]) -> None:
        sent: list[_Sent] = []
        try:
            outcome = await self._deliver_in_order(queue, sent)
        except asyncio.CancelledError:
            self._finished.append((sent, []))  # what went out is recorded at shutdown
            raise
        else:
            self._finished.append(outcome)  # the list now, not the one when the delivery began
        finally:
            self._busy.discard(key)
            self._wake.set()

    async def _shut_down(self) -> None:
        """Stop delivering; record what was sent and hand back the rest of the leases, so that a
        restart neither repeats a sent message nor waits for a lease to run out."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            async with asyncio.timeout(5):
                await self._record_finished()
                unsent = list(self._in_flight)
                if unsent:
                    async with self.database.begin() as connection:
                        await connection.execute(
                            sa.update(messages)
                            .where(messages.c.id.in_(unsent), messages.c.sent_at.is_(None))
                            .values(available_at=self.clock(), attempts=messages.c.attempts - 1)
                        )
                self._in_flight.clear()
        except Exception as error:  # the leases run out instead: sent rows may go out again
            log.warning("outbox: deliveries not recorded at shutdown: %s", describe(error))

    async def flush(self, recipient: str | None = None) -> int:
        """Deliver due rows of this sender's channels (of one recipient if given); returns count."""
        rows = await self._lease(recipient, self.batch_size)
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._deliver_in_order(q) for q in _by_recipient(rows).values()))
        await self._record([i for o in outcomes for i in o[0]], [f for o in outcomes for f in o[1]])
        return len(rows)

    async def _lease(self, recipient: str | None, limit: int) -> list[Pending]:
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
        conditions = [
            messages.c.direction == "out",
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
            messages.c.available_at <= now,
            messages.c.channel.in_(list(self.channels)),
            ~waiting_before,
        ]
        if recipient is not None:
            conditions.append(messages.c.party == recipient)
        if self._in_flight:  # this process's own deliveries, even if their lease ran out
            conditions.append(messages.c.id.not_in(list(self._in_flight)))
        if self._busy:  # one task per recipient: a recipient's messages go out one at a time
            conditions.append(sa.tuple_(messages.c.channel, messages.c.party).not_in(list(self._busy)))
        ranked = (
            sa.select(
                messages.c.id,
                sa.func.row_number()
                .over(partition_by=(messages.c.channel, messages.c.party), order_by=messages.c.id)
                .label("n"),
            )
            .where(*conditions)
            .subquery()
        )
        due = (
            sa.select(ranked.c.id).where(ranked.c.n <= self.per_recipient).order_by(ranked.c.id).limit(limit)
        )
        async with self.database.begin() as connection:
            if connection.dialect.name == "postgresql":
                # One leaser at a time: the next one sees this lease, so no two processes can
                # take the same recipient's messages and send them out of order.
                await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_LEASE_LOCK)))
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

    async def _deliver_in_order(self, queue: list[Pending], sent: list[_Sent] | None = None) -> _Outcome:
        sent = [] if sent is None else sent
        for index, row in enumerate(queue):
            try:
                external = await self.channels[row.channel].deliver(row.recipient, row.payload)
            except Exception as caught:
                if isinstance(caught, DeliveryError):
                    error = caught
                else:
                    log.error("channel %s failed to deliver: %s", row.channel, describe(caught))
                    error = DeliveryError(type(caught).__name__)
                # Later messages to this recipient wait behind this one: order matters in a chat.
                later = [_Failure(r, error, row.attempts, waiting=True) for r in queue[index + 1 :]]
                return sent, [_Failure(row, error, row.attempts), *later]
            if isinstance(external, Delivered):
                stored = {k: v for k, v in row.payload.items() if k != "text"}
                sent.append((row.id, external.external_id, {**stored, **external.note}))
            else:
                sent.append((row.id, external, None))
        return sent, []

    async def _record(self, sent: list[_Sent], failures: list[_Failure]) -> None:
        if not sent and not failures:
            return
        now = self.clock()
        async with self.database.begin() as connection:
            plain = [i for i, external, note in sent if external is None and note is None]
            if plain:
                await connection.execute(
                    sa.update(messages).where(messages.c.id.in_(plain)).values(sent_at=now)
                )
            identified = [
                {"b_id": i, "b_external": e} for i, e, note in sent if e is not None and note is None
            ]
            if identified:
                await connection.execute(
                    sa.update(messages)
                    .where(messages.c.id == sa.bindparam("b_id"))
                    .values(sent_at=now, external_id=sa.bindparam("b_external")),
                    identified,
                )
            for i, external, note in sent:
                if note is not None:
                    await connection.execute(
                        sa.update(messages)
                        .where(messages.c.id == i)
                        .values(sent_at=now, external_id=external, payload=note)
                    )
            for failure in failures:
                error, row = failure.error, failure.row
                values: dict[str, Any] = {"last_error": error.reason[:255]}
                if failure.waiting:
                    values["attempts"] = messages.c.attempts - 1
                    values["available_at"] = now  # due again as soon as the one before it is through
                elif error.permanent or (row.attempts >= MAX_ATTEMPTS and error.retry_after is None):
                    values["failed_at"] = now
                elif error.retry_after is not None:
                    values["available_at"] = now + timedelta(seconds=error.retry_after)
                else:
                    values["available_at"] = now + backoff(failure.head_attempts)
                if error.progress and not failure.waiting:
                    stored = {k: v for k, v in row.payload.items() if k != "text"}
                    values["payload"] = {**stored, **error.progress}
                await connection.execute(sa.update(messages).where(messages.c.id == row.id).values(**values))
                if error.unreachable and not failure.waiting:
                    await set_reachable(connection, row.channel, row.recipient, reachable=False)
        for listener in self._listeners:
            listener()


def _by_recipient(rows: list[Pending]) -> dict[tuple[str, str], list[Pending]]:
    grouped: dict[tuple[str, str], list[Pending]] = defaultdict(list)
    for row in rows:
        grouped[(row.channel, row.recipient)].append(row)
    return grouped


@dataclass(frozen=True, slots=True)
class _Failure:
    row: Pending
    error: DeliveryError
    head_attempts: int  # the delay follows the first undelivered message of the recipient
    waiting: bool = False
