"""The clients' side of the fake Bot API, played by the test: what a client writes, presses and sends
(each an update queued or pushed to the bot), and what it sees of the bot's messages."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

from tests.fakes.server import Json
from tests.fakes.telegram.methods import BotApi
from tests.fakes.telegram.records import SentMessage


class TelegramUsers(BotApi):
    """The private chats' clients (the chat id is the client's user id)."""

    # -- what a client sees ------------------------------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return [message for message in self.sent if message.chat_id == chat_id]

    def last_to(self, chat_id: int) -> SentMessage | None:
        messages = self.messages_to(chat_id)
        return messages[-1] if messages else None

    def keyboard_of(self, chat_id: int) -> list[Json]:
        """The reply keyboard the client currently sees (the last one sent, unless removed since)."""
        for message in reversed(self.messages_to(chat_id)):
            markup = message.reply_markup or {}
            if "keyboard" in markup:
                return message.keyboard()
            if markup.get("remove_keyboard"):
                return []
        return []

    def documents_to(self, chat_id: int) -> list[tuple[str, bytes]]:
        """(file name, bytes) of every document sent to ``chat_id`` (``sendDocument``), in order."""
        found = []
        for message in self.messages_to(chat_id):
            document = (message.media or {}).get("document")
            if message.method == "sendDocument" and document is not None:
                found.append((str(document["file_name"]), self.storage.files[document["file_id"]]))
        return found

    # -- the client's side -------------------------------------------------------------------------------

    async def say(self, chat_id: int, text: str, *, language_code: str = "fr") -> Json:
        """The client writes ``text``; returns the update once queued."""
        self._languages[chat_id] = language_code
        content: Json = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self._deliver("message", self._client_message(chat_id, content))

    async def press(self, chat_id: int, callback_data: str, *, message_id: int | None = None) -> Json:
        """The client presses an inline button carrying ``callback_data`` (on ``message_id``, by default the
        last message to the chat with an inline keyboard)."""
        if message_id is None:
            with_buttons = [m for m in self.messages_to(chat_id) if m.buttons()]
            if not with_buttons:
                raise AssertionError(
                    f"no message with inline buttons was sent to {chat_id}\n{self.describe()}"
                )
            message = with_buttons[-1]
        else:
            found = self._messages.get((chat_id, message_id))
            if found is None:
                raise AssertionError(f"the bot sent no message {message_id} to {chat_id}")
            message = found
        query_id = str(secrets.randbits(63))
        self._queries.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(chat_id),
            "message": self.message_json(message),
            "chat_instance": str(chat_id * 7919 + 4_200_000_000_000_000),
            "data": callback_data,
        }
        return await self._deliver("callback_query", query)

    def allow_queries(self, query_ids: Iterable[str]) -> None:
        """Callback queries built outside the fake (a benchmark's own updates): answering them is accepted."""
        self._queries.update(query_ids)

    async def press_button(self, chat_id: int, label: str) -> Json:
        """Press the button whose text contains ``label`` on the chat's last message with inline buttons."""
        with_buttons = [m for m in self.messages_to(chat_id) if m.buttons()]
        buttons = with_buttons[-1].buttons() if with_buttons else []
        for button in buttons:
            if label.casefold() in str(button.get("text", "")).casefold() and "callback_data" in button:
                return await self.press(
                    chat_id, button["callback_data"], message_id=with_buttons[-1].message_id
                )
        shown = [(button.get("text"), button.get("callback_data")) for button in buttons]
        raise AssertionError(f"no button matching {label!r} in chat {chat_id}; buttons: {shown}")

    async def send_photo(self, chat_id: int, content: bytes, *, caption: str | None = None) -> Json:
        """The client sends a photo: three sizes, the largest holding ``content``."""
        sizes = []
        for width, height in ((90, 67), (320, 240), (1280, 960)):
            stored = self.storage.store("photos", "jpg", content, prefix="AgACAgQAAxkBAAI")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.unique_id,
                    "width": width,
                    "height": height,
                    "file_size": len(content),
                }
            )
        body: Json = {"photo": sizes}
        if caption:
            body["caption"] = caption
        return await self._deliver("message", self._client_message(chat_id, body))

    async def send_document(self, chat_id: int, content: bytes, file_name: str, mime_type: str) -> Json:
        """The client sends a file."""
        extension = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        stored = self.storage.store("documents", extension, content, prefix="BQACAgQAAxkBAAI")
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(content),
        }
        return await self._deliver("message", self._client_message(chat_id, {"document": document}))

    async def share_contact(self, chat_id: int, phone: str, *, own: bool = True) -> Json:
        """The client shares a contact: its own (the request_contact button) or someone else's."""
        contact: Json = {"phone_number": phone, "first_name": self.first_name if own else "Dominique"}
        if own:
            contact["user_id"] = chat_id
        return await self._deliver("message", self._client_message(chat_id, {"contact": contact}))

    async def send_sticker(self, chat_id: int) -> Json:
        stored = self.storage.store(
            "stickers", "webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", prefix="CAACAgIAAxkBAAI"
        )
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
            "set_name": "HotCherry",
            "file_size": len(stored.content),
        }
        return await self._deliver("message", self._client_message(chat_id, {"sticker": sticker}))

    async def send_voice(self, chat_id: int, *, duration: int = 3) -> Json:
        stored = self.storage.store("voice", "oga", b"OggS" + bytes(60), prefix="AwACAgQAAxkBAAI")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(stored.content),
        }
        return await self._deliver("message", self._client_message(chat_id, {"voice": voice}))

    async def send_location(
        self, chat_id: int, *, latitude: float = 48.8566, longitude: float = 2.3522
    ) -> Json:
        location = {"latitude": latitude, "longitude": longitude}
        return await self._deliver("message", self._client_message(chat_id, {"location": location}))

    async def block_bot(self, chat_id: int) -> Json:
        """The client blocks the bot: a my_chat_member update, then every send to the chat answers 403."""
        self._blocked.add(chat_id)
        return await self._deliver("my_chat_member", self._member_change(chat_id, "member", "kicked"))

    async def unblock_bot(self, chat_id: int) -> Json:
        """The client restarts the bot after blocking it."""
        self._blocked.discard(chat_id)
        return await self._deliver("my_chat_member", self._member_change(chat_id, "kicked", "member"))

    # -- building updates --------------------------------------------------------------------------------

    def _client_message(self, chat_id: int, content: Json) -> Json:
        self._known_chats.add(chat_id)
        message_id = self._new_message_id(chat_id)
        self._client_messages.add((chat_id, message_id))
        return {
            "message_id": message_id,
            "from": self._user(chat_id),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }

    def _member_change(self, chat_id: int, old: str, new: str) -> Json:
        def member(status: str) -> Json:
            state: Json = {"user": self.bot_user, "status": status}
            if status == "kicked":
                state["until_date"] = 0
            return state

        return {
            "chat": self._chat(chat_id),
            "from": self._user(chat_id),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
