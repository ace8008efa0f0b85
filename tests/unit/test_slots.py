"""The pure readers of the members' desk (issue 16): a slot's start as staff write it (Paris time)
and a kit date as a member writes it after /kit, with its checks."""

from __future__ import annotations

from datetime import date, datetime

from bot.members.account import check_kit_date, parse_kit_date
from bot.members.slots import new_room, parse_when

TODAY = date(2026, 11, 26)


def test_when_reads_paris_time() -> None:
    assert parse_when("2026-12-10 14:00") == datetime.fromisoformat("2026-12-10T14:00:00+01:00")
    assert parse_when("2026-07-10T14:00") == datetime.fromisoformat("2026-07-10T14:00:00+02:00")
    assert parse_when("2026-12-10T14:00:00Z") == datetime.fromisoformat("2026-12-10T14:00:00+00:00")
    assert parse_when("10/12/2026 14h30") == datetime.fromisoformat("2026-12-10T14:30:00+01:00")
    for nonsense in ("2026-12-10", "demain", "", "2026-13-10 14:00", "31/02/2026 10:00"):
        assert parse_when(nonsense) is None, nonsense


def test_kit_dates_read_and_checked() -> None:
    for text, day in (
        ("/kit 31/03/2027", date(2027, 3, 31)),
        ("31-03-27", date(2027, 3, 31)),
        ("2027-03-31", date(2027, 3, 31)),
        ("/kit 31 mars 2027", date(2027, 3, 31)),
        ("/KIT@optibot 1er Août 2027", date(2027, 8, 1)),
        ("jusqu'au 5 fevrier 2028", date(2028, 2, 5)),
        ("31 mars 27", date(2027, 3, 31)),
    ):
        assert parse_kit_date(text).day == day, text
    assert parse_kit_date("/kit").problem == "empty"
    assert parse_kit_date("/kit bientôt").problem == "unreadable"
    assert parse_kit_date("32/01/2027").problem == "no_such_day"
    assert parse_kit_date("29/02/2027").problem == "no_such_day"
    assert check_kit_date(date(2026, 11, 25), TODAY) == "past"
    assert check_kit_date(TODAY, TODAY) is None
    assert check_kit_date(date(2029, 11, 26), TODAY) is None
    assert check_kit_date(date(2029, 11, 27), TODAY) == "too_far"


def test_rooms_are_random_and_jitsi_safe() -> None:
    rooms = {new_room() for _ in range(1000)}
    assert len(rooms) == 1000
    assert all(r.startswith("optibot-") and r[8:].isalnum() and r == r.lower() for r in rooms)
