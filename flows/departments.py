"""French departments: their codes, names and land neighbours, the department of a postal code,
and the place an optician is told of before accepting a visit.

The names and neighbours are shipped in ``flows/data/departments.toml``, read once on first use.
``DEPARTMENTS`` needs no file: the codes are fixed (01–95 with Corsica as 2A/2B, then 971–976).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any, Final, NamedTuple

_METROPOLITAN: Final = (
    *(f"{n:02d}" for n in range(1, 20)),
    "2A",
    "2B",
    *(f"{n:02d}" for n in range(21, 96)),
)
# 975 Saint-Pierre-et-Miquelon is an overseas collectivity, kept because its postal codes are 975xx.
_OVERSEAS: Final = ("971", "972", "973", "974", "975", "976")

DEPARTMENTS: Final[tuple[str, ...]] = (*_METROPOLITAN, *_OVERSEAS)
"""Every department code, in the official order ("01" … "19", "2A", "2B", "21" … "95", "971" …)."""

_CODES: Final = frozenset(DEPARTMENTS)
_POSTCODE_LENGTH: Final = 5


class _Department(NamedTuple):
    name: str
    neighbours: tuple[str, ...]


def _entry(code: str, raw: Any) -> _Department:
    if not isinstance(raw, dict):
        raise ValueError(f"department {code!r}: not a table")
    name, neighbours = raw.get("name"), raw.get("neighbours")
    if not isinstance(name, str) or not name:
        raise ValueError(f"department {code!r}: missing name")
    if not isinstance(neighbours, list) or not all(isinstance(n, str) for n in neighbours):
        raise ValueError(f"department {code!r}: neighbours must be a list of codes")
    return _Department(name, tuple(neighbours))


@cache
def _table() -> dict[str, _Department]:
    raw = (resources.files("flows") / "data" / "departments.toml").read_text(encoding="utf-8")
    departments = tomllib.loads(raw).get("departments")
    if not isinstance(departments, dict) or set(departments) != _CODES:
        raise ValueError("flows/data/departments.toml does not list exactly the known departments")
    return {code: _entry(code, departments[code]) for code in DEPARTMENTS}


def department_of(postal_code: str) -> str | None:
    """The department of a French postal code, or None if it has none.

    "75011" -> "75"; Corsica "200xx"/"201xx" -> "2A", "202xx"…"206xx" -> "2B"; overseas
    "971xx"…"976xx" -> the first three digits. Monaco and the Pacific territories ("98xxx"),
    unknown prefixes ("00", "96", "99", "977"…) and anything but five ASCII digits (surrounding
    spaces allowed) -> None. A handful of border communes use a neighbouring department's code.
    """
    code = postal_code.strip()
    if len(code) != _POSTCODE_LENGTH or not code.isascii() or not code.isdigit():
        return None
    prefix = code[:2]
    if prefix == "20":
        return "2A" if code[2] in "01" else "2B" if code[2] in "23456" else None
    if prefix == "97":
        return code[:3] if code[:3] in _CODES else None
    return prefix if prefix in _CODES else None


def neighbours(department: str) -> tuple[str, ...]:
    """The departments sharing a land border with ``department`` (sorted codes; foreign countries
    are not listed); empty for overseas departments, Corsica's other half only for 2A/2B, and
    empty for an unknown code."""
    entry = _table().get(department.strip().upper())
    return entry.neighbours if entry else ()


def name_of(department: str) -> str | None:
    """The French name of a department ("2A" -> "Corse-du-Sud"), or None for an unknown code."""
    entry = _table().get(department.strip().upper())
    return entry.name if entry else None


def place_of(postal_code: str | None, department: str | None = None) -> str:
    """Where a visit is, as an optician may read it before accepting: "69003 · Rhône".

    Built from tables only — a postal code that ``department_of`` accepts, and the department's
    name from ``departments.toml`` — never from the client's own words, so no street, building
    or name can slip in. Without a usable postal code, the department's name alone; "" if neither.
    """
    code = (postal_code or "").strip()
    from_code = department_of(code) if code else None
    name = name_of(from_code or department or "")
    parts = [code] if from_code else []
    if name:
        parts.append(name)
    return " · ".join(parts)
