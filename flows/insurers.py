"""The client's complementary health insurance ("mutuelle"), read at the intake's optional question.

The insurers, care networks and third-party payment operators clients most often name are shipped
in ``flows/data/insurers.toml``; a name found there is recorded as the list writes it ("mgen" ->
"MGEN", "harmonie" -> "Harmonie Mutuelle"), one not found is kept as the client typed it, when it
reads as a name and not as a sentence or a question. The answer may also be "none" ("pas de
mutuelle"), a wish to skip ("je ne sais pas", "passer"), or a bare yes — then the client is asked
which one (a :class:`Hint`, in ``flows.steps``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

from flows.commands import parse_command
from flows.contact import parse_phone
from flows.text import _MAX_SCAN, KNOWN_WORDS, _Hit, _keyword_tokens, _Matcher, _swapped, _tokens
from flows.yes_no import YES_NO, parse_yes_no

MAX_INSURER_LENGTH: Final = 80
MAX_INSURER_WORDS: Final = 8


@dataclass(frozen=True, slots=True)
class Insurer:
    key: str
    name: str
    kind: str


InsuranceReading = Literal["none", "skip", "which"] | str


@cache
def _shipped() -> dict[str, Any]:
    """``flows/data/insurers.toml``'s entries, by key (read once)."""
    raw = tomllib.loads(resources.files("flows").joinpath("data/insurers.toml").read_text("utf-8"))
    entries: dict[str, Any] = raw["insurers"]
    return entries


@cache
def insurers() -> dict[str, Insurer]:
    """The shipped list, by key."""
    return {key: Insurer(key, str(entry["name"]), str(entry["kind"])) for key, entry in _shipped().items()}


# Everyday words a letter away from an insurer's name, never read as its typo ("la générale"
# may be La Mutuelle Générale as well as Generali, "avril" is no "April").
_PLAIN_WORDS: Final = frozenset(
    ("generale", "general", "generales", "generaux", "avril", "alliances", "harmonies", "malaise",
     "matmuts", "macis", "axes", "gens")
)  # fmt: skip


_ACRONYM_SWAP_LENGTH: Final = 4


class _InsurerMatcher(_Matcher):
    """The shipped names, with typos allowed on no word of everyday speech."""

    __slots__ = ()

    def _matches(self, word: str, key: str) -> bool:
        if word == key:
            return True
        if word in _PLAIN_WORDS:
            return False
        # An acronym of four letters with two neighbours swapped ("MGNE"); other typos on words
        # that short stay unread (MAAF and MAIF are one letter apart).
        if len(word) == len(key) == _ACRONYM_SWAP_LENGTH and _swapped(word, key):
            return True
        return super()._matches(word, key)


@cache
def _matcher() -> _Matcher:
    return _InsurerMatcher({key: tuple(entry["aliases"]) for key, entry in _shipped().items()})


def says_no_insurance(text: str) -> bool:
    """No insurance said in words that name it ("en fait je n'ai pas de mutuelle"), not a bare
    "non" (at the card's step, that is no photo)."""
    tokens = _keyword_tokens(text[:_MAX_SCAN])
    return any(
        hit.label == "none"
        and not hit.negated
        and any(t in _INSURANCE_NOUNS for t in tokens[hit.start : hit.end])
        for hit in _OWN.find(tokens)
    )


def no_card_at_hand(text: str) -> bool:
    """The client says the card is not at hand ("je n'ai pas la carte", "elle est chez moi")."""
    return any(
        hit.label == "no_card" and not hit.negated for hit in _OWN.find(_keyword_tokens(text[:_MAX_SCAN]))
    )


def insurer_hits(tokens: list[str]) -> list[_Hit]:
    """The listed insurers named in these tokens (by their entry's key)."""
    return _matcher().find(tokens)


def known(name: str | None) -> Insurer | None:
    """The shipped entry a recorded name is, or None (a name kept as typed)."""
    if not name:
        return None
    return next((i for i in insurers().values() if i.name == name), None)


# The public scheme everyone has, which is no complementary insurance ("que la sécu").
_BASE_COVER: Final = (
    "secu", "la secu", "securite sociale", "la securite sociale", "carte vitale", "la carte vitale",
    "cpam", "la cpam", "ameli", "assurance maladie", "l assurance maladie", "regime general",
    "social security", "the social security", "state cover", "the state cover",
    "basic state cover", "the basic state cover", "basic cover", "the basic cover",
    "the carte vitale", "public insurance", "state insurance", "the state insurance",
)  # fmt: skip
_ONLY: Final = ("que", "juste", "seulement", "uniquement", "rien que", "only", "just")
# No insurance ("pas de mutuelle", "j'en ai pas", "aucune"), a wish to skip the question, and the
# words of the question itself (said around a name: "ma mutuelle c'est la MGEN").
_OWN: Final = _Matcher(
    {
        "none": (
            "pas de mutuelle", "pas mutuelle", "aucune mutuelle", "sans mutuelle", "pas de complementaire",
            "aucune complementaire", "j en ai pas", "j en ai aucune", "je n en ai pas", "n en ai pas",
            "j en ai plus", "je n en ai plus", "n en ai plus", "pas d assurance", "aucune assurance",
            "pas de mutuel", "pas de mutuelles", "aucune", "pas du tout", "rien", "nothing", "none",
            "no insurance", "no insurer", "i don t have one", "i have none", "not insured",
            "pas assure", "pas assuree", "je suis pas assure", "je suis pas assuree",
            "je ne suis pas assure", "je ne suis pas assuree", "pas couvert", "pas couverte",
            "pas d mutuelle", "pas d mutuel", "pas d complementaire", "plus de mutuelle",
            "plus de mutuel", "plus de complementaire", "plus d assurance", "plus maintenant",
            "not anymore", "no longer", "i don t have any", "i have no insurance", "no coverage",
            *(f"{only} {base}" for only in _ONLY for base in _BASE_COVER),
            *(f"{base} {only}" for only in ("seulement", "uniquement", "only") for base in _BASE_COVER),
        ),
        # Only the public scheme named, without "only": no insurer, but maybe not "none" either.
        "base": _BASE_COVER,
        "skip": (
            "passer", "je passe", "on passe", "passe", "passons", "skip", "plus tard", "later",
            "je ne sais pas", "je sais pas", "sais pas", "je sais plus", "je ne sais plus",
            "aucune idee", "je ne me souviens pas", "je me souviens pas", "je m en souviens pas",
            "je ne m en souviens pas", "je me rappelle pas", "je ne me rappelle plus", "pas sur",
            "pas sure", "je prefere ne pas dire", "je prefere ne pas repondre", "je prefere pas",
            "je prefere pas dire", "pas envie", "peu importe", "facultatif", "i don t know", "dunno",
            "no idea", "not sure", "don t remember", "i don t remember", "rather not say",
            "prefer not to say", "pass", "next", "suivant", "je verrai", "on verra",
            "je ne me souviens plus", "je me souviens plus", "me souviens plus",
            "je ne m en souviens plus", "je m en souviens plus", "je me rappelle plus",
            "me rappelle plus", "j ai oublie", "oublie le nom", "i forgot", "forgot the name",
        ),
        # No card at hand (also the card's step's own "no"): at the insurance question, a skip
        # unless a name is said before it ("la Mutuelle Plumocanard, je n'ai pas la carte").
        "no_card": (
            "je ne l ai pas", "je l ai pas", "jlai pas", "jl ai pas", "pas sur moi",
            "pas sous la main", "pas la carte", "pas ma carte", "pas de carte", "pas maintenant",
            "pas tout de suite", "la trouve pas", "trouve pas", "l ai perdue", "l ai perdu",
            "perdu ma carte", "perdu la carte", "not now", "lost it", "lost my card", "no card",
            "don t have it", "not on me", "can t find it", "chez moi", "a la maison",
            "dans mon autre sac", "mon autre sac", "autre sac", "at home", "left it",
            "in my other bag", "pas avec moi", "not with me",
        ),
    }
)  # fmt: skip
# The words naming insurance in a "none" phrase ("pas de mutuelle"; "aucune" alone does not).
_INSURANCE_NOUNS: Final = frozenset(
    ("mutuelle", "mutuel", "mutuelles", "complementaire", "assurance", "assure", "assuree", "insurance",
     "insurer", "insured", "secu", "securite", "couvert", "couverte", "coverage")
)  # fmt: skip
# Where a clause ends ("la MGEN, je n'ai pas la carte").
_CLAUSE: Final = re.compile(r"\s*(?:[,;.!]|\s(?:mais|but)\s)\s*", re.IGNORECASE)
# Words that open an answer around the name and are not part of it.
_WRAPPER: Final = re.compile(
    r"^\s*(?:(?:bonjour|bonsoir|salut|hello|hi|alors|euh+|bah|ben|donc|voil[aà]|oui|ouais|yes|yeah|"
    r"ok|okay|bien\s+s[uû]r|si|(?:je\s+suis|j'?\s*suis|chuis|i'?\s*m|i\s+am)\s+(?:[àa]|chez|avec|at|with)|"
    r"(?:(?:il|elle|[çc]a)\s+)?s'?\s*appel+e|(?:it'?s\s+|it\s+is\s+)?(?:called|named)|j'?\s*ai|i\s+do|j'?\s*en\s+ai\s+une|i\s+have(?:\s+one)?|c'?\s*est|c|it'?s|"
    r"it\s+is|(?:ma|la|mon|my|the)\s+(?:mutuelle|compl[ée]mentaire(?:\s+sant[ée])?|assurance"
    r"(?:\s+sant[ée])?|insurer|insurance)(?:(?=\s*:)|\s+(?:c'?\s*est|est|is|s'?\s*appelle))|chez|avec|"
    r"with|at|la|le|les|l'|une|un|a|an|the)\b[\s,.:!\-–]*)+",
    re.IGNORECASE,
)
_END: Final = re.compile(r"[\s,.;:!\-–]*(?:merci|thanks|svp|stp|please)?[\s,.;:!]*$", re.IGNORECASE)
# Words that make a sentence, not a name: the client talks, asks, or hesitates.
_SENTENCE_WORDS: Final = frozenset(
    ("je", "j", "tu", "vous", "il", "elle", "on", "nous", "i", "you", "we", "pourquoi", "comment",
     "quoi", "quand", "combien", "why", "what", "how", "when", "est", "sont", "suis", "ai", "avez",
     "faut", "dois", "doit", "sert", "comprends", "comprend", "understand", "need", "must", "is",
     "are", "am", "do", "does", "don", "t", "pas", "not", "ne", "n", "veux", "voudrais", "want",
     "obligatoire", "mandatory", "required", "rembourse", "remboursement", "payer", "pay", "prix",
     "cout", "gratuit", "free", "urgent", "lunettes", "glasses", "verres", "monture", "lundi",
     "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "demain", "aujourd", "hui",
     "matin", "soir", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
     "tomorrow", "today",
     # waiting, looking, greeting: no name ("un instant", "attendez")
     "instant", "moment", "seconde", "secondes", "minute", "minutes", "sec", "attendez", "attends",
     "patientez", "cherche", "regarde", "hold", "wait", "check", "merci", "bof", "hein", "quoi",
     "ok", "cool", "super", "parfait", "top", "pardon", "desole", "sorry", "coucou", "slt",
     "bjr", "hey", "lol", "mdr", "ah", "oh", "hmm", "heu", "pff", "test", "moi", "toi",
     # going back, a slip: no name ("retour", "oups")
     "retour", "revenir", "precedent", "precedente", "back", "previous", "erreur", "error",
     "oups", "oops", "zut", "mince", "allo", "allô", "annule", "undo",
     # a date ("April" is an insurer's name, read before)
     "janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
     "octobre", "novembre", "decembre", "january", "february", "march", "june", "july", "august",
     "september", "october", "november", "december",
     # an address
     "rue", "avenue", "boulevard", "bd", "chemin", "allee", "impasse", "place", "route", "quai",
     "cedex", "street", "road", "lane")
)  # fmt: skip
# Words that say what an unknown name is: a name of two words or more without one of them, or an
# acronym, is more likely a person's ("Jean Dupont") than an insurer's.
_INSURER_WORDS: Final = frozenset(
    ("mutuelle", "mutuelles", "mutuel", "mutualite", "mutualiste", "mutual", "assurance",
     "assurances", "assureur", "prevoyance", "groupe", "group", "sante", "insurance", "health",
     "complementaire", "caisse")
)  # fmt: skip
_ACRONYM: Final = re.compile(r"\b[A-Z][A-Z0-9]+\b")
# Words that put an insurer in the past ("j'avais la MGEN", "I had MGEN") and those that close
# that clause ("..., maintenant c'est Harmonie").
_PAST: Final = frozenset(
    ("avais", "avait", "etais", "etait", "eu", "ancienne", "ancien", "avant", "had", "was",
     "used", "former", "previously", "before")
)  # fmt: skip
_NOW: Final = frozenset(("mais", "maintenant", "now", "but", "desormais", "aujourd"))
# Words of the question alone name no insurer ("oui, j'ai une mutuelle").
_GENERIC: Final = frozenset(
    ("mutuelle", "mutuelles", "mutuel", "complementaire", "sante", "assurance", "insurance", "insurer",
     "une", "un", "a", "one", "de", "oui", "yes")
)  # fmt: skip
_LETTERS: Final = re.compile(r"[^\W\d_]{2,}")


def parse_insurance(text: str) -> InsuranceReading | None:
    """The insurer's name (as the shipped list writes it, or as typed), "none", "skip", "which"
    (a yes without the name), or None when the text is not an answer (a question, a sentence)."""
    head = text[:_MAX_SCAN]
    tokens = _keyword_tokens(head)
    if not tokens:
        return None
    if "?" in head and any(token in _SENTENCE_WORDS for token in tokens):
        return None  # a question ("est-ce que la MGEN rembourse ?"), even naming an insurer
    named = [hit for hit in _matcher().find(tokens) if not hit.negated and not _extended(tokens, hit.end)]
    found = {hit.label for hit in named if not _past(tokens, hit.start)}
    own = {hit.label for hit in _OWN.find(tokens) if not hit.negated}
    if len(found) > 1:  # "la MGEN ou la MNH", "MGEN et Harmonie": which one is the client's?
        return None
    if found:  # "pas la MGEN, la MNH": the one named that is not negated nor past
        return insurers()[found.pop()].name
    if "none" in own:
        return "none"
    if "skip" in own:
        return "skip"
    if "no_card" in own:
        before = _CLAUSE.split(head, maxsplit=1)[0]
        first = parse_insurance(before) if before != head else None
        return first if first not in (None, "none", "skip", "which") else "skip"
    if named:  # only a former one ("j'avais la MGEN"): no name to keep either
        return None
    said = parse_yes_no(head)
    if said is False:
        return "none"
    if "base" in own or parse_command(head) is not None or parse_phone(head) is not None:
        return None
    name = _name_in(head)
    if name is not None:
        return name
    return "which" if said is True else None


# "La Mutuelle Familiale du Jura" is another mutuelle than "La Mutuelle Familiale"; "la MGEN de
# mon mari" is the MGEN.
_OF: Final = frozenset(("de", "du", "des", "d", "of"))
_WHOSE: Final = frozenset(
    ("mon", "ma", "mes", "son", "sa", "ses", "notre", "nos", "votre", "vos", "leur", "leurs",
     "my", "his", "her", "our", "their")
)  # fmt: skip


def _extended(tokens: list[str], end: int) -> bool:
    """A listed name followed by "de/du/des …" naming another body: an unlisted name."""
    return end + 1 < len(tokens) and tokens[end] in _OF and tokens[end + 1] not in _WHOSE


def _past(tokens: list[str], start: int) -> bool:
    """An insurer named in the past, in its own clause ("j'avais la MGEN", "I had MGEN before")."""
    for token in reversed(tokens[:start]):
        if token in _NOW:
            return False
        if token in _PAST:
            return True
    return False


def _name_in(text: str) -> str | None:
    """A name as typed, its opening words and a polite ending stripped; None for a sentence, a
    question, a yes or no, a number."""
    if "?" in text or "\n" in text:
        return None
    candidate = _END.sub("", _WRAPPER.sub("", text.strip(), count=1)).strip(" \"'«»“”")
    if not candidate or len(candidate) > MAX_INSURER_LENGTH or not _LETTERS.search(candidate):
        return None
    words = _tokens(candidate)
    if not words or len(words) > MAX_INSURER_WORDS or any(w in _SENTENCE_WORDS for w in words):
        return None
    if all(w in _GENERIC for w in words) or any(
        hit.label in ("yes", "no", "unsure", "fine") for hit in YES_NO.find(words)
    ):
        return None
    if len(words) == 1 and words[0] in KNOWN_WORDS:  # another step's word ("photo", "deux")
        return None
    if any(c.isdigit() for c in candidate):  # an address, a time, a number: no insurer's name
        return None
    if len(words) > 1 and not any(w in _INSURER_WORDS for w in words):
        acronyms = _ACRONYM.findall(candidate)
        if not acronyms or candidate.isupper():  # "Jean Dupont", "JEAN DUPONT"
            return None
    return candidate
