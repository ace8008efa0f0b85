"""What the fake Bot API keeps of a call: the call as recorded, a message the bot sent, a file uploaded
with a call, a fault queued for the next calls, and a method's result with its description."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import Json


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
class Upload:
    """A file sent with a call (multipart)."""

    filename: str
    content: bytes


@dataclass
class Fault:
    """A fault for the next ``count`` calls of ``method`` (to ``chat_id`` only, if given): an error answered
    (``fail_next``), or a hold of ``seconds`` (``hang_next``)."""

    method: str
    count: int
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    chat_id: int | None = None
    seconds: float = 0.0
    deliver: bool = False


@dataclass
class Call:
    """One call being handled: its decoded parameters, its uploads, its record, its HTTP request (none for a
    method the bot answered a webhook with)."""

    params: Json
    files: dict[str, Upload]
    record: Request
    request: web.Request | None = None


@dataclass
class Described:
    """A result answered with a ``description`` beside it (as setWebhook's)."""

    result: Any
    description: str


Handler = Callable[[Call], Awaitable[Any]]
