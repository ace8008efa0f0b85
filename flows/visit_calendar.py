"""When a visit can be booked: French public holidays, Sundays, and the half-days still open.

Pure functions, no I/O; times are Paris times (``FlowContext.local_now``).

Decisions:
* no visits on Sundays nor on the eleven French public holidays (1 January, Easter Monday, 1 May,
  8 May, Ascension Thursday, Whit Monday, 14 July, 15 August, 1 November, 11 November,
  25 December); Easter is computed (the Gregorian computus), nothing to keep up to date;
* a half-day is bookable until its last one-hour window starts: the morning (windows 8h to 11h)
  until 11:00, the afternoon (13h to 17h) until 17:00, so the client is never offered a half-day
  no optician can still meet (``bot.dispatch.windows``; no margin beyond that);
* at most :data:`MAX_DAYS_AHEAD` days ahead.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final, Literal

HalfDayPart = Literal["am", "pm"]
Refusal = Literal["past", "too_far", "sunday", "holiday"]

PARTS: Final[tuple[HalfDayPart, ...]] = ("am", "pm")
# The hour (Paris) a half-day's last one-hour window starts: it cannot be booked from then on.
BOOKABLE_UNTIL: Final[dict[HalfDayPart, int]] = {"am": 11, "pm": 17}
MAX_DAYS_AHEAD: Final = 60
SUNDAY: Final = 6


def easter(year: int) -> date:
    """Easter Sunday of ``year`` (Gregorian calendar; the anonymous algorithm of 1876)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    n = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * n) // 451
    month, day = divmod(h + n - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=16)
def public_holidays(year: int) -> frozenset[date]:
    """The French public holidays of ``year`` (metropolitan France)."""
    sunday = easter(year)
    fixed = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
    moving = (sunday + timedelta(days=1), sunday + timedelta(days=39), sunday + timedelta(days=50))
    return frozenset((*(date(year, m, d) for m, d in fixed), *moving))


def closed(day: date) -> Refusal | None:
    """Why no visit happens on ``day`` at all ("sunday", "holiday"), or None."""
    if day.weekday() == SUNDAY:
        return "sunday"
    if day in public_holidays(day.year):
        return "holiday"
    return None


def refusal(day: date, part: HalfDayPart, now: datetime) -> Refusal | None:
    """Why the half-day cannot be booked at ``now`` (Paris time), or None when it can."""
    today = now.date()
    if day < today or (day == today and now.hour >= BOOKABLE_UNTIL[part]):
        return "past"
    if (day - today).days > MAX_DAYS_AHEAD:
        return "too_far"
    return closed(day)


def first_part(day: date, now: datetime) -> HalfDayPart | None:
    """The first bookable half-day of ``day`` ("demain", "samedi" said without a part), or None."""
    return next((part for part in PARTS if refusal(day, part, now) is None), None)


def day_refusal(day: date, now: datetime) -> Refusal:
    """Why no half-day of ``day`` can be booked (when :func:`first_part` found none)."""
    return refusal(day, "pm", now) or "past"


def slot_value(day: date, part: HalfDayPart) -> str:
    """A half-day as a button's value: "2026-12-03 am" (short: Telegram's data is 64 bytes)."""
    return f"{day.isoformat()} {part}"


def parse_slot_value(value: str) -> tuple[date, HalfDayPart] | None:
    """The half-day of a button's value (:func:`slot_value`), or None."""
    day, _, part = value.partition(" ")
    if part not in PARTS or len(day) != len("2026-12-03"):
        return None
    try:
        return date.fromisoformat(day), "am" if part == "am" else "pm"
    except ValueError:
        return None


def next_half_days(now: datetime, count: int) -> list[tuple[date, HalfDayPart]]:
    """The next ``count`` bookable half-days from ``now`` (Paris time), earliest first."""
    found: list[tuple[date, HalfDayPart]] = []
    day = now.date()
    while len(found) < count and (day - now.date()).days <= MAX_DAYS_AHEAD:
        found.extend((day, part) for part in PARTS if refusal(day, part, now) is None)
        day += timedelta(days=1)
    return found[:count]
