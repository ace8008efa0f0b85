"""The optician's .ics file: one event in UTC, text escaped, long lines folded at 75 octets."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.dispatch.calendar import visit_event
from flows.types import SERVICE_TIME_ZONE

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def _event(address: str) -> str:
    starts = datetime(2026, 11, 27, 9, tzinfo=SERVICE_TIME_ZONE)  # 09:00 in Paris is 08:00 UTC
    return visit_event(
        uid="k1-2", reference="OB-1", starts=starts, address=address, summary="Visite OB-1", now=NOW
    ).decode()


def test_one_event_of_an_hour_in_utc() -> None:
    event = _event("12 rue Oberkampf 75011 Paris")
    lines = event.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR"
    assert lines[-2:] == ["END:VCALENDAR", ""]
    assert "DTSTART:20261127T080000Z" in lines
    assert "DTEND:20261127T090000Z" in lines
    assert "DTSTAMP:20261126T093000Z" in lines
    assert "UID:k1-2@optibot" in lines
    assert event.count("BEGIN:VEVENT") == 1


def test_text_is_escaped_and_long_lines_folded() -> None:
    address = "Bât. B; 3e étage, code 1234\n" + "12 avenue des Champs-Élysées " * 4 + "75008 Paris"
    event = _event(address)
    for line in event.split("\r\n"):
        assert len(line.encode()) <= 75
    unfolded = event.replace("\r\n ", "")
    (location,) = [line for line in unfolded.split("\r\n") if line.startswith("LOCATION:")]
    assert location.startswith("LOCATION:Bât. B\\; 3e étage\\, code 1234\\n12 avenue des Champs-Élysées")
    assert location.endswith("75008 Paris")


def test_a_cancellation_is_the_same_event_withdrawn_with_a_later_sequence() -> None:
    starts = datetime(2026, 11, 27, 9, tzinfo=SERVICE_TIME_ZONE)

    def event(sequence: int, *, cancelled: bool) -> set[str]:
        content = visit_event(
            uid="k1-7",
            reference="OB-1",
            starts=starts,
            address="",
            summary="Visite",
            now=NOW,
            sequence=sequence,
            cancelled=cancelled,
        )
        return set(content.decode().split("\r\n"))

    confirmed, cancelled = event(2, cancelled=False), event(3, cancelled=True)
    assert {"METHOD:PUBLISH", "STATUS:CONFIRMED", "SEQUENCE:2", "UID:k1-7@optibot"} <= confirmed
    assert {"METHOD:CANCEL", "STATUS:CANCELLED", "SEQUENCE:3", "UID:k1-7@optibot"} <= cancelled
