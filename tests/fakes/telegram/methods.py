"""The Bot API methods the bot calls (getMe, the commands, sending, editing, answering a button press, chat
actions, getFile; the update methods are in ``updates``), over the chats' state: the messages in each chat,
the clients' languages, who blocked the bot, the callback queries not answered yet."""

from __future__ import annotations

import re
import time

from tests.fakes.server import Json
from tests.fakes.telegram.api import (
    BLOCKED,
    CHAT_ACTIONS,
    COMMAND,
    MAX_CAPTION,
    MAX_DOWNLOAD,
    MAX_TEXT,
    NOT_MODIFIED,
    QUERY_INVALID,
    SCOPE_TYPES,
    ApiError,
    bad_request,
)
from tests.fakes.telegram.files import FileStorage
from tests.fakes.telegram.formatting import markup_param, text_param
from tests.fakes.telegram.limits import SendLimits
from tests.fakes.telegram.records import Call, SentMessage
from tests.fakes.telegram.updates import TelegramUpdates


class BotApi(TelegramUpdates):
    """The methods of one bot (``token``) talking to private chats."""

    def __init__(
        self,
        token: str,
        *,
        limits: SendLimits,
        strict_chats: bool,
        webhook_timeout: float,
    ) -> None:
        super().__init__(webhook_timeout=webhook_timeout)
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = "optibot_test_bot"
        self.first_name = "Camille"  # of every client
        self.strict_chats = strict_chats
        self.limits = limits
        self.storage = FileStorage()
        self.sent: list[SentMessage] = []
        self.callback_answers: list[Json] = []
        self.chat_actions: list[Json] = []
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self._message_ids: dict[int, int] = {}
        self._messages: dict[tuple[int, int], SentMessage] = {}
        self._client_messages: set[tuple[int, int]] = set()
        self._languages: dict[int, str] = {}
        self._known_chats: set[int] = set()
        self._blocked: set[int] = set()
        self._queries: set[str] = set()

    @property
    def bot_user(self) -> Json:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Optibot", "username": self.username}

    def _new_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _user(self, chat_id: int) -> Json:
        return {
            "id": chat_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self._languages.get(chat_id, "fr"),
        }

    def _chat(self, chat_id: int) -> Json:
        return {"id": chat_id, "type": "private", "first_name": self.first_name}

    def _chat_id(self, params: Json) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if not isinstance(chat_id, int) or (self.strict_chats and chat_id not in self._known_chats):
            raise bad_request("chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        return chat_id

    def _admit_send(self, chat_id: int) -> None:
        """Flood control and the rate limits, when a send is handled (a subclass may refuse more)."""
        self.limits.admit(chat_id)

    def message_json(self, message: SentMessage) -> Json:
        """A sent message as the Bot API's ``Message`` (what a ``callback_query`` carries)."""
        body: Json = {
            "message_id": message.message_id,
            "from": self.bot_user,
            "chat": self._chat(message.chat_id),
            "date": message.date,
        }
        if message.edit_date is not None:
            body["edit_date"] = message.edit_date
        if message.media is not None:
            body.update(message.media)
            if message.text:
                body["caption"] = message.text
        else:
            body["text"] = message.text
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            body["reply_markup"] = message.reply_markup  # reply keyboards are not part of a Message
        return body

    def _record_send(
        self, call: Call, chat_id: int, text: str, source: str, markup: Json | None
    ) -> SentMessage:
        message = SentMessage(
            chat_id=chat_id,
            message_id=self._new_message_id(chat_id),
            text=text,
            reply_markup=markup,
            at=time.monotonic(),
            method=call.record.method,
            source=source,
            parse_mode=call.params.get("parse_mode") or None,
            date=int(time.time()),
            params=call.params,
        )
        self.sent.append(message)
        self._messages[(chat_id, message.message_id)] = message
        return message

    # -- methods -------------------------------------------------------------------------------------------

    async def _get_me(self, call: Call) -> Json:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @staticmethod
    def _commands_key(params: Json) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in SCOPE_TYPES:
            raise bad_request("can't parse BotCommandScope JSON object")
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        return str(scope["type"]), language

    async def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON array")
        for command in commands:
            if not isinstance(command, dict) or not COMMAND.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(call.params)
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, call: Call) -> list[Json]:
        return list(self.commands.get(self._commands_key(call.params), []))

    async def _delete_my_commands(self, call: Call) -> bool:
        self.commands.pop(self._commands_key(call.params), None)
        return True

    async def _send_message(self, call: Call) -> Json:
        chat_id = self._chat_id(call.params)
        text, source = text_param(call.params, "text", MAX_TEXT, required=True)
        markup = markup_param(call.params)
        self._admit_send(chat_id)
        return self.message_json(self._record_send(call, chat_id, text, source, markup))

    async def _send_media(self, call: Call) -> Json:
        kind = "photo" if call.record.method == "sendPhoto" else "document"
        chat_id = self._chat_id(call.params)
        value = call.params.get(kind)
        upload = call.files.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = call.files.get(value.removeprefix("attach://"))
        if upload is not None:
            content, filename = upload.content, upload.filename
        elif isinstance(value, str) and value in self.storage.files:
            content, filename = self.storage.files[value], "file"
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            content, filename = b"", value.rsplit("/", 1)[-1]
        else:
            raise bad_request(f"there is no {kind} in the request" if not value else "invalid file_id")
        caption, source = text_param(call.params, "caption", MAX_CAPTION, required=False)
        markup = markup_param(call.params)
        self._admit_send(chat_id)
        if kind == "photo":
            stored = self.storage.store("photos", "jpg", content, prefix="AgACAgQAAxkDAAI")
            media: Json = {
                "photo": [
                    {
                        "file_id": stored.file_id,
                        "file_unique_id": stored.unique_id,
                        "width": 800,
                        "height": 600,
                        "file_size": len(content),
                    }
                ]
            }
        else:
            stored = self.storage.store(
                "documents", filename.rsplit(".", 1)[-1], content, prefix="BQACAgQAAxkDAAI"
            )
            media = {
                "document": {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.unique_id,
                    "file_name": filename,
                    "file_size": len(content),
                }
            }
        message = self._record_send(call, chat_id, caption, source, markup)
        message.media = media
        return self.message_json(message)

    async def _edit_message(self, call: Call) -> Json:
        params = call.params
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id = self._chat_id(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise bad_request("message identifier is not specified")
        message = self._messages.get((chat_id, message_id))
        if message is None:
            if (chat_id, message_id) in self._client_messages:
                raise bad_request("message can't be edited")
            raise bad_request("message to edit not found")
        text, source = message.text, message.source
        if call.record.method == "editMessageText":
            if message.media is not None:
                raise bad_request("there is no text in the message to edit")
            text, source = text_param(params, "text", MAX_TEXT, required=True)
        markup = markup_param(params, inline_only=True)
        current = (
            message.reply_markup
            if message.reply_markup and "inline_keyboard" in message.reply_markup
            else None
        )
        if source == message.source and markup == current:
            raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        message.text, message.source = text, source
        if markup is not None or current is not None:  # a reply keyboard stays with the client
            message.reply_markup = markup
        message.parse_mode = params.get("parse_mode") or message.parse_mode
        message.edit_date = int(time.time())
        message.edits.append({"method": call.record.method, "params": params})
        return self.message_json(message)

    async def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params.get("callback_query_id") or "")
        if query_id not in self._queries:
            raise ApiError(400, QUERY_INVALID)
        if len(str(call.params.get("text") or "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._queries.discard(query_id)
        self.callback_answers.append(call.params)
        return True

    async def _send_chat_action(self, call: Call) -> bool:
        self._chat_id(call.params)
        if call.params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.chat_actions.append(call.params)
        return True

    async def _get_file(self, call: Call) -> Json:
        stored = self.storage.get(str(call.params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": len(stored.content),
            "file_path": stored.path,
        }
