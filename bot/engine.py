"""The conversation engine: store every inbound message, then let the flow answer it, durably.

``accept`` commits the message to the inbox (only then may a channel say "received"); ``process``
runs the intake flow under the conversation's lock and writes state, transcript, case, consent and
outbox rows in the same transaction. Both go through the group-commit :class:`~bot.pipeline.Pipeline`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.export import client_export, client_files
from bot.logs import describe
from bot.messages import Accepted, Inbound, sanitized
from bot.pipeline import Again, Pipeline
from bot.rows import case_row, conversation_row, inbound_row, inbox_row, outbound_row
from flows.catalog import Catalog
from flows.intake import IntakeFlow
from flows.parsing import parse_command
from flows.types import (
    ClientInput,
    ConversationState,
    CreateCase,
    EraseData,
    ExportData,
    FlowContext,
    JoinWaitlist,
    Language,
    RecordConsent,
    Reply,
    as_language,
)
from storage import conversations as store
from storage.files import FileStore

log = logging.getLogger(__name__)

REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
STALE_INBOX_AFTER = timedelta(seconds=60)


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
    erased_files: list[str]


class Engine:
    """Use cases of the client conversation. Built once by the composition root."""

    def __init__(
        self,
        database: AsyncEngine,
        catalog: Catalog,
        files: FileStore,
        *,
        default_language: Language = "fr",
        batch_size: int = 64,
        accept_timeout: float = 20.0,
        clock: Callable[[], datetime] = utcnow,
        reference_factory: Callable[[], str] = new_reference,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.files = files
        self.flow = IntakeFlow(catalog)
        self.default_language = default_language
        self.accept_timeout = accept_timeout
        self.clock = clock
        self.reference_factory = reference_factory
        self._listeners: list[Callable[[], None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self.pipeline: Pipeline[store.InboxRow, _Work] = Pipeline(
            database,
            accept=self._accept_batch,
            process=self._process_batch,
            fail=self._give_up,
            batch_size=batch_size,
            on_commit=self._committed,
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
        self._listeners.append(listener)

    def notify(self) -> None:
        """Something was committed outside the engine (the console): wake the listeners."""
        for listener in self._listeners:
            listener()

    # --- use cases -------------------------------------------------------------------------------

    async def accept(self, inbound: Inbound) -> Accepted:
        """Store the message durably. A re-delivery (same channel and id) is reported duplicate."""
        row = inbox_row(sanitized(inbound))
        # A database that stays down makes the channel answer an error: the sender will retry.
        inbox_id = await asyncio.wait_for(self.pipeline.accept(row), self.accept_timeout)
        return Accepted(inbox_id)

    async def process(self, accepted: Accepted, inbound: Inbound) -> None:
        """Process an accepted message; returns once its answer is committed to the outbox."""
        if accepted.inbox_id is not None:
            # Shielded: the message is stored, so it is processed even if this caller goes away.
            job = self.pipeline.process(inbound.key, _Work(accepted.inbox_id, inbound))
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
        outcome = await asyncio.wait_for(
            self.pipeline.process(inbound.key, _Work(None, inbound)), self.accept_timeout
        )
        return Accepted(outcome.inbox_id)

    async def recover(self, received_before: datetime | None = None) -> int:
        """Process inbox rows that were stored but never processed (after a crash)."""
        async with self.database.connect() as connection:
            rows = await store.unprocessed_inbox(connection, received_before)
        waits = []
        for inbox_id, key, payload in rows:
            inbound = Inbound.from_payload(payload)
            waits.append(self.pipeline.process(key, _Work(inbox_id, inbound)))
        results = await asyncio.gather(*waits, return_exceptions=True)
        if rows:
            log.info("recovered %d unprocessed inbound messages", len(rows))
        return sum(1 for r in results if not isinstance(r, BaseException))

    async def sweep(self, interval: float = 30.0) -> None:
        """Forever: pick up messages another process stored and did not process in time."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.recover(self.clock() - STALE_INBOX_AFTER)
            except Exception as error:
                log.error("inbox sweep failed: %s", describe(error))

    async def received(self, channel: str, external_id: str) -> bool:
        """Whether this message is stored already: a re-delivered file need not be fetched again."""
        async with self.database.connect() as connection:
            return await store.inbox_has(connection, channel, external_id)

    async def first_time(self, inbound: Inbound, kind: str) -> bool:
        """Keep a message handled outside the conversation (an optician's button) in the inbox,
        as processed; False if it was stored already (a re-delivery, to ignore)."""
        event = store.InboxRow(inbound.channel, inbound.external_id, inbound.key, {"event": kind})
        async with self.database.begin() as connection:
            stored = await store.insert_inbox(connection, [event], self.clock(), processing=True)
        return stored[0] is not None

    async def forget(self, inbound: Inbound) -> None:
        """Undo :meth:`first_time` when handling the message failed: its re-delivery is handled."""
        async with self.database.begin() as connection:
            await store.delete_inbox(connection, inbound.channel, inbound.external_id)

    async def set_reachable(
        self, channel: str, user: str, *, reachable: bool, external_id: str | None = None
    ) -> None:
        """The client blocked (or unblocked) the bot on this channel: operators see it.

        With the channel's ``external_id`` for the event, it is kept in the inbox (as processed)
        so that a re-delivery of it changes nothing.
        """
        async with self.database.begin() as connection:
            if external_id is not None:
                event = store.InboxRow(channel, external_id, f"{channel}:{user}", {"reachable": reachable})
                stored = await store.insert_inbox(connection, [event], self.clock(), processing=True)
                if stored[0] is None:
                    return
            changed = await store.set_reachable(connection, channel, user, reachable=reachable)
        if changed:
            self.notify()

    async def last_question(self, channel: str, user: str) -> dict[str, Any] | None:
        """The last thing the bot asked in the client's open conversation (to show it again)."""
        async with self.database.connect() as connection:
            return await store.last_bot_message(connection, f"{channel}:{user}")

    # --- batches (inside the pipeline's transaction) ---------------------------------------------

    def _committed(self, results: list[Any]) -> None:
        for result in results:
            if isinstance(result, _Outcome):
                self._delete_files(result.erased_files)
        for listener in self._listeners:
            listener()

    def _delete_files(self, paths: list[str] | None) -> None:
        """Files of erased clients, removed once the erasure is committed (never before)."""
        for path in paths or ():
            try:
                self.files.delete(path)
            except (OSError, ValueError):
                log.warning("could not delete an erased file")

    async def _accept_batch(
        self, connection: AsyncConnection, rows: Sequence[store.InboxRow]
    ) -> list[int | None]:
        return await store.insert_inbox(connection, rows, self.clock())

    async def _process_batch(
        self, connection: AsyncConnection, work: Sequence[_Work]
    ) -> list[_Outcome | Again[_Work]]:
        """Handle the oldest unprocessed message of each conversation in ``work``.

        Usually that is the work item's own message. When an older one is waiting (stored by a
        caller that gave up, or by another process), it goes first and the item waits its turn.
        """
        now = self.clock()
        keys = list(dict.fromkeys(w.inbound.key for w in work))
        await store.lock_conversations(connection, keys)
        waiting = await store.claim_oldest(connection, keys, now)
        # Fast path: messages not stored yet, whose conversation has nothing older waiting, are
        # stored as processed in this transaction.
        fresh = [w for w in work if w.inbox_id is None and w.inbound.key not in waiting]
        ids = await store.insert_inbox(
            connection, [inbox_row(w.inbound) for w in fresh], now, processing=True
        )
        stored = dict(zip((id(w) for w in fresh), ids, strict=True))
        to_apply: list[tuple[int, Inbound]] = [
            (i, w.inbound) for w in fresh if (i := stored[id(w)]) is not None
        ]
        for inbox_id, payload in waiting.values():
            if payload:  # an erased client's message has no payload left: nothing to do
                to_apply.append((inbox_id, Inbound.from_payload(payload)))
        files: dict[int, list[str]] = {}
        if to_apply:
            messages = [inbound for _, inbound in to_apply]
            current = await store.load_conversations(connection, [m.key for m in messages])
            current.update(await self._open(connection, messages, current, now))
            writes = store.BatchWrites(erased_at=now)
            # A client who writes can be reached again (a WhatsApp 131026 is often an old app).
            writes.reachable_clients = sorted({c.client_id for c in current.values() if c.unreachable})
            for inbox_id, inbound in to_apply:
                files[inbox_id] = await self._apply(connection, inbound, current[inbound.key], writes, now)
            await store.save_batch(connection, writes)
        outcomes: list[_Outcome | Again[_Work]] = []
        for w in work:
            older = waiting.get(w.inbound.key)
            if w.inbox_id is None:
                if older is not None:
                    outcomes.append(Again(w))  # not stored yet: stored in a later batch, in turn
                else:
                    outcomes.append(_Outcome(stored[id(w)], files.get(stored[id(w)] or 0, [])))
            elif older is not None and older[0] < w.inbox_id:
                outcomes.append(Again(w))
            else:  # handled now, or already handled by another process
                outcomes.append(_Outcome(w.inbox_id, files.get(w.inbox_id, [])))
        return outcomes

    async def _open(
        self,
        connection: AsyncConnection,
        messages: Sequence[Inbound],
        current: dict[str, store.OpenConversation],
        now: datetime,
    ) -> dict[str, store.OpenConversation]:
        wanted = []
        for inbound in messages:
            known = current.get(inbound.key)
            if known is not None and known.conversation_id and known.owner != "closed":
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

    async def _apply(
        self,
        connection: AsyncConnection,
        inbound: Inbound,
        convo: store.OpenConversation,
        writes: store.BatchWrites,
        now: datetime,
    ) -> list[str]:
        said = inbound.said
        label = None
        if said.choice is not None:
            label = self.flow.choice_label(said.step, said.choice, convo.language)
        writes.messages.append(inbound_row(convo, said, label, now))
        # The pressed button's message is marked with the choice when it was taken (not stale).
        receipt = inbound.receipt
        if receipt is not None:
            taken = said.choice is not None and said.step == convo.state and convo.owner == "bot"
            receipt = {**receipt, "label": label if taken else None}
        if convo.owner != "bot":
            await self._while_advised(connection, convo, said, writes, now)
            writes.conversation_updates.append(conversation_row(convo, now))
            return []
        state = ConversationState(
            state=convo.state,
            language=as_language(convo.language),
            answers=convo.answers,
            misses=convo.misses,
            owner="bot",
        )
        context = FlowContext(now=now, new_reference=self.reference_factory)
        result = self.flow.handle(state, said, context)
        if state.language != convo.language:
            writes.client_languages.append({"b_id": convo.client_id, "language": state.language})
        convo.state, convo.language, convo.answers = state.state, state.language, state.answers
        convo.misses, convo.owner = state.misses, state.owner
        erased: list[str] | None = None
        replies = list(result.replies)
        for effect in result.effects:
            if isinstance(effect, CreateCase):
                writes.cases.append(case_row(convo, effect, now))
            elif isinstance(effect, RecordConsent):
                writes.consents.append(
                    {
                        "client_id": convo.client_id,
                        "conversation_id": convo.conversation_id,
                        "purpose": effect.purpose,
                        "wording_version": effect.wording_version,
                        "given_at": effect.given_at,
                    }
                )
            elif isinstance(effect, JoinWaitlist):
                writes.waitlist.append(
                    {
                        "client_id": convo.client_id,
                        "conversation_id": convo.conversation_id,
                        "channel": convo.channel,
                        "language": convo.language,
                        "reason": effect.reason,
                        "created_at": now,
                    }
                )
            elif isinstance(effect, ExportData):
                text = await client_export(connection, self.catalog, convo)
                replies.insert(0, Reply("my_data.header", text))
            elif isinstance(effect, EraseData):
                erased = await self._erase(connection, convo, writes)
        for index, reply in enumerate(replies):
            self._reply(
                convo, reply, writes, now, transcript=erased is None, receipt=receipt if index == 0 else None
            )
        if erased is None:
            writes.conversation_updates.append(conversation_row(convo, now))
        return erased or []

    async def _while_advised(
        self,
        connection: AsyncConnection,
        convo: store.OpenConversation,
        said: ClientInput,
        writes: store.BatchWrites,
        now: datetime,
    ) -> None:
        """The bot does not speak in an advisor's conversation, except: while the case waits in the
        queue it says once that an advisor will answer, and the client's data rights still work
        (export; erasure is passed on to the advisor, who is handling a live case)."""
        language = as_language(convo.language)
        command = parse_command(said.text or "") if said.text else None
        if command is not None and command[0] == "my_data":
            text = await client_export(connection, self.catalog, convo)
            self._reply(convo, Reply("my_data.header", text), writes, now)
        elif command is not None and command[0] == "delete_data":
            key = "my_data.after_handoff"
            self._reply(convo, Reply(key, self.catalog.text(language, key)), writes, now)
            # The advisor sees the request on the case, not only in the transcript.
            await store.note_erasure_request(connection, convo.conversation_id, now)
        elif not convo.notice_sent and convo.owner == "queue":  # a talking operator answers himself
            convo.notice_sent = True
            key = "silent_notice"
            self._reply(convo, Reply(key, self.catalog.text(language, key)), writes, now)

    def _reply(
        self,
        convo: store.OpenConversation,
        reply: Reply,
        writes: store.BatchWrites,
        now: datetime,
        *,
        transcript: bool = True,
        receipt: dict[str, Any] | None = None,
    ) -> None:
        """One outbound message: a transcript row that the outbox sender delivers."""
        conversation_id = convo.conversation_id if transcript else None
        row = outbound_row(convo.channel, convo.user, conversation_id, reply, now, convo.language)
        if receipt is not None:
            row["payload"]["receipt"] = receipt
        writes.messages.append(row)

    async def _erase(
        self, connection: AsyncConnection, convo: store.OpenConversation, writes: store.BatchWrites
    ) -> list[str]:
        """Schedule the client's erasure in this batch; returns their files to delete after it."""
        files = await client_files(connection, convo.client_id)
        writes.erase_clients.append(convo.client_id)
        writes.erase_keys.append(convo.key)
        return files

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
            oldest = await store.claim_oldest(connection, [inbound.key], now)
            if oldest:
                failed = oldest[inbound.key][0]
            else:  # the fast path's row was rolled back with the batch
                stored = (await store.insert_inbox(connection, [inbox_row(inbound)], now))[0]
                if stored is None:
                    return True
                failed = stored
            await store.mark_inbox_failed(connection, failed, type(error).__name__, now)
            itself = not oldest or failed == work.inbox_id
            convo = (await store.load_conversations(connection, [inbound.key])).get(inbound.key)
            if convo is None or convo.owner in ("bot", "closed"):  # an advisor speaks for themselves
                row = outbound_row(inbound.channel, inbound.user, None, reply, now, language)
                await store.insert_message(connection, row)
        self._committed([])
        return itself
