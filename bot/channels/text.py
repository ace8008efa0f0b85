"""Cutting texts to a platform's length, at a paragraph, a line or a space when possible."""

from __future__ import annotations

MAX_TEXT = 4096  # in UTF-16 code units, as Telegram counts them (a safe count for WhatsApp too)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` in parts of at most ``limit`` UTF-16 units, cut at a paragraph, line or space if possible."""
    parts: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        head = _prefix(rest, limit)
        # The last paragraph break in the second half, else a line break, else a sentence's end,
        # else a space, else the word is cut.
        half = len(head) // 2
        cut = next((c for sep in ("\n\n", "\n") if (c := head.rfind(sep)) >= half), -1)
        if cut < 0:
            end = max(head.rfind(mark) for mark in (". ", "! ", "? ", "… "))
            cut = end + 1 if end >= half else head.rfind(" ")
            cut = cut if cut >= half else len(head)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return [p for p in parts if p] or [" "]  # Telegram refuses an empty text


def _prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-16 units (never half an emoji)."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text
