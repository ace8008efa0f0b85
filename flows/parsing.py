"""Readers for a client's free-text answers, French first, English too: the one door callers use
(``from flows import parsing``), each reader in the module of its concern.

- ``flows.yes_no``: the general yes and no, and what turns a question's own words over;
- ``flows.own_words``: each question's own yes and no (urgency, consent, waiting list, erasure,
  prescription);
- ``flows.needs``: the need, the service mode, the priority job;
- ``flows.summary``: a confirmation or a change at the summary;
- ``flows.names``: a person's name;
- ``flows.text``: tokens, typos and negation; ``flows.contact``: phones, postcodes, streets;
  ``flows.halfday``: moments; ``flows.commands``: commands.

Every public function is pure (no I/O, no logging), never raises on any ``str`` and only
scans the head of the text (``_MAX_SCAN`` characters), so a 50 KB message costs nothing.

Typo tolerance works on normalized tokens (see :func:`normalize`) with ``rapidfuzz``:
a keyword of four letters or fewer must match exactly (repeated letters aside: "ouiii",
"nonnn"), a longer one allows one edit (two from eight letters on, transpositions count
as one) and always the same first letter ("k" may stand for a hard "c": "kassé"); a correctly
spelt keyword of any table (or a common French word: "porte", "case", "comme") never
fuzzy-matches another keyword: each module adds its tables to ``KNOWN_WORDS`` when imported,
and this module imports them all before anything is read. So "non" can never read as "oui" and
"caisse" never reads as "cassé". Texting spellings are expanded first ("g", "pa", "jen", "kc")
and an elision glued to a keyword split off ("jaccepte"). Overlapping keyword hits are resolved
longest first ("aucun problème" is a yes, "pas du tout" a no), then by the closest spelling
("pompière" is one letter from "pompier", two from "postière"); a hit is negated by a free
"pas"/"not"/"jamais"/"sans" (or "ne ... plus", "rien de", "nothing") in the two words before,
intensifiers aside ("pas du tout urgent"), not past another hit ("pas perdues, cassées"), or by a
"pas" just after ("carrément pas"). A bare "plus" before a hit ("plus urgent": more, or no
longer?) and a question back ("c'est quoi chronopost ?", "il faut payer la livraison ?") make
the answer not understood: a miss asks again, a misreading would change the case.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Final

from flows.commands import Command, parse_command
from flows.contact import abroad, find_postcode, has_five_digits, has_street, parse_phone, parse_postcode
from flows.departments import department_of
from flows.halfday import Moment as HalfDay
from flows.halfday import find_half_day
from flows.names import parse_name
from flows.needs import Mode, Need, Priority, parse_mode, parse_need, parse_priority
from flows.own_words import parse_consent, parse_erase, parse_no_prescription, parse_urgency, parse_waitlist
from flows.summary import SummaryAction, parse_summary
from flows.text import _MAX_SCAN, _fold, normalize
from flows.visit_calendar import HalfDayPart
from flows.yes_no import parse_yes_no

__all__ = [
    "Command",
    "HalfDay",
    "HalfDayPart",
    "Mode",
    "Need",
    "Priority",
    "SummaryAction",
    "abroad",
    "department_of",
    "find_postcode",
    "has_five_digits",
    "has_street",
    "normalize",
    "parse_choice_number",
    "parse_command",
    "parse_consent",
    "parse_erase",
    "parse_half_day",
    "parse_mode",
    "parse_name",
    "parse_need",
    "parse_no_prescription",
    "parse_phone",
    "parse_postcode",
    "parse_priority",
    "parse_summary",
    "parse_urgency",
    "parse_waitlist",
    "parse_yes_no",
]


# ------------------------------------------------------------------------------ half-day


def parse_half_day(text: str, today: date) -> HalfDay | None:
    """ "demain matin", "lundi 14h", "12/12 après-midi", "samedi", "dès que possible"... as said,
    past or not (rules in ``flows.halfday``; what can be booked in ``flows.visit_calendar``)."""
    return find_half_day(_fold(text[:_MAX_SCAN]), today)


# ------------------------------------------------------------------------- choice number

_CHOICE: Final = re.compile(
    r"(?:n\s*[°o]\s*\.?|no\.?|num(?:ero)?\.?|#|option|choix|choice|le|la|the)?\s*(\d{1,3})\s*[.)\]]?"
)
_NUMBER_WORDS: Final[Mapping[str, int]] = {
    **dict.fromkeys(("un", "une", "one", "premier", "premiere", "first"), 1),
    **dict.fromkeys(("deux", "two", "deuxieme", "second", "seconde"), 2),
    **dict.fromkeys(("trois", "three", "troisieme", "third"), 3),
    **dict.fromkeys(("quatre", "four", "quatrieme", "fourth"), 4),
    **dict.fromkeys(("cinq", "five", "cinquieme", "fifth"), 5),
}
_CHOICE_FILLERS: Final = frozenset({"le", "la", "l", "the", "option", "choix", "choice", "numero"})


def parse_choice_number(text: str, count: int) -> int | None:
    """0-based index when the whole message is a number 1..count ("2", " 2. ", "n°2")."""
    stripped = text.strip()
    if count < 1 or not stripped or len(stripped) > 30:
        return None
    plain = _fold(unicodedata.normalize("NFKC", stripped)).replace("\ufe0f", "").replace("\u20e3", "")
    match = _CHOICE.fullmatch(plain.strip())
    number: int | None = int(match.group(1)) if match else None
    if number is None:
        words = [w for w in normalize(plain).split() if w not in _CHOICE_FILLERS]
        number = _NUMBER_WORDS.get(words[0]) if len(words) == 1 else None
    return number - 1 if number is not None and 1 <= number <= count else None
