"""A confirmed visit as an iCalendar event (RFC 5545), attached for the optician to add to their
calendar: one VEVENT, its times in UTC (no time-zone block to carry), the address as its
location. Pure: the caller stores the bytes (encrypted, in the exports folder the retention sweep
empties after a day; erasure deletes it with the case's messages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_FOLD_AT = 75  # octets per line, continuation lines start with a space


def visit_event(
    *,
    uid: str,
    reference: str,
    starts: datetime,
    address: str,
    summary: str,
    now: datetime,
    sequence: int = 0,
    cancelled: bool = False,
) -> bytes:
    """The event of a one-hour visit starting at ``starts`` (aware). The same ``uid`` with a higher
    ``sequence`` replaces the event in the optician's calendar; ``cancelled``: it is withdrawn
    (``METHOD:CANCEL``, ``STATUS:CANCELLED``)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//optibot//visite//FR",
        "CALSCALE:GREGORIAN",
        "METHOD:CANCEL" if cancelled else "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{_text(uid)}@optibot",
        f"SEQUENCE:{sequence}",
        "STATUS:CANCELLED" if cancelled else "STATUS:CONFIRMED",
        f"DTSTAMP:{_utc(now)}",
        f"DTSTART:{_utc(starts)}",
        f"DTEND:{_utc(starts + timedelta(hours=1))}",
        f"SUMMARY:{_text(summary)}",
        f"LOCATION:{_text(address)}",
        f"DESCRIPTION:{_text(reference)}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(_fold(line) + "\r\n" for line in lines).encode()


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """A TEXT value escaped: backslash, semicolon, comma, line breaks."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets folded (never inside a UTF-8 character)."""
    parts: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode())
        limit = _FOLD_AT if not parts else _FOLD_AT - 1
        if size + width > limit:
            parts.append(current)
            current, size = "", 0
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)
