"""The outbox sender: leases due rows, sends each recipient's in order, records every outcome."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import cast

from bot.logs import describe
from bot.metrics import Metrics
from bot.outbox.channel import Channel, Delivered, DeliveryError, PacedChannel
from bot.outbox.outcomes import Failure, Outcomes, stored_with
from bot.signals import wait_set
from storage.conversations import set_reachable
from storage.database import Database
from storage.outbox import (
    Pending,
    RecentSend,
    Sent,
    hand_back,
    lease_due,
    leave_due,
    recent_sends,
    record_sent,
    record_undelivered,
    renew_leases,
)

log = logging.getLogger("bot.outbox")  # the package's name, as the logs have always said it

# A lease is short and renewed while the row is being sent (every third of it): a process that
# dies leaves its rows to the others within seconds, and a live one never loses a row it sends.
LEASE = timedelta(seconds=10)
# Rows leased per recipient at a time (renewed while they wait for the channel's pace).
PER_RECIPIENT = 10
# How far back a recipient's sends are told to its channel when its rows are leased: longer than
# any channel's window per recipient (Telegram's chat: about 3 s; WhatsApp's pair: 6 s).
RECENT = timedelta(seconds=10)


class OutboxSender:
    """Sends committed replies through their channel; woken by the engine after each commit.

    :meth:`run` keeps one delivery task per recipient, so a slow chat (paced, backing off, or a
    hung request) never holds up the others; at most ``batch_size`` rows are held at a time. Each
    row is recorded as soon as it is sent (one commit serves the rows sent meanwhile), and the
    leases of the rows held are renewed every ``renew_every`` until then. :meth:`flush` delivers
    what is due and waits (tests, the terminal). ``on_record``: called once deliveries are
    recorded (sent or failed), so that live views show it.
    """

    def __init__(
        self,
        database: Database,
        channels: Sequence[Channel],
        clock: Callable[[], datetime],
        *,
        on_record: Sequence[Callable[[], None]] = (),
        batch_size: int = 200,
        per_recipient: int = PER_RECIPIENT,
        poll_interval: float = 1.0,
        lease: timedelta = LEASE,
        renew_every: timedelta | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics or Metrics()
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
        self._results = Outcomes()  # outcomes to record
        self._noted = asyncio.Event()  # something to record
        self._writing = asyncio.Lock()  # records and renewals: one at a time, held rows consistent
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners = tuple(on_record)

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
                await wait_set(self._wake, self.poll_interval)
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

    def _note(self, results: Outcomes) -> None:
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
            results, self._results = self._results, Outcomes()
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
                renewed = await renew_leases(connection, held, until)
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
                self._note(Outcomes(released=list(self._held.values())))  # those never tried
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
        results = Outcomes()
        await asyncio.gather(
            *(self._deliver_in_order(q, results.extend) for q in _by_recipient(rows).values())
        )
        await self._record(results)
        return len(rows)

    async def _lease(self, recipient: str | None, limit: int) -> list[Pending]:
        """Lease what is due (nothing of a recipient held anywhere, nor of one this process is
        sending to), tell the paced channels of their recipients' recent sends, and count the rows
        whose earlier lease ran out unrecorded."""
        now = self.clock()
        async with self.database.begin() as connection:
            rows = await lease_due(
                connection,
                now=now,
                lease=self.lease,
                channels=list(self.channels),
                per_recipient=self.per_recipient,
                limit=limit,
                recipient=recipient,
                held_here=list(self._held),  # this process's own deliveries, even if their lease ran out
                busy=list(self._busy),  # one task per recipient: its messages go out one at a time
            )
            paced = {(r.channel, r.recipient) for r in rows if self._paces(r.channel)}
            recent = await recent_sends(connection, paced, now - RECENT) if paced else []
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
        return rows

    def _paces(self, channel: str) -> bool:
        """Whether the channel paces its sends per recipient (it wants to hear of recent sends)."""
        return getattr(self.channels[channel], "recently_sent", None) is not None

    def _tell_recent(self, recent: list[RecentSend], now: datetime) -> None:
        ages: dict[tuple[str, str], list[float]] = defaultdict(list)
        for channel, party, sent_at in recent:
            ages[(channel, party)].append((now - sent_at).total_seconds())
        for (channel, party), seconds in ages.items():
            paced = cast(PacedChannel, self.channels[channel])
            paced.recently_sent(party, seconds)

    async def _deliver_in_order(
        self,
        queue: list[Pending],
        note: Callable[[Outcomes], None],
        holds: Callable[[Pending], bool] = lambda row: True,
    ) -> None:
        """Send a recipient's rows one after the other, noting each outcome as soon as it is
        known; stop at a failure (the later ones wait behind it) or at a lease no longer held."""
        for index, row in enumerate(queue):
            if not holds(row):  # another process may have it now: this one must not send it
                log.warning("outbox: lease of message %d lost or running out: handed back unsent", row.id)
                note(Outcomes(released=queue[index:]))
                return
            try:
                external = await self.channels[row.channel].deliver(row.recipient, row.payload)
            except asyncio.CancelledError:  # shutting down: it may have gone out or not
                note(Outcomes(interrupted=[row]))
                raise
            except Exception as caught:
                if isinstance(caught, DeliveryError):
                    error = caught
                    self.metrics.refused(row.channel, error.reason)
                else:
                    log.error("channel %s failed to deliver: %s", row.channel, describe(caught))
                    error = DeliveryError(type(caught).__name__)
                # Later messages to this recipient wait behind this one: order matters in a chat.
                later = [Failure(r, error, row.attempts, waiting=True) for r in queue[index + 1 :]]
                note(Outcomes(failures=[Failure(row, error, row.attempts), *later]))
                return
            self.metrics.sent(row.channel)
            if isinstance(external, Delivered):
                note(
                    Outcomes(
                        sent=[Sent(row.id, external.external_id, stored_with(row.payload, external.note))]
                    )
                )
            else:
                note(Outcomes(sent=[Sent(row.id, external, None)]))

    async def _record(self, results: Outcomes) -> None:
        """Write the outcomes in one transaction, then tell the listeners."""
        if not results:
            return
        now = self.clock()
        async with self.database.begin() as connection:
            await record_sent(connection, results.sent, now)
            for failure in results.failures:
                await record_undelivered(connection, failure.undelivered(now))
                if failure.unreaches:
                    await set_reachable(
                        connection, failure.row.channel, failure.row.recipient, reachable=False
                    )
            for row in results.released:
                await hand_back(connection, row, now)
            for row in results.interrupted:
                await leave_due(connection, row, now)
        for listener in self._listeners:
            listener()


def _by_recipient(rows: list[Pending]) -> dict[tuple[str, str], list[Pending]]:
    grouped: dict[tuple[str, str], list[Pending]] = defaultdict(list)
    for row in rows:
        grouped[(row.channel, row.recipient)].append(row)
    return grouped
