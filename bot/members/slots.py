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
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.desk import MEMBER_STEP_PREFIX
from bot.logs import describe
from bot.members.notices import MEMBERS_LANGUAGE, MemberChat, MemberNotices
from bot.signals import wait_set
from flows.types import SERVICE_TIME_ZONE, Choice, ClientInput, Reply
from storage import video_slots as store
from storage.database import Connection, Database
from storage.privacy.journal import record_access
from storage.video_slots import Slot

log = logging.getLogger(__name__)

SLOT_STEP = MEMBER_STEP_PREFIX + "slot"  # "m.slot"
MAX_OFFERED = 8  # buttons (with "none of these": 9, within WhatsApp's list of 10)
NONE = "none"
GIVE_BACK = "x."  # "x.<public_id>": the member gives their slot back
REMIND_POLL_SECONDS = 30.0
MAX_AT_ONCE = 48  # slots published in one go (a day's half-hours)
MAX_DAYS_AHEAD = 366
JOURNAL_ACTION = "video_slot"
_PUBLIC_ID = re.compile(r"^[0-9a-f]{10}$")


class SlotError(ValueError):
    """A slot staff may not publish or cancel (said in French, for the console and the CLI)."""


def new_public_id() -> str:
    return secrets.token_hex(5)


def new_room() -> str:
    """A Jitsi Meet room nobody can guess (96 random bits, lower case: Jitsi folds the case)."""
    return "optibot-" + secrets.token_hex(12)


_FRENCH = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T,]+(\d{1,2})\s*[:hH]\s*(\d{2})?)?$")


def parse_when(text: str) -> datetime | None:
    """A slot's start as staff write it: "2026-12-10 14:00" (Paris time), an ISO time with or
    without its offset ("2026-12-10T14:00+01:00"), or "10/12/2026 14h30"; None if not a time."""
    text = text.strip()
    found = _FRENCH.match(text)
    try:
        if found:
            day, month, year, hour, minute = found.groups()
            moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if (found and found.group(4) is None) or (not found and len(text) <= 10):
        return None  # a day without its hour
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SERVICE_TIME_ZONE)
    return moment


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
        self.jitsi_base_url = jitsi_base_url.rstrip("/")
        self.minutes = minutes
        self.remind_minutes = remind_minutes
        self._wake = asyncio.Event()

    # --- words ------------------------------------------------------------------------------------

    def link(self, room: str) -> str:
        return f"{self.jitsi_base_url}/{room}"

    def when(self, moment: datetime) -> str:
        """ "jeudi 10 décembre à 14h30" (Paris time, French)."""
        local = moment.astimezone(SERVICE_TIME_ZONE)
        catalog = self.notices.catalog
        weekday = catalog.raw(MEMBERS_LANGUAGE, "calendar.days")[local.weekday()]
        month = catalog.raw(MEMBERS_LANGUAGE, "calendar.months")[local.month - 1]
        number = catalog.text(MEMBERS_LANGUAGE, "calendar.first") if local.day == 1 else str(local.day)
        on = catalog.text(MEMBERS_LANGUAGE, "calendar.date", weekday=weekday, day=number, month=month)
        return self.notices.text("slots.when", date=on, hour=_hour(local))

    def _label(self, moment: datetime) -> str:
        """A button: "Jeu. 10/12 · 14h30" (24 characters at most: WhatsApp's list rows)."""
        local = moment.astimezone(SERVICE_TIME_ZONE)
        catalog = self.notices.catalog
        weekday = catalog.raw(MEMBERS_LANGUAGE, "calendar.short_days")[local.weekday()]
        day = catalog.text(
            MEMBERS_LANGUAGE, "calendar.short_date", weekday=weekday, day=local.day, month=local.month
        )
        return f"{day} · {_hour(local)}"

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
        await self._offer(connection, to, optician_id, now, request_id, on_message, "slots.offer")

    async def _offer(
        self,
        connection: Connection,
        to: MemberChat,
        optician_id: int,
        now: datetime,
        request_id: int | None,
        on_message: int | None,
        key: str,
        **values: object,
    ) -> None:
        held = await store.held_by(connection, optician_id, now)
        if held:
            await self._held(connection, to, held[0], now, on_message)
            return
        found = await store.open_slots(connection, now, MAX_OFFERED)
        if not found:
            none = Reply(f"{key}_none", self.notices.text(f"{key}_none", **values))
            await self.notices.to_member(connection, to, none, now, on_message=on_message)
            return
        tail = "" if request_id is None else f".{request_id}"
        buttons = [Choice(s.public_id + tail, self._label(s.starts_at)) for s in found]
        buttons.append(Choice(NONE + tail, self.notices.text("slots.none_button")))
        text = self.notices.text(key, **values)
        await self.notices.to_member(
            connection, to, Reply(key, text, tuple(buttons), SLOT_STEP), now, on_message=on_message
        )

    async def _held(
        self, connection: Connection, to: MemberChat, slot: Slot, now: datetime, on_message: int | None
    ) -> None:
        """The slot the member holds, its link and "Annuler la visio"."""
        await self._tell_booked(connection, to, "slots.already", slot.public_id, slot, now, on_message)

    async def _tell_booked(
        self,
        connection: Connection,
        to: MemberChat,
        key: str,
        public_id: str,
        slot: Slot | store.Booked,
        now: datetime,
        on_message: int | None,
    ) -> None:
        text = self.notices.text(
            key, when=self.when(slot.starts_at), minutes=slot.minutes, link=self.link(slot.room)
        )
        give_back = Choice(GIVE_BACK + public_id, self.notices.text("slots.give_back_button"))
        reply = Reply(key, text, (give_back,), SLOT_STEP)
        await self.notices.to_member(connection, to, reply, now, on_message=on_message)

    async def answer(
        self, to: MemberChat, optician_id: int, said: ClientInput, on_message: int | None
    ) -> None:
        """A "m.slot" button, in its own transaction: take the slot (or say it was taken and offer
        the others), none of these, or give one's slot back. Tampered or stale: said politely."""
        value = said.choice or ""
        async with self.database.begin() as connection:
            now = self.clock()
            if said.step != SLOT_STEP or not value:
                await self._offer(connection, to, optician_id, now, None, on_message, "slots.stale")
            elif value.startswith(GIVE_BACK):
                await self._give_back(
                    connection, to, optician_id, value.removeprefix(GIVE_BACK), now, on_message
                )
            else:
                head, _, tail = value.partition(".")
                request_id = int(tail) if tail.isdigit() and len(tail) < 19 else None
                if request_id is not None:
                    request_id = await store.request_of(connection, request_id, optician_id)
                if head == NONE:
                    await self.notices.tell(connection, to, "slots.none_chosen", now, on_message=on_message)
                    if request_id is not None:
                        await store.add_event(
                            connection, request_id, self.notices.text("slots.event_none"), now
                        )
                elif _PUBLIC_ID.match(head):
                    await self._take(connection, to, optician_id, head, request_id, now, on_message)
                else:
                    await self._offer(connection, to, optician_id, now, None, on_message, "slots.stale")
        self.notify()

    async def _take(
        self,
        connection: Connection,
        to: MemberChat,
        optician_id: int,
        public_id: str,
        request_id: int | None,
        now: datetime,
        on_message: int | None,
    ) -> None:
        await store.lock_holder(connection, optician_id)  # the check and the take: one step
        slot = await store.slot(connection, public_id)
        if slot is None:
            await self._offer(connection, to, optician_id, now, request_id, on_message, "slots.stale")
            return
        held = await store.held_by(connection, optician_id, now)
        if held:  # this very slot (pressed twice), or another: one upcoming slot per member
            await self._held(connection, to, held[0], now, on_message)
            return
        remind_at = slot.starts_at - timedelta(minutes=self.remind_minutes)  # a start never moves
        booked = await store.take(
            connection,
            public_id,
            optician_id=optician_id,
            channel=to.channel,
            request_id=request_id,
            remind_at=remind_at if remind_at > now else None,
            now=now,
        )
        if booked is None:
            await self._offer(
                connection, to, optician_id, now, request_id, on_message, "slots.taken_meanwhile"
            )
            return
        log.info("video slot %s taken", public_id)
        await self._tell_booked(connection, to, "slots.booked", public_id, booked, now, on_message)
        if request_id is not None:
            text = self.notices.text(
                "slots.event_booked", when=self.when(booked.starts_at), link=self.link(booked.room)
            )
            await store.add_event(connection, request_id, text, now)

    async def _give_back(
        self,
        connection: Connection,
        to: MemberChat,
        optician_id: int,
        public_id: str,
        now: datetime,
        on_message: int | None,
    ) -> None:
        slot = await store.slot(connection, public_id) if _PUBLIC_ID.match(public_id) else None
        if slot is None or not await store.release(connection, public_id, optician_id, new_room(), now):
            await self.notices.tell(connection, to, "slots.not_given_back", now, on_message=on_message)
            return
        log.info("video slot %s given back", public_id)
        when = self.when(slot.starts_at)
        await self.notices.tell(connection, to, "slots.given_back", now, on_message=on_message, when=when)
        if slot.request_id is not None:
            await store.add_event(
                connection, slot.request_id, self.notices.text("slots.event_given_back", when=when), now
            )

    # --- staff: publish, list, cancel ---------------------------------------------------------------

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
            when = self.when(slot.starts_at)
            # The holding as the UPDATE found it: a member who took the slot since it was read is
            # told, and their request's thread says it.
            holder = cancelled.holder
            if holder is not None:
                to = _chat_of(cancelled.channel, *await store.member_chats(connection, holder))
                if to is not None:
                    await self._offer(connection, to, holder, now, None, None, "slots.cancelled", when=when)
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
            self.link(slot.room),
            slot.taken_at,
            slot.reminded_at,
            soon,
            slot.created_by,
        )

    # --- the reminders ----------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """The members' reminders, until cancelled: woken by :meth:`wake` or every 30 s."""
        while True:
            self._wake.clear()
            try:
                await self.remind()
            except Exception as error:  # the next round tries again
                log.error("video reminders failed: %s", describe(error))
            await wait_set(self._wake, REMIND_POLL_SECONDS)

    async def remind(self, now: datetime | None = None) -> int:
        """Remind each member whose slot's reminder is due; how many were told. Each reminder is
        claimed in the transaction that enqueues it: once, whatever the processes."""
        now = now or self.clock()
        async with self.database.connect() as connection:
            due = await store.due_reminders(connection, now)
        told = 0
        notify = False
        for slot_id in due:
            try:
                async with self.database.begin() as connection:
                    # The slot as the claim finds it (given back and re-taken since the list: its
                    # new holder's reminder, if due, and never to the one who gave it back).
                    slot = await store.claim_reminder(connection, slot_id, now)
                    if slot is None:
                        continue  # another process (or round) took it, or it is no longer due
                    if now >= slot.starts_at:
                        continue  # too late (it started): claimed, not sent
                    minutes = max(1, round((slot.starts_at - now).total_seconds() / 60))
                    if slot.request_id is not None:
                        # The staff's reminder, on the thread of the request it was taken from
                        # (the Réseau view shows it live): with the member's, in one claim.
                        text = self.notices.text(
                            "slots.event_reminder",
                            member=slot.member or "—",
                            hour=_hour(slot.starts_at.astimezone(SERVICE_TIME_ZONE)),
                            minutes=minutes,
                            staff=slot.staff,
                            link=self.link(slot.room),
                        )
                        await store.add_event(connection, slot.request_id, text, now)
                        notify = True
                    to = _chat_of(slot.channel, slot.telegram_chat, slot.whatsapp)
                    if to is None:
                        continue  # nowhere to say it to the member: claimed, not sent
                    await self.notices.tell(
                        connection,
                        to,
                        "slots.reminder",
                        now,
                        when=self.when(slot.starts_at),
                        minutes=minutes,
                        link=self.link(slot.room),
                    )
                    told += 1
            except Exception as error:
                log.error("video reminder of slot %s failed: %s", slot_id, describe(error))
        if told or notify:
            self.notify()
        return told

    # --- a member's record (bot.members.account) ----------------------------------------------------

    async def held(self, connection: Connection, optician_id: int, now: datetime) -> list[tuple[str, str]]:
        """The member's upcoming follow-ups: (when, link), soonest first."""
        return [
            (self.when(s.starts_at), self.link(s.room))
            for s in await store.held_by(connection, optician_id, now)
        ]


def _hour(local: datetime) -> str:
    return f"{local.hour}h{local.minute:02d}" if local.minute else f"{local.hour}h"


def _chat_of(channel: str | None, telegram_chat: str | None, whatsapp: str | None) -> MemberChat | None:
    """Where to reach a member: the channel they took the slot on if still linked, else the other."""
    if channel == "whatsapp" and whatsapp:
        return MemberChat("whatsapp", whatsapp)
    if telegram_chat:
        return MemberChat("telegram", telegram_chat)
    if whatsapp:
        return MemberChat("whatsapp", whatsapp)
    return None
