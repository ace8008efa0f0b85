"""Text basics shared by the free-text readers: normalisation, tokens, typo-tolerant keyword matching.

See ``flows/parsing.py`` for the rules of typo tolerance these implement.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from rapidfuzz.distance import OSA

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
    # "d'accord" glued and misspelt
    "daccor": ("d", "accord"),
    "dacord": ("d", "accord"),
    "dacor": ("d", "accord"),
    "daccors": ("d", "accord"),
    "daccort": ("d", "accord"),
    "dakor": ("d", "accord"),
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


# Texting spellings only the answers' keyword readers expand (a name keeps its initial "G").
_SMS: Final[Mapping[str, tuple[str, ...]]] = {
    "g": ("j", "ai"),
    "kc": ("casse",),
    "pa": ("pas",),
    "plu": ("plus",),
    "pr": ("pour",),
    "ds": ("dans",),
    "ke": ("que",),
    "moa": ("moi",),
    "koi": ("quoi",),
    "pkoi": ("pourquoi",),
    "kan": ("quand",),
    "qd": ("quand",),
    "tjs": ("toujours",),
    "tjrs": ("toujours",),
    "vs": ("vous",),
    "bi1": ("bien",),
    "b1": ("bien",),
    "otre": ("autre",),
    "voi": ("vois",),
    "jen": ("j", "en"),
    "jle": ("je", "le"),
    "jla": ("je", "la"),
    "jles": ("je", "les"),
    "jvais": ("je", "vais"),
    "mrc": ("merci",),
    "mci": ("merci",),
    "dsl": ("desole",),
    "pk": ("pourquoi",),
    "pq": ("pourquoi",),
    "st": ("sont",),
    "tt": ("tout",),
    "bcp": ("beaucoup",),
    "ya": ("il", "y", "a"),
    "pls": ("please",),
    "plz": ("please",),
    "thx": ("thanks",),
}
# Elided articles and pronouns glued to the next word ("jaccepte", "lenvoi", "dordonnance").
_ELISIONS: Final = frozenset("jldnmt")
_MIN_ELIDED: Final = 4


def _keyword_tokens(text: str) -> list[str]:
    """:func:`_tokens` for the keyword readers: texting spellings expanded, and an elision glued
    to a keyword split off when the rest is a known keyword of at least four letters."""
    out: list[str] = []
    for word in _tokens(text):
        expanded = _SMS.get(word)
        if expanded is not None:
            out.extend(expanded)
        elif (
            len(word) > _MIN_ELIDED
            and word[0] in _ELISIONS
            and word not in KNOWN_WORDS
            and word[1:] in KNOWN_WORDS
        ):
            out.extend((word[0], word[1:]))
        else:
            out.append(word)
    return out[:_MAX_TOKENS]


# A first letter written as it sounds: "k" for a hard "c".
_SOUNDS_LIKE: Final = {"k": "c"}


@lru_cache(maxsize=8192)
def _similar(word: str, key: str) -> bool:
    """Whether ``word`` is ``key`` give or take a typo (see the module docstring)."""
    if word == key:
        return True
    if word[:1] in _SOUNDS_LIKE and key[:1] == _SOUNDS_LIKE[word[0]]:  # "kassé" is "cassé"
        word = key[0] + word[1:]
    if not word or word[0] != key[0]:
        return False
    if len(word) >= len(key) and _REPEATS.sub(r"\1", word) == _REPEATS.sub(r"\1", key):
        return True
    if len(key) <= _EXACT_MAX_LEN:  # a short word: exact, but "oiu" and "nno" (three letters)
        return len(key) == len(word) == 3 and _swapped(word, key)
    if abs(len(word) - len(key)) > 2:
        return False
    budget = 1 if len(key) < 8 else 2
    return OSA.distance(word, key, score_cutoff=budget) <= budget


def _edits(word: str, key: str) -> int:
    """How far a word matched as ``key`` is from it (0 when spelt right)."""
    if word == key:
        return 0
    return OSA.distance(_REPEATS.sub(r"\1", word), _REPEATS.sub(r"\1", key))


def _swapped(word: str, key: str) -> bool:
    """Two neighbouring letters swapped, and nothing else."""
    diffs = [k for k in range(len(key)) if word[k] != key[k]]
    if len(diffs) != 2 or diffs[1] != diffs[0] + 1:
        return False
    first, second = diffs
    return word[first] == key[second] and word[second] == key[first]


# ----------------------------------------------------------------------- keyword matching

_NEGATORS: Final = frozenset({"pas", "not", "jamais", "never", "sans", "without", "ni"})
# A hit opening with one of these says no by itself: a negator before it does not turn it over
# ("not really, no rush").
_NEGATIVE_OPENINGS: Final = _NEGATORS | {"no", "non", "aucun", "aucune", "rien", "nothing"}
# Words between a negator and what it negates that do not count in its reach.
_INTENSIFIERS: Final = frozenset(
    ("du", "tout", "vraiment", "tres", "si", "trop", "super", "specialement", "particulierement",
     "forcement", "really", "very", "that", "so", "too")
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Hit:
    label: str
    start: int
    end: int
    negated: bool
    # "plus urgent", "plus infirmière" without a "ne": "more" or "no longer"? Not an answer.
    doubtful: bool = False


# Correctly spelt keywords of every table (filled by ``flows.parsing`` once its tables are built):
# such a word is never read as a typo of another keyword ("caisse" is not "cassé").
KNOWN_WORDS: set[str] = set()


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
        return word == key or (word not in KNOWN_WORDS and _similar(word, key))

    def find(self, tokens: Sequence[str]) -> list[_Hit]:
        found: list[tuple[int, int, int, str]] = []
        for start, token in enumerate(tokens):
            initial = token[0]
            candidates = self._by_initial.get(initial, ())
            if initial in _SOUNDS_LIKE:  # "kassé" is looked up among the "c" words too
                candidates = (*candidates, *self._by_initial.get(_SOUNDS_LIKE[initial], ()))
            for label, words in candidates:
                end = start + len(words)
                if end <= len(tokens) and all(
                    self._matches(tokens[start + k], key) for k, key in enumerate(words)
                ):
                    edits = sum(_edits(tokens[start + k], key) for k, key in enumerate(words))
                    found.append((start, end, edits, label))
        # Longest first, then leftmost, then the closest spelling: "pompière" is one letter from
        # "pompier", two from "postière".
        found.sort(key=lambda hit: (hit[0] - hit[1], hit[0], hit[2]))
        taken = [False] * len(tokens)
        kept: list[tuple[int, int, str]] = []
        for start, end, _, label in found:
            if not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                kept.append((start, end, label))
        kept.sort()
        return [
            _Hit(label, s, e, _negated(tokens, taken, s, e), _doubtful(tokens, taken, s))
            for s, e, label in kept
        ]

    def labels(self, text: str) -> list[str]:
        """Labels of the non-negated hits, in reading order."""
        return [hit.label for hit in self.find(_keyword_tokens(text)) if not hit.negated]


def _negated(tokens: Sequence[str], taken: Sequence[bool], start: int, end: int) -> bool:
    """A negator in the two free words just before ("pas cassées", "pas tout à fait", "rien de
    cassé", "nothing broken"; not past another hit: "pas perdues, cassées") or a free "pas" just
    after ("carrément pas"). A "non" before is not one: "non, cassées" answers a question."""
    if tokens[start] in _NEGATIVE_OPENINGS:  # "no rush", "pas de visite": already a no
        return False
    seen = 0
    for k in range(start - 1, -1, -1):
        if taken[k]:  # a negator before another hit is that one's ("pas perdues, cassées")
            break
        if tokens[k] in _NEGATORS or (tokens[k] == "plus" and _after_ne(tokens, k)):
            return True
        if tokens[k] == "nothing" or (tokens[k] == "rien" and tokens[k + 1] in ("de", "d")):
            return True  # "rien de cassé", "nothing broken"
        if tokens[k] not in _INTENSIFIERS:  # "pas du tout urgent", "pas vraiment cassées"
            seen += 1
            if seen == 2:
                break
    if end + 1 < len(tokens) and taken[end + 1]:  # "cassées, pas perdues": the next one's
        return False
    if end + 2 < len(tokens) and tokens[end + 1] in _ARTICLES and taken[end + 2]:  # "X pas la Y"
        return False
    return end < len(tokens) and not taken[end] and tokens[end] == "pas"


_ARTICLES: Final = frozenset(("la", "le", "les", "l", "un", "une", "des", "du", "the", "a", "an"))


def _after_ne(tokens: Sequence[str], at: int) -> bool:
    """A "ne" a few words before ("ce n'est plus urgent", "je ne suis plus infirmière")."""
    return any(tokens[k] in ("ne", "n") for k in range(max(0, at - 3), at))


def _doubtful(tokens: Sequence[str], taken: Sequence[bool], start: int) -> bool:
    """A free "plus" just before, with no "ne": "plus urgent" is more, or no longer, urgent;
    "plus de visite" no more visits, or more of them."""
    k = start - 1
    if k > 0 and tokens[k] in ("de", "d") and not taken[k]:
        k -= 1
    return k >= 0 and not taken[k] and tokens[k] == "plus" and not _after_ne(tokens, k)
