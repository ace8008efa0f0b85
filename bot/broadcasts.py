"""Waitlist broadcasts (issue 15): every waiting client matching a filter is told, once, on their
own channel through the outbox at the channels' rate limits (WhatsApp outside the 24-hour window
through an approved template; web chat clients by e-mail or listed for a call-back). One row per
client in ``broadcast_deliveries``, written when the broadcast starts: a restart resumes it and
nobody is told twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.settings import Settings
from bot.signals import Commits
from flows.catalog import Catalog
from storage.database import Database


class Broadcasts:
    """Starts, runs and reports broadcasts (helper B fills this)."""

    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        clock: Callable[[], datetime],
        commits: Commits,
        settings: Settings,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.clock = clock
        self.commits = commits
        self.settings = settings

    async def start(
        self, *, by: str, trigger: str, level: str, department: str | None = None, dry_run: bool = False
    ) -> str | None:
        """Start a broadcast to the waiting clients of ``department`` (None: all) announcing
        ``level``; returns its public id (None when nobody waits). ``trigger``: level | manual."""
        raise NotImplementedError  # helper B
