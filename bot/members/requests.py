"""The "Réseau" queue (issue 16): members' requests as federation staff (the ``network`` role, or
an admin) see and answer them in the console — claim, take-over of the chat, internal notes,
status (new → in_progress → answered → closed) and outcome (granted | refused | redirected).

FOUNDATION STUB: helper B fills this in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.members.notices import MemberNotices
from storage.database import Database
from storage.files import FileStore

STATUSES = ("new", "in_progress", "answered", "closed")
OUTCOMES = ("granted", "refused", "redirected")


class MemberRequests:
    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        files: FileStore,
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.files = files
