"""The users' side of the fake Graph API, played by the test: the client messages it builds (text, a tap on
a button or a list row, media, locations, reactions) and sends as ``messages`` webhooks, alone or batched,
and what the users do with what they received (read it)."""

from __future__ import annotations

from collections.abc import Iterable

from tests.fakes.server import Json
from tests.fakes.whatsapp.api import GraphError, new_wamid
from tests.fakes.whatsapp.records import Inbound, SentMessage, Webhook
from tests.fakes.whatsapp.webhooks import WhatsAppWebhooks


class WhatsAppUsers(WhatsAppWebhooks):
    """The WhatsApp users writing to the business number."""

    # -- the client's side: building messages ------------------------------------------------------------

    def _inbound_message(
        self,
        wa_id: str,
        kind: str,
        content: Json,
        *,
        user_id: str | None,
        name: str,
        context: Json | None = None,
    ) -> Inbound:
        self._register(wa_id, user_id)
        user_id = user_id or self._bsuid_of.get(wa_id)
        now = self.now()
        self._last_inbound[wa_id] = now
        wamid = new_wamid(wa_id)
        self._inbound[wamid] = wa_id
        message: Json = {}
        if context is not None:
            message["context"] = context
        message["from"] = wa_id
        if user_id:
            message["from_user_id"] = user_id
        message.update({"id": wamid, "timestamp": str(int(now)), "type": kind, kind: content})
        contact: Json = {"profile": {"name": name}, "wa_id": wa_id}
        if user_id:
            contact["user_id"] = user_id
        return Inbound(contact, message)

    def text_message(
        self, wa_id: str, text: str, *, user_id: str | None = None, name: str = "Client"
    ) -> Inbound:
        return self._inbound_message(wa_id, "text", {"body": text}, user_id=user_id, name=name)

    def reply_message(
        self, wa_id: str, title_or_id: str, *, user_id: str | None = None, name: str = "Client"
    ) -> Inbound:
        """A tap on a reply button or a list row of the last interactive message sent to ``wa_id``."""
        candidates = [m for m in self.messages_to(wa_id) if m.type == "interactive" and not m.failed]
        if not candidates:
            raise AssertionError(f"no interactive message was sent to {wa_id}\n{self.describe()}")
        sent = candidates[-1]
        choices = sent.choices()
        choice = (
            next((c for c in choices if c["id"] == title_or_id), None)
            or next((c for c in choices if c["title"] == title_or_id), None)
            or next((c for c in choices if c["title"].casefold() == title_or_id.casefold()), None)
        )
        if choice is None:
            raise AssertionError(f"no button or row {title_or_id!r} sent to {wa_id}; choices: {sent.buttons}")
        return self.choice_message(
            wa_id, sent.interactive_type, choice, replying_to=sent.wamid, user_id=user_id, name=name
        )

    def choice_message(
        self,
        wa_id: str,
        kind: str | None,
        choice: Json,
        *,
        replying_to: str,
        user_id: str | None = None,
        name: str = "Client",
    ) -> Inbound:
        """A tap on ``choice`` (a reply button's ``reply``, or a list row: id, title, description) of the
        interactive message ``replying_to`` of ``kind`` ("button" or "list")."""
        if kind == "button":
            content: Json = {
                "type": "button_reply",
                "button_reply": {"id": choice["id"], "title": choice["title"]},
            }
        else:
            reply = {"id": choice["id"], "title": choice["title"]}
            if choice.get("description"):
                reply["description"] = choice["description"]
            content = {"type": "list_reply", "list_reply": reply}
        context = {"from": self.display_phone_number, "id": replying_to}
        return self._inbound_message(
            wa_id, "interactive", content, user_id=user_id, name=name, context=context
        )

    def _media_content(
        self, content: bytes, mime_type: str, *, filename: str | None = None, caption: str | None = None
    ) -> Json:
        media = self.media[self.add_media(content, mime_type, filename=filename)]
        body: Json = {}
        if caption is not None:
            body["caption"] = caption
        if filename is not None:
            body["filename"] = filename
        body.update({"mime_type": mime_type, "sha256": media.sha256, "id": media.media_id})
        return body

    def image_message(
        self,
        wa_id: str,
        content: bytes,
        *,
        mime_type: str = "image/jpeg",
        caption: str | None = None,
        user_id: str | None = None,
        name: str = "Client",
    ) -> Inbound:
        body = self._media_content(content, mime_type, caption=caption)
        return self._inbound_message(wa_id, "image", body, user_id=user_id, name=name)

    def document_message(
        self,
        wa_id: str,
        content: bytes,
        filename: str,
        mime_type: str,
        *,
        caption: str | None = None,
        user_id: str | None = None,
        name: str = "Client",
    ) -> Inbound:
        body = self._media_content(content, mime_type, filename=filename, caption=caption)
        return self._inbound_message(wa_id, "document", body, user_id=user_id, name=name)

    def sticker_message(self, wa_id: str, *, user_id: str | None = None, name: str = "Client") -> Inbound:
        body = self._media_content(b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00", "image/webp")
        body["animated"] = False
        return self._inbound_message(wa_id, "sticker", body, user_id=user_id, name=name)

    def audio_message(
        self,
        wa_id: str,
        content: bytes = b"OggS" + bytes(60),
        *,
        user_id: str | None = None,
        name: str = "Client",
    ) -> Inbound:
        body = self._media_content(content, "audio/ogg; codecs=opus")
        body["voice"] = True
        return self._inbound_message(wa_id, "audio", body, user_id=user_id, name=name)

    def location_message(
        self,
        wa_id: str,
        *,
        latitude: float = 48.8566,
        longitude: float = 2.3522,
        name_of_place: str | None = None,
        address: str | None = None,
        user_id: str | None = None,
        name: str = "Client",
    ) -> Inbound:
        body: Json = {"latitude": latitude, "longitude": longitude}
        if name_of_place is not None:
            body["name"] = name_of_place
        if address is not None:
            body["address"] = address
        return self._inbound_message(wa_id, "location", body, user_id=user_id, name=name)

    def reaction_message(
        self, wa_id: str, message_wamid: str, emoji: str, *, user_id: str | None = None, name: str = "Client"
    ) -> Inbound:
        """A reaction (``emoji=""`` removes one) to a message the business sent."""
        body = {"message_id": message_wamid, "emoji": emoji}
        return self._inbound_message(wa_id, "reaction", body, user_id=user_id, name=name)

    # -- the client's side: sending ----------------------------------------------------------------------

    async def say(
        self, wa_id: str, text: str, *, user_id: str | None = None, name: str = "Client", deliver: bool = True
    ) -> Json:
        """The user writes ``text``; returns the message (its ``id`` is the wamid)."""
        return await self._send_one(self.text_message(wa_id, text, user_id=user_id, name=name), deliver)

    async def press(
        self, wa_id: str, title_or_id: str, *, user_id: str | None = None, deliver: bool = True
    ) -> Json:
        """The user taps a reply button or list row (by title or id) of the last interactive message."""
        return await self._send_one(self.reply_message(wa_id, title_or_id, user_id=user_id), deliver)

    async def send_image(
        self,
        wa_id: str,
        content: bytes,
        *,
        mime_type: str = "image/jpeg",
        caption: str | None = None,
        user_id: str | None = None,
        deliver: bool = True,
    ) -> Json:
        inbound = self.image_message(wa_id, content, mime_type=mime_type, caption=caption, user_id=user_id)
        return await self._send_one(inbound, deliver)

    async def send_document(
        self,
        wa_id: str,
        content: bytes,
        filename: str,
        mime_type: str,
        *,
        caption: str | None = None,
        user_id: str | None = None,
        deliver: bool = True,
    ) -> Json:
        inbound = self.document_message(wa_id, content, filename, mime_type, caption=caption, user_id=user_id)
        return await self._send_one(inbound, deliver)

    async def send_sticker(self, wa_id: str, *, user_id: str | None = None, deliver: bool = True) -> Json:
        return await self._send_one(self.sticker_message(wa_id, user_id=user_id), deliver)

    async def send_audio(
        self,
        wa_id: str,
        content: bytes = b"OggS" + bytes(60),
        *,
        user_id: str | None = None,
        deliver: bool = True,
    ) -> Json:
        """A voice note."""
        return await self._send_one(self.audio_message(wa_id, content, user_id=user_id), deliver)

    async def send_location(
        self,
        wa_id: str,
        *,
        latitude: float = 48.8566,
        longitude: float = 2.3522,
        user_id: str | None = None,
        deliver: bool = True,
    ) -> Json:
        inbound = self.location_message(wa_id, latitude=latitude, longitude=longitude, user_id=user_id)
        return await self._send_one(inbound, deliver)

    async def react(
        self, wa_id: str, message_wamid: str, emoji: str, *, user_id: str | None = None, deliver: bool = True
    ) -> Json:
        return await self._send_one(
            self.reaction_message(wa_id, message_wamid, emoji, user_id=user_id), deliver
        )

    async def batch(
        self, items: Iterable[Inbound], *, entries: int | None = None, deliver: bool = True
    ) -> Webhook:
        """Several client messages in ONE webhook POST, as Meta batches them.

        The messages of each user make one ``changes`` item (their contact, their messages in order); the
        changes are spread over ``entries`` entries (by default one entry per user).
        """
        items = list(items)
        changes = self.changes_of(items)
        count = max(1, min(entries or len(changes), len(changes)))
        spread: list[list[Json]] = [[] for _ in range(count)]
        for index, change in enumerate(changes):
            spread[index % count].append(change)
        first = items[0].wamid if items else "empty"
        hook = self._webhook("messages", f"messages:{first}+batch", spread)
        await self._push(hook, deliver)
        return hook

    async def _send_one(self, inbound: Inbound, deliver: bool) -> Json:
        change = self._change({"contacts": [inbound.contact], "messages": [inbound.message]})
        hook = self._webhook("messages", f"messages:{inbound.wamid}", [[change]])
        await self._push(hook, deliver)
        return inbound.message

    async def read(self, user: str, *, deliver: bool = True) -> list[SentMessage]:
        """The user opens the chat: a ``read`` status for every message delivered to them and not read yet."""
        unread = [m for m in self.messages_to(user) if m.status == "delivered"]
        for message in unread:
            await self._push(self._status_webhook(message, "read"), deliver)
        return unread

    async def push_status(
        self, message: SentMessage, status: str, *, error: GraphError | None = None
    ) -> Webhook:
        """Push one status webhook for ``message`` (e.g. a late ``failed`` with ``error``)."""
        hook = self._status_webhook(message, status, error)
        await self._push(hook, True)
        return hook
