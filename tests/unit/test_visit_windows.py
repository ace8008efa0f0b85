"""The one-hour windows a visit is booked in (Paris time): inside the half-day, still ahead, never
on a Sunday nor a public holiday."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.dispatch.windows import WINDOWS, bookable_half_days, open_windows, part_of, starts_at
from flows.types import SERVICE_TIME_ZONE
from flows.visit_calendar import BOOKABLE_UNTIL, next_half_days

THURSDAY = datetime(2026, 11, 26, 9, 30, tzinfo=SERVICE_TIME_ZONE)


def test_the_half_days_windows() -> None:
    assert WINDOWS == {"am": (8, 9, 10, 11), "pm": (13, 14, 15, 16, 17)}
    assert [part_of(h) for h in (7, 8, 11, 12, 13, 17, 18)] == [None, "am", "am", None, "pm", "pm", None]


def test_a_window_is_bookable_until_it_starts() -> None:
    assert open_windows(THURSDAY.date(), "am", THURSDAY) == [10, 11]
    assert open_windows(THURSDAY.date(), "pm", THURSDAY) == [13, 14, 15, 16, 17]
    assert open_windows(date(2026, 11, 27), "am", THURSDAY) == [8, 9, 10, 11]
    assert open_windows(date(2026, 11, 25), "pm", THURSDAY) == []  # yesterday


def test_no_window_on_a_sunday_a_public_holiday_or_too_far() -> None:
    assert open_windows(date(2026, 11, 29), "am", THURSDAY) == []  # Sunday
    assert open_windows(date(2026, 12, 25), "am", THURSDAY) == []  # Christmas
    assert open_windows(date(2027, 3, 1), "am", THURSDAY) == []  # over two months ahead


def test_the_next_bookable_half_days_skip_sunday() -> None:
    saturday = datetime(2026, 11, 28, 14, 0, tzinfo=SERVICE_TIME_ZONE)
    assert bookable_half_days(saturday, 3) == [
        (date(2026, 11, 28), "pm"),
        (date(2026, 11, 30), "am"),
        (date(2026, 11, 30), "pm"),
    ]


def test_a_window_starts_at_its_hour_in_paris() -> None:
    assert starts_at(date(2026, 7, 1), 9).utcoffset().total_seconds() == 2 * 3600  # type: ignore[union-attr]


def test_the_client_is_offered_only_half_days_with_a_window_left() -> None:
    """The half-days the client picks from (``flows.visit_calendar``) are those the optician can
    still book a window in, at every moment of a day."""
    assert {part: hours[-1] for part, hours in WINDOWS.items()} == BOOKABLE_UNTIL
    now = datetime(2026, 12, 2, 6, 0, tzinfo=SERVICE_TIME_ZONE)
    while now.hour < 20:
        assert next_half_days(now, 4) == bookable_half_days(now, 4), now
        now += timedelta(minutes=15)
