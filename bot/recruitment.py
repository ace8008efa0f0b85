"""Recruitment (issue 15): opticians who ask to join the network ("Rejoindre le réseau"), their
path new → contacted → accepted → registered (which creates the optician's entry and the
Telegram link), or declined; and the map of demand against coverage that says where to recruit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.dispatch import Dispatch
from storage.database import Database


class Recruitment:
    """Candidates and coverage (helper D fills this)."""

    def __init__(self, database: Database, clock: Callable[[], datetime], dispatch: Dispatch) -> None:
        self.database = database
        self.clock = clock
        self.dispatch = dispatch
