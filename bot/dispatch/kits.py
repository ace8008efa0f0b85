"""The opticians' protection kits: reminders before they expire, and the list of kits to renew.

Dispatch offers visits only to opticians whose kit is valid (through its expiry day, Paris time).
An active, linked optician is told in their chat 14 days before it expires, again 3 days before,
and once the day after it expired (:mod:`storage.kits` for the stages). The sweep runs with
dispatch's (every 15 s) from ``KIT_REMINDER_HOUR`` Paris time: each reminder is claimed in the
transaction that enqueues it, so it goes once whatever the processes and restarts. A reminder
found late goes at the stage due then: a kit first seen 2 days before its expiry has the 3-day
one only. A new expiry date (the kit renewed, entered in the console) re-arms them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.dispatch.notices import OPTICIANS_LANGUAGE, Notices, service_day
from bot.logs import describe
from flows.types import SERVICE_TIME_ZONE
from storage import kits as store
from storage.database import Connection, Database
from storage.kits import EXPIRED, KitDue, stage_of

log = logging.getLogger(__name__)

KIT_REMINDER_HOUR = 8  # Paris time: no reminder wakes an optician at night
REMINDED = {store.EARLY: "14_days", store.LATE: "3_days", store.EXPIRED: "expired"}


@dataclass(frozen=True, slots=True)
class KitToRenew:
    """An optician whose kit expires within the days asked, or has expired (the console's JSON)."""

    id: str
    name: str
    departments: list[str]
    kit_expires_on: str
    days_left: int  # negative once expired (-1: expired yesterday)
    expired: bool
    active: bool
    linked: bool
    reminded: str | None  # the last reminder sent for this date: "14_days", "3_days", "expired"


class KitReminders:
    """Built by :class:`bot.dispatch.Dispatch`; ``notify`` wakes the outbox after a sweep that sent."""

    def __init__(
        self, database: Database, notices: Notices, clock: Callable[[], datetime], notify: Callable[[], None]
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify

    async def remind(self, now: datetime | None = None, batch: int = 100) -> int:
        """Tell each active, linked optician whose kit reminder is due; how many were told. One
        transaction per optician: a reminder that fails does not hold back the others."""
        now = now or self.clock()
        if now.astimezone(SERVICE_TIME_ZONE).hour < KIT_REMINDER_HOUR:
            return 0
        today = service_day(now)
        async with self.database.connect() as connection:
            due = await store.due_kit_reminders(connection, today, batch)
        reminded = 0
        for kit in due:
            try:
                async with self.database.begin() as connection:
                    reminded += await self._remind_one(connection, kit, today, now)
            except Exception as error:
                # The next sweep tries it again (no personal data logged).
                log.error("kit reminder of optician %s failed: %s", kit.id, describe(error))
        if reminded:
            self.notify()
        return reminded

    async def _remind_one(self, connection: Connection, kit: KitDue, today: date, now: datetime) -> int:
        stage = stage_of(kit.kit_expires_on, today)
        if stage is None or not await store.claim_kit_reminder(connection, kit, stage, today):
            return 0  # another process (or sweep) took it first, or the kit changed meanwhile
        on = self._date(kit.kit_expires_on)
        if stage == EXPIRED:
            await self.notices.tell_optician(
                connection, kit.telegram_chat, "kit.expired", now, case_id=None, date=on
            )
            return 1
        days = (kit.kit_expires_on - today).days
        left = (
            self.notices.text("kit.left_today")
            if days == 0
            else self.notices.text("kit.left_tomorrow")
            if days == 1
            else self.notices.text("kit.left_days", days=days)
        )
        await self.notices.tell_optician(
            connection, kit.telegram_chat, "kit.expires", now, case_id=None, date=on, left=left
        )
        return 1

    def _date(self, day: date) -> str:
        """ "lundi 14 décembre" (the opticians read French)."""
        language = OPTICIANS_LANGUAGE
        catalog = self.notices.catalog
        weekday = catalog.raw(language, "calendar.days")[day.weekday()]
        month = catalog.raw(language, "calendar.months")[day.month - 1]
        number = catalog.text(language, "calendar.first") if day.day == 1 else str(day.day)
        return catalog.text(language, "calendar.date", weekday=weekday, day=number, month=month)

    async def to_renew(self, within: int = store.EARLY) -> list[KitToRenew]:
        """Opticians whose kit expires within ``within`` days (Paris) or has expired, soonest first."""
        today = service_day(self.clock())
        async with self.database.connect() as connection:
            found = await store.expiring_kits(connection, today + timedelta(days=within))
        return [
            KitToRenew(
                kit.public_id,
                kit.name,
                kit.departments,
                kit.kit_expires_on.isoformat(),
                (kit.kit_expires_on - today).days,
                kit.kit_expires_on < today,
                kit.active,
                kit.linked,
                None if kit.reminded_days is None else REMINDED.get(kit.reminded_days),
            )
            for kit in found
        ]
