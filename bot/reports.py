"""The federation's figures for a period (issue 15): volumes, waiting times, acceptance delays,
no-taker rates, per-day series; the same numbers in the console, the CSV exports and
``optibot report``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from storage.database import Database


class Reports:
    """Computes reports (helper C fills this)."""

    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.clock = clock
