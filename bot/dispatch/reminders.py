"""The morning reminder of a visit booked to the hour, to the client and the optician.

Due on the visit's day at ``APPOINTMENT_REMINDER_HOUR`` (Paris time), or an hour before the visit if
that is earlier (``Booking.remind_at``, fixed when the client confirms); none when the client
confirms after that moment. The sweep runs with dispatch's (every 15 s): each due reminder is
claimed (``reminded_at``) in the transaction that enqueues its two messages, so it goes once
whatever the processes and restarts; the outbox paces them like any message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

from bot.dispatch.booking import Booking, first_name
from bot.dispatch.buttons import VisitOutcome
from bot.dispatch.windows import starts_at
from bot.logs import describe
from bot.replies import enqueue_reply
from flows.types import SERVICE_TIME_ZONE, Reply, as_language
from storage import appointments as store
from storage.appointments import Appointment
from storage.database import Connection, Database
from storage.outbound import CaseRecipient, client_of_case

log = logging.getLogger(__name__)


class Reminders:
    """Built by :class:`bot.dispatch.Dispatch`; ``notify`` wakes the outbox after a sweep that sent."""

    def __init__(
        self, database: Database, booking: Booking, clock: Callable[[], datetime], notify: Callable[[], None]
    ) -> None:
        self.database = database
        self.booking = booking
        self.clock = clock
        self.notify = notify

    async def remind(self, now: datetime | None = None, batch: int = 100) -> int:
        """Remind the client and the optician of each confirmed visit whose reminder is due; how
        many visits. Each reminder is claimed (``reminded_at``) in the transaction that enqueues
        its two messages: sent once, whatever the processes and restarts; the outbox paces them.
        One transaction per visit: a reminder that fails does not hold back the others. A reminder
        found late (after a downtime: the visit has started, or its day is over in Paris) is
        claimed without being sent."""
        now = now or self.clock()
        async with self.database.connect() as connection:
            due = await store.due_reminders(connection, now, batch)
        reminded = 0
        for case_id in due:
            try:
                async with self.database.begin() as connection:
                    reminded += await self._remind_one(connection, case_id, now)
            except Exception as error:
                # The next sweep tries it again; the others go meanwhile (no personal data logged).
                log.error("reminder of case %s failed: %s", case_id, describe(error))
        if reminded:
            self.notify()
        return reminded

    async def _remind_one(self, connection: Connection, case_id: int, now: datetime) -> int:
        # The client's conversation is locked before the case's and the appointment's rows, in the
        # engine's order (a client moving the appointment): neither waits on the other in reverse.
        client = await client_of_case(connection, case_id)
        if not await store.claim_reminder(connection, case_id, now):
            return 0  # another process (or sweep) took it first
        appointment = await store.appointment_of(connection, case_id)
        if appointment is None or appointment.day is None or appointment.hour is None:
            return 0
        late = now >= starts_at(appointment.day, appointment.hour) or (
            now.astimezone(SERVICE_TIME_ZONE).date() != appointment.day
        )
        if late:
            return 0  # claimed, not sent: "vient aujourd'hui entre 9h et 10h" would be wrong now
        await self._remind(connection, client, appointment, appointment.day, appointment.hour, now)
        return 1

    async def _remind(
        self,
        connection: Connection,
        client: CaseRecipient | None,
        appointment: Appointment,
        day: date,
        hour: int,
        now: datetime,
    ) -> None:
        catalog = self.booking.notices.catalog
        if client is not None:
            language = as_language(client.recipient.language)
            text = catalog.text(
                language,
                "appointment.reminder",
                name=first_name(appointment.optician),
                start=hour,
                end=hour + 1,
                reference=appointment.reference,
            )
            await enqueue_reply(connection, client.recipient, Reply("appointment.reminder", text), now)
        if appointment.telegram_chat is not None:
            text = self.booking.notices.text(
                "appointment.reminder_optician",
                reference=appointment.reference,
                when=self.booking.when(day, hour),
                address=appointment.address or "—",
            )
            reply = Reply(
                "appointment.reminder_optician",
                text,
                self.booking.on_the_way(appointment.case_public_id),
                VisitOutcome.step,
            )
            await self.booking.notices.to_optician(
                connection, appointment.telegram_chat, reply, now, case_id=appointment.case_id
            )
