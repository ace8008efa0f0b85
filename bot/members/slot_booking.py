"""The member's side of the video follow-ups (issue 16): the open slots offered as buttons, a
pressed button answered (take one atomically, none of these, give one's slot back), and the
member's upcoming slots for their record. Façade: :class:`bot.members.slots.VideoSlots`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.desk import MEMBER_STEP_PREFIX
from bot.members.notices import MemberChat, MemberNotices
from bot.members.slot_words import SlotWords, new_room
from flows.types import Choice, ClientInput, Reply
from storage import video_slots as store
from storage.database import Connection, Database
from storage.video_slots import Slot

log = logging.getLogger(__name__)

SLOT_STEP = MEMBER_STEP_PREFIX + "slot"  # "m.slot"
MAX_OFFERED = 8  # buttons (with "none of these": 9, within WhatsApp's list of 10)
NONE = "none"
GIVE_BACK = "x."  # "x.<public_id>": the member gives their slot back
_PUBLIC_ID = re.compile(r"^[0-9a-f]{10}$")


class SlotBooking:
    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        words: SlotWords,
        *,
        remind_minutes: int,
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.words = words
        self.remind_minutes = remind_minutes

    async def offer(
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
        """In the caller's transaction: the next open slots as buttons (step "m.slot") with "none
        of these" under the text ``key``, or ``key``"_none"; the member's own slot if they hold one."""
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
        buttons = [Choice(s.public_id + tail, self.words.label(s.starts_at)) for s in found]
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
            key, when=self.words.when(slot.starts_at), minutes=slot.minutes, link=self.words.link(slot.room)
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
                await self.offer(connection, to, optician_id, now, None, on_message, "slots.stale")
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
                    await self.offer(connection, to, optician_id, now, None, on_message, "slots.stale")
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
            await self.offer(connection, to, optician_id, now, request_id, on_message, "slots.stale")
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
            await self.offer(
                connection, to, optician_id, now, request_id, on_message, "slots.taken_meanwhile"
            )
            return
        log.info("video slot %s taken", public_id)
        await self._tell_booked(connection, to, "slots.booked", public_id, booked, now, on_message)
        if request_id is not None:
            text = self.notices.text(
                "slots.event_booked",
                when=self.words.when(booked.starts_at),
                link=self.words.link(booked.room),
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
        when = self.words.when(slot.starts_at)
        await self.notices.tell(connection, to, "slots.given_back", now, on_message=on_message, when=when)
        if slot.request_id is not None:
            await store.add_event(
                connection, slot.request_id, self.notices.text("slots.event_given_back", when=when), now
            )

    async def held(self, connection: Connection, optician_id: int, now: datetime) -> list[tuple[str, str]]:
        """The member's upcoming follow-ups: (when, link), soonest first."""
        return [
            (self.words.when(s.starts_at), self.words.link(s.room))
            for s in await store.held_by(connection, optician_id, now)
        ]
