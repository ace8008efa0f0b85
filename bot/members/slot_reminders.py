"""The video follow-ups' reminders (issue 16): each due one is claimed in the transaction that
enqueues it (``reminded_at IS NULL``), so it goes once across processes and restarts; one found
after the slot started is claimed and not sent. With the member's, in the same claim, a "Rappel"
on the thread of the request the slot was taken from (staff's reminder).
Façade: :class:`bot.members.slots.VideoSlots`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.logs import describe
from bot.members.notices import MemberNotices
from bot.members.slot_words import SlotWords, chat_of, hour
from bot.signals import wait_set
from flows.types import SERVICE_TIME_ZONE
from storage import video_slots as store
from storage.database import Database

log = logging.getLogger(__name__)

REMIND_POLL_SECONDS = 30.0


class SlotReminders:
    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        words: SlotWords,
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.words = words
        self._wake = asyncio.Event()

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
                            hour=hour(slot.starts_at.astimezone(SERVICE_TIME_ZONE)),
                            minutes=minutes,
                            staff=slot.staff,
                            link=self.words.link(slot.room),
                        )
                        await store.add_event(connection, slot.request_id, text, now)
                        notify = True
                    to = chat_of(slot.channel, slot.telegram_chat, slot.whatsapp)
                    if to is None:
                        continue  # nowhere to say it to the member: claimed, not sent
                    await self.notices.tell(
                        connection,
                        to,
                        "slots.reminder",
                        now,
                        when=self.words.when(slot.starts_at),
                        minutes=minutes,
                        link=self.words.link(slot.room),
                    )
                    told += 1
            except Exception as error:
                log.error("video reminder of slot %s failed: %s", slot_id, describe(error))
        if told or notify:
            self.notify()
        return told
