"""A home visit booked to the hour: the optician who accepted proposes a one-hour window, the client
confirms it or asks for another moment, both are told.

The windows (``bot.dispatch.windows``, Paris time): the morning 8–12 is 8h, 9h, 10h, 11h; the
afternoon 13–18 is 13h to 17h. The optician is first offered the windows of the client's half-day
(for "as soon as possible", or a half-day already over, those of the first bookable half-day), and
"another half-day", which lists the next bookable half-days. Every change of the appointment is
one conditional UPDATE (``storage/appointments.py``): a button answering an older proposal, or
pressed after a cancel, is refused.

The morning reminder is :mod:`bot.dispatch.reminders`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from bot.dispatch.buttons import (
    CANCEL,
    MOVE,
    ProposalAnswer,
    SlotPick,
    VisitOutcome,
    appointment_of_step,
    parse_answer,
)
from bot.dispatch.calendar import visit_event
from bot.dispatch.notices import Notices
from bot.dispatch.windows import WINDOWS, Part, bookable_half_days, open_windows, part_of, starts_at
from bot.privacy import EXPORTS
from bot.replies import enqueue_reply
from flows.types import SERVICE_TIME_ZONE, AppointmentAnswer, Choice, Reply, as_language
from storage import appointments as store
from storage import offers
from storage.appointments import TO_PROPOSE, Appointment
from storage.database import Connection, Database
from storage.files import FileStore
from storage.outbound import CaseRecipient, client_of_case

OTHER_HALF_DAYS = 4  # how many half-days "another half-day" lists


class Booking:
    """Built by :class:`bot.dispatch.Dispatch`; ``reminder_hour``: when (Paris time) the morning
    reminder of a visit is due; ``files``: where the optician's .ics file is stored (none: no file)."""

    def __init__(
        self,
        database: Database,
        notices: Notices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        reminder_hour: int = 7,
        files: FileStore | None = None,
    ) -> None:
        self.database = database
        self.files = files
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.reminder_hour = reminder_hour

    # --- what is said -----------------------------------------------------------------------------

    def when(self, day: date, hour: int, language: str = "fr") -> str:
        """ "vendredi 27 novembre entre 9h et 10h"."""
        return self.notices.when(day, hour, language)

    def first_windows(
        self, slot_date: date | None, slot_part: str | None, asap: bool, now: datetime
    ) -> tuple[date, Part, list[int]] | None:
        """The windows first offered: the client's half-day if still open, else (and for "as soon
        as possible") the first bookable one; None if nothing is bookable."""
        local = now.astimezone(SERVICE_TIME_ZONE)
        if not asap and slot_date is not None and slot_part in WINDOWS:
            part: Part = "am" if slot_part == "am" else "pm"
            hours = open_windows(slot_date, part, local)
            if hours:
                return slot_date, part, hours
        first = bookable_half_days(local, 1)
        if not first:
            return None
        day, part = first[0]
        return day, part, open_windows(day, part, local)

    def window_choices(self, case_public_id: str, day: date, hours: list[int]) -> tuple[Choice, ...]:
        """A button per window, then "another half-day"."""
        windows = tuple(
            Choice(
                SlotPick(case_public_id, day, hour=hour).pack(),
                self.notices.text("appointment.window", start=hour, end=hour + 1),
            )
            for hour in hours
        )
        other = Choice(SlotPick(case_public_id).pack(), self.notices.text("appointment.other_half_day"))
        return (*windows, other)

    def pick_hour(
        self, case_public_id: str, reference: str, windows: tuple[date, Part, list[int]] | None
    ) -> Reply:
        """The optician's question: which window (of that half-day), or another half-day."""
        if windows is None:
            text = self.notices.text("appointment.pick_half_day", reference=reference)
            return Reply("appointment.pick_hour", text, (self._other(case_public_id),), SlotPick.step)
        day, part, hours = windows
        slot = self.notices.slot(day, part)
        text = self.notices.text("appointment.pick_hour", reference=reference, slot=slot)
        return Reply(
            "appointment.pick_hour", text, self.window_choices(case_public_id, day, hours), SlotPick.step
        )

    def _other(self, case_public_id: str) -> Choice:
        return Choice(SlotPick(case_public_id).pack(), self.notices.text("appointment.other_half_day"))

    def on_the_way(self, case_public_id: str) -> tuple[Choice, ...]:
        """ "Je suis en route" / "Visite impossible": a confirmed visit, before setting out."""
        return (
            Choice(VisitOutcome(case_public_id, "route").pack(), self.notices.text("appointment.route")),
            Choice(VisitOutcome(case_public_id, "fail").pack(), self.notices.text("optician.failed")),
        )

    def outcomes(self, case_public_id: str) -> tuple[Choice, ...]:
        """ "Visite faite" / "Visite impossible"."""
        return (
            Choice(VisitOutcome(case_public_id, "done").pack(), self.notices.text("optician.done")),
            Choice(VisitOutcome(case_public_id, "fail").pack(), self.notices.text("optician.failed")),
        )

    def remind_at(self, day: date, hour: int, now: datetime) -> datetime | None:
        """When the morning reminder is due: the visit's day at the reminder hour (an hour before
        the visit if that is earlier); None if that moment is already past."""
        due = min(starts_at(day, min(self.reminder_hour, 23)), starts_at(day, hour) - timedelta(hours=1))
        return due if due > now else None

    # --- the optician's side --------------------------------------------------------------------------

    async def open(self, connection: Connection, case_id: int, optician_id: int, now: datetime) -> None:
        """The optician won the visit: an appointment waits for their proposal."""
        await store.open_appointment(connection, case_id, optician_id, now)

    async def pick(self, chat: str, pressed: SlotPick) -> None:
        """A window, a half-day or "another half-day" pressed by the optician who holds the visit."""
        now = self.clock()
        notices = self.notices
        async with self.database.begin() as connection:
            case = await offers.taken_case(connection, pressed.case_id, chat)
            appointment = await store.appointment_of(connection, case.id) if case is not None else None
            if case is None or case.status != offers.OUT_ON_A_VISIT or appointment is None:
                case_id = case.id if case is not None else None
                await notices.tell_optician(
                    connection, chat, "optician.already_answered", now, case_id=case_id
                )
                return
            if appointment.status not in TO_PROPOSE:
                await notices.tell_optician(
                    connection, chat, "appointment.not_open", now, case_id=case.id, reference=case.reference
                )
                return
            local = now.astimezone(SERVICE_TIME_ZONE)
            if pressed.day is None:  # the next half-days
                await self._half_days(connection, chat, appointment, local, now)
                return
            if pressed.hour is None:  # that half-day's windows
                part: Part = "am" if pressed.part == "am" else "pm"
                hours = open_windows(pressed.day, part, local)
                windows = (pressed.day, part, hours) if hours else None
                reply = self.pick_hour(appointment.case_public_id, case.reference, windows)
                await notices.to_optician(connection, chat, reply, now, case_id=case.id)
                return
            part_of_hour = part_of(pressed.hour)
            if part_of_hour is None or pressed.hour not in open_windows(pressed.day, part_of_hour, local):
                await notices.tell_optician(
                    connection,
                    chat,
                    "appointment.window_past",
                    now,
                    case_id=case.id,
                    reference=case.reference,
                )
                await self._half_days(connection, chat, appointment, local, now)
                return
            # The client's conversation is locked first, as the engine locks it before touching the
            # appointment (a client's answer): the two never wait on each other in reverse order.
            client = await client_of_case(connection, case.id)
            proposal = await store.propose(connection, case.id, pressed.day, pressed.hour, now)
            if proposal is None:
                await notices.tell_optician(
                    connection, chat, "appointment.not_open", now, case_id=case.id, reference=case.reference
                )
                return
            when = self.when(pressed.day, pressed.hour)
            await notices.tell_optician(
                connection,
                chat,
                "appointment.proposed",
                now,
                case_id=case.id,
                reference=case.reference,
                when=when,
            )
            if client is not None:
                await self._propose_to_client(
                    connection, client, appointment, proposal, pressed.day, pressed.hour, now
                )
        self.notify()

    async def _half_days(
        self, connection: Connection, chat: str, appointment: Appointment, local: datetime, now: datetime
    ) -> None:
        choices = tuple(
            Choice(SlotPick(appointment.case_public_id, day, part=part).pack(), self.notices.slot(day, part))
            for day, part in bookable_half_days(local, OTHER_HALF_DAYS)
        )
        text = self.notices.text("appointment.pick_half_day", reference=appointment.reference)
        reply = Reply("appointment.pick_half_day", text, choices, SlotPick.step)
        await self.notices.to_optician(connection, chat, reply, now, case_id=appointment.case_id)

    async def _propose_to_client(
        self,
        connection: Connection,
        client: CaseRecipient,
        appointment: Appointment,
        proposal: int,
        day: date,
        hour: int,
        now: datetime,
    ) -> None:
        """The proposal to the client, in their language, with "Je confirme" / "Proposer un autre
        moment" (the buttons name this proposal: an older one's are refused)."""
        language = as_language(client.recipient.language)
        catalog = self.notices.catalog
        text = catalog.text(
            language,
            "appointment.proposal",
            name=first_name(appointment.optician),
            when=self.when(day, hour, language),
            reference=appointment.reference,
        )
        confirm = ProposalAnswer(appointment.case_public_id, proposal, confirm=True)
        another = ProposalAnswer(appointment.case_public_id, proposal, confirm=False)
        choices = (
            Choice(confirm.value, catalog.text(language, "appointment.confirm")),
            Choice(another.value, catalog.text(language, "appointment.other")),
        )
        reply = Reply("appointment.proposal", text, choices, confirm.step)
        await enqueue_reply(connection, client.recipient, reply, now)

    async def set_out(self, connection: Connection, case_id: int, chat: str, now: datetime) -> None:
        """ "Je suis en route" on a confirmed visit, on its day (Paris time; another day is kindly
        refused), in the optician's answer's transaction: the client is told, with the optician's
        first name; then "Visite faite" / "Visite impossible"."""
        client = await client_of_case(connection, case_id)  # locked first, as the engine does
        appointment = await store.appointment_of(connection, case_id)
        today = now.astimezone(SERVICE_TIME_ZONE).date()
        if (
            appointment is not None
            and appointment.status == "confirmed"
            and appointment.day is not None
            and appointment.hour is not None
            and appointment.day != today
        ):
            await self.notices.tell_optician(
                connection,
                chat,
                "appointment.route_not_today",
                now,
                case_id=case_id,
                reference=appointment.reference,
                when=self.when(appointment.day, appointment.hour),
            )
            return
        if appointment is None or not await store.set_out(connection, case_id, now):
            reference = appointment.reference if appointment is not None else ""
            await self.notices.tell_optician(
                connection, chat, "appointment.not_confirmed", now, case_id=case_id, reference=reference
            )
            return
        if client is not None:
            language = as_language(client.recipient.language)
            text = self.notices.catalog.text(
                language,
                "appointment.en_route",
                name=first_name(appointment.optician),
                reference=appointment.reference,
            )
            await enqueue_reply(connection, client.recipient, Reply("appointment.en_route", text), now)
        text = self.notices.text("appointment.en_route_optician", reference=appointment.reference)
        reply = Reply(
            "appointment.en_route_optician",
            text,
            self.outcomes(appointment.case_public_id),
            VisitOutcome.step,
        )
        await self.notices.to_optician(connection, chat, reply, now, case_id=case_id)

    async def withdrawn(self, connection: Connection, booked: Appointment, now: datetime) -> None:
        """The case left home visits (cancelled, closed, erased) while its appointment was
        ``booked``: a visit that was confirmed (or under way) is withdrawn from the optician's
        calendar with the .ics's cancellation (the optician is told not to come by the offers)."""
        if (
            booked.status not in ("confirmed", "en_route")
            or booked.telegram_chat is None
            or booked.day is None
            or booked.hour is None
        ):
            return
        document = self._calendar_file(booked, booked.proposal, booked.day, booked.hour, now, cancelled=True)
        if document is None:
            return
        text = self.notices.text("appointment.calendar_cancelled", reference=booked.reference)
        reply = Reply("appointment.calendar_cancelled", text, document=document)
        await self.notices.to_optician(connection, booked.telegram_chat, reply, now, case_id=booked.case_id)

    # --- the client's side (in the engine's transaction) --------------------------------------------

    async def client_answer(
        self, connection: Connection, case_id: int, answer: AppointmentAnswer, language: str, now: datetime
    ) -> list[Reply] | None:
        """The client pressed "Je confirme" or "Proposer un autre moment" on a proposal, or asked
        to move the appointment (a button or words: None if there is none to move)."""
        if answer.choice == MOVE:
            return await self._move(connection, case_id, answer, language, now)
        pressed = parse_answer(answer.step, answer.choice)
        appointment = await store.appointment_of(connection, case_id)
        if pressed is None or appointment is None or appointment.case_public_id != pressed.case_id:
            return [self.notices.client_reply(language, "appointment.stale")]
        if appointment.day is None or appointment.hour is None:
            return [self.notices.client_reply(language, "appointment.stale")]
        day, hour = appointment.day, appointment.hour
        name = first_name(appointment.optician)
        if pressed.confirm and starts_at(day, hour) <= now:
            return await self._expired(connection, case_id, appointment, pressed.proposal, language, now)
        if pressed.confirm:
            remind_at = self.remind_at(day, hour, now)
            if not await store.confirm(connection, case_id, pressed.proposal, now, remind_at):
                return [self.notices.client_reply(language, "appointment.stale")]
            if appointment.telegram_chat is not None:
                text = self.notices.text(
                    "appointment.confirmed_optician",
                    reference=appointment.reference,
                    when=self.when(day, hour),
                    address=appointment.address or "—",
                )
                reply = Reply(
                    "appointment.confirmed_optician",
                    text,
                    self.on_the_way(appointment.case_public_id),
                    VisitOutcome.step,
                    document=self._calendar_file(appointment, pressed.proposal, day, hour, now),
                )
                await self.notices.to_optician(
                    connection, appointment.telegram_chat, reply, now, case_id=case_id
                )
            # The reminder is announced only if one will go (none when confirmed after its moment).
            key = "appointment.confirmed" if remind_at is not None else "appointment.confirmed_soon"
            confirmed = self.notices.client_reply(
                language, key, name=name, when=self.when(day, hour, language)
            )
            catalog = self.notices.catalog
            choices = (
                Choice(MOVE, catalog.text(as_language(language), "appointment.move")),
                Choice(CANCEL, catalog.text(as_language(language), "appointment.cancel")),
            )
            return [Reply(confirmed.key, confirmed.text, choices, pressed.step)]
        if not await store.ask_another_moment(connection, case_id, pressed.proposal, now):
            return [self.notices.client_reply(language, "appointment.stale")]
        asked = "appointment.other_asked_optician"
        await self._ask_again(connection, appointment, asked, now, at=(day, hour))
        return [self.notices.client_reply(language, "appointment.other_asked", name=name)]

    async def _expired(
        self,
        connection: Connection,
        case_id: int,
        appointment: Appointment,
        proposal: int,
        language: str,
        now: datetime,
    ) -> list[Reply]:
        """ "Je confirme" on a proposal whose window has started: refused, the optician is asked
        for another moment (as if the client had asked for one)."""
        if not await store.ask_another_moment(connection, case_id, proposal, now):
            return [self.notices.client_reply(language, "appointment.stale")]
        await self._ask_again(connection, appointment, "appointment.expired_optician", now)
        name = first_name(appointment.optician)
        return [self.notices.client_reply(language, "appointment.expired", name=name)]

    def _calendar_file(
        self,
        appointment: Appointment,
        proposal: int,
        day: date,
        hour: int,
        now: datetime,
        *,
        cancelled: bool = False,
    ) -> dict[str, str] | None:
        """The confirmed visit as an .ics file for the optician's calendar, or its cancellation
        (moved, cancelled). One event per appointment (its UID: the case's and the appointment's
        ids); its SEQUENCE follows the proposals, 2n for proposal n confirmed and 2n+1 for its
        cancellation, so each file replaces the one before in the calendar.

        Stored encrypted with the exports (purged after a day, erased with the case's messages)
        while the transaction is still open: the outbox row that sends it must name it. A file
        whose transaction rolls back is an orphan, purged with the exports within a day."""
        if self.files is None:
            return None
        content = visit_event(
            uid=f"{appointment.case_public_id}-{appointment.id}",
            reference=appointment.reference,
            starts=starts_at(day, hour),
            address=appointment.address or "",
            summary=self.notices.text("appointment.calendar_title", reference=appointment.reference),
            now=now,
            sequence=2 * proposal + int(cancelled),
            cancelled=cancelled,
        )
        path = self.files.save_document(content, ".ics", EXPORTS)
        return {"path": path, "filename": f"visite-{appointment.reference}.ics", "mime": "text/calendar"}

    async def _move(
        self, connection: Connection, case_id: int, answer: AppointmentAnswer, language: str, now: datetime
    ) -> list[Reply] | None:
        """The client asks to move the appointment (proposed or confirmed): the optician is told
        and proposes again. A button names the proposal it was shown with (an older one is
        refused); words with no appointment to move are the advisors' (None)."""
        appointment = await store.appointment_of(connection, case_id)
        stale = [self.notices.client_reply(language, "appointment.stale")]
        if answer.step is not None:
            named = appointment_of_step(answer.step)
            current = appointment is not None and named == (appointment.case_public_id, appointment.proposal)
            if not current:
                return stale
        if (
            appointment is None
            or appointment.day is None
            or appointment.hour is None
            or not await store.move_by_client(connection, case_id, now)
        ):
            return None if answer.step is None else stale
        if appointment.telegram_chat is not None:
            # A confirmed visit is in the optician's calendar: it is withdrawn from it.
            withdrawn = (
                self._calendar_file(
                    appointment, appointment.proposal, appointment.day, appointment.hour, now, cancelled=True
                )
                if appointment.status == "confirmed"
                else None
            )
            moved = "appointment.moved_optician"
            await self._ask_again(connection, appointment, moved, now, document=withdrawn)
        name = first_name(appointment.optician)
        return [self.notices.client_reply(language, "appointment.moving", name=name)]

    async def _ask_again(
        self,
        connection: Connection,
        appointment: Appointment,
        key: str,
        now: datetime,
        *,
        at: tuple[date, int] | None = None,
        document: dict[str, str] | None = None,
    ) -> None:
        """The optician (if linked) is told the client wants another moment than ``at`` (by default
        the appointment's day and hour), with the windows of that half-day still open to pick again
        (or other half-days); ``document``: the calendar's cancellation of the visit confirmed then."""
        chat = appointment.telegram_chat
        day, hour = at if at is not None else (appointment.day, appointment.hour)
        if chat is None or day is None or hour is None:
            return
        local = now.astimezone(SERVICE_TIME_ZONE)
        part = part_of(hour) or "am"
        hours = open_windows(day, part, local)
        windows = (day, part, hours) if hours else None
        question = self.pick_hour(appointment.case_public_id, appointment.reference, windows)
        told = self.notices.text(key, reference=appointment.reference, when=self.when(day, hour))
        reply = Reply(key, f"{told}\n{question.text}", question.choices, question.step, document=document)
        await self.notices.to_optician(connection, chat, reply, now, case_id=appointment.case_id)


def first_name(name: str | None) -> str:
    """What a client reads of the optician's name."""
    return (name or "").split(" ", 1)[0] or "—"
