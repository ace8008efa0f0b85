"""Reading postal codes (inside a whole French address) and phone numbers (any usual spelling)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Final

import phonenumbers

from flows.text import _MAX_SCAN, normalize

# --------------------------------------------------------------------- postcode and phone

_DIGITS: Final = re.compile(r"[0-9]+")
_FIVE_DIGITS: Final = re.compile(r"(?<!\d)\d{5}(?!\d)|(?<!\d)\d{2} \d{3}(?!\d)")
_STREET_WORD: Final = re.compile(
    r"[\s,]*(?:bis|ter|rue|r\.|av\b|av\.|avenue|bd|boulevard|chemin|ch\.|all[ée]e|impasse|"
    r"place|pl\.|route|rte|quai|cours|square|passage|lieu[- ]dit|résidence|residence)",
    re.IGNORECASE,
)
_NOT_A_PLACE: Final = re.compile(r"\s*(?:€|eur\b|euros?\b|km\b|m2\b|m²|ans\b|habitants\b)", re.I)
# A five-digit number after these is a post-office box or a sorting code, not the postal code.
# A five-digit number after these is a post-office box, a sorting code, a door code or a
# building's number, not the postal code.
_BOX_BEFORE: Final = re.compile(
    r"\b(?:b\.?\s?p|cs|tsa|digicode|code(?:\s+(?:porte|d'?\s*entr[ée]e|immeuble|d'?\s*acc[èe]s))?|"
    r"interphone|b[âa]t(?:iment)?|app?t|appartement|porte|[ée]tage|n°|num[ée]ro)\.?\s*[:#]?\s*$",
    re.IGNORECASE,
)
# What makes an address more than a town: a street, a place or a house number before a word.
_PLACE_WORD: Final = re.compile(
    r"\b(?:(?:rue|r|av|avenue|bd|boulevard|chemin|all[ée]e|impasse|place|route|rte|quai|cours|"
    r"square|passage|parvis|esplanade|promenade|faubourg|fbg|mont[ée]e|chauss[ée]e|sentier|voie|"
    r"villa|cit[ée]|r[ée]sidence|r[ée]s|lotissement|lot|hameau|lieu[- ]?dit|bourg|mas|domaine|"
    r"ferme|quartier|zone|zi|za|zac|b\.?p|cs|tsa|cedex|b[âa]t(?:iment)?|appartement|app?t|street|"
    r"gare|a[ée]roport|ehpad|h[ôo]pital|clinique|chu|mairie|[ée]cole|coll[èe]ge|lyc[ée]e|"
    r"universit[ée]|campus|stade|h[ôo]tel|foyer|caserne|usine|soci[ée]t[ée]|entreprise|magasin|"
    r"centre|parc|ch[âa]teau|[ée]glise|"
    r"road|lane|"
    r"flat)\b|(?:r|av|ch|pl|bd)\.)",
    re.IGNORECASE,
)
# A house number: digits before a word, but not a quantity ("10 minutes", "2 paires").
_HOUSE_NUMBER: Final = re.compile(
    r"(?<![\d+])\d{1,4}\s*(?:bis|ter|quater|[a-d])?\b\s*,?\s*(?!(?:min|minutes?|km|kilom[èe]tres?|m|"
    r"m[èe]tres?|h|heures?|ans|euros?|paires?|fois|jours?|semaines?|mois|personnes?|enfants?)\b)"
    r"[^\W\d_]{2,}",
    re.IGNORECASE,
)
_OVERSEAS_REGIONS: Final = ("RE", "YT", "GP", "MQ", "GF")
_NATIONAL_NUMBER: Final = re.compile(r"(?<![\d+])0(?:[ .\-]?\d){9}(?!\d)")
_MIN_PHONE_DIGITS: Final = 6
_FRANCE: Final = 33
_FRENCH_DIGITS: Final = 9  # after the national zero
# Overseas numbers dialled from France like French ones ("0690...", "0262..."): valid in their
# territory's plan, or not read (a wrong country code would be a wrong number).
_OVERSEAS_PREFIXES: Final = ("262", "263", "269", "508", "590", "594", "596", "639", "69", "70")
# The letter O typed for a zero at the head of a group of digits ("o6 12 34 56 78").
_O_AS_ZERO: Final = re.compile(r"(?<![^\W\d_])[oO](?=\d)")
_SEPARATOR_IN_NUMBER: Final = re.compile(r"(?<=\d)[/_,·](?=\d)")
# A group of one to three digits glued to a number found: a digit too many ("06 12 34 56 78 9"),
# unless it is an hour ("06 12 34 56 78 18h-20h").
_DIGIT_BEFORE: Final = re.compile(r"(?<!\d)\d{1,3}[ .\-]?$")
_DIGIT_AFTER: Final = re.compile(r"[ .\-]?\d{1,3}(?!\d|\s*[hH:])")
_NUMBER_WORDS: Final[Mapping[str, int]] = {
    "zero": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6,
    "sept": 7, "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13,
    "quatorze": 14, "quinze": 15, "seize": 16, "vingt": 20, "vingts": 20, "trente": 30,
    "quarante": 40, "cinquante": 50, "soixante": 60, "septante": 70, "huitante": 80,
    "octante": 80, "nonante": 90,
    "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
# Another country named in an address (not a street named after it: "rue de Londres").
_ABROAD: Final = frozenset(
    (
        "allemagne", "germany", "deutschland", "espagne", "spain", "espana", "italie", "italy",
        "italia", "belgique", "belgium", "belgie", "suisse", "switzerland", "schweiz", "svizzera",
        "luxembourg", "royaume uni", "united kingdom", "uk", "angleterre", "england", "ecosse",
        "scotland", "irlande", "ireland", "portugal", "pays bas", "netherlands", "nederland",
        "etats unis", "united states", "usa", "canada", "maroc", "morocco", "algerie", "algeria",
        "tunisie", "tunisia", "monaco", "andorre", "andorra", "berlin", "munich", "munchen",
        "hamburg", "madrid", "barcelona", "barcelone", "rome", "roma", "milan", "milano",
        "bruxelles", "brussels", "geneve", "geneva", "lausanne", "zurich", "london", "londres",
        "lisbonne", "lisboa", "amsterdam", "senegal", "mali", "turquie", "turkey", "pologne",
        "poland", "roumanie", "romania", "grece", "greece", "autriche", "austria", "suede",
        "sweden", "danemark", "denmark", "norvege", "norway", "finlande", "finland", "chine",
        "china", "japon", "japan", "bresil", "brazil", "mexique", "israel", "liban", "lebanon",
        "casablanca", "rabat", "marrakech", "tanger", "alger", "oran", "tunis", "sfax", "dakar",
        "abidjan", "bamako", "new york", "los angeles", "chicago", "miami", "boston", "washington",
        "san francisco", "valencia", "sevilla", "frankfurt", "francfort", "stuttgart", "dusseldorf",
        "napoli", "torino", "venezia", "anvers", "antwerpen", "liege", "basel", "bale", "bern",
        "berne",
    )
)  # fmt: skip
_NAMED_AFTER: Final = frozenset({"de", "du", "d", "des"})
# A French mobile number without its leading zero ("6 12 34 56 78").
_MOBILE_WITHOUT_ZERO: Final = re.compile(r"(?<![\d+])[67](?:[ .\-]?\d){8}(?!\d)")
_PHONE_DIGITS: Final = 8  # a chain of digits this long is a phone number...
# ... unless it ends with a five-digit code and a town: "8 mai 1945 69008 Lyon".
_TOWN_AFTER: Final = re.compile(r"\s*,?\s*[^\W\d_]")


def _valid_postcode(code: str) -> bool:
    department = code[:2]
    if department in ("00", "96", "99"):
        return False
    if department == "97":
        return code[2] in "12345678"
    return True


def _split_postcode(head: str, chain: Sequence[re.Match[str]], i: int) -> bool:
    """ "75 011": two then three digits separated by one space."""
    return (
        i + 1 < len(chain)
        and len(chain[i].group()) == 2
        and len(chain[i + 1].group()) == 3
        and head[chain[i].end()] == " "
    )


def _candidates(head: str, chain: Sequence[re.Match[str]]) -> list[tuple[str, int, int]]:
    if sum(len(run.group()) for run in chain) >= _PHONE_DIGITS or head[: chain[0].start()].endswith("+"):
        last = chain[-1]
        phone_like = chain[0].group().startswith("0") or head[: chain[0].start()].endswith("+")
        if (
            len(chain) > 1
            and len(last.group()) == 5
            and not phone_like
            and _TOWN_AFTER.match(head, last.end())
        ):
            return [(last.group(), last.start(), last.end())]
        return []
    found: list[tuple[str, int, int]] = []
    for i, run in enumerate(chain):
        if len(run.group()) == 5:
            found.append((run.group(), run.start(), run.end()))
        elif _split_postcode(head, chain, i):
            nxt = chain[i + 1]
            found.append((run.group() + nxt.group(), run.start(), nxt.end()))
    return found


def find_postcode(text: str) -> tuple[str, str] | None:
    """The French postcode inside an address and the address without it ("12 rue de la Paix
    75002 Paris" -> "75002", "12 rue de la Paix  Paris"). Digit chains of 8+ digits (phones),
    post-office boxes, door codes and buildings ("BP 40012", "digicode 45210") and amounts
    ("15000 euros") are skipped; a code followed by a street ("12345 rue ...") only counts when
    no other does; two codes, two addresses: None."""
    head = unicodedata.normalize("NFKC", text[:_MAX_SCAN])
    chains: list[list[re.Match[str]]] = []
    for run in _DIGITS.finditer(head):
        if chains and run.start() - chains[-1][-1].end() == 1 and head[run.start() - 1] in " .-/":
            chains[-1].append(run)
        else:
            chains.append([run])
    valid = [
        (code, start, end)
        for chain in chains
        for code, start, end in _candidates(head, chain)
        if _valid_postcode(code)
        and not _NOT_A_PLACE.match(head, end)
        and not _BOX_BEFORE.search(head, 0, start)
    ]
    # Best a code before its town, then one before no street ("... Lyon 69003"), then any.
    loose = [found for found in valid if not _STREET_WORD.match(head, found[2])]
    towns = [found for found in loose if _TOWN_AFTER.match(head, found[2])]
    if len({code for code, _, _ in towns}) > 1:  # two addresses: which one?
        return None
    best = next(iter(towns or loose or valid), None)
    if best is None:
        return None
    code, start, end = best
    return code, f"{head[:start]} {head[end:]}"


def parse_postcode(text: str) -> str | None:
    """A French postcode inside an address (see :func:`find_postcode`)."""
    found = find_postcode(text)
    return None if found is None else found[0]


def abroad(text: str) -> bool:
    """Whether an address names another country or a foreign city ("10115 Berlin, Allemagne"),
    not as a street's name ("rue de Londres")."""
    words = normalize(text[:_MAX_SCAN]).split()
    for i, word in enumerate(words):
        pair = f"{word} {words[i + 1]}" if i + 1 < len(words) else ""
        if (word in _ABROAD or pair in _ABROAD) and (i == 0 or words[i - 1] not in _NAMED_AFTER):
            return True
    return False


def has_five_digits(text: str) -> bool:
    """Whether the text has a five-digit number (a postal code, maybe not a usable one)."""
    return bool(_FIVE_DIGITS.search(unicodedata.normalize("NFKC", text[:_MAX_SCAN])))


def has_street(text: str) -> bool:
    """Whether an address (its postcode aside) says more than a town: a street or a place
    ("rue", "lieu-dit", "résidence", "BP"...) or a house number ("12 ...", "7bis ..."); not the
    street only spoken of ("je connais pas le nom de la rue", "la rue je vous la donne après")."""
    head = unicodedata.normalize("NFKC", text[:_MAX_SCAN])
    head = _STREET_SPOKEN_OF.sub(" ", _UNKNOWN_PLACE.sub(" ", head))
    return bool(_PLACE_WORD.search(head) or _HOUSE_NUMBER.search(head))


# A client saying they do not know the street ("je connais pas le nom de la rue", "I don't know
# the street") has given none: that clause, to its end, names no place.
_UNKNOWN_PLACE: Final = re.compile(
    r"\b(?:(?:connais|conna[iî]t|sais|rappelle|souviens|retrouve|trouve)\s+(?:pas|plus)|"
    r"(?:don['’]?t|do\s+not|doesn['’]?t|can['’]?t|cannot)\s+(?:know|remember|recall|find))\b[^,.;!?\n]*",
    re.IGNORECASE,
)
# The street spoken of in a sentence, not given: an article before, the clause's end or a pronoun
# after ("code postal 44000, la rue je vous la donne après", "my street, I forgot").
_STREET_SPOKEN_OF: Final = re.compile(
    r"\b(?:la|le|ma|mon|ta|votre|the|my|your)\s+(?:rue|avenue|boulevard|chemin|all[ée]e|impasse|"
    r"route|street|road|lane)\b(?=\s*(?:$|[,.;:!?]|(?:je|j|i|il|on|vous|c|ce|est|mais|et|but|and|is|"
    r"apr[èe]s|plus\s+tard|later)\b))",
    re.IGNORECASE,
)


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _spelt_digits(text: str) -> str:
    """The digits of a number spelt out in words, grouped as said, digits kept: "zéro six douze
    trente-quatre" -> "061234" ("soixante-dix-huit" is 78, "quatre-vingt-un" 81)."""
    said: list[tuple[int, bool] | str] = []  # a number and whether it is said as two digits
    for word in normalize(text[:_MAX_SCAN]).split():
        if word.isdigit():
            said.append(word)
            continue
        value = _NUMBER_WORDS.get(word)
        if value is None:
            continue
        last, _ = said[-1] if said and isinstance(said[-1], tuple) else (-1, False)
        if value == 20 and last == 4:  # quatre-vingt(s)
            said[-1] = (80, True)
        elif (last in (60, 80) and 10 <= value <= 19) or (
            (last == 10 and 7 <= value <= 9) or (last >= 20 and last % 10 == 0 and 1 <= value <= 9)
        ):
            said[-1] = (last + value, True)
        else:
            said.append((value, value >= 10))
    return "".join(x if isinstance(x, str) else f"{x[0]:02d}" if x[1] else str(x[0]) for x in said)


def _alone(head: str, start: int, end: int) -> bool:
    """Whether a number found has no digit too many next to it ("06 12 34 56 78 9")."""
    return not (_DIGIT_BEFORE.search(head, 0, start) or _DIGIT_AFTER.match(head, end))


def parse_phone(text: str) -> str | None:
    """The first valid phone number as E.164: French spellings first ("06 12 34 56 78",
    "+33 (0)6...", "0033...", "o6 12...", "06/12/..."), then overseas national ones
    ("0692 12 34 56"), then a French mobile without its zero ("6 12 34 56 78"), then one of the
    right length not allocated, or one spelt out in words ("zéro six douze..."); None when there
    is none, when it has a digit too many, or when two different numbers are given (which one?)."""
    head = unicodedata.normalize("NFKC", text[:_MAX_SCAN])
    head = head.replace("\ufe0f", "").replace("\u20e3", "")  # keycap digits: "0️⃣6️⃣..."
    head = _SEPARATOR_IN_NUMBER.sub(" ", _O_AS_ZERO.sub("0", head))
    found = _phone_in(head)
    if found is None and any(word in _NUMBER_WORDS for word in normalize(head).split()):
        head = _spelt_digits(head)  # "zéro six douze...", "zéro six 12 34..."
        found = _phone_in(head)
    if found is None:
        return None
    number, end = found
    other = _phone_in(head[end:])
    return None if other is not None and other[0] != number else number  # which one?


def _dialled(match: phonenumbers.PhoneNumberMatch) -> bool:
    """Whether a number of the right length but not allocated looks dialled on purpose: with
    its international prefix, or a French one with its national zero and nine digits after."""
    number, raw = match.number, match.raw_string.lstrip("(")
    possible = (
        phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE
    )
    significant = str(number.national_number)
    if number.country_code == _FRANCE:
        french = len(significant) == _FRENCH_DIGITS and not number.italian_leading_zero
        french = french and not significant.startswith(_OVERSEAS_PREFIXES)  # which island?
        return possible and french and raw.startswith(("+", "00", "0"))
    return possible and raw.startswith(("+", "00")) and len(significant) >= _FRENCH_DIGITS - 1


def _phone_in(head: str) -> tuple[str, int] | None:
    """The first phone number in ``head`` (E.164) and where it ends."""
    if sum(ch.isdigit() for ch in head) < _MIN_PHONE_DIGITS:
        return None
    try:
        for match in phonenumbers.PhoneNumberMatcher(head, "FR", leniency=phonenumbers.Leniency.VALID):
            return (_e164(match.number), match.end) if _alone(head, match.start, match.end) else None
        for found in _NATIONAL_NUMBER.finditer(head):
            for region in (*_OVERSEAS_REGIONS, "FR"):  # FR again: "06 12 34 56 78 18h-20h"
                number = phonenumbers.parse(found.group(), region)
                if phonenumbers.is_valid_number(number) and _alone(head, found.start(), found.end()):
                    return _e164(number), found.end()
        for found in _MOBILE_WITHOUT_ZERO.finditer(head):
            number = phonenumbers.parse("0" + found.group(), "FR")
            if phonenumbers.is_valid_number(number) and _alone(head, found.start(), found.end()):
                return _e164(number), found.end()
        # Last, a number of the right length not (yet) allocated ("07 12 45 78 96"), written with
        # its national zero or its international prefix: typed by the client, kept as typed.
        for match in phonenumbers.PhoneNumberMatcher(head, "FR", leniency=phonenumbers.Leniency.POSSIBLE):
            if _dialled(match) and _alone(head, match.start, match.end):
                return _e164(match.number), match.end
            return None
    except Exception:  # a third-party parser must never crash the conversation
        return None
    return None
    return None
