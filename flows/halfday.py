"""Calendar side of reading a half-day ("demain matin", "lundi 14h", "12/12 après-midi", "dès que
possible").

Pure functions, no I/O. :func:`find_half_day` works on *folded* text (lowercased, accents
stripped, punctuation kept, see ``flows.text._fold``); ``flows.parsing.parse_half_day``
is the public entry point and wraps the result in a ``HalfDay``. Whether the moment read can be
booked (past, Sunday, holiday, too far) is ``flows.visit_calendar``'s call, not this module's.

Decisions:
* a weekday name means its next occurrence strictly after ``today`` ("jeudi" on a Thursday
  is next week); "samedi prochain" when that Saturday is this week is no answer (this one or the
  next?); only "aujourd'hui" / "ce matin" / "ce soir" / "today" give ``today``;
* the part of the day is a part word (matin, après-midi, soir, ...) or an hour (< 12 h -> am,
  >= 12 h -> pm); a part word wins over an hour ("8h du soir" -> pm); a day said without a part
  has none (the reader takes its first bookable half-day), a part said without a day is no answer;
* "dès que possible", "au plus vite", "n'importe quand", "asap"... (not negated) mean as soon as
  possible; said with a day they qualify it ("demain au plus tôt", "samedi, quand vous voulez":
  that day), unless offered as an alternative ("dès que possible, sinon lundi" -> ``None``);
* two different days or two different parts in the same message, two days joined by "ou"/"or",
  or a day next to a negation ("pas demain", "sauf lundi") -> ``None`` (asked again);
* a moment said not to be, then another one after "mais", "plutôt", "but", "rather", "instead"
  ("pas demain, plutôt vendredi", "pas ce matin, mais cet après-midi") is the other one, read
  alone; unless the refused one names a part of the day and the other does not ("pas le matin,
  mais demain": which half-day?) or the other is "as soon as possible" (the refused one may be
  the first) -> ``None``;
* "lundi dernier", "mardi passé", "last Monday" are past (the previous such day: the reader says
  so); "la semaine dernière", "last week" -> ``None``; "samedi dernier délai" is that Saturday,
  "passé 14h" is after 14 h;
* "ce mercredi" said on a Wednesday is today; "dans 2 jours" is the day after tomorrow; days of
  the month may be written in words ("le douze"); "le 12 rue de la Paix" is an address, no day;
* "le 12" is the next 12th (this month or a later one), "12/12" is this year's or, if already
  past, next year's as long as it is less than 6 months away (else this year's, past); an
  explicit year is taken as written; past dates are returned as such (the reader says why not).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Final

from rapidfuzz.distance import OSA

from flows.visit_calendar import HalfDayPart


@dataclass(frozen=True, slots=True)
class Moment:
    """What a message says about when: a ``day`` (maybe past), its ``part`` if said, or ``asap``
    (then ``day`` is today and ``part`` None: the first bookable half-day is the reader's call)."""

    day: date
    part: HalfDayPart | None = None
    asap: bool = False


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
    "tt": "w_tout",
    "ke": "w_que",
    "kan": "w_quand",
    "qd": "w_quand",
    "vs": "w_vous",
    "vou": "w_vous",
    "desque": "w_desque",
    "deque": "w_desque",
    "dm1": "rel1",
    "dmain": "rel1",
    "nimporte": "w_importe",
    "demain": "rel1",
    "tomorrow": "rel1",
    "hier": "rel-1",
    "yesterday": "rel-1",
    "noel": "xmas",
    "christmas": "xmas",
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
    "tonite": "tonight",
    "tmrw": "rel1",
    "tmr": "rel1",
    "prochain": "next",
    "prochaine": "next",
    "next": "next",
    "matin": "part_am",
    "matinee": "part_am",
    "morning": "part_am",
    "apresmidi": "part_pm",
    "aprem": "part_pm",
    "aprems": "part_pm",
    "apm": "part_pm",
    "apmidi": "part_pm",
    "aprm": "part_pm",
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
    ("lundi", "monday", "lun"),  # not "mon": "mon mari", "mon adresse"
    ("mardi", "tuesday", "mar", "tue", "tues"),
    ("mercredi", "wednesday", "mer", "wed"),
    ("jeudi", "thursday", "jeu", "thu", "thur", "thurs"),
    ("vendredi", "friday", "ven", "vend", "fri"),
    ("samedi", "saturday", "sam", "sat"),
    ("dimanche", "sunday", "dim", "sun"),
)
_MONTHS: Final[tuple[tuple[str, ...], ...]] = (
    ("janvier", "janv", "january", "jan"),
    ("fevrier", "fevr", "fev", "february", "feb"),
    ("mars", "march"),
    ("avril", "avr", "april", "apr"),
    ("mai", "may"),
    ("juin", "june"),
    ("juillet", "juil", "july", "jul"),
    ("aout", "august", "aug"),
    ("septembre", "september", "sep"),
    ("octobre", "october", "oct"),
    ("novembre", "november", "nov"),
    ("decembre", "december", "dec"),
)
# The phrases of "as soon as possible": their words mean themselves ("w_" first).
_ASAP_TEXT: Final[tuple[str, ...]] = (
    "que possible",
    "q possible",
    "des que",
    "des qu",
    "tot possible",
    "vite possible",
    "quand vous",
    "quand tu",
    "comme vous",
    "importe",
    "de suite",
    "tout le temps",
    "tous les jours",
    "desque",
    "desuite",
    "rapido",
    "rapidos",
    "aucune importance",
    "indifferent",
    "sooner",
    "plus tot",
    "plus vite",
    "plus rapidement",
    "plus rapide",
    "au vite",
    "au tot",
    "rapidement",
    "vite",
    "importe quand",
    "importe quel",
    "peu importe",
    "quand vous voulez",
    "quand vous pouvez",
    "quand vous voudrez",
    "quand vous pourrez",
    "quand vous souhaitez",
    "quand tu veux",
    "que vous pouvez",
    "comme vous voulez",
    "tout de suite",
    "maintenant",
    "immediatement",
    "premier creneau",
    "premiere dispo",
    "premier dispo",
    "premiere disponibilite",
    "premier moment",
    "premier disponible",
    "pas de preference",
    "aucune preference",
    "egal",
    "convenance",
    "asap",
    "dqp",
    "soon as",
    "as possible",
    "earliest",
    "soonest",
    "whenever",
    "anytime",
    "any time",
    "any day",
    "right away",
    "right now",
    "now",
    "immediately",
    "first available",
    "no preference",
    "t mind",
    "t matter",
    "no matter",
)
_ASAP_PHRASES: Final[tuple[tuple[str, ...], ...]] = tuple(
    tuple(f"w_{word}" for word in phrase.split()) for phrase in _ASAP_TEXT
)
_ASAP_BY_FIRST: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    first: tuple(p for p in _ASAP_PHRASES if p[0] == first) for first in {p[0] for p in _ASAP_PHRASES}
}
# Next to a day, these make it no answer ("pas demain", "sauf lundi", "I can't tomorrow").
_NEGATIONS: Final = frozenset(
    {"pas", "not", "sauf", "except", "excepte", "hors", "jamais", "never", "ni", "t"}
)
_NEGATES_ASAP: Final = frozenset({"pas", "not", "jamais", "never"})
_ALTERNATIVES: Final = frozenset({"ou", "or", "soit", "sinon", "otherwise"})
_XMAS: Final = (25, 12)
_DAY_WORDS: Final = frozenset({"jour", "jours", "day", "days"})
for _phrase in _ASAP_TEXT:
    for _word in _phrase.split():
        _WORDS.setdefault(_word, f"w_{_word}")
for _index, _names in enumerate(_WEEKDAYS):
    _WORDS.update(dict.fromkeys(_names, f"wd{_index}"))
for _index, _names in enumerate(_MONTHS, start=1):
    _WORDS.update(dict.fromkeys(_names, f"mo{_index}"))

_HOUR_H = re.compile(r"(?<![\d/.:])([01]?\d|2[0-3])\s*h(?:eures?|rs?)?(?:\s*([0-5]\d))?(?![a-z\d])")
_HOUR_COLON = re.compile(r"(?<![\d/.:])([01]?\d|2[0-3]):([0-5]\d)(?!\d)")
_HOUR_AMPM = re.compile(r"(?<![\d/.:])(1[0-2]|0?\d)\s*([ap])\.?\s?m\b\.?")
_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?:\s*[/.\-]\s*(\d{4}|\d{2}))?(?!\d)")
_TOKEN = re.compile(r"[a-z]+|\d+")
# Texting spellings of "demain" that the tokens would cut ("dem1" is not "the 1st").
# A house number is no day: "le 12 rue de la Paix" is an address.
_STREET_NUMBER = re.compile(
    r"\b\d{1,4}\s*(?:bis|ter)?,?\s+(?:rue|avenue|av|bd|boulevard|place|pl|chemin|allee|impasse|route|quai|cours"
    r"|street|st|road|rd)\b"
)
# "passé 14h", "passé midi": after that hour, not a day gone by.
_PAST_HOUR = re.compile(r"\bpassee?\s+(?=\d|midi\b)")
# "pas demain, plutôt vendredi": what comes after is said instead of the refused moment.
_INSTEAD = re.compile(r"\b(?:mais|plutot|but|rather|instead)\b")
# A weekday gone by: "lundi dernier", "mardi passé" (after it), "last monday" (before it).
_PAST_AFTER: Final = frozenset({"dernier", "derniere", "passe", "passee"})
_PAST_BEFORE: Final = frozenset({"last"})
_PAST_WORDS: Final = _PAST_AFTER | _PAST_BEFORE
_PERIODS: Final = frozenset({"semaine", "week", "mois", "month", "weekend"})
_SMS_MATIN = re.compile(r"(?<![a-z\d])mat1(?![a-z\d])")
_SMS_DEMAIN = re.compile(r"(?<![a-z\d])(?:dem1n?|2main|2m1|d'main|2moro|2morrow)(?![a-z\d])")
_SMS_TODAY = re.compile(r"(?<![a-z\d])(?:2day|ojd|ojourd'?hui)(?![a-z\d])")
_SMS_TONIGHT = re.compile(r"(?<![a-z\d])2nite(?![a-z\d])")
# The end or the start of the day said in words: a part of the day.
_DAY_END = re.compile(r"\b(?:fin\s+(?:de\s+|d')?(?:la\s+)?journee|end\s+of\s+(?:the\s+)?day)\b")
_DAY_START = re.compile(r"\b(?:debut\s+(?:de\s+|d')?(?:la\s+)?journee|start\s+of\s+(?:the\s+)?day)\b")


# The words a typo may reach, by first letter (a typo never changes the first letter).
_FUZZY: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    letter: tuple((k, m) for k, m in _WORDS.items() if len(k) >= 5 and k[0] == letter)
    for letter in {k[0] for k in _WORDS}
}


@lru_cache(maxsize=4096)
def _meaning(word: str) -> str | None:
    """Meaning of one word, tolerating one typo from five letters on (two from eight)."""
    exact = _WORDS.get(word)
    if exact is not None or len(word) < 5:
        return exact
    best: str | None = None
    best_distance = 3
    for key, meaning in _FUZZY.get(word[0], ()):
        if abs(len(key) - len(word)) > 2:
            continue
        budget = 1 if len(key) < 8 else 2
        distance = OSA.distance(word, key, score_cutoff=budget)
        if distance <= budget and distance < best_distance:
            best, best_distance = meaning, distance
    return best


# Days of the month in words ("le douze", "vingt-deux décembre"); "un"/"premier" are left out,
# they say too many other things ("premier créneau").
_NUMBER_WORDS: Final[dict[str, int]] = {
    "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8, "neuf": 9,
    "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16,
    "vingt": 20, "trente": 30,
}  # fmt: skip
_UNITS: Final = {"un": 1, "une": 1, **{w: n for w, n in _NUMBER_WORDS.items() if n < 10}}


def _numbers(tokens: Sequence[str]) -> list[str]:
    """Number words as digits: "vingt et un" -> "21", "dix sept" -> "17", "douze" -> "12"."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        value = _NUMBER_WORDS.get(tokens[i])
        if value is None:
            out.append(tokens[i])
            i += 1
            continue
        rest = tokens[i + 1 : i + 3]
        if value in (20, 30) and rest[:1] == ["et"] and rest[1:] in (["un"], ["une"]):
            value, i = value + 1, i + 3
        elif value in (10, 20, 30) and rest[:1] and _UNITS.get(rest[0], 0) >= (7 if value == 10 else 2):
            value, i = value + _UNITS[rest[0]], i + 2
        else:
            i += 1
        out.append(str(value))
    return out


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
    """A day-of-month (with optional month and year) as the date meant, or None (no such date).

    Without a month: the next such day from today on. With a month: this year's, or next year's
    when this year's is past and next year's is less than six months away, else this year's
    (past: the reader says so). With a year: as written (within a year either way)."""
    if month is None:
        for ahead in range(3):
            y, m = _add_months(today.year, today.month, ahead)
            found = _make(y, m, day)
            if found is not None and found >= today:
                return found
        return None
    if year is not None:
        found = _make(year + 2000 if year < 100 else year, month, day)
        if found is None or abs((found - today).days) > _HORIZON_DAYS:
            return None
        return found
    this_year = _make(today.year, month, day)
    if this_year is not None and this_year >= today:
        return this_year
    next_year = _make(today.year + 1, month, day)
    if next_year is None or (next_year - today).days > _ROLLOVER_DAYS:
        return this_year
    return next_year


def _hours(folded: str) -> tuple[str, set[str]]:
    """Remove the hours from the text; return the rest and the parts they imply."""
    parts: set[str] = set()

    def by_clock(match: re.Match[str]) -> str:
        hour, minutes = int(match.group(1)), int(match.group(2) or 0)
        # "9h-12h", "entre 10h et 12h": noon ending a range closes the morning.
        ends_morning = hour == 12 and not minutes and _AM in parts
        parts.add(_AM if hour < 12 or ends_morning else _PM)
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


def _is_asap(meanings: Sequence[str], tokens: Sequence[str]) -> bool:
    """ "dès que possible", "au plus vite", "n'importe quand"... not right after a negation."""
    for start, first in enumerate(meanings):
        for phrase in _ASAP_BY_FIRST.get(first, ()):
            if tuple(meanings[start : start + len(phrase)]) == phrase and not _NEGATES_ASAP.intersection(
                tokens[max(0, start - 2) : start]
            ):
                return True
    return False


def _said_when(folded: str) -> tuple[bool, bool]:
    """Whether a text names a day, and a part of the day (roughly: for :func:`_instead`)."""
    rest, hour_parts = _hours(folded)
    meanings = _meanings(_numbers(_TOKEN.findall(rest)))
    day = bool(_NUMERIC_DATE.search(rest)) or any(
        m.isdigit() or m.startswith(("rel", "wd", "xmas", "tonight", "this")) for m in meanings
    )
    part = bool(hour_parts) or any(m.startswith(("part_", "weak_", "tonight")) for m in meanings)
    return day, part


def _instead(folded: str, today: date) -> Moment | bool | None:
    """The moment said instead of a refused one ("pas demain, plutôt vendredi"); False when the
    text says nothing of the kind (read it whole)."""
    for match in _INSTEAD.finditer(folded):
        before = folded[: match.start()]
        if not _NEGATIONS.intersection(_TOKEN.findall(before)):
            continue
        refused_day, refused_part = _said_when(before)
        if not (refused_day or refused_part):
            continue
        said = find_half_day(folded[match.end() :], today)
        if said is None or said.asap or (refused_part and said.part is None):
            return None
        return said
    return False


def _past_weekdays(tokens: Sequence[str]) -> set[int] | None:
    """The weekdays said gone by ("lundi dernier", "last monday"); None for a past week or
    month ("la semaine dernière": no day of it to book)."""
    past: set[int] = set()
    if _PAST_WORDS.isdisjoint(tokens):
        return past
    for i, token in enumerate(tokens):
        after = tokens[i + 1 : i + 3]
        said_past = (bool(after) and after[0] in _PAST_AFTER and after[1:] != ["delai"]) or (
            i > 0 and tokens[i - 1] in _PAST_BEFORE
        )
        if not said_past:
            continue
        if token in _PERIODS:
            return None
        meaning = _meaning(token)
        if meaning is not None and meaning.startswith("wd"):
            past.add(int(meaning[2:]))
    return past


def find_half_day(folded: str, today: date) -> Moment | None:
    """Read a moment from folded text; see the module docstring for the rules."""
    if _INSTEAD.search(folded):
        instead = _instead(folded, today)
        if instead is not False:
            return instead if isinstance(instead, Moment) else None
    folded = _PAST_HOUR.sub(" apres ", folded)
    folded = _SMS_MATIN.sub(" matin ", _SMS_DEMAIN.sub(" demain ", _STREET_NUMBER.sub(" ", folded)))
    folded = _SMS_TONIGHT.sub(" tonight ", _SMS_TODAY.sub(" today ", folded))
    folded = _DAY_START.sub(" matin ", _DAY_END.sub(" soir ", folded))
    rest, hour_parts = _hours(folded)
    numeric: list[tuple[int, int | None, int | None]] = []

    def by_date(match: re.Match[str]) -> str:
        year = match.group(3)
        numeric.append((int(match.group(1)), int(match.group(2)), int(year) if year else None))
        return " "

    rest = _NUMERIC_DATE.sub(by_date, rest)
    tokens = _numbers(_TOKEN.findall(rest))
    past_weekdays = _past_weekdays(tokens)
    if past_weekdays is None:
        return None
    meanings = _meanings(tokens)
    # "dans 2 jours", "in 3 days": that many days from today.
    for i in range(len(tokens) - 2):
        if tokens[i] in ("dans", "in") and tokens[i + 1].isdigit() and tokens[i + 2] in _DAY_WORDS:
            meanings[i + 1] = f"rel{min(int(tokens[i + 1]), _HORIZON_DAYS)}"
    _explicit_dates(meanings, numeric)

    strong: set[str] = set()
    weak: set[str] = set()
    relative: set[int] = set()
    weekdays: set[int] = set()
    mentions = len(numeric)
    for i, here in enumerate(meanings):
        after = meanings[i + 1] if i + 1 < len(meanings) else ""
        if here.startswith("rel"):
            relative.add(int(here[3:]))
            mentions += 1
        elif here.startswith("wd") and int(here[2:]) in past_weekdays:  # the one gone by
            relative.add(-((today.weekday() - int(here[2:]) - 1) % 7 + 1))
            mentions += 1
        elif here.startswith("wd"):
            weekdays.add(int(here[2:]))
            mentions += 1
        elif here == "xmas":
            numeric.append((*_XMAS, None))
            mentions += 1
        elif here.startswith("part_"):
            strong.add(here[5:])
        elif here.startswith("weak_"):
            weak.add(here[5:])
        elif here == "tonight":
            strong.add(_PM)
            relative.add(0)
            mentions += 1
        elif here == "this" and after.startswith("part_"):
            relative.add(0)
            mentions += 1
        elif here == "this" and after == f"wd{today.weekday()}":  # "ce mercredi" on a Wednesday
            relative.add(0)

    asap = _is_asap(meanings, tokens)
    if not mentions:
        return Moment(today, None, asap=True) if asap else None
    words = set(tokens)
    # "demain au plus tôt": the day, as early as it can be; "dès que possible, sinon lundi": which?
    if words & _NEGATIONS or ((mentions > 1 or asap) and words & _ALTERNATIVES):
        return None
    parts = strong or hour_parts or weak
    if len(parts) > 1:
        return None
    part: HalfDayPart | None = (_AM if _AM in parts else _PM) if parts else None
    day = _day(numeric, relative, weekdays, today)
    if day is None:
        return None
    # "samedi prochain" said on a Wednesday: this Saturday or next week's? Asked again.
    if (
        "next" in meanings
        and not numeric
        and not relative
        and day.isocalendar()[:2] == today.isocalendar()[:2]
    ):
        return None
    return Moment(day, part)


def _day(
    numeric: Sequence[tuple[int, int | None, int | None]],
    relative: set[int],
    weekdays: set[int],
    today: date,
) -> date | None:
    """The one day meant: dates, relative days and weekdays must all agree ("jeudi 3")."""
    try:
        days = {_resolve(d, m, y, today) for d, m, y in numeric}
        days |= {today + timedelta(days=offset) for offset in relative}
    except OverflowError:
        return None
    if None in days or len(days) > 1:
        return None
    if days:
        day = days.pop()
        assert day is not None
        return day if all(day.weekday() == wd for wd in weekdays) else None
    if len(weekdays) != 1:
        return None
    try:
        return today + timedelta(days=(weekdays.pop() - today.weekday() - 1) % 7 + 1)
    except OverflowError:
        return None
