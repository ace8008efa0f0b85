"""A member's own record (issue 16): ``/moncompte`` (departments, kit expiry, open requests and
follow-ups) and ``/kit`` (a new kit expiry date, checked, which an admin then confirms).

FOUNDATION STUB: helper C fills this in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.members.notices import MemberNotices
from storage.database import Database


class MemberAccount:
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
