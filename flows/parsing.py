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
from collections.abc import Mapping
from datetime import date
from typing import Final, Literal

from flows.commands import Command, parse_command
from flows.contact import find_postcode, has_street, parse_phone, parse_postcode
from flows.departments import department_of
from flows.halfday import Moment as HalfDay
from flows.halfday import find_half_day
from flows.text import (
    _MAX_SCAN,
    KNOWN_WORDS,
    _fold,
    _Matcher,
    _tokens,
    normalize,
)
from flows.visit_calendar import HalfDayPart

__all__ = [
    "Command",
    "HalfDay",
    "HalfDayPart",
    "Mode",
    "Need",
    "Priority",
    "department_of",
    "find_postcode",
    "has_street",
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
KNOWN_WORDS.update(_COMMON_WORDS, *(matcher.vocabulary for matcher in (_YES_NO, _NEED, _MODE, _PRIORITY)))
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


# ------------------------------------------------------------------------------ half-day


def parse_half_day(text: str, today: date) -> HalfDay | None:
    """ "demain matin", "lundi 14h", "12/12 après-midi", "samedi", "dès que possible"... as said,
    past or not (rules in ``flows.halfday``; what can be booked in ``flows.visit_calendar``)."""
    return find_half_day(_fold(text[:_MAX_SCAN]), today)


# ---------------------------------------------------------------------------------- name

# What may open the answer before the name: a greeting (and a title), then a filler or a yes.
_NAME_GREETING: Final = (
    r"(?:(?:bonjour|bonsoir|salut|hello|hi|hey|coucou|good\s+(?:morning|afternoon|evening))\b"
    r"(?:\s+(?:madame|monsieur|mesdames|messieurs))?[\s,.!]*)?"
    r"(?:(?:oui|ouais|ok|okay|d'\s*accord|voil[aà]|alors|euh+|heu+|bah|donc|yes)\b[\s,.:!]*)*"
)
_NAME_INTROS: Final = (
    r"je\s+m'?\s*ap+el+e", r"j'?\s*m'?\s*ap+el+e", r"moi\s*,?\s*c(?:'?\s*est|[ée])?",
    r"c'?\s*est\s+moi", r"c\s+moi", r"(?:c'?\s*est\s+|la\s+demande\s+est\s+)?au\s+nom\s+de",
    r"c'?\s*est", r"c[ée]", r"c", r"(?:mon|le)\s+(?:pr[ée]nom|nom)\s+(?:est|c'?\s*est|c)",
    r"mon\s+nom", r"nom\s+et\s+pr[ée]nom", r"pr[ée]nom\s+et\s+nom", r"nom\s+de\s+famille", r"nom",
    r"pr[ée]nom", r"my\s+(?:full\s+|first\s+|last\s+)?name\s+is", r"my\s+name's", r"name",
    r"call\s+me",
)  # fmt: skip
# Intros that also start ordinary sentences ("je suis retraitée"): the name must then be capitalised.
_NAME_WEAK_INTROS: Final = (r"je\s+suis", r"j'?\s*suis", r"i\s+am", r"i'm", r"it's", r"this\s+is")
_NAME_INTRO: Final = re.compile(
    (
        r"^\s*" + _NAME_GREETING + r"(?:(?:(?P<weak>" + "|".join(_NAME_WEAK_INTROS) + ")|"
        r"(?P<strong>" + "|".join(_NAME_INTROS) + r"))\b\s*[:=,\-–]?\s*)?"
    ).replace("'", "['’ʼ`´]"),
    re.IGNORECASE,
)
# A labelled field inside the answer ("Dupont, prénom : Jean"): the label goes, the value stays.
_NAME_FIELD: Final = re.compile(
    r"[,;/]?\s*\b(?:nom\s+de\s+famille|pr[ée]nom|nom|(?:first|last)\s+name|surname|name)\b\s*[:=]?\s*",
    re.IGNORECASE,
)
# A phone number given after the name ("Jean Dupont, tél 06 12 34 56 78"): the name before it.
_NAME_THEN_PHONE: Final = re.compile(
    r"^(?P<name>[^\d]*?)[\s,;:/\-–]*(?:\b(?:t[ée]l(?:[ée]phone)?|portable|mobile|num(?:[ée]ro)?|phone|"
    r"number)\b\.?[\s:]*)?(?P<phone>\+?\d[\d\s.\-/()]*)$",
    re.IGNORECASE,
)
# An initial ("A. Dupont", "Marie D.") is a letter of the name, not the word it spells.
_INITIAL: Final = re.compile(r"(?<!\w)[^\W\d_]\.")
_INITIAL_LAST: Final = re.compile(r"(?<!\w)[^\W\d_]\.$")
_URL: Final = re.compile(r"https?:|www\.|@|\.(?:com|fr|net|org|io)\b", re.IGNORECASE)
_NAME_CUT: Final = re.compile(r"[!;\n\r]")
_NAME_SPACES: Final = str.maketrans("()[]/", "     ")
_NAME_POLITE_END: Final = frozenset(
    {"merci", "thanks", "thank", "you", "svp", "stp", "please", "beaucoup", "bcp", "voila"}
)
# Fillers that open a sentence, never a name, when written in lower case ("ben oui", "bon ben").
_NAME_LOWER_FILLERS: Final = frozenset({"ben", "bon"})
# A title alone is no name ("Bonjour Madame"); with a name it stays ("Mme Petit").
_CIVILITIES: Final = frozenset(
    {"madame", "monsieur", "mme", "mlle", "mademoiselle", "m", "mr", "mrs", "ms", "miss", "dr", "docteur"}
)
# "et"/"and" joins two names ("M. et Mme Dupont"), only between capitalised words.
_NAME_AND: Final = frozenset({"et", "and"})
# Words no name is made of: grammar, fillers, yes and no, the glasses, moments (a weekday is not
# a name: "samedi" answers another question), places of an address, what a hesitation says.
_NAME_STOPWORDS: Final = frozenset(
    (
        "je", "j", "tu", "il", "elle", "on", "nous", "vous", "ils", "elles", "me", "moi",
        "mon", "ma", "mes", "ton", "ta", "tes", "son", "sa", "ses", "notre", "votre", "leur",
        "ai", "as", "avez", "avons", "est", "suis", "es", "sont", "etes", "pas", "ne",
        "plus", "pour", "avec", "dans", "sur", "par", "et", "ou", "que", "qui", "quoi",
        "quand", "comment", "pourquoi", "lunettes", "lunette", "verres", "merci", "bonjour",
        "bonsoir", "salut", "ca", "c", "i", "my", "is", "am", "the", "and", "glasses",
        "please", "what", "why", "how", "you", "your", "it", "this", "that", "hello", "hi",
        "thanks", "not", "ok", "a", "au", "aux", "en", "chez", "bah", "euh", "heu",
        "eh", "ah", "oh", "hein", "voila", "bref", "alors", "donc", "mouais", "bof", "lol", "mdr",
        "sir", "urgent", "urgence", "possible", "oui", "ouais", "non", "yes", "no", "okay",
        # moments
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "monday",
        "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "demain",
        "aujourd", "hui", "aujourdhui", "apres", "aprem", "aprems", "matin", "matinee", "soir",
        "soiree", "midi", "journee", "semaine", "weekend", "maintenant", "asap", "bientot",
        "today", "tomorrow", "tonight", "morning", "afternoon", "evening", "now", "week",
        # an address
        "rue", "avenue", "boulevard", "bd", "impasse", "chemin", "allee", "quai", "route",
        "lieudit", "residence", "batiment", "appartement", "appt", "cedex", "street", "road",
        # hesitations, refusals, questions back
        "attendez", "attends", "attend", "patientez", "minute", "instant", "moment", "seconde",
        "pardon", "desole", "desolee", "rien", "personne", "anonyme", "obligatoire", "besoin",
        "sais", "sait", "savoir", "comprends", "comprend", "compris", "veux", "voulez", "faut",
        "dire", "dis", "dites", "idem", "pareil", "wait", "sorry", "nothing", "nobody",
        "anonymous", "need", "know", "same", "mien", "mienne", "meme",
    )
)  # fmt: skip
# Every word a keyword of another question ("cassées", "livraison", "infirmière"): no name.
_OTHER_ANSWERS: Final = (_YES_NO, _NEED, _MODE, _PRIORITY)
_MAX_NAME_LEN: Final = 80
_MAX_NAME_WORDS: Final = 6


def _answers_something_else(tokens: list[str]) -> bool:
    covered = [False] * len(tokens)
    for matcher in _OTHER_ANSWERS:
        for hit in matcher.find(tokens):
            covered[hit.start : hit.end] = [True] * (hit.end - hit.start)
    return all(covered)


def _name_words(words: list[str]) -> list[str]:
    """The words to check, without the "et" that joins two capitalised names."""
    return [
        word
        for i, word in enumerate(words)
        if not (
            word.lower() in _NAME_AND
            and 0 < i < len(words) - 1
            and words[i - 1][:1].isupper()
            and words[i + 1][:1].isupper()
        )
    ]


def _name_or_none(candidate: str) -> str | None:
    words = candidate.split()
    while words and normalize(words[-1]) in _NAME_POLITE_END:
        words.pop()
    name = " ".join(words).strip(" ,-'’\"«»")
    if not _INITIAL_LAST.search(name):  # "Marie D." keeps its initial's dot
        name = name.rstrip(" ,.-'’\"«»")
    if not 2 <= len(name) <= _MAX_NAME_LEN or not any(ch.isalpha() for ch in name):
        return None
    if any(not (ch.isalpha() or ch in " -'’.,") for ch in name if not unicodedata.combining(ch)):
        return None
    if name.split()[0] in _NAME_LOWER_FILLERS or len(name.split()) > _MAX_NAME_WORDS:
        return None
    tokens = _tokens(_INITIAL.sub(" ", " ".join(_name_words(name.split()))))
    if not tokens or all(t in _CIVILITIES for t in tokens):
        return None
    if any(t in _NAME_STOPWORDS for t in tokens) or _answers_something_else(tokens) or parse_command(name):
        return None
    return name


def _before_sentence(candidate: str) -> str:
    """The words before the sentence goes on ("Marie et j'ai cassé mes lunettes" -> "Marie")."""
    kept: list[str] = []
    for word in candidate.split():
        if any(t in _NAME_STOPWORDS for t in _tokens(word)):
            break
        kept.append(word)
    return " ".join(kept)


def parse_name(text: str) -> str | None:
    """A person's name, intro words stripped ("je m'appelle", "moi c'est", "my name is").

    None for a question, a moment ("samedi"), an address, a phone number, a hesitation or an
    answer to another question: the name is asked again rather than a wrong one recorded."""
    head = text[: _MAX_NAME_LEN * 4].strip()
    then_phone = _NAME_THEN_PHONE.match(head)
    if then_phone and parse_phone(then_phone.group("phone")):
        head = then_phone.group("name")
    if _URL.search(head) or any(ch.isdigit() or ch in "?¿" for ch in head):
        return None
    intro = _NAME_INTRO.match(head)
    rest = head[intro.end() if intro else 0 :]
    if intro and intro.group("weak") and rest[:1].islower():
        return None
    rest = _NAME_FIELD.sub(" ", rest)
    rest = "".join(" " if unicodedata.category(ch)[0] in "SCZ" and ch != "\u200d" else ch for ch in rest)
    rest = _NAME_CUT.split(rest, maxsplit=1)[0]
    tries = [rest.translate(_NAME_SPACES), rest.split(",", 1)[0], rest.split("(", 1)[0]]
    if intro and intro.group("strong"):
        tries.append(_before_sentence(tries[1]))
    return next((name for name in map(_name_or_none, tries) if name), None)


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
