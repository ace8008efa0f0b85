"""What one client message does to their conversation, inside the engine's batch transaction.

Before hand-off the intake flow answers; after it, the follow-up table (the case's client writes
again, cancels, asks for a new request). The flows' effects become rows of the batch's writes
(cases, consents, waitlist, replies) or changes of the case through the lifecycle table. The engine
(``bot/engine.py``) owns the batches; this module owns the meaning of one message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from bot.export import client_export
from bot.levels import BatchLevels
from bot.messages import Inbound
from bot.privacy import PrivacyDesk, WithdrawVisit
from bot.replies import reply_row
from bot.rows import case_row, channel_phone, conversation_row, inbound_row
from flows.catalog import Catalog
from flows.followup import CANCEL_NO, CANCEL_YES, CaseView, FollowUpFlow, appointment_case, may_ask_to_move
from flows.intake import IntakeFlow
from flows.lifecycle import OPEN_STATES, CaseLifecycle, follow_up_of, move
from flows.types import (
    AppointmentAnswer,
    CancelCase,
    Choice,
    ClientInput,
    ConversationState,
    CreateCase,
    EraseData,
    ExportData,
    FlowContext,
    FlowResult,
    JoinWaitlist,
    Levels,
    NewRequest,
    RecordConsent,
    RelayToCase,
    Reply,
    WaitlistDetails,
    as_language,
)
from storage import cases as case_store
from storage import conversations as store
from storage.appointments import appointment_view
from storage.database import Connection
from storage.outbound import Recipient
from storage.payloads import ReceiptData
from storage.privacy import client_files, record_access

NO_LEVELS_SET = Levels()  # nothing set: the default level everywhere
CLIENT_CANCEL_REASON = "Annulée par le client."
# A visit's appointment the client may ask to move in words: it has an hour.
_WITH_AN_HOUR = ("proposed", "confirmed")


class Bookings(Protocol):
    """The visit's appointment, as a client's message reaches it (dispatch implements it)."""

    async def client_answer(
        self, connection: Connection, case_id: int, answer: AppointmentAnswer, language: str, now: datetime
    ) -> list[Reply] | None:
        """Apply the client's answer in the message's transaction; what to say to the client (None:
        the words were about no appointment, the message goes to the case like any other)."""
        ...


class ConversationHandler:
    """Applies a client's message to their conversation. Built once by the engine."""

    def __init__(
        self,
        catalog: Catalog,
        privacy: PrivacyDesk,
        *,
        references: Callable[[], str],
        reopen_within: timedelta,
        withdraw_visit: WithdrawVisit | None,
        bookings: Bookings | None = None,
        join_url: str = "/rejoindre",
    ) -> None:
        self.catalog = catalog
        self.join_url = join_url
        self.privacy = privacy
        self.flow = IntakeFlow(catalog)
        self.followup = FollowUpFlow(catalog)
        self.lifecycle = CaseLifecycle()
        self.reference_factory = references
        self.reopen_within = reopen_within
        self.withdraw_visit = withdraw_visit
        self.bookings = bookings

    def follow_up(self, case: case_store.CaseOfConversation, now: datetime) -> str:
        """Where a client's message goes given their conversation's case (see ``flows.lifecycle``)."""
        return follow_up_of(self.lifecycle, case.status, case.closed_at, now, self.reopen_within)

    async def apply(
        self,
        connection: Connection,
        inbound: Inbound,
        convo: store.OpenConversation,
        case: case_store.CaseOfConversation | None,
        writes: store.BatchWrites,
        now: datetime,
        *,
        levels: BatchLevels | None = None,
    ) -> list[str] | None:
        """Handle one message; returns the files of the client if they were erased (else None)."""
        said = inbound.said
        label = None
        if said.choice is not None:
            label = self.flow.choice_label(said.step, said.choice, convo.language)
        booking_label = self.followup.appointment_label(said, convo.language)
        label = label or booking_label
        writes.messages.append(inbound_row(convo, said, label, now))
        # The pressed button's message is marked with the choice when it was taken (not stale).
        elsewhere = await self._named_elsewhere(connection, said, convo, case)
        receipt = inbound.receipt
        if receipt is not None:
            taken = said.choice is not None and said.step == convo.state and convo.owner == "bot"
            taken = taken or (booking_label is not None and (convo.owner != "bot" or elsewhere is not None))
            receipt = {**receipt, "label": label if taken else None}
        if elsewhere is not None:  # the conversation itself is left as it is
            answers = await self._answer_elsewhere(connection, elsewhere, said, convo, now)
            for index, reply in enumerate(answers):
                self._reply(convo, reply, writes, now, receipt=receipt if index == 0 else None)
            writes.conversation_updates.append(conversation_row(convo, now))
            return None
        state = ConversationState(
            state=convo.state,
            language=as_language(convo.language),
            answers=convo.answers,
            misses=convo.misses,
            owner="bot",
            notice_sent=convo.notice_sent,
        )
        if convo.owner == "bot":
            context = FlowContext(
                now=now,
                new_reference=self.reference_factory,
                channel_phone=channel_phone(convo.channel, convo.user),
                levels=await levels.get() if levels is not None else NO_LEVELS_SET,
                channel=convo.channel,
                join_url=self.join_url,
            )
            result = self.flow.handle(state, said, context)
        elif case is not None:
            has_hour = await self._has_hour(connection, case, said)
            result = self._follow(convo, case, state, said, has_hour)
            if convo.owner == "closed" and state.owner == "operator":  # back with its holder
                await store.assign_operator(connection, convo.conversation_id, case.holder)
        else:  # handed off with no case left (erased by an admin meanwhile): kept, not answered
            writes.conversation_updates.append(conversation_row(convo, now))
            return None
        if state.language != convo.language:
            writes.client_languages.append({"b_id": convo.client_id, "language": state.language})
        convo.state, convo.language, convo.answers = state.state, state.language, state.answers
        convo.misses, convo.owner, convo.notice_sent = state.misses, state.owner, state.notice_sent
        erased: list[str] | None = None
        replies = list(result.replies)
        fresh: store.OpenConversation | None = None
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
                        "department": effect.department,
                    }
                )
            elif isinstance(effect, WaitlistDetails):
                details = {
                    "department": effect.department,
                    "contact_email": effect.contact_email,
                    "contact_phone": effect.contact_phone,
                }
                writes.waitlist_details.append(
                    (convo.conversation_id, {k: v for k, v in details.items() if v is not None})
                )
            elif isinstance(effect, ExportData):
                replies.insert(0, await self._export(connection, convo, now))
            elif isinstance(effect, EraseData):
                erased = await self._erase(connection, convo, writes)
            elif isinstance(effect, RelayToCase) and case is not None:
                await self._relay(connection, case, effect, now)
                writes.client_wrote.append(case.id)
            elif isinstance(effect, CancelCase) and case is not None:
                await self._cancel(connection, case, now)
            elif isinstance(effect, NewRequest):
                fresh = await self._new_request(connection, convo, now)
            elif isinstance(effect, AppointmentAnswer) and case is not None:
                answered = None
                if self.bookings is not None:
                    answered = await self.bookings.client_answer(
                        connection, case.id, effect, convo.language, now
                    )
                if answered is None:  # no appointment to act on: the advisors read it
                    writes.client_wrote.append(case.id)
                    if effect.step is None:  # a yes to "move it?" that came too late
                        replies.append(self._text(convo, "followup.move_unavailable", case.reference))
                else:
                    replies.extend(answered)
        # Once erased, the goodbye is outside any conversation and not kept once delivered.
        for index, reply in enumerate(replies):
            self._reply(
                convo, reply, writes, now, erased=erased is not None, receipt=receipt if index == 0 else None
            )
        if erased is None:
            writes.conversation_updates.append(conversation_row(convo, now))
        if fresh is not None:  # the new conversation greets the client
            await self._apply_fresh(connection, fresh, writes, now, levels)
        return erased

    def _follow(
        self,
        convo: store.OpenConversation,
        case: case_store.CaseOfConversation,
        state: ConversationState,
        said: ClientInput,
        has_hour: bool,
    ) -> FlowResult:
        """After hand-off: the follow-up table answers. An ended conversation whose case is still
        live is the case's again (its holder's, or the queue's)."""
        live = case.status in OPEN_STATES
        state.owner = (
            "closed" if convo.owner == "closed" else ("operator" if convo.owner == "operator" else "queue")
        )
        if convo.owner == "closed":
            state.state = "handed_off"
            if live:
                state.owner = "operator" if case.status != "queued" and case.holder else "queue"
                state.notice_sent = False
        view = CaseView(case.reference, open=live, has_hour=has_hour)
        return self.followup.handle(state, view, said)

    async def _has_hour(
        self, connection: Connection, case: case_store.CaseOfConversation, said: ClientInput
    ) -> bool:
        """Whether the case's visit has an hour the client may ask to move in words (read for a
        written request to move, to a live case, only: a button names its proposal itself, and
        any other message needs no query in the batch)."""
        if self.bookings is None or not said.text or case.status not in OPEN_STATES:
            return False
        if not may_ask_to_move(said.text):
            return False
        appointment = await appointment_view(connection, case.id)
        return appointment is not None and appointment.status in _WITH_AN_HOUR

    async def _named_elsewhere(
        self,
        connection: Connection,
        said: ClientInput,
        convo: store.OpenConversation,
        case: case_store.CaseOfConversation | None,
    ) -> case_store.CaseOfConversation | None:
        """The case a visit's button names (``rdv.<case>.<n>``) when this conversation does not
        follow it (the client started a new request since), if it is this client's case."""
        public_id = appointment_case(said)
        if public_id is None:
            return None
        named = await case_store.case_of_client(connection, public_id, convo.client_id)
        followed = case is not None and convo.owner != "bot" and named is not None and named.id == case.id
        return None if followed else named

    async def _answer_elsewhere(
        self,
        connection: Connection,
        named: case_store.CaseOfConversation,
        said: ClientInput,
        convo: store.OpenConversation,
        now: datetime,
    ) -> list[Reply]:
        """A visit's button pressed outside its case's conversation: the answer to a proposal and
        "Déplacer" go to dispatch as in the follow-up; "Annuler la visite" asks first, with buttons
        that name the case (this conversation's own question is not disturbed)."""
        live = named.status in OPEN_STATES
        stale = Reply(
            "appointment.stale", self.catalog.text(as_language(convo.language), "appointment.stale")
        )
        if said.choice == "rdv_cancel":
            if not live:
                return [stale]
            language = as_language(convo.language)
            choices = (
                Choice(CANCEL_YES, self.catalog.text(language, "followup.cancel_confirm")),
                Choice(CANCEL_NO, self.catalog.text(language, "followup.cancel_keep")),
            )
            question = self._text(convo, "followup.cancel_question", named.reference)
            return [Reply(question.key, question.text, choices, said.step)]
        if said.choice == CANCEL_YES:
            if not live:
                return [stale]
            await self._cancel(connection, named, now)
            return [self._text(convo, "followup.cancelled", named.reference)]
        if said.choice == CANCEL_NO:
            return [self._text(convo, "followup.kept", named.reference)]
        if self.bookings is None or said.choice is None:
            return [stale]
        answer = AppointmentAnswer(said.choice, said.step)
        answered = await self.bookings.client_answer(connection, named.id, answer, convo.language, now)
        return answered or [stale]

    def _text(self, convo: store.OpenConversation, key: str, reference: str) -> Reply:
        return Reply(key, self.catalog.text(as_language(convo.language), key, reference=reference))

    async def _relay(
        self,
        connection: Connection,
        case: case_store.CaseOfConversation,
        effect: RelayToCase,
        now: datetime,
    ) -> None:
        """The client's message joins the case: reopened if it was closed a short while ago (the
        batch then marks "le client a écrit", one statement for all its cases)."""
        if effect.reopen:
            await case_store.move_case(
                connection,
                case.id,
                move("reopen"),
                {"reopened_at": now, "done_at": None, "cancel_reason": None, "no_taker_at": None},
            )

    async def _cancel(
        self, connection: Connection, case: case_store.CaseOfConversation, now: datetime
    ) -> None:
        """The client cancelled their live case: the console sees it, opticians are told."""
        moved = await case_store.move_case(
            connection,
            case.id,
            move("client_cancel"),
            {"done_at": now, "updated_at": now, "cancel_reason": CLIENT_CANCEL_REASON},
        )
        if moved and self.withdraw_visit is not None:
            await self.withdraw_visit(connection, case.id)

    async def _new_request(
        self, connection: Connection, convo: store.OpenConversation, now: datetime
    ) -> store.OpenConversation:
        """This conversation ends (its case, if live, stays with the advisors); a new one starts."""
        convo.owner = "closed"
        convo.state = "ended"
        wanted = store.NewConversation(
            key=convo.key,
            channel=convo.channel,
            user=convo.user,
            language=convo.language,
            client_id=convo.client_id,
            identity_id=convo.identity_id,
        )
        return (await store.open_conversations(connection, [wanted], now))[convo.key]

    async def _apply_fresh(
        self,
        connection: Connection,
        fresh: store.OpenConversation,
        writes: store.BatchWrites,
        now: datetime,
        levels: BatchLevels | None,
    ) -> None:
        state = ConversationState(language=as_language(fresh.language))
        context = FlowContext(
            now=now,
            new_reference=self.reference_factory,
            channel_phone=channel_phone(fresh.channel, fresh.user),
            levels=await levels.get() if levels is not None else NO_LEVELS_SET,
            channel=fresh.channel,
            join_url=self.join_url,
        )
        result = self.flow.handle(state, ClientInput(), context)
        fresh.state, fresh.answers = state.state, state.answers
        for reply in result.replies:
            self._reply(fresh, reply, writes, now)
        writes.conversation_updates.append(conversation_row(fresh, now))

    def _reply(
        self,
        convo: store.OpenConversation,
        reply: Reply,
        writes: store.BatchWrites,
        now: datetime,
        *,
        erased: bool = False,
        receipt: ReceiptData | None = None,
    ) -> None:
        """One outbound message: a transcript row that the outbox sender delivers."""
        to = Recipient(convo.channel, convo.user, None if erased else convo.conversation_id, convo.language)
        writes.messages.append(reply_row(to, reply, now, receipt=receipt, forget=erased))

    async def _erase(
        self, connection: Connection, convo: store.OpenConversation, writes: store.BatchWrites
    ) -> list[str]:
        """Schedule the client's erasure in this batch; returns their files to delete after it."""
        files = await client_files(connection, convo.client_id)
        writes.erase_clients.append(convo.client_id)
        return files

    async def _export(self, connection: Connection, convo: store.OpenConversation, now: datetime) -> Reply:
        """ "Mes données": a readable summary, with everything as a JSON document attached."""
        text = await client_export(connection, self.catalog, convo)
        text += "\n\n" + self.catalog.text(as_language(convo.language), "my_data.document")
        document = await self.privacy.export_document(connection, convo.client_id, convo.language, now)
        await record_access(
            connection, now, "client", "export", client_id=convo.client_id, detail=convo.channel
        )
        return Reply("my_data.header", text, document=document.payload())
