"""The waitlist's join-time questions (issue 15): where the client waits (a postal code, a
department's code or name) and, for web chat clients, an e-mail address or a phone number to be
told by when the service resumes. Both may be skipped ("passer", "non", "je préfère pas").
"""

from __future__ import annotations

import re
from typing import Final

from flows.contact import parse_phone
from flows.departments import DEPARTMENTS, department_of, name_of
from flows.text import _MAX_SCAN, normalize
from flows.yes_no import parse_yes_no

_SKIP: Final = frozenset(
    (
        "passer", "passe", "je passe", "skip", "sauter", "aucun", "aucune", "rien", "pas envie",
        "je prefere pas", "je prefere ne pas", "prefere pas", "non merci", "no thanks", "no thank you",
        "pas de mail", "pas d email", "pas de telephone", "ni l un ni l autre", "neither", "none",
        "i d rather not", "rather not", "later", "plus tard", "je ne sais pas", "sais pas",
        "i don t know", "don t know", "jsp", "chais pas",
    )
)  # fmt: skip
_DIGITS: Final = re.compile(r"(?<![\d])(\d{5}|\d{3}|\d{2}|2[ABab])(?![\dA-Za-z])")
# A plain address: something@domain.tld, no spaces, one "@" (checked as the RFC's common subset).
_EMAIL: Final = re.compile(
    r"(?<![\w.+-])([\w.+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24})(?![\w@])"
)
# An address's limits (RFC 5321 §4.5.3.1, RFC 1035 §2.3.4); waitlist.contact_email holds 254.
MAX_EMAIL: Final = 254
MAX_DOMAIN: Final = 253
MAX_LABEL: Final = 63
_NAMES: Final = {normalize(name): code for code in DEPARTMENTS if (name := name_of(code))}
# The largest cities, said instead of their department ("à Lyon"); not those that are also common
# words ("Nice", "Tours").
_CITIES: Final = {
    "lyon": "69", "marseille": "13", "toulouse": "31", "nantes": "44",
    "strasbourg": "67", "montpellier": "34", "bordeaux": "33", "lille": "59", "rennes": "35",
    "reims": "51", "toulon": "83", "grenoble": "38", "dijon": "21", "angers": "49", "nimes": "30",
    "brest": "29", "le havre": "76", "saint etienne": "42", "clermont ferrand": "63",
    "limoges": "87", "amiens": "80", "metz": "57", "besancon": "25", "perpignan": "66",
    "orleans": "45", "rouen": "76", "caen": "14", "nancy": "54", "ajaccio": "2A", "bastia": "2B",
}  # fmt: skip
_PLACES: Final = sorted({**_CITIES, **_NAMES}.items(), key=lambda item: -len(item[0]))
# Departments whose name is also a common word ("thanks a lot", "cher", "la somme"): read only as
# the whole answer or after "dans le / dans la / en".
_COMMON_WORDS: Final = frozenset(("lot", "cher", "var", "somme", "manche", "vienne", "nord", "ain"))
_BEFORE_PLACE: Final = ("dans le", "dans la", "dans l", "en")
# A city said with its arrondissement ("Paris 15", "Marseille 8e", "Lyon 3ème"): the number is not
# a department.
_ARRONDISSEMENT: Final = re.compile(
    r"\b(paris|marseille|lyon)\s*\(?\s*(\d{1,2})\s*(?:e|eme|ème|er|ere|è)?\b\)?", re.IGNORECASE
)


def says_skip(text: str) -> bool:
    """The client would rather not answer ("passer", "non", "no thanks")."""
    return skip_phrase(text) or (
        parse_yes_no(text) is False and not any(c.isdigit() for c in text) and "@" not in text
    )


def skip_phrase(text: str) -> bool:
    """One of the skip's own phrases ("passer", "je ne sais pas", "no thanks"), not a bare "non"."""
    words = normalize(text[:_MAX_SCAN])
    return bool(words) and (words in _SKIP or any(f" {s} " in f" {words} " for s in _SKIP if " " in s))


def parse_department(text: str) -> str | None:
    """A department from a postal code ("75011"), its code ("75", "2A", "971") or its name
    ("Finistère"); None when none, or two different ones, are said."""
    head = _ARRONDISSEMENT.sub(r"\1", text[:_MAX_SCAN])
    found: set[str] = set()
    for match in _DIGITS.finditer(head):
        token = match.group(1).upper()
        code = department_of(token) if len(token) == 5 else (token if token in DEPARTMENTS else None)
        if code is not None:
            found.add(code)
    said = normalize(head)
    words = f" {said} "
    for name, code in _PLACES:  # longest first: "Bouches-du-Rhône" is not also the Rhône
        if f" {name} " not in words:
            continue
        if (
            name in _COMMON_WORDS
            and said != name
            and not any(f" {b} {name} " in words for b in _BEFORE_PLACE)
        ):
            continue
        found.add(code)
        words = words.replace(f" {name} ", " | ")
    return found.pop() if len(found) == 1 else None


def parse_email(text: str) -> str | None:
    """One e-mail address in the text (lowercased domain), or None (none, or two)."""
    found = _EMAIL.findall(text[:_MAX_SCAN])
    if len(found) != 1:
        return None
    local, _, domain = found[0].partition("@")
    if local.startswith(".") or local.endswith(".") or ".." in local or ".." in domain:
        return None
    too_long = len(found[0]) > MAX_EMAIL or len(domain) > MAX_DOMAIN
    if too_long or any(len(label) > MAX_LABEL for label in domain.split(".")):
        return None  # no such address (and longer than waitlist.contact_email holds)
    return f"{local}@{domain.lower()}"


def parse_reach(text: str) -> tuple[str, str] | None:
    """("email", address) or ("phone", E.164 number) or None."""
    email = parse_email(text)
    if email is not None:
        return ("email", email)
    if "@" in text:
        return None
    phone = parse_phone(text)
    return None if phone is None else ("phone", phone)
