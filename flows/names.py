"""A person's name in a free-text answer, intro words and fillers stripped."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from flows.commands import parse_command
from flows.contact import parse_phone
from flows.needs import MODE, NEED, PRIORITY
from flows.text import _tokens, normalize
from flows.yes_no import YES_NO

# What may open the answer before the name: a greeting (and a title), then a filler or a yes.
_NAME_GREETING: Final = (
    r"(?:(?:bonjour|bonsoir|salut|slt|bjr|bsr|hello|hi|hey|coucou|good\s+(?:morning|afternoon|evening))"
    r"\b(?:\s+(?:madame|monsieur|mesdames|messieurs))?[\s,.!]*)?"
    r"(?:(?:oui|ouais|ok|okay|d'\s*accord|voil[aà]|alors|euh+|heu+|bah|donc|yes|merci)\b[\s,.:!]*)*"
)
_NAME_INTROS: Final = (
    r"je\s+m'?\s*ap+el+e?", r"j'?\s*m'?\s*ap+el+e?", r"je\s+me\s+(?:pr[ée])?nom+e",
    r"moi\s*,?\s*c(?:'?\s*est|[ée])?", r"moi(?=\s*[:=])", r"c'?\s*est\s+moi", r"c\s+moi",
    r"(?:c'?\s*est\s+|la\s+demande\s+est\s+|mettez\s+|notez\s+)?au\s+nom\s+de",
    r"c'?\s*est", r"c[ée]", r"c",
    r"(?:mon|le)\s+(?:pr[ée]nom|nom(?:\s+de\s+famille)?)\s+(?:est|c'?\s*est|c)",
    r"mon\s+nom(?:\s+de\s+famille)?", r"nom\s+et\s+pr[ée]nom", r"pr[ée]nom\s+et\s+nom",
    r"nom\s+de\s+famille", r"nom", r"pr[ée]nom", r"mettez", r"notez",
    r"my\s+(?:full\s+|first\s+|last\s+)?name\s+is", r"my\s+name'?s", r"(?:the\s+)?name\s+is",
    r"(?:the\s+)?name'?s", r"name", r"(?:you\s+can\s+)?call\s+me", r"i'?m\s+called", r"i\s+am\s+called",
    r"(?:il|elle)\s+s'?\s*ap+el+e?", r"(?:it'?s\s+|it\s+is\s+)?under(?:\s+the\s+name(?:\s+of)?)?",
    r"in\s+the\s+name\s+of",
)  # fmt: skip
# Intros that also start ordinary sentences ("je suis retraitée"): the name must then be capitalised.
_NAME_WEAK_INTROS: Final = (r"je\s+suis", r"j'?\s*suis", r"i\s+am", r"i'?m", r"it's", r"this\s+is")
_NAME_INTRO: Final = re.compile(
    (
        r"^\s*" + _NAME_GREETING + r"(?:(?:(?P<strong>" + "|".join(_NAME_INTROS) + ")|"
        r"(?P<weak>" + "|".join(_NAME_WEAK_INTROS) + r"))\b\s*[:=,\-–]?\s*)?"
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
_NAME_SPACES: Final = str.maketrans("()[]/_", "      ")
# A dot glued between two words is a space ("dubois.marie"), not an initial's ("J.P. Dupont").
_GLUED_DOT: Final = re.compile(r"(?<=[^\W\d_]{2})\.(?=[^\W\d_]{2})")
_NAME_POLITE_END: Final = frozenset(
    ("merci", "thanks", "thank", "you", "svp", "stp", "please", "beaucoup", "bcp", "voila", "ici",
     "here", "speaking", "cheers", "thx")
)  # fmt: skip
# Fillers that open a sentence, never a name, when written in lower case ("ben oui", "bon ben").
_NAME_LOWER_FILLERS: Final = frozenset({"ben", "bon"})
# A title alone is no name ("Bonjour Madame"); with a name it stays ("Mme Petit").
_CIVILITIES: Final = frozenset(
    {"madame", "monsieur", "mme", "mlle", "mademoiselle", "m", "mr", "mrs", "ms", "miss", "dr", "docteur"}
)
# The request made for someone else, whose name follows ("c'est pour ma mère, Josette Girard").
_FOR_SOMEONE: Final = frozenset(
    ("pour", "for", "mere", "pere", "maman", "papa", "fils", "fille", "mari", "femme", "mother",
     "father", "mom", "mum", "dad", "son", "daughter", "wife", "husband")
)  # fmt: skip
# "et"/"and" joins two names ("M. et Mme Dupont"), only between capitalised words.
_NAME_AND: Final = frozenset({"et", "and", "&"})
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
        "anonymous", "need", "know", "same", "mien", "mienne", "meme", "tres", "famille",
        "appel", "appelle", "apelle", "nomme", "mettez", "notez",
        "un", "une", "si", "bien", "tout", "comme", "deja", "avant", "suite", "peu", "importe",
        "recu", "note", "noted", "ecrit", "donne", "habitude", "haut", "probleme", "problem",
        "bonne", "nuit", "night", "see", "bye", "allo", "vite", "sos", "robot", "test", "essai",
        "retour", "precedent", "suivant", "valider", "envoyer", "haha", "hihi", "hehe", "hmm",
        "hum", "mmm", "pff", "azerty", "qwerty",
        # texting spellings of little words ("c pr ma fille": "pr" is "pour", never a name)
        "pr", "ds", "pa", "plu", "ke", "pk", "pq", "pkoi", "qd", "tt", "tjs", "tjrs", "bcp", "vs",
        "dsl", "mrc", "mci", "pls", "plz", "thx", "jen", "jle", "jla", "jles", "jvais", "kc",
        # family, not the family name
        "maman", "papa", "mamie", "mamy", "papi", "papy", "mere", "pere", "femme", "enfant",
        "enfants", "bebe", "mom", "mum", "dad", "mother", "father", "wife", "husband", "daughter",
        "grandma", "grandpa", "etudiant", "etudiante", "student",
        # the glasses
        "myope", "astigmate", "presbyte", "hypermetrope", "progressifs", "paire", "secours",
        "monture", "branche", "verre",
        # months (not those that are also first names: Avril, Mai, June...) and towns
        "janvier", "fevrier", "juillet", "aout", "septembre", "octobre", "novembre", "decembre",
        "january", "february", "july", "september", "october", "november", "december", "lyon",
        "marseille", "toulouse", "bordeaux", "lille", "nantes", "strasbourg", "montpellier",
        "rennes", "grenoble", "bretagne", "normandie",
    )
)  # fmt: skip
# Every word a keyword of another question ("cassées", "livraison", "infirmière"): no name.
_OTHER_ANSWERS: Final = (YES_NO, NEED, MODE, PRIORITY)
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
    if any(not (ch.isalpha() or ch in " -'’.,&") for ch in name if not unicodedata.combining(ch)):
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
    answer to another question: the name is asked again rather than a wrong one recorded. A
    request made for someone else names them after a comma or a colon ("c'est pour mon père :
    Gérard Lefèvre", "this is for my wife, Laura Bianchi") or just after the relative ("c pr ma
    fille Camille Girard")."""
    found = _name_in(text)
    if found is not None:
        return found
    relative = _FOR_RELATIVE.search(text[: _MAX_NAME_LEN * 4])
    if relative is not None and normalize(relative.group("who")) in _RELATIVES:
        found = _name_in(text[relative.end() : _MAX_NAME_LEN * 4].lstrip(" ,:;-–"))
        if found is not None:
            return found
    parts = [part for part in _FOR_SOMEONE_MARK.split(text[: _MAX_NAME_LEN * 4]) if part.strip()]
    if len(parts) >= 2 and _FOR_SOMEONE & set(_tokens(parts[0])):
        return _name_in(parts[-1])
    return None


# What separates the person a request is for from their name: a comma or a colon.
_FOR_SOMEONE_MARK: Final = re.compile(r"[,:]")
# The person a request is for, whose name may follow with no mark ("c pr ma fille Camille Girard").
_FOR_RELATIVE: Final = re.compile(
    r"\b(?:pour|pr|for)\s+(?:ma|mon|my|notre|our)\s+(?P<who>[^\W\d_]+)\b", re.IGNORECASE
)
_RELATIVES: Final = frozenset(
    ("mere", "pere", "maman", "papa", "fils", "fille", "mari", "femme", "epoux", "epouse",
     "conjoint", "conjointe", "compagnon", "compagne", "frere", "soeur", "enfant", "mamie", "mamy",
     "papi", "papy", "tante", "oncle", "neveu", "niece", "cousin", "cousine", "voisin", "voisine",
     "mother", "father", "mom", "mum", "dad", "son", "daughter", "wife", "husband", "partner",
     "brother", "sister", "child", "aunt", "uncle", "grandmother", "grandfather", "grandma",
     "grandpa", "neighbour", "neighbor")
)  # fmt: skip


def _name_in(text: str) -> str | None:
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
    rest = _GLUED_DOT.sub(" ", _NAME_CUT.split(rest, maxsplit=1)[0]).translate(_NAME_SPACES)
    parts = [part for part in rest.split(",") if part.strip()]
    tries = [rest, rest.split(",", 1)[0], rest.split("(", 1)[0]]
    if len(parts) == 2 and all(map(_name_or_none, parts)):  # "Dubois, Marie"
        tries.insert(0, " ".join(parts))
    before = _before_sentence(tries[1])
    if intro and intro.group("strong"):
        tries.append(before)
    elif len(before.split()) >= 2 and all(word[:1].isupper() for word in before.split()):
        tries.append(before)  # "Marie Dubois je suis infirmière"
    return next((name for name in map(_name_or_none, tries) if name), None)
