"""What the fake Graph API knows of its world: its clock (real time plus what the test advanced), the users
(a phone number's wa_id and its business-scoped id), when each last wrote (the customer-service window), the
client messages, the media, and the messages the business sent."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

from tests.fakes.server import FakeServer
from tests.fakes.whatsapp.api import BSUID, WINDOW_SECONDS
from tests.fakes.whatsapp.records import Media, SentMessage


class WhatsAppState(FakeServer):
    """The state under the fake's API and its users' side."""

    def __init__(self, *, webhook_timeout: float) -> None:
        super().__init__(webhook_timeout=webhook_timeout)
        self.sent: list[SentMessage] = []
        self.media: dict[str, Media] = {}
        self._offset = 0.0
        self._last_inbound: dict[str, float] = {}
        self._inbound: dict[str, str] = {}  # wamid of a client message -> wa_id
        self._phone_of: dict[str, str] = {}  # BSUID -> wa_id
        self._bsuid_of: dict[str, str] = {}  # wa_id -> BSUID

    # -- the clock and the window ------------------------------------------------------------------------

    def now(self) -> float:
        """The fake's clock: real time plus what ``advance`` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def window_open(self, user: str) -> bool:
        """Whether the customer-service window with ``user`` (wa_id or BSUID) is open now."""
        wa_id = self._phone_of.get(user, user)
        last = self._last_inbound.get(wa_id)
        return last is not None and self.now() - last <= WINDOW_SECONDS

    def _window_open_at(self, message: SentMessage, at: float) -> bool:
        last = self._last_inbound.get(message.wa_id or "")
        return last is not None and at - last <= WINDOW_SECONDS

    # -- what the business did ---------------------------------------------------------------------------

    def _identities(self, user: str) -> set[str]:
        wa_id = self._phone_of.get(user, user)
        found = {user, wa_id}
        if wa_id in self._bsuid_of:
            found.add(self._bsuid_of[wa_id])
        return found

    def messages_to(self, user: str) -> list[SentMessage]:
        """The accepted sends to ``user`` (by wa_id or BSUID), failed ones included."""
        names = self._identities(user)
        return [m for m in self.sent if names & {m.user, m.wa_id, m.user_id}]

    def last_to(self, user: str) -> SentMessage | None:
        messages = self.messages_to(user)
        return messages[-1] if messages else None

    def delivered_to(self, user: str) -> list[SentMessage]:
        """What ``user`` actually received (delivered or read)."""
        return [m for m in self.messages_to(user) if m.delivered]

    def documents_to(self, user: str) -> list[tuple[str, bytes, str]]:
        """(file name, bytes, MIME type) of every document message accepted for ``user``, in order:
        the uploaded media its id names."""
        found = []
        for message in self.messages_to(user):
            if message.type == "document":
                media = self.media[message.body["document"]["id"]]
                found.append(
                    (str(message.body["document"].get("filename", "")), media.content, media.mime_type)
                )
        return found

    # -- media -------------------------------------------------------------------------------------------

    def add_media(self, content: bytes, mime_type: str, *, filename: str | None = None) -> str:
        """Store ``content`` as WhatsApp media (as if a user had sent it); returns its media id."""
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))
        self.media[media_id] = Media(media_id, content, mime_type, secrets.token_urlsafe(24), filename)
        return media_id

    def clients_wrote(self, messages: dict[str, str], windows: Iterable[str] = ()) -> None:
        """Client messages built outside the fake (``messages``: wamid -> wa_id), known as if they had been
        sent through it (marking them read is accepted), and users whose window opens now."""
        now = self.now()
        for wamid, wa_id in messages.items():
            self._inbound[wamid] = wa_id
            self._last_inbound[wa_id] = now
        for wa_id in windows:
            self._last_inbound[wa_id] = now

    def _register(self, wa_id: str, user_id: str | None) -> None:
        if not wa_id.isdigit():
            raise ValueError(f"a wa_id is digits only, got {wa_id!r}")
        if user_id is not None:
            if not BSUID.fullmatch(user_id):
                raise ValueError(f"not a business-scoped user id: {user_id!r}")
            self._phone_of[user_id] = wa_id
            self._bsuid_of[wa_id] = user_id
