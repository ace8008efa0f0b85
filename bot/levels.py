"""The service level (issue 15): *normal* (every need, booked as ordinary requests), *crisis*
(emergencies only, mobilised workers first) or *suspended* (no new requests: the waitlist),
national and per department (a local lockdown). Stored in ``service_levels``
(storage/levels.py), read by every process's engine, switched by an admin (console, CLI), journaled.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from bot.signals import Commits
from storage.database import Database

Level = Literal["normal", "crisis", "suspended"]
LEVELS: tuple[Level, ...] = ("normal", "crisis", "suspended")
NATIONAL = "national"
DEFAULT_LEVEL: Level = "crisis"  # the seed's service: emergencies only, until an admin says otherwise


class ServiceLevels:
    """Reads and switches the levels (helper A fills this)."""

    def __init__(self, database: Database, clock: Callable[[], datetime], commits: Commits) -> None:
        self.database = database
        self.clock = clock
        self.commits = commits
