"""The Bot API's words: its limits, its error descriptions, the error answer, and how a parameter sent as
a form string is read back (JSON, int, bool)."""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from tests.fakes.server import FakeApiError, Json

TOKEN = "123456789:TEST-token_for-the-fake-server_0000000"

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
TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
COMMAND = re.compile(r"[a-z0-9_]{1,32}")
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ApiError(FakeApiError):
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

    def note(self, record: Any) -> None:
        record.status, record.description = self.status, self.description


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


def decode_param(name: str, value: Any) -> Any:
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
