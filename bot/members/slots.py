"""Video follow-ups (issue 16): staff publish slots; a member picks one from buttons and takes it
atomically (one conditional UPDATE: two members, one slot, one wins); both get a Jitsi Meet link
made from a random room name (no API call) and a reminder before it starts.

Decisions (docs/MEMBERS.md):
- A member holds at most one upcoming slot: offered slots while they hold one, they are shown it
  (link and an "Annuler la visio" button) instead. Giving it back opens it again for others, with a
  new room: the link the member had no longer leads to the next member's meeting.
- Staff get the link in the console (the slots' dialog: member, status, link) and, when the slot
  was taken from a request, on that request's thread. Their reminder: a "Rappel" event on that
  thread, written in the transaction that claims the member's (so once, even when the member can
  no longer be reached), and the console's reminder (slot-reminders.js, from GET /slots' "soon").
- The member's reminder is claimed in the transaction that enqueues it (``reminded_at IS NULL``),
  so it goes once across processes and restarts; one found after the slot started is claimed and
  not sent. A slot taken within the reminder's delay has none: its confirmation is the reminder.

:class:`VideoSlots` is the one face the rest of the bot uses; its parts:
:mod:`bot.members.slot_booking` (the member's side: offer, take, give back),
:mod:`bot.members.slot_staff` (staff's side: publish, list, cancel),
:mod:`bot.members.slot_reminders` (the reminders' loop) and :mod:`bot.members.slot_words`
(ids, rooms, dates and labels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot.members.notices import MemberChat, MemberNotices
from bot.members.slot_booking import GIVE_BACK, MAX_OFFERED, NONE, SLOT_STEP, SlotBooking
from bot.members.slot_reminders import REMIND_POLL_SECONDS, SlotReminders
from bot.members.slot_staff import MAX_AT_ONCE, MAX_DAYS_AHEAD, SlotError, SlotView, StaffSlots
from bot.members.slot_words import SlotWords, new_public_id, new_room, parse_when
from flows.types import ClientInput
from storage.database import Connection, Database

__all__ = [
    "GIVE_BACK",
    "MAX_AT_ONCE",
    "MAX_DAYS_AHEAD",
    "MAX_OFFERED",
    "NONE",
    "REMIND_POLL_SECONDS",
    "SLOT_STEP",
    "SlotError",
    "SlotView",
    "VideoSlots",
    "new_public_id",
    "new_room",
    "parse_when",
]


class VideoSlots:
    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        jitsi_base_url: str,
        minutes: int,
        remind_minutes: int,
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.minutes = minutes
        self.remind_minutes = remind_minutes
        self.words = SlotWords(notices, jitsi_base_url)
        self.booking = SlotBooking(
            database, notices, clock, notify, self.words, remind_minutes=remind_minutes
        )
        self.staff = StaffSlots(
            database,
            notices,
            clock,
            notify,
            self.words,
            self.booking,
            minutes=minutes,
            remind_minutes=remind_minutes,
        )
        self.reminders = SlotReminders(database, notices, clock, notify, self.words)

    # --- words ------------------------------------------------------------------------------------

    def link(self, room: str) -> str:
        return self.words.link(room)

    def when(self, moment: datetime) -> str:
        """ "jeudi 10 décembre à 14h30" (Paris time, French)."""
        return self.words.when(moment)

    # --- the member's side ------------------------------------------------------------------------

    async def offer(
        self,
        connection: Connection,
        to: MemberChat,
        optician_id: int,
        now: datetime,
        *,
        request_id: int | None,
        on_message: int | None = None,
    ) -> None:
        """In the caller's transaction: the next open slots as buttons (step "m.slot") with "none
        of these", or a word that none is free; the member's own slot if they hold one."""
        await self.booking.offer(connection, to, optician_id, now, request_id, on_message, "slots.offer")

    async def answer(
        self, to: MemberChat, optician_id: int, said: ClientInput, on_message: int | None
    ) -> None:
        """A "m.slot" button, in its own transaction: take the slot (or say it was taken and offer
        the others), none of these, or give one's slot back. Tampered or stale: said politely."""
        await self.booking.answer(to, optician_id, said, on_message)

    async def held(self, connection: Connection, optician_id: int, now: datetime) -> list[tuple[str, str]]:
        """The member's upcoming follow-ups (bot.members.account): (when, link), soonest first."""
        return await self.booking.held(connection, optician_id, now)

    # --- staff: publish, list, cancel -------------------------------------------------------------

    async def publish(
        self, starts: Sequence[datetime], *, minutes: int | None, staff: str, by: str
    ) -> list[SlotView]:
        """New open slots (journaled, one line each); SlotError if one is past, too far, or twice."""
        return await self.staff.publish(starts, minutes=minutes, staff=staff, by=by)

    async def listing(self, since: datetime | None = None) -> list[SlotView]:
        """Slots from the start of today (Paris) on, soonest first."""
        return await self.staff.listing(since)

    async def one(self, public_id: str) -> SlotView | None:
        return await self.staff.one(public_id)

    async def cancel(self, public_id: str, *, by: str) -> SlotView:
        """Staff withdraw a slot before it starts (journaled); its member, if taken, is told and
        offered the other slots. SlotError if unknown, already cancelled, or started."""
        return await self.staff.cancel(public_id, by=by)

    # --- the reminders ----------------------------------------------------------------------------

    def wake(self) -> None:
        self.reminders.wake()

    async def run(self) -> None:
        """The members' reminders, until cancelled: woken by :meth:`wake` or every 30 s."""
        await self.reminders.run()

    async def remind(self, now: datetime | None = None) -> int:
        """Remind each member whose slot's reminder is due; how many were told (once each)."""
        return await self.reminders.remind(now)
