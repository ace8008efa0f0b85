"""What a member writes or presses in their chat (issue 16): the members' menu, the request flow
(:mod:`flows.members`), messages for staff on an open request, ``/moncompte`` and ``/kit``.

FOUNDATION STUB: helper A fills this in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.members.account import MemberAccount
from bot.members.notices import MemberNotices
from bot.members.slots import VideoSlots
from flows.types import ClientInput
from storage.database import Database
from storage.files import FileStore


class Desk:
    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        files: FileStore,
        *,
        slots: VideoSlots,
        account: MemberAccount,
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.files = files
        self.slots = slots
        self.account = account

    async def is_member(self, channel: str, chat: str) -> bool:
        return False

    async def receive(self, channel: str, chat: str, said: ClientInput, on_message: int | None) -> None:
        raise NotImplementedError
