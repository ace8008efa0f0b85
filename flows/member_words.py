"""The members' request flow's readers of free text (issue 16): the kind of help in words, an
amount of euros, a number of months; and amounts written the French way. Pure, like
``flows.parsing`` (whose fuzzy keyword matcher they use), scanning only the head of a text."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

from flows.text import _MAX_SCAN, _fold, _Matcher

KIND_WORDS: Final = _Matcher(
    {
        "state_aid": (
            "aide de l etat", "aides de l etat", "aide d etat", "aides d etat", "aide etat", "aides etat",
            "aides", "fonds de solidarite", "fonds solidarite", "fonds", "solidarite", "subvention",
            "subventions", "aide publique", "aides publiques", "state aid", "solidarity fund",
        ),
        "short_time": (
            "chomage partiel", "chomage", "activite partielle", "partiel", "short time", "furlough",
        ),
        "guaranteed_loan": (
            "pret garanti", "pret", "prets", "pge", "emprunt", "credit", "loan", "guaranteed loan",
        ),
        "commission_advance": (
            "avance", "avances", "avance sur commission", "avance sur commissions", "commission",
            "commissions", "acompte", "advance",
        ),
        "royalty_deferral": (
            "report", "reporter", "redevance", "redevances", "report de redevances", "differer",
            "differe", "royalties", "royalty", "deferral", "defer",
        ),
        "video": (
            "visio", "visioconference", "video", "appel video", "suivi", "entretien", "video call",
        ),
        "other": ("autre", "autre chose", "other", "divers", "something else"),
    }
)  # fmt: skip

_NUMBER = re.compile(
    r"(-\s*)?(\d{1,3}(?:[ \u00a0\u202f.']\d{3})+|\d+)(?:[.,](\d{1,2}))?(?!\d)\s*(k|mille)?\b"
)
_MONTH_WORDS: Final = {
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "one": 1, "two": 2, "three": 3,
    "four": 4, "five": 5, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_YEAR = re.compile(r"^(?:(?:un|une|1|one|a)\s+)?(?:an|annee|year)s?$")


def parse_kind(text: str) -> str | None:
    """The kind of help named in ``text`` ("chômage partiel", "pret garanti", "une avance"...), or
    None when no kind, or more than one, is named."""
    labels = set(KIND_WORDS.labels(text[:_MAX_SCAN]))
    return labels.pop() if len(labels) == 1 else None


def parse_amount(text: str) -> Decimal | None:
    """The amount of euros in ``text`` ("3 000 €", "3000", "3k", "2 500,50 euros", "-5"), as said
    (it may be zero or negative: the flow checks it); None when there is no amount, or several."""
    folded = _fold(text[:_MAX_SCAN]).replace("€", " ").replace("euros", " ").replace("euro", " ")
    found = list(_NUMBER.finditer(folded))
    if len(found) != 1:
        return None
    minus, whole, decimals, thousand = found[0].groups()
    try:
        value = Decimal(re.sub(r"\D", "", whole) + (f".{decimals}" if decimals else ""))
    except InvalidOperation:
        return None
    if thousand:
        value *= 1000
    return -value if minus else value


def parse_months(text: str) -> int | None:
    """The number of months in ``text`` ("3", "3 mois", "six mois", "un an"), as said; None when
    there is none (or several)."""
    folded = re.sub(r"[^a-z0-9 ]+", " ", _fold(text[:_MAX_SCAN])).split()
    words = [
        w
        for w in folded
        if w not in ("mois", "month", "months", "de", "sur", "pendant", "for", "je", "voudrais")
    ]
    if not words:
        return None
    if _YEAR.match(" ".join(words)):
        return 12
    numbers = [int(w) for w in words if w.isdigit()] + [_MONTH_WORDS[w] for w in words if w in _MONTH_WORDS]
    return numbers[0] if len(numbers) == 1 else None


def format_euros(cents: int) -> str:
    """An amount the French way: "3 000 €", "2 500,50 €"."""
    euros, rest = divmod(abs(cents), 100)
    grouped = f"{euros:,}".replace(",", " ")
    text = f"{grouped},{rest:02d} €" if rest else f"{grouped} €"
    return f"-{text}" if cents < 0 else text


# The summary's and the document question's words, read on a folded text (:func:`fold_words`).
SKIP_WORDS = frozenset(
    {
        "passer",
        "passe",
        "skip",
        "aucun",
        "aucune",
        "rien",
        "pas de document",
        "sans document",
        "non merci",
        "no",
    }
)
SEND_WORDS = frozenset({"envoyer", "envoie", "envoyez", "valider", "valide", "confirmer", "confirme", "send"})
CHANGE_WORDS = frozenset({"modifier", "modifie", "changer", "change", "corriger", "edit"})


def fold_words(text: str) -> str:
    """Lower case, no accents, only letters, digits, "/" and single spaces: what the words match."""
    return " ".join(re.sub(r"[^a-z0-9/ ]+", " ", _fold(text[:200])).split())
