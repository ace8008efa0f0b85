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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.logs import describe
from storage.conversations import set_reachable
from storage.tables import messages

log = logging.getLogger(__name__)

# A lease is short and renewed while the row is being sent (every third of it): a process that
# dies leaves its rows to the others within seconds, and a live one never loses a row it sends.
LEASE = timedelta(seconds=10)
# Transient failures are retried with a doubling delay capped at five minutes: about an hour in all
# before a message is marked failed. Rate-limit answers (``retry_after``) never count towards it.
MAX_ATTEMPTS = 20
# Rows leased per recipient at a time (renewed while they wait for the channel's pace).
PER_RECIPIENT = 10
# How far back a recipient's sends are told to its channel when its rows are leased: longer than
# any channel's window per recipient (Telegram's chat: about 3 s; WhatsApp's pair: 6 s).
RECENT = timedelta(seconds=10)
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


class PacedChannel(Channel, Protocol):
    """A channel pacing its sends per recipient may also have this (optional): the outbox tells it,
    when it leases a recipient's rows, of that recipient's sends recorded lately by any process
    (``ages``: seconds ago), so that a recipient moving between processes is paced as one."""

    def recently_sent(self, recipient: str, ages: Sequence[float]) -> None: ...


@dataclass(frozen=True, slots=True)
class Pending:
    """A leased row. ``attempts`` (counting this lease) identifies the lease: a row leased again
    by another process has more. ``last_error``: the row's error before the lease cleared it."""

    id: int
    channel: str
    recipient: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None = None


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300.0, 0.5 * 2 ** max(0, attempts - 1)))


# The row's id, the platform's id of the message, the payload to store (if the channel noted something).
_Sent = tuple[int, str | None, dict[str, Any] | None]


@dataclass
class _Results:
    """Outcomes not recorded yet: rows sent, failed, and handed back (``released``: the lease is
    given up, the row was not sent; ``interrupted``: it may have been, its send did not return)."""

    sent: list[_Sent] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    released: list[Pending] = field(default_factory=list)
    interrupted: list[Pending] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sent or self.failures or self.released or self.interrupted)

    def ids(self) -> set[int]:
        return {
            *(s[0] for s in self.sent),
            *(f.row.id for f in self.failures),
            *(r.id for r in self.released),
            *(r.id for r in self.interrupted),
        }

    def extend(self, other: _Results) -> None:
        self.sent += other.sent
        self.failures += other.failures
        self.released += other.released
        self.interrupted += other.interrupted


class OutboxSender:
    """Sends committed replies through their channel; woken by the engine after each commit.

    :meth:`run` keeps one delivery task per recipient, so a slow chat (paced, backing off, or a
    hung request) never holds up the others; at most ``batch_size`` rows are held at a time. Each
    row is recorded as soon as it is sent (one commit serves the rows sent meanwhile), and the
    leases of the rows held are renewed every ``renew_every`` until then. :meth:`flush` delivers
    what is due and waits (tests, the terminal).
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
        lease: timedelta = LEASE,
        renew_every: timedelta | None = None,
    ) -> None:
        self.database = database
        self.channels = {c.name: c for c in channels}
        self.clock = clock
        self.batch_size = batch_size
        self.per_recipient = per_recipient
        self.poll_interval = poll_interval
        self.lease = lease
        self.renew_every = renew_every if renew_every is not None else lease / 3
        # Rows leased earlier whose lease ran out unrecorded (their sender died or lost the
        # database while sending): each may have gone out twice. Shown by /healthz.
        self.maybe_duplicates = 0
        self._wake = asyncio.Event()
        self._held: dict[int, Pending] = {}  # rows leased by this process and not recorded yet
        self._held_until: dict[int, datetime] = {}  # their leases, as last written
        self._busy: set[tuple[str, str]] = set()  # recipients with a delivery task running
        self._results = _Results()  # outcomes to record
        self._noted = asyncio.Event()  # something to record
        self._writing = asyncio.Lock()  # records and renewals: one at a time, held rows consistent
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Callable[[], None]] = []

    def on_record(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` once deliveries are recorded (sent or failed): live views show it."""
        self._listeners.append(listener)

    def wake(self) -> None:
        self._wake.set()

    @property
    def held(self) -> int:
        """Rows this process has leased and not recorded yet (0: it is idle)."""
        return len(self._held) + len(self._tasks)

    async def run(self) -> None:
        """Forever: record finished deliveries, start new ones, then sleep until woken; meanwhile
        record each send as it returns and renew the leases of the rows held."""
        helpers = [
            asyncio.create_task(self._recorder(), name="optibot-outbox-record"),
            asyncio.create_task(self._heartbeat(), name="optibot-outbox-renew"),
        ]
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
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._shut_down()

    async def _round(self) -> None:
        await self._record_noted()
        room = self.batch_size - len(self._held)
        if room <= 0:
            return
        until = self.clock() + self.lease  # at the latest what the lease wrote
        rows = await self._lease(None, room)
        for row in rows:
            self._held[row.id] = row
            self._held_until[row.id] = until
        for key, queue in _by_recipient(rows).items():
            self._busy.add(key)
            task = asyncio.create_task(self._deliver_task(key, queue), name="optibot-deliver")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver_task(self, key: tuple[str, str], queue: list[Pending]) -> None:
        try:
            await self._deliver_in_order(queue, self._note, self._holds)
        finally:
            self._busy.discard(key)
            self._wake.set()

    def _note(self, results: _Results) -> None:
        self._results.extend(results)
        self._noted.set()

    def _holds(self, row: Pending) -> bool:
        """Whether this process may still send ``row``: its lease is ours and has time left."""
        until = self._held_until.get(row.id)
        return until is not None and until - self.clock() > self.lease / 5

    async def _recorder(self) -> None:
        """Forever: record what was sent (or failed) as soon as it is, in one commit for all the
        rows that returned meanwhile."""
        while True:
            await self._noted.wait()
            self._noted.clear()
            try:
                await self._record_noted()
            except Exception as error:  # kept, recorded on the next try; the leases are renewed
                log.error("outbox: deliveries not recorded yet: %s", describe(error))
                await asyncio.sleep(min(1.0, self.renew_every.total_seconds()))
                self._noted.set()

    async def _record_noted(self) -> None:
        async with self._writing:
            results, self._results = self._results, _Results()
            if not results:
                return
            try:
                await self._record(results)
            except BaseException:
                results.extend(self._results)
                self._results = results
                raise
            for row_id in results.ids():
                self._held.pop(row_id, None)
                self._held_until.pop(row_id, None)
        if results.failures or results.released or results.interrupted:
            self._wake.set()  # the recipient's next rows may be due now

    async def _heartbeat(self) -> None:
        """Forever: keep the leases of the rows held from running out while they are sent."""
        while True:
            await asyncio.sleep(self.renew_every.total_seconds())
            try:
                await self._renew()
            except Exception as error:  # the rows are not sent once their lease is too short
                log.warning("outbox: leases not renewed: %s", describe(error))

    async def _renew(self) -> None:
        async with self._writing:
            held = [(row.id, row.attempts) for row in self._held.values()]
            if not held:
                return
            until = self.clock() + self.lease
            async with self.database.begin() as connection:
                result = await connection.execute(
                    sa.update(messages)
                    .where(
                        sa.tuple_(messages.c.id, messages.c.attempts).in_(held),
                        messages.c.sent_at.is_(None),
                        messages.c.failed_at.is_(None),
                    )
                    .values(available_at=until)
                    .returning(messages.c.id)
                )
                renewed = set(result.scalars())
            for row_id, _ in held:
                if row_id in renewed:
                    self._held_until[row_id] = until
                elif self._held_until.pop(row_id, None) is not None:  # leased by another now
                    log.warning("outbox: lease of message %d lost while sending", row_id)

    async def _shut_down(self) -> None:
        """Stop delivering; record what was sent and hand back the rest of the leases, so that a
        restart neither repeats a sent message nor waits for a lease to run out."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            async with asyncio.timeout(5):
                await self._record_noted()
                self._note(_Results(released=list(self._held.values())))  # those never tried
                await self._record_noted()
        except Exception as error:  # the leases run out instead: sent rows may go out again
            log.warning("outbox: deliveries not recorded at shutdown: %s", describe(error))
        self._held.clear()
        self._held_until.clear()

    async def flush(self, recipient: str | None = None) -> int:
        """Deliver due rows of this sender's channels (of one recipient if given); returns count."""
        rows = await self._lease(recipient, self.batch_size)
        if not rows:
            return 0
        results = _Results()
        await asyncio.gather(
            *(self._deliver_in_order(q, results.extend) for q in _by_recipient(rows).values())
        )
        await self._record(results)
        return len(rows)

    async def _lease(self, recipient: str | None, limit: int) -> list[Pending]:
        now = self.clock()
        other = messages.alias("other")
        # A recipient with a message held (leased by a process, or backing off) gets nothing more
        # until it is through: one process at a time sends to a recipient, in order. A set, not a
        # correlated subquery: PostgreSQL hashes it, whatever its statistics say after a burst.
        held = sa.select(other.c.channel, other.c.party).where(
            other.c.direction == "out",
            other.c.sent_at.is_(None),
            other.c.failed_at.is_(None),
            other.c.available_at > now,
        )
        conditions = [
            messages.c.direction == "out",
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
            messages.c.available_at <= now,
            messages.c.channel.in_(list(self.channels)),
            sa.tuple_(messages.c.channel, messages.c.party).not_in(held),
        ]
        if recipient is not None:
            conditions.append(messages.c.party == recipient)
        if self._held:  # this process's own deliveries, even if their lease ran out
            conditions.append(messages.c.id.not_in(list(self._held)))
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
                .values(available_at=now + self.lease, attempts=messages.c.attempts + 1)
                .returning(
                    messages.c.id,
                    messages.c.channel,
                    messages.c.party,
                    messages.c.text,
                    messages.c.payload,
                    messages.c.attempts,
                    messages.c.last_error,
                )
            )
            rows = [
                Pending(
                    r.id, r.channel, r.party, {**(r.payload or {}), "text": r.text}, r.attempts, r.last_error
                )
                for r in result
            ]
            # The lease clears the error: a row leased again with none, after an earlier lease,
            # was neither recorded nor handed back (its sender died, or lost the database).
            errors = [r.id for r in rows if r.last_error is not None]
            if errors:
                await connection.execute(
                    sa.update(messages).where(messages.c.id.in_(errors)).values(last_error=None)
                )
            recent = await self._recent_sends(connection, rows, now)
        self._tell_recent(recent, now)
        for row in rows:
            if row.attempts > 1 and row.last_error is None:
                self.maybe_duplicates += 1
                log.warning(
                    "outbox: message %d may be sent twice: an earlier lease on it (attempt %d) ran out "
                    "unrecorded",
                    row.id,
                    row.attempts - 1,
                )
        return sorted(rows, key=lambda r: r.id)

    async def _recent_sends(
        self, connection: AsyncConnection, rows: list[Pending], now: datetime
    ) -> list[tuple[str, str, datetime]]:
        """The sends lately recorded (by any process) to the leased rows' recipients whose channel
        paces them: one query for all of them."""
        paced = {
            (r.channel, r.recipient)
            for r in rows
            if getattr(self.channels[r.channel], "recently_sent", None) is not None
        }
        if not paced:
            return []
        result = await connection.execute(
            sa.select(messages.c.channel, messages.c.party, messages.c.sent_at).where(
                sa.tuple_(messages.c.channel, messages.c.party).in_(list(paced)),
                messages.c.direction == "out",
                messages.c.sent_at > now - RECENT,
            )
        )
        return [(r.channel, r.party, r.sent_at) for r in result]

    def _tell_recent(self, recent: list[tuple[str, str, datetime]], now: datetime) -> None:
        ages: dict[tuple[str, str], list[float]] = defaultdict(list)
        for channel, party, sent_at in recent:
            ages[(channel, party)].append((now - sent_at).total_seconds())
        for (channel, party), seconds in ages.items():
            paced = cast(PacedChannel, self.channels[channel])
            paced.recently_sent(party, seconds)

    async def _deliver_in_order(
        self,
        queue: list[Pending],
        note: Callable[[_Results], None],
        holds: Callable[[Pending], bool] = lambda row: True,
    ) -> None:
        """Send a recipient's rows one after the other, noting each outcome as soon as it is
        known; stop at a failure (the later ones wait behind it) or at a lease no longer held."""
        for index, row in enumerate(queue):
            if not holds(row):  # another process may have it now: this one must not send it
                log.warning("outbox: lease of message %d lost or running out: handed back unsent", row.id)
                note(_Results(released=queue[index:]))
                return
            try:
                external = await self.channels[row.channel].deliver(row.recipient, row.payload)
            except asyncio.CancelledError:  # shutting down: it may have gone out or not
                note(_Results(interrupted=[row]))
                raise
            except Exception as caught:
                if isinstance(caught, DeliveryError):
                    error = caught
                else:
                    log.error("channel %s failed to deliver: %s", row.channel, describe(caught))
                    error = DeliveryError(type(caught).__name__)
                # Later messages to this recipient wait behind this one: order matters in a chat.
                later = [_Failure(r, error, row.attempts, waiting=True) for r in queue[index + 1 :]]
                note(_Results(failures=[_Failure(row, error, row.attempts), *later]))
                return
            if isinstance(external, Delivered):
                stored = {k: v for k, v in row.payload.items() if k != "text"}
                note(_Results(sent=[(row.id, external.external_id, {**stored, **external.note})]))
            else:
                note(_Results(sent=[(row.id, external, None)]))

    async def _record(self, results: _Results) -> None:
        if not results:
            return
        sent, failures = results.sent, results.failures
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
                await connection.execute(sa.update(messages).where(*_still_leased(row)).values(**values))
                if error.unreachable and not failure.waiting:
                    await set_reachable(connection, row.channel, row.recipient, reachable=False)
            # Handed back unsent: due now, as if this lease had not been (its error back too).
            for row in results.released:
                await connection.execute(
                    sa.update(messages)
                    .where(*_still_leased(row))
                    .values(available_at=now, attempts=messages.c.attempts - 1, last_error=row.last_error)
                )
            # Its send did not return: due now, and counted when leased again (no error, attempts kept).
            for row in results.interrupted:
                await connection.execute(
                    sa.update(messages).where(*_still_leased(row)).values(available_at=now)
                )
        for listener in self._listeners:
            listener()


def _still_leased(row: Pending) -> list[sa.ColumnElement[bool]]:
    """The row, if this lease on it is still the last one and it is neither sent nor failed."""
    return [
        messages.c.id == row.id,
        messages.c.attempts == row.attempts,
        messages.c.sent_at.is_(None),
        messages.c.failed_at.is_(None),
    ]


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
