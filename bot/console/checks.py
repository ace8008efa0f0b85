"""What the console checks before it acts: an operator's text, and who may do admins' work.

Operators read the console in French: the reasons an action is refused are in French too."""

from __future__ import annotations

from bot.console.auth import Operator
from bot.errors import RefusedError

MAX_OPERATOR_TEXT = 4000  # an operator's message to a client, a note, a canned reply, a reason


def operator_text(text: str) -> str:
    """The text an operator wrote, trimmed; refused if empty or too long."""
    text = text.strip().replace("\x00", "")
    if not text:
        raise RefusedError(422, "le texte est vide")
    if len(text) > MAX_OPERATOR_TEXT:
        raise RefusedError(422, f"{MAX_OPERATOR_TEXT} caractères au plus")
    return text


def require_admin(me: Operator) -> None:
    if not me.admin:
        raise RefusedError(403, "réservé aux administrateurs")
