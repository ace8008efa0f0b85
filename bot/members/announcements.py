"""Announcements to members (issue 16): staff write a message, choose every member or some
departments, preview, and send it through the outbox at the channels' rate limits; one delivery
row per member, written when it is sent, so a restart resumes it and nobody is told twice.

FOUNDATION STUB: helper D fills this in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from bot.members.notices import MemberNotices
from storage.database import Database


class Announcements:
    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await asyncio.Event().wait()
