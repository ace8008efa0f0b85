"""Reading postal codes (inside a whole French address) and phone numbers (any usual spelling)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Final

import phonenumbers

from flows.text import _MAX_SCAN

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
