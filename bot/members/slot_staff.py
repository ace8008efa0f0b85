"""Staff's side of the video follow-ups (issue 16), for the console and the CLI: publish slots,
list them, cancel one (its member told and offered the others). Each change is journaled.
Façade: :class:`bot.members.slots.VideoSlots`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.members.notices import MemberNotices
from bot.members.slot_booking import SlotBooking
from bot.members.slot_words import SlotWords, chat_of, new_public_id, new_room
from flows.types import SERVICE_TIME_ZONE
from storage import video_slots as store
from storage.database import Database
from storage.privacy.journal import record_access
from storage.video_slots import Slot

log = logging.getLogger(__name__)

MAX_AT_ONCE = 48  # slots published in one go (a day's half-hours)
MAX_DAYS_AHEAD = 366
JOURNAL_ACTION = "video_slot"


class SlotError(ValueError):
    """A slot staff may not publish or cancel (said in French, for the console and the CLI)."""


@dataclass(frozen=True, slots=True)
class SlotView:
    """A slot as the console and the CLI show it (``member``: the optician's name, staff only)."""

    id: str
    starts_at: datetime
    minutes: int
    staff: str
    status: str  # open | taken | cancelled
    member: str | None
    member_id: str | None
    reference: str | None
    link: str
    taken_at: datetime | None
    reminded_at: datetime | None
    soon: bool  # taken, and starting within the reminder's delay (staff's reminder in the console)
    created_by: str


class StaffSlots:
    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        words: SlotWords,
        booking: SlotBooking,
        *,
        minutes: int,
        remind_minutes: int,
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.words = words
        self.booking = booking
        self.minutes = minutes
        self.remind_minutes = remind_minutes

    async def publish(
        self, starts: Sequence[datetime], *, minutes: int | None, staff: str, by: str
    ) -> list[SlotView]:
        """New open slots (journaled, one line each); SlotError if one is past, too far, or twice."""
        now = self.clock()
        length = self.minutes if minutes is None else minutes
        if not 10 <= length <= 180:
            raise SlotError("durée entre 10 et 180 minutes")
        if not starts:
            raise SlotError("aucun créneau")
        if len(starts) > MAX_AT_ONCE:
            raise SlotError(f"au plus {MAX_AT_ONCE} créneaux à la fois")
        if len(set(starts)) != len(starts):
            raise SlotError("le même créneau deux fois")
        for moment in starts:
            if moment.tzinfo is None:
                raise SlotError("heure sans fuseau")
            if moment <= now:
                raise SlotError(f"créneau passé : {moment.astimezone(SERVICE_TIME_ZONE):%d/%m/%Y %H:%M}")
            if moment > now + timedelta(days=MAX_DAYS_AHEAD):
                raise SlotError("créneau à plus d'un an")
        staff = staff.strip()[:64] or by
        ids: list[str] = []
        async with self.database.begin() as connection:
            for moment in sorted(starts):
                public_id = new_public_id()
                await store.add_slot(
                    connection,
                    public_id=public_id,
                    starts_at=moment,
                    minutes=length,
                    room=new_room(),
                    staff=staff,
                    created_by=by,
                    now=now,
                )
                await record_access(connection, now, by, JOURNAL_ACTION, detail=f"add {public_id}")
                ids.append(public_id)
        self.notify()
        async with self.database.connect() as connection:
            found = [await store.slot(connection, public_id) for public_id in ids]
        return [self._view(s, now) for s in found if s is not None]

    async def listing(self, since: datetime | None = None) -> list[SlotView]:
        """Slots from the start of today (Paris) on, soonest first."""
        now = self.clock()
        if since is None:
            today = now.astimezone(SERVICE_TIME_ZONE).date()
            since = datetime(today.year, today.month, today.day, tzinfo=SERVICE_TIME_ZONE)
        async with self.database.connect() as connection:
            found = await store.upcoming(connection, since)
        return [self._view(s, now) for s in found]

    async def one(self, public_id: str) -> SlotView | None:
        async with self.database.connect() as connection:
            found = await store.slot(connection, public_id[:32])
        return None if found is None else self._view(found, self.clock())

    async def cancel(self, public_id: str, *, by: str) -> SlotView:
        """Staff withdraw a slot before it starts (journaled); its member, if taken, is told and
        offered the other slots. SlotError if unknown, already cancelled, or started."""
        async with self.database.begin() as connection:
            now = self.clock()
            slot = await store.slot(connection, public_id[:32])
            if slot is None:
                raise LookupError(public_id)
            cancelled = await store.cancel(connection, slot.public_id, now)
            if not cancelled.done:
                raise SlotError("créneau déjà annulé ou commencé")
            await record_access(connection, now, by, JOURNAL_ACTION, detail=f"cancel {slot.public_id}")
            when = self.words.when(slot.starts_at)
            # The holding as the UPDATE found it: a member who took the slot since it was read is
            # told, and their request's thread says it.
            holder = cancelled.holder
            if holder is not None:
                to = chat_of(cancelled.channel, *await store.member_chats(connection, holder))
                if to is not None:
                    await self.booking.offer(
                        connection, to, holder, now, None, None, "slots.cancelled", when=when
                    )
                if cancelled.request_id is not None:
                    text = self.notices.text("slots.event_cancelled", when=when)
                    await store.add_event(connection, cancelled.request_id, text, now)
            found = await store.slot(connection, slot.public_id)
        log.info("video slot %s cancelled by staff", slot.public_id)
        self.notify()
        assert found is not None
        return self._view(found, now)

    def _view(self, slot: Slot, now: datetime) -> SlotView:
        soon = slot.status == store.TAKEN and now < slot.starts_at <= now + timedelta(
            minutes=self.remind_minutes
        )
        return SlotView(
            slot.public_id,
            slot.starts_at,
            slot.minutes,
            slot.staff,
            slot.status,
            slot.member if slot.status == store.TAKEN else None,
            slot.member_public_id if slot.status == store.TAKEN else None,
            slot.reference if slot.status == store.TAKEN else None,
            self.words.link(slot.room),
            slot.taken_at,
            slot.reminded_at,
            soon,
            slot.created_by,
        )
