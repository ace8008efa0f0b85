"""An optician's answers: a visit offered, accepted or declined (the first accept wins with one
conditional UPDATE; the other offers are edited to "already taken"), and the outcome of a visit
they took. The winner gets the address, phone, consent record and insurance (with the card's photo),
and the client is told who is coming and when."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime

from bot.dispatch.booking import Booking, first_name
from bot.dispatch.buttons import FAIL_REASONS, OfferAnswer, SlotPick, VisitOutcome, parse
from bot.dispatch.notices import OPTICIANS_LANGUAGE, Notices, service_day
from bot.dispatch.offers import OfferRounds
from bot.privacy import EXPORTS
from flows.answers import format_insurance
from flows.lifecycle import move
from flows.types import SERVICE_TIME_ZONE, Choice, Reply, as_language
from storage import appointments, conversations
from storage import offers as store
from storage.cases import move_case
from storage.database import Connection, Database
from storage.files import MEDIA_TYPES, sniff
from storage.outbound import client_of_case

ALREADY_ANSWERED = "optician.already_answered"
# An offer pressed after it closed: why (taken by another optician, or withdrawn).
_CLOSED = {"taken": "optician.taken", "withdrawn": "optician.withdrawn"}

log = logging.getLogger(__name__)


class OpticianAnswers:
    """``notify`` wakes the outbox and the live views after each answer."""

    def __init__(
        self,
        database: Database,
        notices: Notices,
        rounds: OfferRounds,
        booking: Booking,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
    ) -> None:
        self.database = database
        self.notices = notices
        self.rounds = rounds
        self.booking = booking
        self.clock = clock
        self.notify = notify

    async def answer(self, chat: str, step: str, value: str, on_message: int | None) -> None:
        """A button pressed by an optician; ``on_message``: the message the button was on, which
        the answer replaces. A button none of ours could carry is ignored."""
        pressed = parse(step, value)
        if isinstance(pressed, OfferAnswer):
            await self._answer_offer(chat, pressed, on_message)
        elif isinstance(pressed, VisitOutcome):
            await self._report_visit(chat, pressed, on_message)
        elif isinstance(pressed, SlotPick):
            await self.booking.pick(chat, pressed)
        self.notify()

    async def _answer_offer(self, chat: str, pressed: OfferAnswer, on_message: int | None) -> None:
        now = self.clock()
        notices = self.notices
        async with self.database.begin() as connection:
            offer = await store.offer_to_answer(connection, pressed.offer_id, chat)
            if offer is not None and offer.status == "accepted":
                return  # pressed twice: the visit is already theirs, the brief already sent
            eligible = (
                offer is not None and offer.active and (offer.kit_expires_on or date.min) >= service_day(now)
            )
            if offer is None or offer.status != "offered" or (pressed.accept and not eligible):
                key = _CLOSED.get(offer.status, ALREADY_ANSWERED) if offer else ALREADY_ANSWERED
                reference, case_id = (offer.reference, offer.case_id) if offer else ("", None)
                await notices.tell_optician(
                    connection, chat, key, now, case_id=case_id, on_message=on_message, reference=reference
                )
                return
            if pressed.accept:
                # The lock order of every booking path: the client's conversation first (the
                # engine holds it before it writes the case), then the case's row.
                await client_of_case(connection, offer.case_id)
            if not pressed.accept:
                await store.decline_offer(connection, offer.id, now)
                outcome = "optician.declined"
            elif not await store.assign_visit(connection, offer.case_id, offer.optician_id, now):
                await store.set_offer_status(connection, offer.id, "taken", now)
                outcome = "optician.taken"
            else:
                await store.set_offer_status(connection, offer.id, "accepted", now)
                await self.rounds.close_offers(connection, offer.case_id, "taken", now)
                await self.booking.open(connection, offer.case_id, offer.optician_id, now)
                await self._brief_winner(connection, offer.case_id, chat, on_message, now)
                return
            await notices.tell_optician(
                connection,
                chat,
                outcome,
                now,
                case_id=offer.case_id,
                on_message=on_message,
                reference=offer.reference,
            )

    async def _brief_winner(
        self, connection: Connection, case_id: int, chat: str, on_message: int | None, now: datetime
    ) -> None:
        """The address, phone, consent and insurance to the winner (the card attached), with the
        windows to propose to the client (or another half-day); the client told who comes."""
        notices = self.notices
        brief = await store.visit_brief(connection, case_id)
        consent = notices.text("optician.no_consent")
        if brief.consent is not None:
            consent = notices.text(
                "optician.consent_given",
                date=brief.consent.given_at.astimezone(SERVICE_TIME_ZONE).strftime("%d/%m/%Y %H:%M"),
                version=brief.consent.wording_version,
            )
        text = notices.text(
            "optician.won",
            reference=brief.reference,
            name=brief.contact_name or "",
            phone=brief.contact_phone or "",
            address=brief.address or "",
            slot=notices.slot(brief.slot_date, brief.slot_part, asap=brief.slot_asap),
            consent=consent,
        )
        if brief.insurance_status is not None:  # asked at the intake (not of older cases)
            insurance = format_insurance(
                notices.catalog,
                OPTICIANS_LANGUAGE,
                brief.insurance_status,
                brief.insurer,
                bool(brief.insurance_card_path),
            )
            text = f"{text}\n{notices.text('insurance_staff.optician_line', insurance=insurance)}"
        windows = self.booking.first_windows(brief.slot_date, brief.slot_part, brief.slot_asap, now)
        question = self.booking.pick_hour(brief.public_id, brief.reference, windows)
        # "Visite faite" / "Visite impossible" stay as they were: the hour is offered, not imposed
        # (a visit agreed on the phone is still reported), and an optician who cannot go says so.
        outcomes = self.booking.outcomes(brief.public_id)
        text = f"{text}\n{question.text}"
        reply = Reply(
            "optician.won",
            text,
            choices=(*question.choices, *outcomes),
            step=SlotPick.step,
            document=await self._insurance_card(brief.insurance_card_path, brief.reference),
        )
        await notices.to_optician(connection, chat, reply, now, case_id=case_id)
        told = notices.client_reply(
            brief.language,
            "optician.client_told",
            name=first_name(brief.optician),
            slot=notices.slot(
                brief.slot_date, brief.slot_part, as_language(brief.language), asap=brief.slot_asap
            ),
            reference=brief.reference,
        )
        await notices.to_client(connection, case_id, told, now)
        if on_message is not None:  # the offer's buttons go: the brief follows just below
            accepted = Reply("optician.offer", f"✅ {notices.text('optician.accept')}")
            await notices.to_optician(connection, chat, accepted, now, case_id=case_id, on_message=on_message)

    async def _insurance_card(self, path: str | None, reference: str) -> dict[str, str] | None:
        """A copy of the client's insurance card for the optician who took the visit, attached to
        their brief; None without a card (or a file store), or when the file is gone or is not an
        image or a PDF (the brief then goes without it).

        Stored as the visit's calendar file is: encrypted with the exports (purged after a day,
        erased with the case's messages, whose row names it), while the transaction is open; the
        decryption and encryption run in a thread, so that the event loop goes on meanwhile."""
        files = self.booking.files
        if files is None or not path:
            return None

        def copy_of() -> tuple[str, str]:
            content = files.read(path)
            suffix = sniff(content)
            return files.save_document(content, suffix, EXPORTS), suffix

        try:
            copy, suffix = await asyncio.to_thread(copy_of)
        except (OSError, ValueError):  # erased or purged meanwhile, unreadable, or a full disk
            log.warning("dispatch: the insurance card could not be copied; the brief goes without it")
            return None
        name = self.notices.text("insurance_staff.card_filename", reference=reference)
        return {"path": copy, "filename": f"{name}{suffix}", "mime": MEDIA_TYPES[suffix]}

    async def _report_visit(self, chat: str, pressed: VisitOutcome, on_message: int | None) -> None:
        now = self.clock()
        notices = self.notices
        async with self.database.begin() as connection:
            case = await store.taken_case(connection, pressed.case_id, chat)
            if case is None or case.status != store.OUT_ON_A_VISIT:
                case_id = case.id if case else None
                await notices.tell_optician(
                    connection, chat, ALREADY_ANSWERED, now, case_id=case_id, on_message=on_message
                )
                return
            if pressed.verb == "route":  # on the way: the client is told
                await self.booking.set_out(connection, case.id, chat, now)
                return
            if pressed.verb == "fail":  # which reason?
                choices = tuple(
                    Choice(VisitOutcome(pressed.case_id, r).pack(), notices.text(f"optician.failed_{r}"))
                    for r in FAIL_REASONS
                )
                text = notices.text("optician.fail_ask", reference=case.reference)
                reply = Reply("optician.fail_ask", text, choices=choices, step=VisitOutcome.step)
                await notices.to_optician(connection, chat, reply, now, case_id=case.id)
                return
            # The lock order of every booking path: the client's conversation, then the case's
            # row, then the appointment's (the engine holds the conversation before it writes).
            await client_of_case(connection, case.id)
            if pressed.verb == "done":
                done = {"visit_outcome": "done", "done_at": now, "updated_at": now}
                if await store.move_visit(connection, case.id, move("complete"), done):
                    await appointments.end(connection, case.id, done=True, now=now)
                    closing = notices.client_reply(case.language, "console.done", reference=case.reference)
                    client = await notices.to_client(connection, case.id, closing, now)
                    if client is not None:
                        await conversations.close_conversation(connection, client.case_conversation_id, now)
                    await notices.tell_optician(
                        connection,
                        chat,
                        "optician.closed",
                        now,
                        case_id=case.id,
                        on_message=on_message,
                        reference=case.reference,
                    )
                return
            # Could not serve: back to the operators (the case's holder, or the queue); this
            # optician is not offered the case again.
            await store.fail_accepted_offers(connection, case.id, now)
            await appointments.end(connection, case.id, done=False, now=now)
            returned = {
                "optician_id": None,
                "visit_outcome": f"failed:{pressed.verb}",
                "no_taker_at": now,
                "updated_at": now,
            }
            if (
                await store.move_visit(connection, case.id, move("visit_failed"), returned)
                and not case.claimed_by
            ):
                # Nobody held it (dispatched at hand-off): released to the queue.
                await move_case(connection, case.id, move("release"), {"updated_at": now})
            failed = notices.client_reply(case.language, "optician.client_failed", reference=case.reference)
            await notices.to_client(connection, case.id, failed, now)
            await notices.tell_optician(
                connection,
                chat,
                "optician.returned",
                now,
                case_id=case.id,
                on_message=on_message,
                reference=case.reference,
            )
