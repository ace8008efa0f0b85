"""WhatsApp webhooks as the engine's messages and delivery receipts.

Pure translation, no network: a file is only *named* here (:class:`MediaRef`); the channel fetches
it before storing the message. One webhook may carry several entries, changes, messages and
statuses (Meta batches them); everything in it is translated, in order.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.messages import Inbound, sanitized
from flows.types import ClientInput

CHANNEL = "whatsapp"
STATUSES = ("sent", "delivered", "read", "failed")  # what Meta reports of a message we sent
SIGNATURE_HEADER = "X-Hub-Signature-256"
_DOCUMENT_TYPES = ("image/", "application/pdf")
# Kinds the bot cannot read: the client is asked to write or send a photo instead.
_UNSUPPORTED = frozenset({
    "sticker", "audio", "voice", "video", "location", "reaction", "unsupported", "order", "unknown",
})  # fmt: skip
_IGNORED = frozenset({"system", "request_welcome", "ephemeral"})  # nothing was said


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A client's file, to fetch (id → URL → bytes) before its message is stored."""

    media_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Incoming:
    inbound: Inbound
    media: MediaRef | None = None
    # The sender's WhatsApp number (``from``, digits) even when the client is keyed by their
    # business-scoped user id: a member is recognised by the number an admin recorded (issue 16).
    wa_id: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """Meta's word on a message we sent (a status webhook), matched to it by its wamid."""

    channel: str
    external_id: str
    status: str  # one of STATUSES
    at: datetime
    error_code: int | None = None
    error: str | None = None


@dataclass(slots=True)
class Batch:
    """What one webhook carries for our number."""

    messages: list[Incoming] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)


def signed(body: bytes, header: str | None, secret: bytes) -> bool:
    """Whether ``header`` is ``sha256=<HMAC-SHA256 of the raw body with the app secret>``."""
    if not header or not secret or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len("sha256=") :].strip().lower().encode(), expected.encode())


def parse(payload: Any, phone_number_id: str) -> Batch:
    """Messages and receipts for our phone number; anything else in the webhook is left out."""
    batch = Batch()
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return batch
    for entry in _list(payload.get("entry")):
        for change in _list(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            metadata = value.get("metadata") or {}
            if str(metadata.get("phone_number_id", "")) != phone_number_id:
                continue  # another number of the same Meta app
            users = _users(_list(value.get("contacts")))
            for message in _list(value.get("messages")):
                incoming = _message(message, users)
                if incoming is not None:
                    batch.messages.append(incoming)
            for status in _list(value.get("statuses")):
                receipt = _receipt(status)
                if receipt is not None:
                    batch.receipts.append(receipt)
    return batch


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _users(contacts: list[dict[str, Any]]) -> dict[str, str]:
    """wa_id → the key the client is known by: the business-scoped user id when there is one."""
    users: dict[str, str] = {}
    for contact in contacts:
        wa_id, user_id = contact.get("wa_id"), contact.get("user_id")
        if isinstance(wa_id, str) and wa_id:
            users[wa_id] = user_id if isinstance(user_id, str) and user_id else wa_id
        elif isinstance(user_id, str) and user_id:
            users[user_id] = user_id
    return users


def _user_of(message: dict[str, Any], users: dict[str, str]) -> str | None:
    sender, sender_id = message.get("from"), message.get("from_user_id")
    if isinstance(sender_id, str) and sender_id:
        return sender_id
    if isinstance(sender, str) and sender:
        return users.get(sender, sender)
    if len(users) == 1:  # a username-only client: the one contact of the change
        return next(iter(users.values()))
    return None


def _message(message: dict[str, Any], users: dict[str, str]) -> Incoming | None:
    wamid, kind = message.get("id"), message.get("type")
    user = _user_of(message, users)
    if not isinstance(wamid, str) or not wamid or user is None or kind in _IGNORED:
        return None
    content = message.get(kind) if isinstance(kind, str) else None
    content = content if isinstance(content, dict) else {}
    media: MediaRef | None = None
    if kind == "text":
        said = ClientInput(text=str(content.get("body") or ""))
    elif kind == "interactive":
        said = _interactive(content)
    elif kind == "button":  # a quick-reply button of a template: its text
        said = ClientInput(text=str(content.get("text") or content.get("payload") or ""))
    elif kind in ("image", "document"):
        name = str(content.get("filename") or ("photo.jpg" if kind == "image" else "document"))
        mime = str(content.get("mime_type") or "")
        media_id = content.get("id")
        if isinstance(media_id, str) and (kind == "image" or mime.startswith(_DOCUMENT_TYPES)):
            media = MediaRef(media_id, name)
            said = ClientInput(media_name=name)
        else:
            said = ClientInput(unsupported="file", media_name=name)
    elif kind == "contacts":
        said = _contact(message.get("contacts"))
    else:
        said = ClientInput(unsupported=kind if kind in _UNSUPPORTED else "unsupported")
    # Cleaned here, before the channel looks the id up: what the database refuses (NUL, a lone
    # surrogate) must not make Meta send the webhook again for days.
    sender = message.get("from")
    wa_id = sender if isinstance(sender, str) and sender.isdigit() else None
    return Incoming(sanitized(Inbound(CHANNEL, user, wamid, said)), media, wa_id)


def _interactive(content: dict[str, Any]) -> ClientInput:
    reply = content.get("button_reply") or content.get("list_reply")
    if not isinstance(reply, dict) or not isinstance(reply.get("id"), str):
        return ClientInput(unsupported="interactive")  # a form (flow) answer, not our buttons
    step, sep, value = reply["id"].partition(":")
    if not sep:
        return ClientInput(choice=reply["id"])  # not ours: the flow says the button is stale
    return ClientInput(choice=value, step=step or None)


def _contact(cards: Any) -> ClientInput:
    """A shared contact card: its first phone number (the client's own, usually)."""
    for card in _list(cards):
        for phone in _list(card.get("phones")):
            number = phone.get("phone") or phone.get("wa_id")
            if isinstance(number, str) and number:
                return ClientInput(contact_phone=number)
    return ClientInput(unsupported="contacts")


def _receipt(status: dict[str, Any]) -> Receipt | None:
    wamid, state = status.get("id"), status.get("status")
    if not isinstance(wamid, str) or state not in STATUSES:
        return None
    error_code: int | None = None
    error: str | None = None
    for problem in _list(status.get("errors")):
        code = problem.get("code")
        error_code = code if isinstance(code, int) else None
        error = f"whatsapp {code}: {problem.get('title') or problem.get('message') or 'error'}"
        break
    return Receipt(CHANNEL, wamid, str(state), _time(status.get("timestamp")), error_code, error)


def _time(timestamp: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(timestamp), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)
