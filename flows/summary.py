"""What the client says at the summary: a confirmation, or the thing to change."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Final, Literal, cast

from flows.contact import parse_phone
from flows.insurers import insurer_hits
from flows.text import _MAX_SCAN, KNOWN_WORDS, _keyword_tokens, _Matcher
from flows.yes_no import parse_yes_no

SummaryAction = Literal[
    "confirm",
    "change_mode",
    "change_address",
    "change_slot",
    "change_name",
    "change_phone",
    "change_insurance",
]
# What can be changed at the summary, by the words naming it.
_SUMMARY: Final = _Matcher(
    {
        "change_address": (
            "adresse", "adresses", "address", "code postal", "postcode", "digicode",
            "code d entree", "code de la porte", "code porte", "batiment", "etage", "appartement",
            "appart", "interphone", "escalier", "rue", "ville", "street", "floor", "building",
            "door code",
        ),
        "change_slot": (
            "creneau", "creneaux", "creno", "crenos", "horaire", "horaires", "heure", "heures",
            "date", "jour", "moment", "rendez vous", "demi journee", "matin", "apres midi", "aprem",
            "soir",
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "slot", "time", "day",
            "morning", "afternoon", "appointment",
        ),
        "change_name": ("nom", "prenom", "nom de famille", "name", "surname"),
        "change_insurance": (
            "mutuelle", "mutuel", "mutuelles", "complementaire", "complementaire sante",
            "carte de mutuelle", "carte vitale", "assurance", "assurance sante", "insurance",
            "insurer", "health insurance", "insurance card",
        ),
        "change_phone": (
            "telephone", "tel", "numero", "num", "portable", "mobile", "phone", "number",
            "phone number",
        ),
        "change_mode": (
            "mode", "mode de service", "service", "envoi", "visite", "livraison", "livree", "livre",
            "livres", "poste", "shipped", "mailed", "chronopost", "colis", "courrier", "expedition",
            "shipping", "shipment", "visit", "delivery", "post",
        ),
        # The glasses asked to be sent: a change of mode when said as one ("je préfère
        # finalement qu'on me les envoie"); alone, maybe the request sent ("envoyez-les moi").
        "sent": (
            "les envoie", "les envoient", "les envoyer", "les envoyez", "envoyez les", "envoie les",
            "les expedie", "les expedier", "les expediez", "send them", "ship them", "mail them",
            "deliver them",
        ),
    }
)  # fmt: skip
# The button says "Oui, envoyer": the request sent is a confirmation ("envoyez-les" is not).
_SUMMARY_YES: Final = _Matcher(
    {"yes": ("envoyer", "envoyer la demande", "envoyez la demande", "pouvez envoyer",
             "c est parti", "send it", "send the request", "submit")}
)  # fmt: skip
_APPROVALS: Final = frozenset(
    ("bon", "bonne", "bons", "bonnes", "correct", "correcte", "corrects", "correctes", "juste",
     "justes", "exact", "exacte", "ok", "bien", "parfait", "parfaite", "nickel", "good", "right",
     "fine")
)  # fmt: skip
_CHANGES: Final = frozenset(
    ("changer", "change", "changez", "changement", "modifier", "modifiez", "modif", "corriger",
     "corrigez", "rectifier", "faux", "fausse", "fausses", "erreur", "errone", "erronee",
     "mauvais", "mauvaise", "mal", "pas", "plus", "autre", "plutot", "prefere", "finalement",
     "sauf", "wrong", "incorrect", "incorrecte", "other", "rather", "except", "edit", "fix",
     "not", "another")
)  # fmt: skip
# A new clause ("le nom est bon mais pas l'adresse", "tout est bon sauf le téléphone").
_CLAUSE_WORDS: Final = frozenset(("mais", "sauf", "cependant", "but", "except", "however"))
_CLAUSE_MARKS: Final = re.compile(r"[,.;:!?()\n]+")
KNOWN_WORDS.update(_SUMMARY.vocabulary, _SUMMARY_YES.vocabulary)


def parse_summary(text: str) -> SummaryAction | None:
    """A change the client names ("l'adresse est fausse", "plutôt jeudi", "tout est bon sauf le
    téléphone"), else "confirm" for a yes. A thing said right ("oui, le numéro est bon") is no
    change; a clause both approving and changing several things is not understood."""
    head = text[:_MAX_SCAN]
    changes: list[str] = []
    clauses = _clauses(head)
    for clause in clauses:
        changed = any(token in _CHANGES for token in clause)
        fields = [
            "change_mode" if hit.label == "sent" else hit.label
            for hit in _SUMMARY.find(clause)
            if hit.label != "sent" or changed
        ]
        # A name spelt out ("Dupond avec un d"), unless approved ("..., c'est bien ça").
        if not fields and _spells(clause) and not any(map(_approves, clauses)):
            fields = ["change_name"]
        if not fields:
            continue
        approved = any(token in _APPROVALS for token in clause)
        if approved and not changed:
            continue
        if approved and len(set(fields)) > 1:
            return None
        changes += fields
    if not changes and any(map(_insurer_corrected, clauses)):  # "c'est pas la MGEN, c'est la MNT"
        changes = ["change_insurance"]
    if changes:
        return cast(SummaryAction, changes[0])
    said_yes = parse_yes_no(head, _SUMMARY_YES) is True
    if not said_yes and parse_phone(head) is not None:  # "non, c'est le 06 12 34 56 78"
        return "change_phone"
    return "confirm" if said_yes else None


# Listed insurers whose names are also first names or months: at the summary, a name's change.
_INSURERS_ALSO_NAMES: Final = frozenset(("alan", "april"))


def _insurer_corrected(clause: list[str]) -> bool:
    """An insurer named where something is said wrong ("pas la MGEN", "not MGEN")."""
    named = [h for h in insurer_hits(clause) if h.label not in _INSURERS_ALSO_NAMES]
    return bool(named) and any(token in _CHANGES for token in clause)


def _approves(clause: list[str]) -> bool:
    """Something said right and nothing to change ("c'est bien ça", "le nom est bon")."""
    return any(token in _APPROVALS for token in clause) and not any(token in _CHANGES for token in clause)


def _spells(clause: list[str]) -> bool:
    """A word spelt out ("avec un d", "with two n", "ça s'écrit", "spelt"): only a name is spelt
    at the summary when no other thing is named in the clause ("la rue s'écrit...")."""
    if any(token in _SPELLING for token in clause) or ("s", "ecrit") in pairwise(clause):
        return True
    return any(
        with_ in _SPELT_WITH and count in _LETTER_COUNTS and len(letter) == 1 and letter.isalpha()
        for with_, count, letter in zip(clause, clause[1:], clause[2:], strict=False)
    )


_SPELLING: Final = frozenset(("spelt", "spelled", "spells", "spell", "epelle", "epele"))
_SPELT_WITH: Final = frozenset(("avec", "with"))
_LETTER_COUNTS: Final = frozenset(("un", "une", "deux", "a", "an", "two", "double"))


def _clauses(text: str) -> list[list[str]]:
    clauses: list[list[str]] = []
    for part in _CLAUSE_MARKS.split(text):
        current: list[str] = []
        for token in _keyword_tokens(part):
            if token in _CLAUSE_WORDS and current:
                clauses.append(current)
                current = []
            current.append(token)
        if current:
            clauses.append(current)
    return clauses
