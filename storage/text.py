"""Text every database stores: what PostgreSQL and SQLite refuse is taken out before a write.

PostgreSQL's ``text`` refuses NUL (SQLSTATE 22021) and its ``jsonb`` the ``\\u0000`` escape; a lone
UTF-16 surrogate (``"\\ud800"`` in JSON) cannot be encoded in UTF-8 at all, by asyncpg or sqlite3.
A platform that re-delivers such a message until it is stored would otherwise retry it for days.
NUL is dropped, a lone surrogate becomes U+FFFD (the replacement character).
"""

from __future__ import annotations

import re
from typing import Any

_REFUSED = re.compile("[\x00\ud800-\udfff]")


def _replacement(found: re.Match[str]) -> str:
    return "" if found.group() == "\x00" else "\ufffd"


def clean_text(value: str, limit: int | None = None) -> str:
    """``value`` (cut at ``limit`` characters) without what a database refuses."""
    if limit is not None:
        value = value[:limit]
    if value.isascii() and "\x00" not in value:  # the common case, without a regex
        return value
    return _REFUSED.sub(_replacement, value)


def clean_optional(value: str | None, limit: int | None = None) -> str | None:
    return None if value is None else clean_text(value, limit)


def clean_json(value: Any) -> Any:
    """A JSON-like value whose strings (keys included) are all clean."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value
