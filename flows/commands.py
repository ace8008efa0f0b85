"""Reading global commands ("recommencer", "/aide", "langue en", "parler à un conseiller"...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from flows.text import _ALIASES, _similar, normalize

Command = Literal[
    "restart",
    "cancel",
    "help",
    "language",
    "advisor",
    "my_data",
    "delete_data",
    "new_request",
    "join_network",
]

# ------------------------------------------------------------------------------- command

_Reading = tuple[Command, str | None]
_COMMAND_PHRASES: Final[Mapping[_Reading, tuple[str, ...]]] = {
    ("restart", None): (
        "recommencer", "recommencer depuis le debut", "reprendre a zero",
        "reprendre depuis le debut", "on recommence", "recommence", "recommencons",
        "tout recommencer", "repartir de zero", "depuis le debut", "restart", "start over",
        "start again", "reset", "start", "reinitialiser", "retour au debut", "revenir au debut",
        "retourner au debut", "retour a zero", "retour au depart", "back to the start",
        "back to the beginning", "go back to the start", "go back to the beginning",
    ),
    ("cancel", None): (
        "annuler", "annule", "annulez", "annulation", "stop", "arreter", "arrete", "arretez",
        "quitter", "laisse tomber", "laissez tomber", "abandonner", "j abandonne", "cancel",
        "quit", "exit", "tout annuler", "annuler ma demande", "annulez ma demande",
        "annule ma demande", "annuler la demande", "cancel my request", "j annule", "j arrete",
    ),
    ("help", None): ("aide", "help", "menu", "comment ca marche", "how does it work"),
    ("language", None): ("langue", "language", "lang", "changer de langue", "change language"),
    ("language", "en"): (
        "english", "in english", "en anglais", "anglais", "parler anglais", "speak english",
        "do you speak english", "langue anglaise", "english language",
    ),
    ("language", "fr"): (
        "francais", "en francais", "french", "in french", "parler francais", "parlez francais",
        "speak french", "langue francaise", "french language",
    ),
    ("advisor", None): (
        "conseiller", "conseillere", "un conseiller", "une conseillere",
        "parler a un conseiller", "parler a une conseillere", "un humain", "humain",
        "parler a un humain", "une personne", "parler a une personne", "une vraie personne",
        "un agent", "agent", "parler a quelqu un", "un operateur", "operateur", "advisor",
        "adviser", "talk to a human", "speak to a human", "human", "a human", "real person",
        "operator", "talk to someone", "speak to someone", "talk to a person",
        "speak to a person", "a person", "a real person", "an advisor", "an adviser",
        "an agent", "an operator", "the advisor", "a real human",
    ),
    ("my_data", None): (
        "mes donnees", "mes infos", "mes informations", "mes donnees personnelles",
        "voir mes donnees", "consulter mes donnees", "exporter mes donnees", "exporter",
        "export", "my data", "my info", "export my data", "see my data",
    ),
    ("join_network", None): (
        "rejoindre", "rejoindre le reseau", "rejoindre votre reseau", "rejoindre la federation",
        "devenir partenaire", "devenir opticien partenaire", "je suis opticien",
        "je suis opticienne", "je suis opticien et je veux aider", "candidature opticien",
        "recrutement", "recrutez vous", "join", "join the network", "i am an optician",
        "become a partner",
    ),
    ("new_request", None): (
        "nouvelle demande", "une nouvelle demande", "autre demande", "une autre demande",
        "faire une nouvelle demande", "nouvelle urgence", "une autre urgence", "new request",
        "a new request", "another request",
    ),
    ("delete_data", None): (
        "supprimer", "supprimer mes donnees", "supprimez mes donnees", "effacer mes donnees",
        "effacez mes donnees", "effacer", "oubliez moi", "oublie moi", "droit a l oubli",
        "delete my data", "delete", "erase my data", "remove my data", "forget me",
        "supprimer mon compte", "effacer mon compte", "supprimez mon compte",
        "delete my account",
    ),
}  # fmt: skip
_COMMANDS: Final[Mapping[str, _Reading]] = {
    normalize(phrase): reading for reading, phrases in _COMMAND_PHRASES.items() for phrase in phrases
}
_FIRST_WORDS: Final = frozenset(c.split()[0] for c in _COMMANDS if c)
_SLASH_NAMES: Final[Mapping[_Reading, tuple[str, ...]]] = {
    ("restart", None): ("start", "restart", "recommencer", "reset"),
    ("cancel", None): ("annuler", "cancel", "stop", "quit", "quitter"),
    ("help", None): ("aide", "help"),
    ("language", None): ("langue", "language", "lang"),
    ("language", "en"): ("en", "english", "anglais"),
    ("language", "fr"): ("fr", "francais", "french"),
    ("advisor", None): ("conseiller", "advisor", "agent", "humain", "human"),
    ("my_data", None): ("mesdonnees", "mydata", "donnees", "data", "export"),
    ("new_request", None): ("nouvelle", "nouvelledemande", "new", "newrequest"),
    ("delete_data", None): ("supprimer", "delete", "effacer", "oubli", "deletedata", "forget"),
    ("join_network", None): ("rejoindre", "join", "rejoindrelereseau", "jointhenetwork"),
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
        "bonjour", "hello", "hi", "passez moi", "passe moi", "mettez moi en relation avec",
        "je veux parler a", "je voudrais parler a", "je peux parler a", "on peut parler",
        "vous parlez", "can we speak", "can you speak", "can we", "can you", "on", "speak to",
        "talk to", "speak with", "talk with", "parler a", "parler avec", "je prefere",
        "je prefererais", "j aimerais mieux", "plutot", "i d rather", "i would rather", "i prefer",
        "i d prefer to", "i would prefer to", "switch to", "change to", "passer en", "passe en",
        "passons en", "passez en",
    )
)  # fmt: skip
_PREFIXES_BY_WORD: Final[Mapping[str, tuple[str, ...]]] = {
    word: tuple(sorted((p for p in _POLITE_PREFIXES if p.split()[0] == word), key=len))
    for word in {p.split()[0] for p in _POLITE_PREFIXES}
}
# What may follow a command without changing it ("annule tout", "on recommence depuis le début").
_POLITE_SUFFIXES: Final = tuple(
    " " + normalize(p)
    for p in (
        "s il vous plait", "s il te plait", "please", "merci", "pls", "tout", "depuis le debut",
        "du debut", "a zero",
    )
)  # fmt: skip
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


def _strip_politeness(phrase: str) -> tuple[str, ...]:
    """The phrase as it is, then shorn of what may wrap a command, step by step (a command
    ending like a wrapper, "reprendre à zéro", is found before its end is cut)."""
    found = [phrase]
    for _ in range(4):
        before = phrase
        while prefix := next(
            (p for p in _PREFIXES_BY_WORD.get(phrase.partition(" ")[0], ()) if phrase.startswith(p)), ""
        ):  # the shortest first, each step kept: "je veux | parler à quelqu'un"
            phrase = phrase[len(prefix) :]
            found.append(phrase)
        for suffix in _POLITE_SUFFIXES:
            phrase = phrase.removesuffix(suffix)
        found.append(phrase)
        if phrase == before:
            break
    return tuple(found)


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


def _repeated(phrase: str) -> _Reading | None:
    """The same command said twice or more in a row ("stop annulez tout", "annule annule"): the
    words cut into commands end to end, all of the first one's reading."""
    words = phrase.split()
    if not words or words[0] not in _FIRST_WORDS:
        return None
    first = next((r for cut in range(1, len(words)) if (r := _COMMANDS.get(" ".join(words[:cut])))), None)
    if first is None:
        return None
    reached = {0}  # where a run of commands of that reading may end
    for end in range(1, len(words) + 1):
        if any(_COMMANDS.get(" ".join(words[start:end])) == first for start in reached if start < end):
            reached.add(end)
    return first if len(words) in reached and len(reached) > 2 else None


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
    shorn = _strip_politeness(phrase)
    exact = next((_COMMANDS[p] for p in shorn if p in _COMMANDS), None)
    if exact is not None:
        return exact
    phrase = shorn[-1]
    if not phrase:
        return None
    repeated = _repeated(phrase)
    if repeated is not None:
        return repeated
    first, _, rest = phrase.partition(" ")
    if first in _LANGUAGE_WORDS and rest:  # "langue en", "language french"
        target = _SLASH.get(rest.replace(" ", "")) or _COMMANDS.get(rest)
        return target if target is not None and target[0] == "language" else None
    for candidate, reading in _FUZZY_COMMANDS.get(phrase[0], ()):
        if abs(len(candidate) - len(phrase)) <= 2 and _similar(phrase, candidate):
            return reading
    return None
