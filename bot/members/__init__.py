"""The members' desk (issue 16): the federation's support to its member opticians.

An optician linked to the bot (Telegram, or WhatsApp by the number an admin recorded) is also a
member: besides visit offers, their chat has a members' menu. The parts:

- :mod:`bot.members.desk`: what a member writes or presses (the menu, the request flow of
  :mod:`flows.members`, messages for staff on an open request, ``/moncompte``, ``/kit``);
- :mod:`bot.members.requests`: the "Réseau" queue of the console (staff of the ``network`` role):
  claim, take-over of the chat, notes, status and outcome, the member told of each step;
- :mod:`bot.members.slots`: video follow-ups (slots staff publish, a member takes one atomically,
  a Jitsi Meet link, a reminder before);
- :mod:`bot.members.account`: a member's own record and their declared kit date, confirmed by an admin;
- :mod:`bot.members.announcements`: messages from the federation to its members, through the outbox;
- :mod:`bot.members.notices`: every message to a member, through the one reply path.

:class:`Members` composes them for the composition root; it is the :class:`bot.desk.MemberDesk`
the chat channels are given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from bot.members.account import MemberAccount
from bot.members.announcements import Announcements
from bot.members.desk import Desk
from bot.members.notices import MemberChat, MemberNotices
from bot.members.requests import MemberRequests
from bot.members.slots import VideoSlots
from bot.settings import Settings
from flows.catalog import Catalog
from flows.types import ClientInput
from storage.database import Database
from storage.files import FileStore

__all__ = ["MemberChat", "Members"]


class Members:
    """Built once by the composition root; ``notify`` wakes the outbox and the live views."""

    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        files: FileStore,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        settings: Settings,
    ) -> None:
        notices = MemberNotices(catalog)
        self.notices = notices
        self.requests = MemberRequests(database, notices, clock, notify, files)
        self.slots = VideoSlots(
            database,
            notices,
            clock,
            notify,
            jitsi_base_url=settings.jitsi_base_url,
            minutes=settings.video_slot_minutes,
            remind_minutes=settings.video_reminder_minutes,
        )
        self.account = MemberAccount(database, notices, clock, notify, slots=self.slots)
        self.announcements = Announcements(database, notices, clock, notify)
        self.desk = Desk(database, notices, clock, notify, files, slots=self.slots, account=self.account)

    # --- a chat channel: bot.desk.MemberDesk -------------------------------------------------------

    async def is_member(self, channel: str, chat: str) -> bool:
        return await self.desk.is_member(channel, chat)

    async def receive(self, channel: str, chat: str, said: ClientInput, on_message: int | None) -> None:
        await self.desk.receive(channel, chat, said, on_message)

    def forget(self, channel: str) -> None:
        self.desk.forget(channel)

    # --- the service: the background work ----------------------------------------------------------

    def wake(self) -> None:
        self.slots.wake()
        self.announcements.wake()

    async def run(self) -> None:
        """The video follow-ups' reminders and the announcements' sending, until cancelled."""
        await asyncio.gather(self.slots.run(), self.announcements.run())
