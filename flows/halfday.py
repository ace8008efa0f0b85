"""Calendar side of reading a half-day ("demain matin", "lundi 14h", "12/12 après-midi").

Pure functions, no I/O. :func:`find_half_day` works on *folded* text (lowercased, accents
stripped, punctuation kept, see ``flows.parsing._fold``); ``flows.parsing.parse_half_day``
is the public entry point and wraps the result in a ``HalfDay``.

Decisions:
* a weekday name means its next occurrence strictly after ``today`` ("jeudi" on a Thursday
  is next week); only "aujourd'hui" / "ce matin" / "ce soir" / "today" give ``today``;
* the part of the day is required: a part word (matin, après-midi, soir, ...) or an hour
  (< 12 h -> am, >= 12 h -> pm); a part word wins over an hour ("8h du soir" -> pm);
* two different days or two different parts in the same message -> ``None`` (ambiguous);
* "le 12" is the next 12th (this month or a later one), "12/12" is this year's or, if already
  past, next year's as long as it is less than 6 months away; an explicit year must give a
  date within a year; past dates -> ``None``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Final, Literal

from rapidfuzz.distance import OSA

HalfDayPart = Literal["am", "pm"]

_AM: Final = "am"
_PM: Final = "pm"
_ROLLOVER_DAYS: Final = 183
_HORIZON_DAYS: Final = 366

# Word -> meaning. Weekdays are "wd0".."wd6", months "mo1".."mo12", relative days "rel0".."rel2".
_WORDS: Final[dict[str, str]] = {
    "aujourdhui": "rel0",
    "auj": "rel0",
    "ajd": "rel0",
    "today": "rel0",
    "demain": "rel1",
    "tomorrow": "rel1",
    "apres": "after",
    "after": "after",
    "avant": "before",
    "before": "before",
    "aujourd": "aujourd",
    "hui": "hui",
    "ce": "this",
    "cet": "this",
    "cette": "this",
    "this": "this",
    "tonight": "tonight",
    "matin": "part_am",
    "matinee": "part_am",
    "morning": "part_am",
    "apresmidi": "part_pm",
    "aprem": "part_pm",
    "aprems": "part_pm",
    "apm": "part_pm",
    "afternoon": "part_pm",
    "soir": "part_pm",
    "soiree": "part_pm",
    "evening": "part_pm",
    "midi": "midi",
    "noon": "midi",
    "am": "weak_am",
    "pm": "weak_pm",
    "le": "the",
    "the": "the",
    "on": "the",
    "er": "ordinal",
    "eme": "ordinal",
    "th": "ordinal",
    "st": "ordinal",
    "nd": "ordinal",
    "rd": "ordinal",
}
_WEEKDAYS: Final[tuple[tuple[str, ...], ...]] = (
    ("lundi", "monday"),
    ("mardi", "tuesday"),
    ("mercredi", "wednesday"),
    ("jeudi", "thursday"),
    ("vendredi", "friday"),
    ("samedi", "saturday"),
    ("dimanche", "sunday"),
)
_MONTHS: Final[tuple[tuple[str, ...], ...]] = (
    ("janvier", "janv", "january"),
    ("fevrier", "fevr", "february"),
    ("mars", "march"),
    ("avril", "avr", "april"),
    ("mai", "may"),
    ("juin", "june"),
    ("juillet", "juil", "july"),
    ("aout", "august"),
    ("septembre", "september"),
    ("octobre", "october"),
    ("novembre", "november"),
    ("decembre", "december"),
)
for _index, _names in enumerate(_WEEKDAYS):
    _WORDS.update(dict.fromkeys(_names, f"wd{_index}"))
for _index, _names in enumerate(_MONTHS, start=1):
    _WORDS.update(dict.fromkeys(_names, f"mo{_index}"))

_HOUR_H = re.compile(r"(?<![\d/.:])([01]?\d|2[0-3])\s*h(?:eures?|rs?)?(?:\s*([0-5]\d))?(?![a-z\d])")
_HOUR_COLON = re.compile(r"(?<![\d/.:])([01]?\d|2[0-3]):([0-5]\d)(?!\d)")
_HOUR_AMPM = re.compile(r"(?<![\d/.:])(1[0-2]|0?\d)\s*([ap])\.?\s?m\b\.?")
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?:\s*[/.\-]\s*(\d{4}|\d{2}))?(?!\d)")
_TOKEN = re.compile(r"[a-z]+|\d+")


def _meaning(word: str) -> str | None:
    """Meaning of one word, tolerating one typo from five letters on (two from eight)."""
    exact = _WORDS.get(word)
    if exact is not None or len(word) < 5:
        return exact
    best: str | None = None
    best_distance = 3
    for key, meaning in _WORDS.items():
        if len(key) < 5 or key[0] != word[0] or abs(len(key) - len(word)) > 2:
            continue
        budget = 1 if len(key) < 8 else 2
        distance = OSA.distance(word, key, score_cutoff=budget)
        if distance <= budget and distance < best_distance:
            best, best_distance = meaning, distance
    return best


def _meanings(tokens: Sequence[str]) -> list[str]:
    """Turn tokens into meanings, joining the multi-word expressions."""
    raw = [tok if tok.isdigit() else (_meaning(tok) or "") for tok in tokens]
    out: list[str] = []
    i = 0
    while i < len(raw):
        here, nxt = raw[i], raw[i + 1] if i + 1 < len(raw) else ""
        if here == "aujourd" and nxt == "hui":
            out.append("rel0")
            i += 2
        elif here == "after" and nxt == "rel1":
            out.append("rel2")
            i += 2
        elif here == "after" and nxt == "midi":
            out.append("part_pm")
            i += 2
        elif here == "before" and nxt == "midi":
            out.append("part_am")
            i += 2
        else:
            out.append("part_pm" if here == "midi" else here)
            i += 1
    return out


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    total = year * 12 + (month - 1) + months
    return total // 12, total % 12 + 1


def _make(year: int, month: int, day: int) -> date | None:
    if not (1 <= month <= 12 and 1 <= year <= 9999):
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day)


def _resolve(day: int, month: int | None, year: int | None, today: date) -> date | None:
    """A day-of-month (with optional month and year) as the next such date, or None."""
    if month is None:
        for ahead in range(3):
            y, m = _add_months(today.year, today.month, ahead)
            found = _make(y, m, day)
            if found is not None and found >= today:
                return found
        return None
    if year is not None:
        found = _make(year + 2000 if year < 100 else year, month, day)
        if found is None or not 0 <= (found - today).days <= _HORIZON_DAYS:
            return None
        return found
    this_year = _make(today.year, month, day)
    if this_year is not None and this_year >= today:
        return this_year
    next_year = _make(today.year + 1, month, day)
    if next_year is None or (next_year - today).days > _ROLLOVER_DAYS:
        return None
    return next_year


def _hours(folded: str) -> tuple[str, set[str]]:
    """Remove the hours from the text; return the rest and the parts they imply."""
    parts: set[str] = set()

    def by_clock(match: re.Match[str]) -> str:
        parts.add(_AM if int(match.group(1)) < 12 else _PM)
        return " "

    def by_suffix(match: re.Match[str]) -> str:
        parts.add(_AM if match.group(2) == "a" else _PM)
        return " "

    rest = _HOUR_AMPM.sub(by_suffix, folded)
    rest = _HOUR_COLON.sub(by_clock, rest)
    return _HOUR_H.sub(by_clock, rest), parts


def _explicit_dates(meanings: Sequence[str], numeric: list[tuple[int, int | None, int | None]]) -> None:
    """Collect "le 12", "12 décembre", "december 12", "jeudi 3" into ``numeric``."""
    for i, here in enumerate(meanings):
        if not here.isdigit() or not 1 <= int(here) <= 31:
            continue
        before = meanings[i - 1] if i > 0 else ""
        after = meanings[i + 1] if i + 1 < len(meanings) else ""
        month: int | None = None
        if after.startswith("mo"):
            month = int(after[2:])
        elif before.startswith("mo"):
            month = int(before[2:])
        elif not (
            before in ("the", "ordinal")
            or before.startswith("wd")
            or after in ("ordinal", "part_am", "part_pm", "weak_am", "weak_pm")
        ):
            continue
        year: int | None = None
        if month is not None and after.startswith("mo") and i + 2 < len(meanings):
            following = meanings[i + 2]
            if following.isdigit() and len(following) == 4:
                year = int(following)
        numeric.append((int(here), month, year))


def find_half_day(folded: str, today: date) -> tuple[date, HalfDayPart] | None:
    """Read a half-day from folded text; see the module docstring for the rules."""
    rest, hour_parts = _hours(folded)
    numeric: list[tuple[int, int | None, int | None]] = []

    def by_date(match: re.Match[str]) -> str:
        year = match.group(3)
        numeric.append((int(match.group(1)), int(match.group(2)), int(year) if year else None))
        return " "

    rest = _NUMERIC_DATE.sub(by_date, rest)
    meanings = _meanings(_TOKEN.findall(rest))
    _explicit_dates(meanings, numeric)

    strong: set[str] = set()
    weak: set[str] = set()
    relative: set[int] = set()
    weekdays: set[int] = set()
    for i, here in enumerate(meanings):
        after = meanings[i + 1] if i + 1 < len(meanings) else ""
        if here.startswith("rel"):
            relative.add(int(here[3:]))
        elif here.startswith("wd"):
            weekdays.add(int(here[2:]))
        elif here.startswith("part_"):
            strong.add(here[5:])
        elif here.startswith("weak_"):
            weak.add(here[5:])
        elif here == "tonight":
            strong.add(_PM)
            relative.add(0)
        elif here == "this" and after.startswith("part_"):
            relative.add(0)

    parts = strong or hour_parts or weak
    if len(parts) != 1:
        return None
    part: HalfDayPart = _AM if _AM in parts else _PM

    try:
        days: set[date | None]
        if numeric:
            days = {_resolve(d, m, y, today) for d, m, y in numeric}
        elif relative:
            days = {today + timedelta(days=offset) for offset in relative}
        else:
            days = {today + timedelta(days=(wd - today.weekday() - 1) % 7 + 1) for wd in weekdays}
    except OverflowError:
        return None
    if len(days) != 1:
        return None
    day = days.pop()
    if day is None or day < today:
        return None
    return day, part
