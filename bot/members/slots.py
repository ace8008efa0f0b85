"""Video follow-ups (issue 16): staff publish slots; a member picks one from buttons and takes it
atomically (one conditional UPDATE: two members, one slot, one wins); both get a Jitsi Meet link
made from a random room name (no API call) and a reminder before it starts.

FOUNDATION STUB: helper C fills this in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from bot.members.notices import MemberNotices
from storage.database import Database


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

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await asyncio.Event().wait()
