"""A fake Telegram Bot API server for tests (``FakeTelegram``, see ``fake.py``), in modules by concern:
``api`` (limits, errors, parameters), ``formatting`` (parse modes, text and keyboard checks), ``records``,
``files``, ``limits`` (flood control, rate limits), ``updates`` (polling, webhook), ``methods`` (what the
bot calls), ``users`` (what the test's clients do and see)."""

from tests.fakes.telegram.api import (
    BLOCKED,
    MAX_CAPTION,
    MAX_TEXT,
    NOT_MODIFIED,
    POLL_CONFLICT,
    QUERY_INVALID,
    TOKEN,
    WEBHOOK_CONFLICT,
    ApiError,
    bad_request,
    default_description,
)
from tests.fakes.telegram.fake import FakeTelegram
from tests.fakes.telegram.formatting import render, render_html, render_markdown_v2
from tests.fakes.telegram.records import Request, SentMessage

__all__ = [
    "BLOCKED",
    "MAX_CAPTION",
    "MAX_TEXT",
    "NOT_MODIFIED",
    "POLL_CONFLICT",
    "QUERY_INVALID",
    "TOKEN",
    "WEBHOOK_CONFLICT",
    "ApiError",
    "FakeTelegram",
    "Request",
    "SentMessage",
    "bad_request",
    "default_description",
    "render",
    "render_html",
    "render_markdown_v2",
]
