"""The conversation engine: store every inbound message, then let the flow answer it, durably.

``accept`` commits the message to the inbox (only then may a channel say "received"); ``process``
runs the intake flow under the conversation's lock and writes state, transcript, case, consent and
outbox rows in the same transaction. Both go through the group-commit :class:`~bot.pipeline.Pipeline`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.conversation import Bookings, ConversationHandler
from bot.levels import BatchLevels
from bot.logs import describe
from bot.messages import Accepted, Inbound, sanitized
from bot.metrics import Metrics
from bot.pipeline import Again, Pipeline, reason_of
from bot.privacy import PrivacyDesk, WithdrawVisit
from bot.replies import enqueue_reply
from bot.rows import inbox_row
from bot.signals import Commits
from flows.catalog import Catalog
from flows.types import (
    Language,
    Reply,
    as_language,
)
from storage import cases as case_store
from storage import conversations as store
from storage import inbox, set_aside
from storage.database import Connection, Database
from storage.files import FileStore
from storage.outbound import Recipient
from storage.payloads import OutboundPayload
from storage.privacy import RetentionPolicy

log = logging.getLogger(__name__)

REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
# A message stored and not processed this long (its process died, or lost the database) is taken
# over by the sweep of any process, which looks every ``SWEEP_EVERY`` seconds: within ~7 s.
STALE_INBOX_AFTER = timedelta(seconds=5)
SWEEP_EVERY = 2.0


def new_reference() -> str:
    """A case reference a client can read out on the phone: OB- and six unambiguous characters."""
    return "OB-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Work:
    """A message to process: already in the inbox (``inbox_id``), or to store in the same
    transaction as its effects (``inbox_id`` None, the in-process fast path of :meth:`handle`)."""

    inbox_id: int | None
    inbound: Inbound


@dataclass(frozen=True, slots=True)
class _Outcome:
    inbox_id: int | None  # None: a re-delivery, nothing done
    erased_files: list[str] | None  # None: nobody was erased

    @property
    def erased(self) -> bool:
        return self.erased_files is not None


class Engine:
    """Use cases of the client conversation. Built once by the composition root."""

    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        files: FileStore,
        *,
        default_language: Language = "fr",
        batch_size: int = 64,
        accept_timeout: float = 20.0,
        clock: Callable[[], datetime] = utcnow,
        reference_factory: Callable[[], str] = new_reference,
        reopen_within: timedelta = timedelta(days=7),
        withdraw_visit: WithdrawVisit | None = None,
        bookings: Bookings | None = None,
        retention: RetentionPolicy | None = None,
        commits: Commits | None = None,
        join_url: str = "/rejoindre",
        metrics: Metrics | None = None,
    ) -> None:
        self.database = database
        self.metrics = metrics or Metrics()
        self.catalog = catalog
        self.files = files
        self.privacy = PrivacyDesk(database, files, clock, withdraw_visit=withdraw_visit, policy=retention)
        self.conversations = ConversationHandler(
            catalog,
            self.privacy,
            references=reference_factory,
            reopen_within=reopen_within,
            withdraw_visit=withdraw_visit,
            bookings=bookings,
            join_url=join_url,
        )
        self.pseudonyms = self.privacy.pseudonyms
        self.default_language = default_language
        self.accept_timeout = accept_timeout
        self.clock = clock
        self.commits = commits or Commits()
        self._background: set[asyncio.Task[None]] = set()
        self._queued: Counter[int] = Counter()  # inbox ids in this process's pipeline: not swept
        self.pipeline: Pipeline[inbox.InboxRow, _Work] = Pipeline(
            database,
            accept=self._accept_batch,
            process=self._process_batch,
            fail=self._give_up,
            batch_size=batch_size,
            on_commit=self._committed,
            observe=self.metrics.batch,
        )

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer and re-process what a previous run stored but did not answer."""
        self.pipeline.start()
        await self.recover()

    async def stop(self) -> None:
        await self.pipeline.stop()

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each commit (wakes the outbox sender, live views)."""
        self.commits.listen(listener)

    def notify(self) -> None:
        """Something was committed outside the engine (the console): wake the listeners."""
        self.commits()

    # --- use cases -------------------------------------------------------------------------------

    async def accept(self, inbound: Inbound) -> Accepted:
        """Store the message durably. A re-delivery (same channel and id) is reported duplicate."""
        row = inbox_row(sanitized(inbound), self.pseudonyms)
        # A database that stays down makes the channel answer an error: the sender will retry.
        async with asyncio.timeout(self.accept_timeout):  # never wait_for: see bot.signals.wait_set
            inbox_id = await self.pipeline.accept(row)
        if inbox_id is not None:
            self.metrics.received(inbound.channel)
        return Accepted(inbox_id)

    async def process(self, accepted: Accepted, inbound: Inbound) -> None:
        """Process an accepted message; returns once its answer is committed to the outbox."""
        if accepted.inbox_id is not None:
            # Shielded: the message is stored, so it is processed even if this caller goes away.
            job = self._queue(accepted.inbox_id, inbound.key, inbound)
            await asyncio.shield(job)

    async def submit(self, inbound: Inbound) -> Accepted:
        """Store the message, then process it in the background: for channels that acknowledge
        receipt before the answer is ready (webhooks, web chat). If processing fails here, the
        message is stored, so the sweep processes it later."""
        inbound = sanitized(inbound)
        accepted = await self.accept(inbound)
        if not accepted.duplicate:
            task = asyncio.create_task(self.process(accepted, inbound), name="optibot-process")
            self._background.add(task)
            task.add_done_callback(self._processed)
        return accepted

    def _processed(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:  # the error's text may quote client data: its kind only
            log.error("message stored but not processed yet: %s", describe(error))

    async def handle(self, inbound: Inbound) -> Accepted:
        """Store and process a message in one transaction, for callers that wait for the answer.

        Nothing is acknowledged before the commit, which stores the inbox row, the state and the
        replies together; a re-delivery is reported duplicate and changes nothing. Channels that
        must acknowledge before processing (webhooks) use :meth:`accept` then :meth:`process`.
        """
        inbound = sanitized(inbound)
        async with asyncio.timeout(self.accept_timeout):
            outcome = await self.pipeline.process(inbound.key, _Work(None, inbound))
        if outcome.inbox_id is not None:
            self.metrics.received(inbound.channel)
        return Accepted(outcome.inbox_id)

    async def recover(self, received_before: datetime | None = None, *, wait: bool = True) -> int:
        """Process inbox rows that were stored but never processed (after a crash), except those
        this process has queued already; returns how many were processed (queued if not ``wait``)."""
        async with self.database.connect() as connection:
            rows = await inbox.unprocessed_inbox(connection, received_before)
        jobs = [
            self._queue(inbox_id, key, Inbound.from_payload(payload))
            for inbox_id, key, payload in rows
            if inbox_id not in self._queued
        ]
        if jobs:
            log.info("recovered %d unprocessed inbound messages", len(jobs))
        if not wait:
            for job in jobs:
                job.add_done_callback(self._swept)
            return len(jobs)
        results = await asyncio.gather(*jobs, return_exceptions=True)
        return sum(1 for r in results if not isinstance(r, BaseException))

    async def sweep(self, interval: float = SWEEP_EVERY, stale_after: timedelta = STALE_INBOX_AFTER) -> None:
        """Forever: pick up messages another process stored and did not process in time (or this
        one, if processing them failed). It does not wait for them: a slow one holds up no other."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.recover(self.clock() - stale_after, wait=False)
            except Exception as error:
                log.error("inbox sweep failed: %s", describe(error))

    def _swept(self, job: asyncio.Future[Any]) -> None:
        error = None if job.cancelled() else job.exception()
        if error is not None:  # the error's text may quote client data: its kind only
            log.error("swept message not processed yet: %s", describe(error))

    def _queue(self, inbox_id: int, key: str, inbound: Inbound) -> asyncio.Future[Any]:
        """Process a stored message in the pipeline; the sweep leaves it alone meanwhile."""
        job = self.pipeline.process(key, _Work(inbox_id, inbound))
        self._queued[inbox_id] += 1
        job.add_done_callback(lambda done: self._dequeue(inbox_id, done))
        return job

    def _dequeue(self, inbox_id: int, job: asyncio.Future[Any]) -> None:
        self._queued[inbox_id] -= 1
        if self._queued[inbox_id] <= 0:
            del self._queued[inbox_id]
        if not job.cancelled():
            job.exception()  # retrieved: its caller reports it (or the sweep's), the sweep tries it again

    async def is_stored(self, channel: str, external_id: str) -> bool:
        """Whether this message is stored already: a re-delivered file need not be fetched again."""
        async with self.database.connect() as connection:
            return await inbox.inbox_has(connection, channel, self.pseudonyms.of(external_id))

    async def store_once(self, inbound: Inbound, kind: str) -> bool:
        """Store a message handled outside the conversation (an optician's button) in the inbox,
        as processed; False if it was stored already (a re-delivery, to ignore)."""
        event = inbox.InboxRow(
            inbound.channel, self.pseudonyms.of(inbound.external_id), inbound.key, {"event": kind}
        )
        async with self.database.begin() as connection:
            stored = await inbox.insert_inbox(connection, [event], self.clock(), processing=True)
        return stored[0] is not None

    async def unstore(self, inbound: Inbound) -> None:
        """Undo :meth:`store_once` when handling the message failed: its re-delivery is handled."""
        async with self.database.begin() as connection:
            await inbox.delete_inbox(connection, inbound.channel, self.pseudonyms.of(inbound.external_id))

    async def set_aside(self, channel: str, kind: str, error: BaseException, body: bytes) -> None:
        """Keep a trace of a signed delivery no database will take (poison): its digest and size,
        never its content, so that it is counted and the platform can be answered 200. Raises if
        even that could not be stored (the platform must then send it again)."""
        async with self.database.begin() as connection:
            await set_aside.record(
                connection,
                channel=channel,
                kind=kind,
                reason=reason_of(error),
                digest=hashlib.sha256(body).hexdigest(),
                size=len(body),
                now=self.clock(),
            )

    async def set_reachable(
        self, channel: str, user: str, *, reachable: bool, external_id: str | None = None
    ) -> None:
        """The client blocked (or unblocked) the bot on this channel: operators see it.

        With the channel's ``external_id`` for the event, it is kept in the inbox (as processed)
        so that a re-delivery of it changes nothing.
        """
        async with self.database.begin() as connection:
            if external_id is not None:
                hashed = self.pseudonyms.of(external_id)
                event = inbox.InboxRow(channel, hashed, f"{channel}:{user}", {"reachable": reachable})
                stored = await inbox.insert_inbox(connection, [event], self.clock(), processing=True)
                if stored[0] is None:
                    return
            changed = await store.set_reachable(connection, channel, user, reachable=reachable)
        if changed:
            self.notify()

    async def last_question(self, channel: str, user: str) -> OutboundPayload | None:
        """The last thing the bot asked in the client's open conversation (to show it again)."""
        async with self.database.connect() as connection:
            return await store.last_bot_message(connection, f"{channel}:{user}")

    # --- batches (inside the pipeline's transaction) ---------------------------------------------

    def _committed(self, results: list[Any]) -> None:
        erased = [r for r in results if isinstance(r, _Outcome) and r.erased]
        if erased:  # files of erased clients go once the erasure is committed (never before)
            self.privacy.after_erasure_soon([path for r in erased for path in r.erased_files or ()])
        self.commits()

    async def _accept_batch(self, connection: Connection, rows: Sequence[inbox.InboxRow]) -> list[int | None]:
        return await inbox.insert_inbox(connection, rows, self.clock())

    async def _process_batch(
        self, connection: Connection, work: Sequence[_Work]
    ) -> list[_Outcome | Again[_Work]]:
        """Handle the oldest unprocessed message of each conversation in ``work``.

        Usually that is the work item's own message. When an older one is waiting (stored by a
        caller that gave up, or by another process), it goes first and the item waits its turn.
        """
        now = self.clock()
        keys = list(dict.fromkeys(w.inbound.key for w in work))
        await store.lock_conversations(connection, keys)
        waiting = await inbox.claim_oldest(connection, keys, now)
        # Fast path: messages not stored yet, whose conversation has nothing older waiting, are
        # stored as processed in this transaction.
        fresh = [w for w in work if w.inbox_id is None and w.inbound.key not in waiting]
        ids = await inbox.insert_inbox(
            connection, [inbox_row(w.inbound, self.pseudonyms) for w in fresh], now, processing=True
        )
        stored = dict(zip((id(w) for w in fresh), ids, strict=True))
        to_apply: list[tuple[int, Inbound]] = [
            (i, w.inbound) for w in fresh if (i := stored[id(w)]) is not None
        ]
        for inbox_id, payload in waiting.values():
            if payload:  # an erased client's message has no payload left: nothing to do
                to_apply.append((inbox_id, Inbound.from_payload(payload)))
        files: dict[int, list[str] | None] = {}
        if to_apply:
            messages = [inbound for _, inbound in to_apply]
            current = await store.load_conversations(connection, [m.key for m in messages])
            handed = [c.conversation_id for c in current.values() if c.conversation_id and c.owner != "bot"]
            followed = await case_store.latest_cases(connection, handed)
            current.update(await self._open(connection, messages, current, followed, now))
            # The service levels, read in this transaction when a message reaches the intake: a
            # switch committed by any process applies to this batch (one small query at most; no
            # cache to go stale across processes).
            levels = BatchLevels(connection)
            writes = store.BatchWrites(at=now)
            # A client who writes can be reached again (a WhatsApp 131026 is often an old app).
            writes.reachable_clients = sorted({c.client_id for c in current.values() if c.unreachable})
            for inbox_id, inbound in to_apply:
                convo = current[inbound.key]
                case = followed.get(convo.conversation_id) if convo.owner != "bot" else None
                files[inbox_id] = await self.conversations.apply(
                    connection, inbound, convo, case, writes, now, levels=levels
                )
            await store.save_batch(connection, writes)
            if writes.erase_clients:  # after the flush: the batch's own rows of theirs go too
                await self.privacy.erase_in(
                    connection, writes.erase_clients, now, actor="client", detail="chat"
                )
        outcomes: list[_Outcome | Again[_Work]] = []
        for w in work:
            older = waiting.get(w.inbound.key)
            if w.inbox_id is None:
                if older is not None:
                    outcomes.append(Again(w))  # not stored yet: stored in a later batch, in turn
                else:
                    outcomes.append(_Outcome(stored[id(w)], files.get(stored[id(w)] or 0)))
            elif older is not None and older[0] < w.inbox_id:
                outcomes.append(Again(w))
            else:  # handled now, or already handled by another process
                outcomes.append(_Outcome(w.inbox_id, files.get(w.inbox_id)))
        return outcomes

    async def _open(
        self,
        connection: Connection,
        messages: Sequence[Inbound],
        current: dict[str, store.OpenConversation],
        followed: dict[int, case_store.CaseOfConversation],
        now: datetime,
    ) -> dict[str, store.OpenConversation]:
        """New conversations for the messages that start one: a new client, or an ended
        conversation whose case is neither live nor recently closed (the help-desk rule)."""
        wanted = []
        for inbound in messages:
            known = current.get(inbound.key)
            if known is not None and known.conversation_id and known.owner != "closed":
                continue
            case = followed.get(known.conversation_id) if known is not None else None
            if known is not None and case is not None and self.conversations.follow_up(case, now) != "new":
                continue
            language = inbound.language or (known.language if known else self.default_language)
            wanted.append(
                store.NewConversation(
                    key=inbound.key,
                    channel=inbound.channel,
                    user=inbound.user,
                    language=language,
                    client_id=known.client_id if known else None,
                    identity_id=known.identity_id if known else None,
                )
            )
        return await store.open_conversations(connection, wanted, now)

    async def _give_up(self, work: _Work, error: BaseException) -> bool:
        """A message that failed every attempt: mark it, tell the client, never block the rest.

        What failed is the conversation's oldest stored message (each batch handles that one
        first), which may be an older message than ``work``'s own: that one is marked failed, so
        the conversation moves on; ``work``'s own message, if stored and still waiting, follows.
        Returns whether the failed message was ``work``'s own.
        """
        log.error("giving up on inbox message %s (%s)", work.inbox_id, type(error).__name__)
        now = self.clock()
        inbound = work.inbound
        language = as_language(inbound.language or self.default_language)
        reply = Reply("technical_error", self.catalog.text(language, "technical_error"))
        async with self.database.begin() as connection:
            oldest = await inbox.claim_oldest(connection, [inbound.key], now)
            if oldest:
                failed = oldest[inbound.key][0]
            else:  # the fast path's row was rolled back with the batch
                again = inbox_row(inbound, self.pseudonyms)
                stored = (await inbox.insert_inbox(connection, [again], now))[0]
                if stored is None:
                    return True
                failed = stored
            await inbox.mark_inbox_failed(connection, failed, type(error).__name__, now)
            itself = not oldest or failed == work.inbox_id
            convo = (await store.load_conversations(connection, [inbound.key])).get(inbound.key)
            if convo is None or convo.owner in ("bot", "closed"):  # an advisor speaks for themselves
                await enqueue_reply(
                    connection, Recipient(inbound.channel, inbound.user, None, language), reply, now
                )
        self._committed([])
        return itself
