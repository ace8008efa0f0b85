"""Readers for a client's free-text answers, French first, English too.

Every public function is pure (no I/O, no logging), never raises on any ``str`` and only
scans the head of the text (``_MAX_SCAN`` characters), so a 50 KB message costs nothing.

Typo tolerance works on normalized tokens (see :func:`normalize`) with ``rapidfuzz``:
a keyword of four letters or fewer must match exactly (repeated letters aside: "ouiii",
"nonnn"), a longer one allows one edit (two from eight letters on, transpositions count
as one) and always the same first letter; a correctly spelt keyword of any table (or a few
common look-alikes: "porte", "case") never fuzzy-matches another keyword. So "non" can never
read as "oui" and "caisse" never reads as "cassé". Overlapping keyword hits are resolved
longest first ("aucun problème" is a yes, "pas du tout" a no), and a hit next to a free
"pas"/"not"/"jamais"/"sans" is negated ("pas cassées", "carrément pas").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Final, Literal

import phonenumbers
from rapidfuzz.distance import OSA

from flows.halfday import HalfDayPart, find_half_day

__all__ = [
    "Command",
    "HalfDay",
    "HalfDayPart",
    "Mode",
    "Need",
    "Priority",
    "department_of",
    "normalize",
    "parse_choice_number",
    "parse_command",
    "parse_half_day",
    "parse_mode",
    "parse_name",
    "parse_need",
    "parse_phone",
    "parse_postcode",
    "parse_priority",
    "parse_yes_no",
]

Need = Literal["broken", "lost", "unsuitable", "other"]
Mode = Literal["visit", "shipment"]
Priority = Literal["health", "food_retail", "delivery", "firefighter", "other", "none"]
Command = Literal["restart", "cancel", "help", "language", "advisor", "my_data", "delete_data"]


@dataclass(frozen=True, slots=True)
class HalfDay:
    day: date
    part: HalfDayPart


_MAX_SCAN: Final = 500
_MAX_TOKENS: Final = 120
_EXACT_MAX_LEN: Final = 4

# ---------------------------------------------------------------------------- text basics

_LIGATURES: Final = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "ł": "l"})
_NON_WORD: Final = re.compile(r"[\W_]+")
_REPEATS: Final = re.compile(r"(.)\1+")
# Combining marks left by NFKD on Latin, Greek and Cyrillic letters (a regex is much faster
# than a per-character loop on huge inputs).
_COMBINING: Final = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")

# Glued or texting spellings, expanded before matching.
_ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "jai": ("j", "ai"),
    "cest": ("c", "est"),
    "daccord": ("d", "accord"),
    "dacc": ("d", "accord"),
    "jsuis": ("je", "suis"),
    "chuis": ("je", "suis"),
    "chui": ("je", "suis"),
    "jsp": ("je", "sais", "pas"),
    "chais": ("je", "sais"),
    "jsais": ("je", "sais"),
    "ptet": ("peut", "etre"),
    "ptetre": ("peut", "etre"),
    "rdv": ("rendez", "vous"),
    "mappelle": ("m", "appelle"),
    "jmappelle": ("je", "m", "appelle"),
    "jveux": ("je", "veux"),
    "svp": ("s", "il", "vous", "plait"),
    "stp": ("s", "il", "te", "plait"),
    "qqn": ("quelqu", "un"),
    "dont": ("don", "t"),
    "cant": ("can", "t"),
    "im": ("i", "m"),
}


def _fold_table() -> dict[int, str]:
    """Accent/compatibility folding (NFKD, marks dropped) of the blocks that matter to us,
    precomputed: ``str.translate`` stays fast where NFKD would blow up ("ﷺ" gives 18 chars)."""
    table: dict[int, str] = {}
    for first, last in _FOLDED_BLOCKS:
        for code in range(first, last + 1):
            char = chr(code)
            decomposed = unicodedata.normalize("NFKD", char.lower().translate(_LIGATURES))
            folded = _COMBINING.sub("", decomposed).lower()
            if folded != char:
                table[code] = folded
    return table


_FOLDED_BLOCKS: Final = (
    (0x00A0, 0x024F),  # Latin-1 supplement and Latin extended A/B
    (0x0370, 0x04FF),  # Greek, Cyrillic
    (0x1E00, 0x1EFF),  # Latin extended additional (Vietnamese...)
    (0x2000, 0x24FF),  # punctuation, super/subscripts, letter-like, number forms, ①
    (0xFB00, 0xFB06),  # ﬁ ﬂ ligatures
    (0xFF00, 0xFFEF),  # full-width forms
)
_FOLD: Final = _fold_table()


def _fold(text: str) -> str:
    """Lowercase and strip accents; punctuation is kept."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered
    return _COMBINING.sub("", lowered.translate(_FOLD))


def normalize(text: str) -> str:
    """Lowercase, strip accents (NFKD), turn apostrophes/punctuation/emoji into spaces, collapse.

    "J’ai cassé mes LUNETTES !! 😭" -> "j ai casse mes lunettes"."""
    return _NON_WORD.sub(" ", _fold(text)).strip()


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    for word in normalize(text[:_MAX_SCAN]).split():
        out.extend(_ALIASES.get(word, (word,)))
    return out[:_MAX_TOKENS]


@lru_cache(maxsize=8192)
def _similar(word: str, key: str) -> bool:
    """Whether ``word`` is ``key`` give or take a typo (see the module docstring)."""
    if word == key:
        return True
    if not word or word[0] != key[0]:
        return False
    if len(word) >= len(key) and _REPEATS.sub(r"\1", word) == _REPEATS.sub(r"\1", key):
        return True
    if len(key) <= _EXACT_MAX_LEN or abs(len(word) - len(key)) > 2:
        return False
    budget = 1 if len(key) < 8 else 2
    return OSA.distance(word, key, score_cutoff=budget) <= budget


# ----------------------------------------------------------------------- keyword matching

_NEGATORS: Final = frozenset({"pas", "not", "jamais", "never", "sans", "without", "ni"})


@dataclass(frozen=True, slots=True)
class _Hit:
    label: str
    start: int
    end: int
    negated: bool


class _Matcher:
    """Finds the phrases of a ``label -> phrases`` table in a token list."""

    __slots__ = ("_by_initial", "vocabulary")

    def __init__(self, table: Mapping[str, Iterable[str]]) -> None:
        by_initial: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        vocabulary: set[str] = set()
        for label, phrases in table.items():
            for phrase in phrases:
                words = tuple(normalize(phrase).split())
                if words:
                    by_initial.setdefault(words[0][0], []).append((label, words))
                    vocabulary.update(words)
        self._by_initial = by_initial
        self.vocabulary = frozenset(vocabulary)

    def _matches(self, word: str, key: str) -> bool:
        return word == key or (word not in _KNOWN_WORDS and _similar(word, key))

    def find(self, tokens: Sequence[str]) -> list[_Hit]:
        found: list[tuple[int, int, str]] = []
        for start, token in enumerate(tokens):
            for label, words in self._by_initial.get(token[0], ()):
                end = start + len(words)
                if end <= len(tokens) and all(
                    self._matches(tokens[start + k], key) for k, key in enumerate(words)
                ):
                    found.append((start, end, label))
        found.sort(key=lambda hit: (hit[0] - hit[1], hit[0]))  # longest first, then leftmost
        taken = [False] * len(tokens)
        kept: list[tuple[int, int, str]] = []
        for start, end, label in found:
            if not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                kept.append((start, end, label))
        kept.sort()
        return [_Hit(label, s, e, _negated(tokens, taken, s, e)) for s, e, label in kept]

    def labels(self, text: str) -> list[str]:
        """Labels of the non-negated hits, in reading order."""
        return [hit.label for hit in self.find(_tokens(text)) if not hit.negated]


def _negated(tokens: Sequence[str], taken: Sequence[bool], start: int, end: int) -> bool:
    """A negator in the two free words before ("pas cassées", "pas tout à fait") or a free "pas"
    just after ("carrément pas"). A "non" before is not one: "non, cassées" answers a question."""
    if any(tokens[k] in _NEGATORS for k in range(max(0, start - 2), start) if not taken[k]):
        return True
    return end < len(tokens) and not taken[end] and tokens[end] == "pas"


# ------------------------------------------------------------------------------- yes / no

_YES_NO: Final = _Matcher(
    {
        "yes": (
            "oui", "ouii", "ouais", "ouai", "ouep", "ouaip", "ui", "wi", "ok", "okay", "okey",
            "oki", "okok", "d accord", "dac", "bien sur", "bien sur que oui", "mais oui",
            "absolument", "exact", "exactement", "c est exact", "tout a fait", "volontiers",
            "avec plaisir", "je confirme", "confirme", "je valide", "c est ca", "c est bien ca",
            "c est bon", "c est correct", "correct", "ca marche", "ca me va", "parfait",
            "tres bien", "entendu", "bien entendu", "carrement", "evidemment", "certainement",
            "affirmatif", "aucun probleme", "aucun souci", "pas de probleme", "pas de souci",
            "sans probleme", "sans souci", "nickel", "impeccable", "yes", "yeah", "yep", "yup",
            "sure", "of course", "absolutely", "definitely", "certainly", "exactly",
            "that s right", "alright", "all right", "i confirm", "no problem", "yes please",
        ),
        "no": (
            "non", "nan", "nn", "nope", "no", "nah", "non merci", "je pense pas", "je crois pas",
            "je ne pense pas", "je ne crois pas", "pas vraiment", "pas du tout",
            "absolument pas", "surtout pas", "pas question", "hors de question", "jamais",
            "jamais de la vie", "aucun", "aucune", "pas d accord", "pas ok", "negatif",
            "bien sur que non", "mais non", "c est pas ca", "ce n est pas ca", "pas ca",
            "ca marche pas", "ca me va pas", "c est pas bon", "pas besoin", "no thanks",
            "no thank you", "not really", "not at all", "never", "no way", "not ok",
            "don t think so", "i don t", "negative",
        ),
        "unsure": (
            "peut etre", "bof", "je sais pas", "je ne sais pas", "sais pas", "pas sur",
            "pas sure", "pas certain", "pas certaine", "aucune idee", "je verrai",
            "on verra", "mouais", "maybe", "perhaps", "not sure", "i don t know", "dunno", "no idea",
        ),
    }
)  # fmt: skip
_YES_EMOJI: Final = ("👍", "👌", "✅", "✔", "☑", "🆗", "🙆")
_NO_EMOJI: Final = ("👎", "❌", "✖", "🚫", "⛔", "🙅", "❎")


def parse_yes_no(text: str) -> bool | None:
    """True for a yes, False for a no, None when unknown or ambiguous ("oui non", "bof")."""
    head = text[:_MAX_SCAN]
    tokens = _tokens(head)
    if tokens == ["si"]:
        return True
    verdicts: set[bool] = set()
    for hit in _YES_NO.find(tokens):
        if hit.label == "unsure":
            return None
        if hit.label == "yes":
            verdicts.add(not hit.negated)
        elif not hit.negated:
            verdicts.add(False)
    if any(emoji in head for emoji in _YES_EMOJI):
        verdicts.add(True)
    if any(emoji in head for emoji in _NO_EMOJI):
        verdicts.add(False)
    return verdicts.pop() if len(verdicts) == 1 else None


# ---------------------------------------------------------------------------------- need

_NEED: Final = _Matcher(
    {
        "broken": (
            "casse", "cassee", "casses", "cassees", "casser", "cassure", "brise", "brisee",
            "brises", "brisees", "abime", "abimee", "abimes", "abimees", "fissure", "fissuree",
            "fissures", "fissurees", "fendu", "fendue", "fendus", "fendues", "fele", "felee",
            "feles", "felees", "tordu", "tordue", "tordus", "tordues", "raye", "rayee", "rayes",
            "rayees", "ecrase", "ecrasees", "plie", "pliee", "en morceaux", "deux morceaux",
            "assis dessus", "marche dessus", "branche cassee", "verre fendu", "monture cassee",
            "broken", "broke", "cracked", "snapped", "bent", "scratched", "damaged", "smashed",
        ),
        "lost": (
            "perdu", "perdue", "perdus", "perdues", "perdre", "paume", "paumee", "paumees",
            "egare", "egaree", "egares", "egarees", "introuvable", "introuvables", "disparu",
            "disparue", "disparues", "vole", "volee", "voles", "volees", "vol", "cambriole",
            "oublie", "oubliees", "trouve plus", "retrouve plus", "lost", "stolen", "missing",
            "misplaced", "can t find", "cannot find",
        ),
        "unsuitable": (
            "ne me conviennent plus", "conviennent plus", "convient plus", "conviennent pas",
            "vont plus", "plus adaptees", "plus adaptee", "plus adaptes", "pas adaptees",
            "inadaptees", "inadaptee", "inadaptes", "je vois mal", "vois mal", "vois flou",
            "vois plus bien", "vois pas bien", "vue a baisse", "vue baisse", "vue a change",
            "trop faibles", "plus assez fortes", "nouvelle ordonnance", "new prescription",
            "unsuitable", "can t see", "blurry", "don t suit", "no longer suit",
        ),
        "other": (
            "renouvellement", "renouveler", "lentilles", "lentille", "question", "renseignement",
            "information", "rendez vous de controle", "controle", "examen de vue", "devis",
            "autre chose", "autre", "something else", "other", "contact lenses", "renewal",
            "check up", "checkup",
        ),
        "prescription": ("ordonnance", "prescription"),
        "sight": (
            "vue", "vois", "vision", "flou", "floue", "change", "changee", "baisse", "evolue",
            "correction", "nouvelle", "eyesight", "changed",
        ),
    }
)  # fmt: skip
_NEED_ORDER: Final[tuple[Need, ...]] = ("broken", "lost", "unsuitable", "other")


def parse_need(text: str) -> Need | None:
    """broken > lost > unsuitable > other when several are mentioned."""
    labels = _NEED.labels(text)
    if "prescription" in labels and "sight" in labels:
        labels.append("unsuitable")
    return next((need for need in _NEED_ORDER if need in labels), None)


# ---------------------------------------------------------------------------------- mode

_MODE: Final = _Matcher(
    {
        "visit": (
            "visite", "visiter", "venir", "venez", "viendrez", "deplacement", "deplacer",
            "deplacez", "sur place", "home visit", "visit", "come", "come over", "in person",
        ),
        "visit_place": (
            "a domicile", "domicile", "chez moi", "chez nous", "au travail", "lieu de travail",
            "au bureau", "passer", "passez", "at home", "at work", "my place", "home",
        ),
        "shipment": (
            "envoi", "envoyer", "envoyez", "envoie", "par la poste", "la poste", "poste",
            "courrier", "livraison", "livrer", "livrez", "colis", "chronopost", "colissimo",
            "expedition", "expedier", "expediez", "point relais", "relais", "ship", "shipping",
            "shipment", "delivery", "deliver", "post", "by post", "mail", "send", "parcel",
        ),
    }
)  # fmt: skip


def parse_mode(text: str) -> Mode | None:
    """A shipping word beats a place ("livraison à domicile"); a visit verb plus one -> None."""
    labels = set(_MODE.labels(text))
    if "shipment" in labels:
        return None if "visit" in labels else "shipment"
    if labels & {"visit", "visit_place"}:
        return "visit"
    return None


# ------------------------------------------------------------------------------ priority

_PRIORITY: Final = _Matcher(
    {
        "health": (
            "medecin", "docteur", "infirmiere", "infirmier", "aide soignante", "aide soignant",
            "soignante", "soignant", "personnel soignant", "hopital", "clinique", "pharmacien",
            "pharmacienne", "pharmacie", "sage femme", "kine", "kinesitherapeute",
            "ambulancier", "ambulanciere", "ehpad", "chu", "urgences", "urgentiste",
            "chirurgien", "dentiste", "radiologue", "brancardier", "auxiliaire de vie",
            "aide a domicile", "sante", "medical", "nurse", "doctor", "hospital", "paramedic",
            "caregiver", "carer", "pharmacist", "midwife", "physiotherapist",
        ),
        "food_retail": (
            "caissiere", "caissier", "caisse", "hotesse de caisse", "supermarche",
            "hypermarche", "superette", "grande surface", "boulanger", "boulangere",
            "boulangerie", "commerce alimentaire", "alimentation", "epicerie", "epicier",
            "epiciere", "boucher", "bouchere", "boucherie", "charcutier", "poissonnier",
            "primeur", "fromager", "carrefour", "leclerc", "auchan", "intermarche", "lidl", "aldi",
            "monoprix", "franprix", "grocery", "cashier", "supermarket", "baker", "butcher",
            "food retail", "food store",
        ),
        "delivery": (
            "livreur", "livreuse", "chauffeur livreur", "coursier", "coursiere", "facteur",
            "factrice", "postier", "postiere", "courrier", "livraison", "livraisons", "routier",
            "courier", "delivery driver", "delivery man", "postman", "mail carrier",
        ),
        "firefighter": (
            "pompier", "pompiers", "sapeur pompier", "sapeurs pompiers", "firefighter",
            "fire fighter", "fireman",
        ),
        "other": (
            "autre", "autres", "autre metier", "autre metier mobilise", "policier", "policiere",
            "police", "gendarme", "gendarmerie", "eboueur", "eboueuse", "militaire",
            "enseignant", "enseignante", "professeur", "agent de securite", "agent d entretien",
            "chauffeur", "conducteur", "conductrice", "taxi", "pompes funebres", "other",
            "police officer", "soldier", "teacher", "cleaner", "bus driver",
            "garbage collector",
        ),
        "none": (
            "pas mobilise", "pas mobilisee", "non mobilise", "non mobilisee", "aucun",
            "aucune", "pas concerne", "pas concernee", "none", "not mobilised",
            "not mobilized", "not concerned",
        ),
    }
)  # fmt: skip
# A correctly spelt keyword of any table, or one of these common words, is never read as a
# typo of another keyword ("caisse" is not "cassé", "porte" is not "poste").
_COMMON_WORDS: Final = ("voie", "porte", "portes", "case", "cases", "saint", "sainte", "career", "tenir")
_KNOWN_WORDS: Final = frozenset(_COMMON_WORDS).union(
    *(matcher.vocabulary for matcher in (_YES_NO, _NEED, _MODE, _PRIORITY))
)
_JOBS: Final[tuple[Priority, ...]] = ("health", "food_retail", "delivery", "firefighter", "other")


def parse_priority(text: str) -> Priority | None:
    """The first job mentioned; "none" for "not mobilised" or a plain no."""
    labels = _PRIORITY.labels(text)
    job = next((job for label in labels for job in _JOBS if job == label), None)
    if job is not None:
        return None if "none" in labels else job
    if "none" in labels or parse_yes_no(text) is False:
        return "none"
    return None


# --------------------------------------------------------------------- postcode and phone

_DIGITS: Final = re.compile(r"[0-9]+")
_STREET_WORD: Final = re.compile(
    r"[\s,]*(?:bis|ter|rue|r\.|av\b|av\.|avenue|bd|boulevard|chemin|ch\.|all[ée]e|impasse|"
    r"place|pl\.|route|rte|quai|cours|square|passage|lieu[- ]dit|résidence|residence)",
    re.IGNORECASE,
)
_NOT_A_PLACE: Final = re.compile(r"\s*(?:€|eur\b|euros?\b|km\b|m2\b|m²|ans\b|habitants\b)", re.I)
_OVERSEAS_REGIONS: Final = ("RE", "YT", "GP", "MQ", "GF")
_NATIONAL_NUMBER: Final = re.compile(r"(?<![\d+])0(?:[ .\-]?\d){9}(?!\d)")
_MIN_PHONE_DIGITS: Final = 6


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


def parse_postcode(text: str) -> str | None:
    """A French postcode inside an address; digit chains of 8+ digits (phones) are skipped."""
    head = unicodedata.normalize("NFKC", text[:_MAX_SCAN])
    runs = list(_DIGITS.finditer(head))
    chains: list[list[re.Match[str]]] = []
    for run in runs:
        if chains and run.start() - chains[-1][-1].end() == 1 and head[run.start() - 1] in " .-/":
            chains[-1].append(run)
        else:
            chains.append([run])
    found: list[tuple[str, int, int]] = []  # code, start, end
    for chain in chains:
        if sum(len(run.group()) for run in chain) >= 8 or head[: chain[0].start()].endswith("+"):
            continue
        for i, run in enumerate(chain):
            if len(run.group()) == 5:
                found.append((run.group(), run.start(), run.end()))
            elif _split_postcode(head, chain, i):
                nxt = chain[i + 1]
                found.append((run.group() + nxt.group(), run.start(), nxt.end()))
    valid = [
        (code, end)
        for code, _start, end in found
        if _valid_postcode(code) and not _NOT_A_PLACE.match(head, end)
    ]
    for code, end in valid:
        if not _STREET_WORD.match(head, end):
            return code
    return valid[0][0] if valid else None


def department_of(postcode: str) -> str:
    """ "75011" -> "75", Corsica "200xx"/"201xx" -> "2A", other "20xxx" -> "2B",
    overseas and collectivities ("97xxx", "98xxx") -> first three digits; "" if unusable."""
    digits = "".join(ch for ch in postcode[:32] if "0" <= ch <= "9")
    if len(digits) < 2:
        return ""
    if len(digits) >= 3 and digits.startswith("20"):
        return "2A" if digits[2] in "01" else "2B"
    if len(digits) >= 3 and digits[:2] in ("97", "98"):
        return digits[:3]
    return digits[:2]


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def parse_phone(text: str) -> str | None:
    """The first valid phone number as E.164: French spellings first ("06 12 34 56 78",
    "+33 (0)6...", "0033..."), then overseas national ones ("0692 12 34 56"), else None."""
    head = unicodedata.normalize("NFKC", text[:_MAX_SCAN])
    if sum(ch.isdigit() for ch in head) < _MIN_PHONE_DIGITS:
        return None
    try:
        for match in phonenumbers.PhoneNumberMatcher(head, "FR", leniency=phonenumbers.Leniency.VALID):
            return _e164(match.number)
        for candidate in _NATIONAL_NUMBER.findall(head):
            for region in _OVERSEAS_REGIONS:
                number = phonenumbers.parse(candidate, region)
                if phonenumbers.is_valid_number(number):
                    return _e164(number)
    except Exception:  # a third-party parser must never crash the conversation
        return None
    return None


# ------------------------------------------------------------------------------ half-day


def parse_half_day(text: str, today: date) -> HalfDay | None:
    """ "demain matin", "lundi 14h", "12/12 après-midi"... (rules in ``flows.halfday``)."""
    found = find_half_day(_fold(text[:_MAX_SCAN]), today)
    return HalfDay(found[0], found[1]) if found is not None else None


# ------------------------------------------------------------------------------- command

_Reading = tuple[Command, str | None]
_COMMAND_PHRASES: Final[Mapping[_Reading, tuple[str, ...]]] = {
    ("restart", None): (
        "recommencer", "recommencer depuis le debut", "reprendre a zero",
        "reprendre depuis le debut", "on recommence", "recommence", "recommencons",
        "tout recommencer", "repartir de zero", "depuis le debut", "restart", "start over",
        "start again", "reset", "start", "reinitialiser",
    ),
    ("cancel", None): (
        "annuler", "annule", "annulez", "annulation", "stop", "arreter", "arrete", "arretez",
        "quitter", "laisse tomber", "laissez tomber", "abandonner", "j abandonne", "cancel",
        "quit", "exit",
    ),
    ("help", None): ("aide", "help", "menu", "comment ca marche", "how does it work"),
    ("language", None): ("langue", "language", "lang", "changer de langue", "change language"),
    ("language", "en"): (
        "english", "in english", "en anglais", "anglais", "parler anglais", "speak english",
        "do you speak english",
    ),
    ("language", "fr"): (
        "francais", "en francais", "french", "in french", "parler francais", "parlez francais",
        "speak french",
    ),
    ("advisor", None): (
        "conseiller", "conseillere", "un conseiller", "une conseillere",
        "parler a un conseiller", "parler a une conseillere", "un humain", "humain",
        "parler a un humain", "une personne", "parler a une personne", "une vraie personne",
        "un agent", "agent", "parler a quelqu un", "un operateur", "operateur", "advisor",
        "adviser", "talk to a human", "speak to a human", "human", "a human", "real person",
        "operator", "talk to someone", "speak to someone",
    ),
    ("my_data", None): (
        "mes donnees", "mes infos", "mes informations", "mes donnees personnelles",
        "voir mes donnees", "consulter mes donnees", "exporter mes donnees", "exporter",
        "export", "my data", "my info", "export my data", "see my data",
    ),
    ("delete_data", None): (
        "supprimer", "supprimer mes donnees", "supprimez mes donnees", "effacer mes donnees",
        "effacez mes donnees", "effacer", "oubliez moi", "oublie moi", "droit a l oubli",
        "delete my data", "delete", "erase my data", "remove my data", "forget me",
    ),
}  # fmt: skip
_COMMANDS: Final[Mapping[str, _Reading]] = {
    normalize(phrase): reading for reading, phrases in _COMMAND_PHRASES.items() for phrase in phrases
}
_SLASH_NAMES: Final[Mapping[_Reading, tuple[str, ...]]] = {
    ("restart", None): ("start", "restart", "recommencer", "reset"),
    ("cancel", None): ("annuler", "cancel", "stop", "quit", "quitter"),
    ("help", None): ("aide", "help"),
    ("language", None): ("langue", "language", "lang"),
    ("language", "en"): ("en", "english", "anglais"),
    ("language", "fr"): ("fr", "francais", "french"),
    ("advisor", None): ("conseiller", "advisor", "agent", "humain", "human"),
    ("my_data", None): ("mesdonnees", "mydata", "donnees", "data", "export"),
    ("delete_data", None): ("supprimer", "delete", "effacer", "oubli", "deletedata", "forget"),
}
_SLASH: Final[Mapping[str, _Reading]] = {
    name: reading for reading, names in _SLASH_NAMES.items() for name in names
}
_POLITE_PREFIXES: Final = tuple(
    normalize(p) + " "
    for p in (
        "je voudrais", "je veux", "j aimerais", "je souhaite", "je souhaiterais", "puis je",
        "pouvez vous", "peux tu", "on peut", "i want to", "i d like to", "i would like to",
        "can i", "could i", "let me", "please", "s il vous plait", "s il te plait", "merci",
        "bonjour", "hello", "hi",
    )
)  # fmt: skip
_POLITE_SUFFIXES: Final = tuple(
    " " + normalize(p) for p in ("s il vous plait", "s il te plait", "please", "merci", "pls")
)
_MAX_COMMAND_LEN: Final = 60
_FUZZY_COMMAND_MIN_LEN: Final = 7  # "agent" must not catch the city of Agen
# Fuzzy candidates by first letter (a typo never changes it): a handful to compare, not a hundred.
_FUZZY_COMMANDS: Final[Mapping[str, tuple[tuple[str, _Reading], ...]]] = {
    initial: tuple(
        (c, r) for c, r in _COMMANDS.items() if len(c) >= _FUZZY_COMMAND_MIN_LEN and c[0] == initial
    )
    for initial in {c[0] for c in _COMMANDS if c}
}
_LANGUAGE_WORDS: Final = frozenset({"langue", "language", "lang", "langage"})


def _strip_politeness(phrase: str) -> str:
    for _ in range(4):
        before = phrase
        for prefix in _POLITE_PREFIXES:
            phrase = phrase.removeprefix(prefix)
        for suffix in _POLITE_SUFFIXES:
            phrase = phrase.removesuffix(suffix)
        if phrase == before:
            break
    return phrase


def _slash_command(body: str) -> _Reading | None:
    words = body.split(maxsplit=1)
    if not words:
        return None
    name = normalize(words[0].split("@", 1)[0]).replace(" ", "")
    reading = _SLASH.get(name)
    if reading is None or reading != ("language", None) or len(words) == 1:
        return reading
    target = _SLASH.get(normalize(words[1]).replace(" ", ""))
    return target if target is not None and target[0] == "language" else reading


def parse_command(text: str) -> tuple[Command, str | None] | None:
    """A global command, only when it is the whole (short) message; "au secours" is not help."""
    stripped = text.strip()
    if not stripped or len(stripped) > _MAX_COMMAND_LEN:
        return None
    if stripped.startswith("/"):
        return _slash_command(stripped[1:])
    if set(stripped) <= {"?", "¿", " "}:
        return ("help", None)
    phrase = " ".join(w for t in normalize(stripped).split() for w in _ALIASES.get(t, (t,)))
    phrase = _strip_politeness(phrase)
    if not phrase:
        return None
    exact = _COMMANDS.get(phrase)
    if exact is not None:
        return exact
    first, _, rest = phrase.partition(" ")
    if first in _LANGUAGE_WORDS and rest:  # "langue en", "language french"
        target = _SLASH.get(rest.replace(" ", "")) or _COMMANDS.get(rest)
        return target if target is not None and target[0] == "language" else None
    for candidate, reading in _FUZZY_COMMANDS.get(phrase[0], ()):
        if abs(len(candidate) - len(phrase)) <= 2 and _similar(phrase, candidate):
            return reading
    return None


# ---------------------------------------------------------------------------------- name

_NAME_INTROS: Final = (
    r"je\s+m'?\s*appel+e", r"j'?\s*m'?\s*appel+e", r"moi\s*,?\s*c'?\s*est", r"c'?\s*est",
    r"mon\s+nom\s+(?:est|c'?\s*est)", r"mon\s+nom", r"nom\s+et\s+pr[ée]nom", r"pr[ée]nom\s+et\s+nom",
    r"nom", r"pr[ée]nom", r"my\s+name\s+is", r"my\s+name's", r"name",
)  # fmt: skip
# Intros that also start ordinary sentences ("je suis retraitée"): the name must then be capitalised.
_NAME_WEAK_INTROS: Final = (r"je\s+suis", r"i\s+am", r"i'm", r"it's", r"this\s+is")
_NAME_INTRO: Final = re.compile(
    (
        r"^\s*(?:(?:bonjour|bonsoir|salut|hello|hi|coucou)\b[\s,.!]*)?"
        r"(?:(?:(?P<weak>" + "|".join(_NAME_WEAK_INTROS) + ")|" + "|".join(_NAME_INTROS) + r")\b"
        r"\s*[:=,\-–]?\s*)?"
    ).replace("'", "['’ʼ`´]"),
    re.IGNORECASE,
)
_URL: Final = re.compile(r"https?:|www\.|@|\.(?:com|fr|net|org|io)\b", re.IGNORECASE)
_NAME_CUT: Final = re.compile(r"[!?;\n\r]")
_NAME_POLITE_END: Final = frozenset({"merci", "thanks", "thank", "you", "svp", "stp", "please"})
_NAME_STOPWORDS: Final = frozenset(
    (
        "je", "j", "tu", "il", "elle", "on", "nous", "vous", "ils", "elles", "me", "moi",
        "mon", "ma", "mes", "ton", "ta", "tes", "son", "sa", "ses", "notre", "votre", "leur",
        "ai", "as", "avez", "avons", "est", "suis", "es", "sont", "etes", "pas", "ne",
        "plus", "pour", "avec", "dans", "sur", "par", "et", "ou", "que", "qui", "quoi",
        "quand", "comment", "pourquoi", "lunettes", "lunette", "verres", "merci", "bonjour",
        "bonsoir", "salut", "ca", "c", "i", "my", "is", "am", "the", "and", "glasses",
        "please", "what", "why", "how", "you", "your", "it", "this", "that", "hello", "hi",
        "thanks", "not", "ok", "a", "au", "aux", "en", "chez", "bah", "ben", "euh", "heu", "bon",
        "eh", "ah", "oh", "hein", "voila", "bref", "alors", "donc", "mouais", "bof", "lol", "mdr",
        "sir", "demain", "aujourd", "hui", "matin", "soir", "midi", "urgent", "urgence", "possible",
    )
)  # fmt: skip
_MAX_NAME_LEN: Final = 80
_MAX_NAME_WORDS: Final = 6


def _name_or_none(candidate: str) -> str | None:
    words = candidate.split()
    while words and normalize(words[-1]) in _NAME_POLITE_END:
        words.pop()
    name = " ".join(words).strip(" ,.-'’\"«»")
    if not 2 <= len(name) <= _MAX_NAME_LEN or not any(ch.isalpha() for ch in name):
        return None
    if any(not (ch.isalpha() or ch in " -'’.,") for ch in name if not unicodedata.combining(ch)):
        return None
    tokens = _tokens(name)
    if len(name.split()) > _MAX_NAME_WORDS or any(t in _NAME_STOPWORDS for t in tokens):
        return None
    hits = _YES_NO.find(tokens)
    if sum(hit.end - hit.start for hit in hits) == len(tokens) or parse_command(name):
        return None
    return name


def parse_name(text: str) -> str | None:
    """A person's name, intro words stripped ("je m'appelle", "moi c'est", "my name is")."""
    head = text[: _MAX_NAME_LEN * 4]
    if _URL.search(head) or any(ch.isdigit() for ch in head):
        return None
    intro = _NAME_INTRO.match(head)
    rest = head[intro.end() if intro else 0 :]
    if intro and intro.group("weak") and rest[:1].islower():
        return None
    rest = "".join(" " if unicodedata.category(ch)[0] in "SCZ" and ch != "\u200d" else ch for ch in rest)
    rest = _NAME_CUT.split(rest, maxsplit=1)[0]
    return _name_or_none(rest) or _name_or_none(rest.split(",", 1)[0])


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
