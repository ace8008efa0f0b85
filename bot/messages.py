"""The channel-agnostic inbound message, as every channel hands it to the engine."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flows.types import LANGUAGES, ClientInput, Language
from storage.payloads import ReceiptData
from storage.text import clean_json, clean_optional, clean_text

# Longer texts are cut before storage: the flow reads only the start anyway (and says so).
MAX_STORED_TEXT = 10_000


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a client on a channel; ``external_id`` is the channel's id for it.

    ``receipt`` is what the channel needs back to acknowledge the message in its reply (Telegram:
    the message whose keyboard was pressed); the engine hands it to the first reply.
    """

    channel: str
    user: str
    external_id: str
    said: ClientInput
    language: Language | None = None
    receipt: ReceiptData | None = None

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.user}"

    def to_payload(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "user": self.user,
            "external_id": self.external_id,
            "said": self.said.to_payload(),
            "language": self.language,
            "receipt": self.receipt,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Inbound:
        language = payload.get("language")
        return cls(
            channel=payload["channel"],
            user=payload["user"],
            external_id=payload["external_id"],
            said=ClientInput(**payload.get("said", {})),
            language=language if language in LANGUAGES else None,
            receipt=payload.get("receipt"),
        )


@dataclass(frozen=True, slots=True)
class Accepted:
    inbox_id: int | None

    @property
    def duplicate(self) -> bool:
        return self.inbox_id is None


def sanitized(inbound: Inbound) -> Inbound:
    """The message as every database can store it, whatever the channel sent: no NUL, no lone
    surrogate (:func:`storage.text.clean_text`), bounded lengths. Ids included: a WhatsApp ``from``
    or wamid is the platform's text too."""
    said = inbound.said
    clean = replace(
        said,
        text=clean_optional(said.text, MAX_STORED_TEXT),
        choice=clean_optional(said.choice, 64),
        step=clean_optional(said.step, 64),
        media=clean_optional(said.media),
        media_name=clean_optional(said.media_name, 255),
        contact_phone=clean_optional(said.contact_phone, 64),
        unsupported=clean_optional(said.unsupported, 32),
    )
    return replace(
        inbound,
        said=clean,
        channel=clean_text(inbound.channel, 16),
        user=clean_text(inbound.user, 128),
        external_id=clean_text(inbound.external_id, 128),
        receipt=None if inbound.receipt is None else clean_json(inbound.receipt),
    )
