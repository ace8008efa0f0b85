"""The one-hour windows of a home visit, in Paris time: the morning 8–12 is 8h, 9h, 10h, 11h; the
afternoon 13–18 is 13h to 17h. A window is bookable until it starts, at most
``flows.visit_calendar.MAX_DAYS_AHEAD`` days ahead, never on a Sunday nor a French public holiday
(``flows.visit_calendar.closed``). Pure."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

from flows.types import SERVICE_TIME_ZONE
from flows.visit_calendar import MAX_DAYS_AHEAD, closed

Part = Literal["am", "pm"]
# The one-hour windows of each half-day, by start hour (Paris time).
WINDOWS: dict[Part, tuple[int, ...]] = {"am": (8, 9, 10, 11), "pm": (13, 14, 15, 16, 17)}


def part_of(hour: int) -> Part | None:
    return next((part for part, hours in WINDOWS.items() if hour in hours), None)


def open_windows(day: date, part: Part, local_now: datetime) -> list[int]:
    """The start hours of ``part`` of ``day`` still bookable at ``local_now`` (Paris time)."""
    today = local_now.date()
    if closed(day) is not None or day < today or (day - today).days > MAX_DAYS_AHEAD:
        return []
    return [hour for hour in WINDOWS[part] if day > today or hour > local_now.hour]


def bookable_half_days(local_now: datetime, count: int) -> list[tuple[date, Part]]:
    """The next ``count`` half-days with a window still open, earliest first."""
    found: list[tuple[date, Part]] = []
    day = local_now.date()
    while len(found) < count and (day - local_now.date()).days <= MAX_DAYS_AHEAD:
        found.extend((day, part) for part in WINDOWS if open_windows(day, part, local_now))
        day += timedelta(days=1)
    return found[:count]


def starts_at(day: date, hour: int) -> datetime:
    """The moment a window starts (aware, Paris time)."""
    return datetime.combine(day, time(hour), tzinfo=SERVICE_TIME_ZONE)
