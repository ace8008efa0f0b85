"""A fake Telegram Bot API server for tests, spoken to by the real aiogram client.

It serves ``/bot<token>/<method>`` and ``/file/bot<token>/<path>`` on 127.0.0.1 like api.telegram.org:
parameters come from the query string and from a urlencoded, multipart or JSON body (complex values may
be JSON-encoded strings); answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N,
"description": "...", "parameters": {...}}`` with Telegram's own descriptions. Updates made by the test
(``say``, ``press``...) are queued for ``getUpdates`` long polling, or pushed to the webhook when one is set.

Deliberate simplifications: one bot, private chats only; plain ``http://`` webhook URLs are accepted;
message lengths are counted in code points; HTML and MarkdownV2 are checked for the common mistakes
(unsupported or unclosed tags, unescaped reserved characters) but no entities are returned.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import html
import json
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import (
    BodyPartReader,
    ClientConnectorError,
    ClientError,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    web,
)

TOKEN = "123456789:TEST-token_for-the-fake-server_0000000"

Json = dict[str, Any]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_DOWNLOAD = 20 * 1024 * 1024

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"

#: methods that send a message: rate-limited, flood-controlled, recorded in ``sent``
SEND_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument"})
#: update types not delivered unless asked for explicitly in ``allowed_updates``
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# fmt: off
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})
SCOPE_TYPES = frozenset({
    "default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat",
    "chat_administrators", "chat_member",
})
HTML_TAGS = frozenset({
    "a", "b", "blockquote", "code", "del", "em", "i", "ins", "pre", "s", "span", "strike", "strong",
    "tg-emoji", "tg-spoiler", "u",
})
JSON_FIELDS = frozenset({
    "reply_markup", "scope", "commands", "allowed_updates", "entities", "caption_entities",
    "link_preview_options", "reply_parameters",
})
INT_FIELDS = frozenset({
    "chat_id", "message_id", "offset", "limit", "timeout", "max_connections", "user_id", "cache_time",
    "reply_to_message_id", "message_thread_id",
})
BOOL_FIELDS = frozenset({
    "drop_pending_updates", "show_alert", "disable_notification", "protect_content",
    "disable_web_page_preview",
})
# fmt: on
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_TAG_NAME = re.compile(r"[^\s>]*")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> Json:
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def default_description(status: int, retry_after: int | None) -> str:
    """Telegram's usual description for an error status (used by ``fail_next``)."""
    known = {
        400: "Bad Request: chat not found",
        401: "Unauthorized",
        403: BLOCKED,
        404: "Not Found",
        409: POLL_CONFLICT,
        429: f"Too Many Requests: retry after {retry_after or 5}",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }
    if status in known:
        return known[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass
class Request:
    """One API call the bot made: ``status`` is the HTTP code answered (499: the client left first)."""

    method: str
    params: Json
    at: float
    status: int = 0
    content_type: str = ""
    http_method: str = "POST"
    description: str | None = None


@dataclass
class SentMessage:
    """A message the bot sent, in its current state after edits (``text`` is the caption of media)."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: Json | None
    at: float
    edits: list[Json] = field(default_factory=list)
    method: str = "sendMessage"
    source: str = ""  # the text as sent, before parse_mode was applied
    parse_mode: str | None = None
    date: int = 0
    edit_date: int | None = None
    media: Json | None = None  # {"photo": [...]} or {"document": {...}}
    params: Json = field(default_factory=dict)

    def buttons(self) -> list[Json]:
        """The inline buttons, row after row (each as sent: text, callback_data...)."""
        if not self.reply_markup or "inline_keyboard" not in self.reply_markup:
            return []
        return [dict(button) for row in self.reply_markup["inline_keyboard"] for button in row]

    def keyboard(self) -> list[Json]:
        """The reply-keyboard buttons, row after row (text, request_contact...)."""
        if not self.reply_markup or "keyboard" not in self.reply_markup:
            return []
        return [
            {"text": button} if isinstance(button, str) else dict(button)
            for row in self.reply_markup["keyboard"]
            for button in row
        ]


@dataclass
class _Upload:
    filename: str
    content: bytes


@dataclass
class _StoredFile:
    file_id: str
    unique_id: str
    path: str
    content: bytes


@dataclass
class _Fault:
    method: str
    count: int
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    chat_id: int | None = None
    seconds: float = 0.0
    deliver: bool = False


@dataclass
class _Call:
    params: Json
    files: dict[str, _Upload]
    record: Request
    request: web.Request | None = None


@dataclass
class _Described:
    result: Any
    description: str


class _ClientGoneError(Exception):
    """The caller went away while its call was held by ``hang_next``."""


Handler = Callable[[_Call], Awaitable[Any]]


def _decode(name: str, value: Any) -> Any:
    """The value a form string stands for (JSON, int, bool); left raw when it does not parse."""
    if not isinstance(value, str):
        return value
    try:
        if name in JSON_FIELDS:
            return json.loads(value)
        if name in INT_FIELDS:
            return int(value)
    except ValueError:
        return value
    if name in BOOL_FIELDS and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return value


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def render_html(text: str) -> str:
    """The text a user sees for ``parse_mode=HTML``; raises Telegram's "can't parse entities" errors."""
    out: list[str] = []
    stack: list[str] = []
    index = 0
    while (start := text.find("<", index)) >= 0:
        out.append(text[index:start])
        offset = _byte_offset(text, start)
        if text.startswith("</", start):
            end = text.find(">", start)
            if end < 0:
                raise bad_request(f"can't parse entities: Unclosed end tag at byte offset {offset}")
            name = text[start + 2 : end].strip().lower()
            if not stack:
                raise bad_request(f"can't parse entities: Unexpected end tag at byte offset {offset}")
            if name and name != stack[-1]:
                raise bad_request(
                    f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                    f'expected "</{stack[-1]}>", found "</{name}>"'
                )
            stack.pop()
        else:
            match = _TAG_NAME.match(text, start + 1)
            assert match is not None  # the pattern matches the empty string
            if match.end() >= len(text):
                raise bad_request(f"can't parse entities: Unclosed start tag at byte offset {offset}")
            name = match.group().lower()
            if name not in HTML_TAGS:
                raise bad_request(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
                )
            end = text.find(">", match.end())
            if end < 0:
                raise bad_request(
                    f'can\'t parse entities: Unclosed start tag "{name}" at byte offset {offset}'
                )
            if name == "span" and not re.search(r"class\s*=\s*[\"']?tg-spoiler", text[match.end() : end]):
                raise bad_request(
                    f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset {offset}'
                )
            stack.append(name)
        index = end + 1
    out.append(text[index:])
    if stack:
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return html.unescape("".join(out))


_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_MARKERS = (
    ("||", "Spoiler"),
    ("__", "Underline"),
    ("*", "Bold"),
    ("_", "Italic"),
    ("~", "Strikethrough"),
)


def render_markdown_v2(text: str) -> str:
    """The text a user sees for ``parse_mode=MarkdownV2``; raises on unescaped reserved characters."""
    out: list[str] = []
    open_at: dict[str, int] = {}
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char == "\\" and index + 1 < size:
            out.append(text[index + 1])
            index += 2
            continue
        if char == "`":
            fence = "```" if text.startswith("```", index) else "`"
            end = text.find(fence, index + len(fence))
            if end < 0:
                kind = "Pre" if fence == "```" else "Code"
                raise bad_request(
                    f"can't parse entities: Can't find end of {kind} entity at byte offset "
                    f"{_byte_offset(text, index)}"
                )
            body = text[index + len(fence) : end]
            if fence == "```" and "\n" in body and " " not in body.split("\n", 1)[0]:
                body = body.split("\n", 1)[1]  # the first line names the language
            out.append(body.replace("\\`", "`").replace("\\\\", "\\"))
            index = end + len(fence)
            continue
        if text.startswith("](", index):
            end = text.find(")", index + 2)
            if end < 0:
                raise bad_request(
                    "can't parse entities: Can't find end of a url at byte offset "
                    f"{_byte_offset(text, index)}"
                )
            index = end + 1
            continue
        marker = next((m for m, _ in _MD2_MARKERS if text.startswith(m, index)), None)
        if marker is not None:
            if marker in open_at:
                del open_at[marker]
            else:
                open_at[marker] = index
            index += len(marker)
            continue
        if char in "[]" or (char == ">" and (index == 0 or text[index - 1] == "\n")):
            index += 1
            continue
        if char in _MD2_RESERVED:
            raise bad_request(
                f"can't parse entities: Character '{char}' is reserved and must be escaped "
                "with the preceding '\\'"
            )
        out.append(char)
        index += 1
    if open_at:
        marker, position = min(open_at.items(), key=lambda item: item[1])
        name = dict(_MD2_MARKERS)[marker]
        raise bad_request(
            f"can't parse entities: Can't find end of {name} entity at byte offset "
            f"{_byte_offset(text, position)}"
        )
    return "".join(out)


def render(text: str, parse_mode: str | None) -> str:
    """Apply a parse_mode as Telegram would (legacy Markdown: markers are only stripped)."""
    if not parse_mode:
        return text
    mode = parse_mode.lower()
    if mode == "html":
        return render_html(text)
    if mode == "markdownv2":
        return render_markdown_v2(text)
    if mode == "markdown":
        return (
            re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("*", "").replace("_", "").replace("`", "")
        )
    raise bad_request("unsupported parse_mode")


class FakeTelegram:
    """A Bot API server for one bot; see the module docstring."""

    def __init__(
        self,
        token: str = TOKEN,
        *,
        enforce_limits: bool = True,
        chat_limit: tuple[int, float] = (3, 3.0),
        bot_limit: tuple[int, float] = (30, 1.0),
        strict_chats: bool = False,
        webhook_timeout: float = 10.0,
    ) -> None:
        """``strict_chats``: sending to a chat that never wrote to the bot answers "chat not found"."""
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = "optibot_test_bot"
        self.first_name = "Camille"  # of every client
        self.enforce_limits = enforce_limits
        self.chat_limit = chat_limit
        self.bot_limit = bot_limit
        self.strict_chats = strict_chats
        self.webhook_timeout = webhook_timeout
        self.base_url = ""

        self.sent: list[SentMessage] = []
        self.callback_answers: list[Json] = []
        self.chat_actions: list[Json] = []
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self.webhook: Json | None = None
        self.webhook_attempts: list[tuple[int, int | str]] = []
        self.requests: list[Request] = []
        self.updates: list[Json] = []  # every update made or pushed, delivered or not
        self.too_many = 0
        self.flood_rejected = 0
        self.files: dict[str, bytes] = {}

        self._file_meta: dict[str, _StoredFile] = {}
        self._paths: dict[str, str] = {}
        self._pending: list[Json] = []
        self._allowed: list[str] = []
        self._next_update = secrets.randbelow(900_000_000) + 100_000_000
        self._message_ids: dict[int, int] = {}
        self._messages: dict[tuple[int, int], SentMessage] = {}
        self._client_messages: set[tuple[int, int]] = set()
        self._languages: dict[int, str] = {}
        self._known_chats: set[int] = set()
        self._blocked: set[int] = set()
        self._queries: set[str] = set()
        self._faults: list[_Fault] = []
        self._hangs: list[_Fault] = []
        self._flood_until = 0.0
        self._chat_sends: dict[int, deque[float]] = {}
        self._bot_sends: deque[float] = deque()
        self._poll_generation = 0
        self._last_error: tuple[int, str] | None = None
        self._cond = asyncio.Condition()
        self._stopped = asyncio.Event()
        self._pusher: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._client: ClientSession | None = None
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_media,
                "sendDocument": self._send_media,
                "editMessageText": self._edit_message,
                "editMessageReplyMarkup": self._edit_message,
                "answerCallbackQuery": self._answer_callback_query,
                "sendChatAction": self._send_chat_action,
                "getFile": self._get_file,
            }.items()
        }

    # -- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1, on a free port; started again after ``stop``, on the same port (an outage)."""
        self._stopped.clear()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()
        host, self._port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{self._port}"
        self._client = ClientSession()
        if self.webhook is not None:  # a restart: pushing resumes
            self._pusher = asyncio.create_task(self._push_loop(self.webhook))

    async def stop(self) -> None:
        """Stop serving; wakes long polls and held calls, stops the webhook pusher."""
        self._stopped.set()
        async with self._cond:
            self._cond.notify_all()
        await self._stop_pusher()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- what the bot did --------------------------------------------------------------------------------

    @property
    def bot_user(self) -> Json:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Optibot", "username": self.username}

    @property
    def pending_updates(self) -> list[Json]:
        """Updates not yet confirmed (polling) or acknowledged (webhook)."""
        return list(self._pending)

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
                found.append((str(document["file_name"]), self.files[document["file_id"]]))
        return found

    def calls(self, method: str) -> list[Request]:
        """The recorded calls of one method (case-insensitive)."""
        return [request for request in self.requests if request.method.lower() == method.lower()]

    def describe(self) -> str:
        """A short account of the recent traffic, for failure messages."""
        lines = [f"pending updates: {len(self._pending)}; webhook: {self.webhook and self.webhook['url']}"]
        lines += [f"  {r.method} -> {r.status} {r.description or ''}".rstrip() for r in self.requests[-12:]]
        lines += [
            f"  sent to {m.chat_id}: {m.text[:80]!r} buttons={len(m.buttons())}" for m in self.sent[-6:]
        ]
        if self.webhook_attempts:
            lines.append(f"  webhook attempts: {self.webhook_attempts[-6:]}")
        return "\n".join(lines)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds, polling every 10 ms."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__qualname__", repr(predicate))
                raise TimeoutError(f"{name} still false after {timeout} s\n{self.describe()}")
            await asyncio.sleep(0.01)

    # -- faults ------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        count: int = 1,
        retry_after: int | None = None,
        chat_id: int | None = None,
        description: str | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` (to ``chat_id`` only, if given) answer this error."""
        if status == 429 and retry_after is None:
            retry_after = 5
        self._faults.append(
            _Fault(
                method=method.lower(),
                count=count,
                status=status,
                description=description or default_description(status, retry_after),
                retry_after=retry_after,
                chat_id=chat_id,
            )
        )

    def hang_next(self, method: str, seconds: float, *, count: int = 1, deliver: bool = False) -> None:
        """The next ``count`` calls of ``method`` wait ``seconds`` before being handled.

        The call is handled (sent, recorded) only after the wait, and only if the client is still there:
        a client that timed out meanwhile gets nothing done (the request is recorded with status 499).
        With ``deliver=True`` it is handled anyway, like a send whose answer was lost on the way back.
        """
        self._hangs.append(_Fault(method=method.lower(), count=count, seconds=seconds, deliver=deliver))

    def flood(self, seconds: int) -> None:
        """For ``seconds`` seconds every send method answers 429 (counted in ``flood_rejected``)."""
        self._flood_until = time.monotonic() + seconds

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
            "message": self._api_message(message),
            "chat_instance": str(chat_id * 7919 + 4_200_000_000_000_000),
            "data": callback_data,
        }
        return await self._deliver("callback_query", query)

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
            stored = self._store_file("photos", "jpg", content, prefix="AgACAgQAAxkBAAI")
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
        stored = self._store_file("documents", extension, content, prefix="BQACAgQAAxkBAAI")
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
        stored = self._store_file(
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
        stored = self._store_file("voice", "oga", b"OggS" + bytes(60), prefix="AwACAgQAAxkBAAI")
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

    async def push(self, update: Json) -> Json:
        """Deliver a raw update (given an ``update_id`` if it has none); pushing one again re-delivers it.

        Updates of a type not allowed by the current ``allowed_updates`` are dropped, as Telegram does.
        """
        if "update_id" not in update:
            update["update_id"] = self._new_update_id()
        stored = json.loads(json.dumps(update))
        self.updates.append(stored)
        if self._is_allowed(stored):
            async with self._cond:
                bisect.insort(self._pending, stored, key=lambda pending: pending["update_id"])
                self._cond.notify_all()
        return update

    # -- HTTP ----------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        raw_method = request.match_info["method"]
        entry = self._methods.get(raw_method.lower())
        record = Request(
            method=entry[0] if entry else raw_method,
            params={},
            at=time.monotonic(),
            content_type=request.content_type if request.body_exists else "",
            http_method=request.method,
        )
        self.requests.append(record)
        try:
            self._check_token(request.match_info["token"])
            params, files = await self._read_params(request)
            record.params = params
            if entry is None:
                raise ApiError(404, "Not Found")
            result = await self._run(entry, _Call(params=params, files=files, record=record, request=request))
        except ApiError as error:
            record.status, record.description = error.status, error.description
            return web.json_response(error.payload(), status=error.status)
        except _ClientGoneError:
            record.status = 499
            return web.Response(status=499)
        record.status = 200
        if isinstance(result, _Described):
            return web.json_response({"ok": True, "result": result.result, "description": result.description})
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        file_id = self._paths.get(request.match_info["path"])
        if request.match_info["token"] != self.token or file_id is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    def _check_token(self, token: str) -> None:
        if token == self.token:
            return
        if _TOKEN_SHAPE.fullmatch(token):
            raise ApiError(401, "Unauthorized")
        raise ApiError(404, "Not Found")

    async def _read_params(self, request: web.Request) -> tuple[Json, dict[str, _Upload]]:
        raw: Json = dict(request.query)
        files: dict[str, _Upload] = {}
        if request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as error:
                    raise bad_request("can't parse JSON object") from error
                if not isinstance(body, dict):
                    raise bad_request("can't parse JSON object")
                raw.update(body)
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        files[key] = _Upload(filename=value.filename, content=value.file.read())
                    else:
                        raw[key] = value
        return {key: _decode(key, value) for key, value in raw.items()}, files

    async def _run(self, entry: tuple[str, Handler], call: _Call) -> Any:
        name, handler = entry
        hang = self._take(self._hangs, name, call.params)
        if hang is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), hang.seconds)
            if self._stopped.is_set():
                raise ApiError(500, "Internal Server Error")
            transport = call.request.transport if call.request is not None else None
            if (
                not hang.deliver
                and call.request is not None
                and (transport is None or transport.is_closing())
            ):
                raise _ClientGoneError
        fault = self._take(self._faults, name, call.params)
        if fault is not None:
            raise ApiError(fault.status, fault.description, fault.retry_after)
        return await handler(call)

    @staticmethod
    def _take(faults: list[_Fault], method: str, params: Json) -> _Fault | None:
        for fault in faults:
            if fault.method == method.lower() and fault.chat_id in (None, params.get("chat_id")):
                fault.count -= 1
                if fault.count <= 0:
                    faults.remove(fault)
                return fault
        return None

    # -- updates -------------------------------------------------------------------------------------------

    def _new_update_id(self) -> int:
        self._next_update += 1
        return self._next_update

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

    async def _deliver(self, kind: str, payload: Json) -> Json:
        return await self.push({"update_id": self._new_update_id(), kind: payload})

    def _is_allowed(self, update: Json) -> bool:
        kind = next((key for key in update if key != "update_id"), "")
        return kind in self._allowed if self._allowed else kind not in OPT_IN_UPDATES

    def _set_allowed(self, allowed: Any) -> None:
        if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
            raise bad_request("can't parse allowed_updates JSON array")
        self._allowed = list(allowed)
        self._pending = [update for update in self._pending if self._is_allowed(update)]

    # -- the webhook pusher --------------------------------------------------------------------------------

    async def _stop_pusher(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None

    async def _push_loop(self, hook: Json) -> None:
        delay = 0.1
        while True:
            async with self._cond:
                await self._cond.wait_for(lambda: bool(self._pending))
                update = self._pending[0]
            outcome = await self._post_update(hook, update)
            self.webhook_attempts.append((update["update_id"], outcome))
            if isinstance(outcome, int) and 200 <= outcome < 300:
                with contextlib.suppress(ValueError):
                    self._pending.remove(update)
                delay = 0.1
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _post_update(self, hook: Json, update: Json) -> int | str:
        assert self._client is not None
        headers = {"Content-Type": "application/json"}
        if hook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        try:
            async with self._client.post(
                hook["url"],
                data=json.dumps(update),
                headers=headers,
                timeout=ClientTimeout(total=self.webhook_timeout),
            ) as response:
                if not 200 <= response.status < 300:
                    await response.read()
                    self._last_error = (
                        int(time.time()),
                        f"Wrong response from the webhook: {response.status} {response.reason}",
                    )
                    return response.status
                await self._webhook_reply(response)
                return response.status
        except (ClientError, TimeoutError, OSError) as error:
            if isinstance(error, TimeoutError):
                message = "Read timeout expired"
            elif isinstance(error, ClientConnectorError):
                message = "Connection refused"
            else:
                message = f"Connection failed: {type(error).__name__}"
            self._last_error = (int(time.time()), message)
            return type(error).__name__

    async def _webhook_reply(self, response: ClientResponse) -> None:
        """Run a method the bot answered the webhook with, as Telegram does (its outcome is not reported)."""
        params: Json = {}
        files: dict[str, _Upload] = {}
        if response.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = await response.json()
                if isinstance(body, dict):
                    params = body
        elif response.content_type == "multipart/form-data":
            reader = MultipartReader.from_response(response)
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.filename:
                    files[part.name or ""] = _Upload(part.filename, bytes(await part.read()))
                else:
                    params[part.name or ""] = await part.text()
        else:
            await response.read()
        method = params.pop("method", None)
        if not isinstance(method, str):
            return
        entry = self._methods.get(method.lower())
        params = {key: _decode(key, value) for key, value in params.items()}
        record = Request(
            method=entry[0] if entry else method,
            params=params,
            at=time.monotonic(),
            content_type="webhook-reply",
        )
        self.requests.append(record)
        try:
            if entry is None:
                raise ApiError(404, "Not Found")
            await self._run(entry, _Call(params=params, files=files, record=record))
            record.status = 200
        except ApiError as error:
            record.status, record.description = error.status, error.description

    # -- method helpers ------------------------------------------------------------------------------------

    def _chat_id(self, params: Json) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if not isinstance(chat_id, int) or (self.strict_chats and chat_id not in self._known_chats):
            raise bad_request("chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        return chat_id

    @staticmethod
    def _text(params: Json, key: str, limit: int, *, required: bool) -> tuple[str, str]:
        """(rendered, source) of a text or caption parameter."""
        source = params.get(key)
        source = "" if source is None else str(source)
        rendered = render(source, params.get("parse_mode") or None)
        if required and not rendered.strip():
            raise bad_request("message text is empty")
        if len(rendered) > limit:
            raise bad_request("message is too long" if key == "text" else "message caption is too long")
        return rendered, source

    @staticmethod
    def _markup(params: Json, *, inline_only: bool = False) -> Json | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
                )
            for button in (button for row in rows for button in row):
                if not isinstance(button, dict) or not str(button.get("text") or "").strip():
                    raise bad_request("can't parse inline keyboard button: Text must be non-empty")
                if len(button) < 2:
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                        raise bad_request("BUTTON_DATA_INVALID")
            return markup
        if inline_only:
            raise bad_request("inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise bad_request('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
            for button in (button for row in rows for button in row):
                if not isinstance(button, str | dict) or (
                    isinstance(button, dict) and not button.get("text")
                ):
                    raise bad_request("can't parse keyboard button: Text must be non-empty")
            return markup
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return markup
        raise bad_request("can't parse reply keyboard markup JSON object")

    def _admit_send(self, chat_id: int) -> None:
        """Flood control and the rate limits, counted when a send is handled."""
        now = time.monotonic()
        if now < self._flood_until:
            self.flood_rejected += 1
            wait = max(1, math.ceil(self._flood_until - now))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        if not self.enforce_limits:
            return
        per_chat = self._chat_sends.setdefault(chat_id, deque())
        waits = []
        for sends, (limit, window) in ((per_chat, self.chat_limit), (self._bot_sends, self.bot_limit)):
            while sends and sends[0] <= now - window:
                sends.popleft()
            if len(sends) >= limit:
                waits.append(sends[-limit] + window - now)
        if waits:
            self.too_many += 1
            wait = max(1, math.ceil(max(waits)))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        per_chat.append(now)
        self._bot_sends.append(now)

    def _api_message(self, message: SentMessage) -> Json:
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

    def _store_file(self, folder: str, extension: str, content: bytes, *, prefix: str) -> _StoredFile:
        file_id = prefix + secrets.token_urlsafe(48)
        stored = _StoredFile(
            file_id=file_id,
            unique_id="AQAD" + secrets.token_urlsafe(9),
            path=f"{folder}/file_{len(self._file_meta)}.{extension}",
            content=content,
        )
        self._file_meta[file_id] = stored
        self._paths[stored.path] = file_id
        self.files[file_id] = content
        return stored

    def _record_send(
        self, call: _Call, chat_id: int, text: str, source: str, markup: Json | None
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

    async def _get_me(self, call: _Call) -> Json:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, call: _Call) -> list[Json]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        params = call.params
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        offset, limit, timeout = params.get("offset", 0), params.get("limit", 100), params.get("timeout", 0)
        if not all(isinstance(value, int) for value in (offset, limit)) or not isinstance(
            timeout, int | float
        ):
            raise bad_request("wrong parameter in getUpdates request")
        if offset > 0:
            self._pending = [update for update in self._pending if update["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        limit = min(max(limit, 1), 100)
        async with self._cond:
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            if not self._pending and timeout > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._cond.wait_for(
                            lambda: (
                                bool(self._pending)
                                or generation != self._poll_generation
                                or self._stopped.is_set()
                                or self.webhook is not None
                            )
                        )
            if generation != self._poll_generation:
                raise ApiError(409, POLL_CONFLICT)
            if self.webhook is not None:
                raise ApiError(409, WEBHOOK_CONFLICT)
            return [json.loads(json.dumps(update)) for update in self._pending[:limit]]

    async def _set_webhook(self, call: _Call) -> _Described:
        params = call.params
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(call)
        if not url.startswith(("https://", "http://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        max_connections = params.get("max_connections", 40)
        if not isinstance(max_connections, int) or not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            self._pending.clear()
        hook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": list(self._allowed),
            "max_connections": max_connections,
            "drop_pending_updates": bool(params.get("drop_pending_updates")),
            "ip_address": params.get("ip_address"),
        }
        same = self.webhook is not None and self.webhook["url"] == url
        await self._stop_pusher()
        self.webhook = hook
        self._pusher = asyncio.create_task(self._push_loop(hook))
        async with self._cond:
            self._cond.notify_all()  # a waiting getUpdates answers 409 at once
        return _Described(True, "Webhook is already set" if same else "Webhook was set")

    async def _delete_webhook(self, call: _Call) -> _Described:
        existed = self.webhook is not None
        await self._stop_pusher()
        self.webhook = None
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        return _Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    async def _get_webhook_info(self, call: _Call) -> Json:
        info: Json = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._pending)}
        if self.webhook is not None:
            info["url"] = self.webhook["url"]
            info["max_connections"] = self.webhook["max_connections"]
            if self._allowed:
                info["allowed_updates"] = list(self._allowed)
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
        if self._last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._last_error
        return info

    @staticmethod
    def _commands_key(params: Json) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in SCOPE_TYPES:
            raise bad_request("can't parse BotCommandScope JSON object")
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("invalid language code specified")
        return str(scope["type"]), language

    async def _set_my_commands(self, call: _Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON array")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.fullmatch(str(command.get("command", ""))):
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

    async def _get_my_commands(self, call: _Call) -> list[Json]:
        return list(self.commands.get(self._commands_key(call.params), []))

    async def _delete_my_commands(self, call: _Call) -> bool:
        self.commands.pop(self._commands_key(call.params), None)
        return True

    async def _send_message(self, call: _Call) -> Json:
        chat_id = self._chat_id(call.params)
        text, source = self._text(call.params, "text", MAX_TEXT, required=True)
        markup = self._markup(call.params)
        self._admit_send(chat_id)
        return self._api_message(self._record_send(call, chat_id, text, source, markup))

    async def _send_media(self, call: _Call) -> Json:
        kind = "photo" if call.record.method == "sendPhoto" else "document"
        chat_id = self._chat_id(call.params)
        value = call.params.get(kind)
        upload = call.files.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = call.files.get(value.removeprefix("attach://"))
        if upload is not None:
            content, filename = upload.content, upload.filename
        elif isinstance(value, str) and value in self.files:
            content, filename = self.files[value], "file"
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            content, filename = b"", value.rsplit("/", 1)[-1]
        else:
            raise bad_request(f"there is no {kind} in the request" if not value else "invalid file_id")
        caption, source = self._text(call.params, "caption", MAX_CAPTION, required=False)
        markup = self._markup(call.params)
        self._admit_send(chat_id)
        if kind == "photo":
            stored = self._store_file("photos", "jpg", content, prefix="AgACAgQAAxkDAAI")
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
            stored = self._store_file(
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
        return self._api_message(message)

    async def _edit_message(self, call: _Call) -> Json:
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
            text, source = self._text(params, "text", MAX_TEXT, required=True)
        markup = self._markup(params, inline_only=True)
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
        return self._api_message(message)

    async def _answer_callback_query(self, call: _Call) -> bool:
        query_id = str(call.params.get("callback_query_id") or "")
        if query_id not in self._queries:
            raise ApiError(400, QUERY_INVALID)
        if len(str(call.params.get("text") or "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._queries.discard(query_id)
        self.callback_answers.append(call.params)
        return True

    async def _send_chat_action(self, call: _Call) -> bool:
        self._chat_id(call.params)
        if call.params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.chat_actions.append(call.params)
        return True

    async def _get_file(self, call: _Call) -> Json:
        stored = self._file_meta.get(str(call.params.get("file_id") or ""))
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
