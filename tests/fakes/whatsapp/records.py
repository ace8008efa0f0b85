"""What the fake Graph API keeps: the calls made to it, the messages the business sent, the client messages
built by the test, the webhooks pushed and their attempts, the media, and the faults queued."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tests.fakes.server import Json
from tests.fakes.whatsapp.api import MEDIA_TYPES


@dataclass
class ApiCall:
    """One API call our client made: ``status`` is the HTTP status answered (499: the client left)."""

    method: str
    path: str
    json: Json | None
    at: float
    status: int = 0
    error_code: int | None = None


@dataclass
class SentMessage:
    """A message the business sent, accepted by the API (``status``: what WhatsApp made of it since)."""

    user: str  # the ``to`` or ``recipient`` value, as given
    type: str
    body: Json
    wamid: str
    at: float  # on the fake's clock
    template: str | None = None
    wa_id: str | None = None
    user_id: str | None = None
    status: str = "accepted"  # then sent, delivered, read, or failed
    errors: list[Json] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def delivered(self) -> bool:
        return self.status in ("delivered", "read")

    @property
    def interactive_type(self) -> str | None:
        return self.body["interactive"].get("type") if self.type == "interactive" else None

    @property
    def text(self) -> str:
        """The text body, the interactive body text, or the template parameters (one a line)."""
        if self.type == "text":
            return str(self.body["text"]["body"])
        if self.type == "interactive":
            return str(self.body["interactive"]["body"]["text"])
        if self.type == "template":
            return "\n".join(
                str(parameter.get("text", ""))
                for component in self.body["template"].get("components") or []
                for parameter in component.get("parameters") or []
            )
        if self.type in MEDIA_TYPES:
            return str(self.body[self.type].get("caption", ""))
        return ""

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(id, title) of the reply buttons, or of the list rows."""
        return [(row["id"], row["title"]) for row in self.choices()]

    def choices(self) -> list[Json]:
        """The reply buttons' ``reply`` objects, or the list rows, as sent."""
        if self.type != "interactive":
            return []
        action = self.body["interactive"].get("action") or {}
        if self.interactive_type == "button":
            return [button["reply"] for button in action.get("buttons") or []]
        if self.interactive_type == "list":
            return [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        return []


@dataclass
class Inbound:
    """A client message built but not sent yet: the ``contacts`` entry and the ``messages`` entry."""

    contact: Json
    message: Json

    @property
    def wamid(self) -> str:
        return str(self.message["id"])


@dataclass
class Webhook:
    """One webhook POST body (``kind``: "messages" or "statuses") and what became of its attempts."""

    kind: str
    label: str
    payload: Json
    body: bytes
    outcomes: list[int | str] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return any(isinstance(outcome, int) and 200 <= outcome < 300 for outcome in self.outcomes)


@dataclass
class Media:
    media_id: str
    content: bytes
    mime_type: str
    opaque: str
    filename: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class Fault:
    """A fault for the next ``count`` calls of its kind (sends, deliveries, downloads, uploads)."""

    count: int
    code: int = 0
    status: int | None = None
    details: str | None = None
    seconds: float = 0.0
    deliver: bool = False
    skip: int = 0  # sends let through before the fault applies


class WebhookDeliveryError(AssertionError):
    """The app never answered 2xx to a webhook, retries included."""
