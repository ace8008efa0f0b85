"""Telegram's answers to a send, mapped to what the outbox does about them.

The channel's outbound part runs against an aiogram session that answers from a script (the status
and JSON body Telegram would send, or the error aiogram's HTTP session raises on a network failure),
so each refusal is checked without a server: retried (and when), given up, or the chat unreachable.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from bot.channels.telegram.outbound import TelegramOutbound
from bot.outbox import Delivered, DeliveryError
from bot.ratelimit import RateLimiter, Window
from flows.catalog import Catalog
from storage.files import FileStore
from storage.payloads import OutboundPayload

TOKEN = "42:" + "A" * 35
CHAT = "7001"
Answer = tuple[int, dict[str, Any] | str] | BaseException  # a status and its body, or a failure


class ScriptedSession(BaseSession):
    """Answers each request with the next scripted answer (then with success): the status and
    body go through aiogram's own ``check_response``, as a real answer would."""

    def __init__(self, *answers: Answer) -> None:
        super().__init__()
        self.answers = list(answers)
        self.requests: list[TelegramMethod[Any]] = []
        self._next_id = 100

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        self.requests.append(method)
        answer = self.answers.pop(0) if self.answers else self._success(method)
        if isinstance(answer, BaseException):
            raise answer
        status, body = answer
        content = body if isinstance(body, str) else json.dumps(body)
        return self.check_response(bot, method, status, content).result  # type: ignore[return-value]

    def _success(self, method: TelegramMethod[Any]) -> tuple[int, dict[str, Any]]:
        if method.__api_method__ in ("editMessageReplyMarkup", "editMessageText"):
            return 200, {"ok": True, "result": True}
        self._next_id += 1
        return message_sent(self._next_id)

    def called(self) -> list[str]:
        return [m.__api_method__ for m in self.requests]

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (aiogram's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""


def message_sent(message_id: int) -> tuple[int, dict[str, Any]]:
    """Telegram's answer to a message sent: the message, with its id."""
    message = {"message_id": message_id, "date": 0, "chat": {"id": int(CHAT), "type": "private"}}
    return 200, {"ok": True, "result": message}


def refusal(status: int, description: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, body


def outbound(session: ScriptedSession, tmp_path: Path) -> TelegramOutbound:
    limiter = RateLimiter(Window(100, 1.0), Window(100, 1.0))
    return TelegramOutbound(Bot(TOKEN, session=session), Catalog.load(), FileStore(tmp_path), limiter)


async def refused(answer: Answer, tmp_path: Path, payload: OutboundPayload | None = None) -> DeliveryError:
    channel = outbound(ScriptedSession(answer), tmp_path)
    with pytest.raises(DeliveryError) as raised:
        await channel.deliver(CHAT, payload or {"text": "Bonjour"})
    return raised.value


# --- each refusal ----------------------------------------------------------------------------------


async def test_a_429_is_retried_after_telegrams_delay_and_pauses_the_chat(tmp_path: Path) -> None:
    session = ScriptedSession(refusal(429, "Too Many Requests: retry after 7", retry_after=7))
    channel = outbound(session, tmp_path)
    with pytest.raises(DeliveryError) as raised:
        await channel.deliver(CHAT, {"text": "Bonjour"})
    error = raised.value
    assert (error.reason, error.retry_after, error.permanent, error.unreachable) == (
        "telegram 429",
        7,
        False,
        False,
    )
    assert channel.limiter.paused_for(CHAT) > 6
    # While paused, the next reply waits in the outbox without asking Telegram.
    with pytest.raises(DeliveryError) as paused:
        await channel.deliver(CHAT, {"text": "encore"})
    assert paused.value.reason == "telegram paused"
    assert (paused.value.retry_after or 0) > 6
    assert session.called() == ["sendMessage"]


async def test_a_403_blocked_gives_up_and_marks_the_client_unreachable(tmp_path: Path) -> None:
    error = await refused(refusal(403, "Forbidden: bot was blocked by the user"), tmp_path)
    assert (error.reason, error.permanent, error.unreachable) == ("telegram 403 blocked", True, True)


@pytest.mark.parametrize(
    ("description", "unreachable"),
    [("Bad Request: chat not found", True), ("Bad Request: message text is empty", False)],
)
async def test_a_400_gives_up_and_a_missing_chat_is_unreachable(
    tmp_path: Path, description: str, unreachable: bool
) -> None:
    error = await refused(refusal(400, description), tmp_path)
    assert (error.reason, error.permanent, error.unreachable) == ("telegram 400", True, unreachable)
    assert error.retry_after is None


async def test_a_chat_that_became_a_supergroup_gives_up(tmp_path: Path) -> None:
    answer = refusal(400, "Bad Request: group chat was upgraded", migrate_to_chat_id=-100123)
    error = await refused(answer, tmp_path)
    assert (error.reason, error.permanent, error.unreachable) == ("telegram chat migrated", True, False)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (refusal(500, "Internal Server Error"), "telegram TelegramServerError"),
        (refusal(502, "Bad Gateway"), "telegram TelegramServerError"),
        (TelegramNetworkError(method=None, message="ClientConnectorError"), "telegram TelegramNetworkError"),  # type: ignore[arg-type]
        (TimeoutError(), "telegram TimeoutError"),
        (refusal(401, "Unauthorized"), "telegram TelegramUnauthorizedError"),  # the token was revoked
        (refusal(404, "Not Found"), "telegram TelegramNotFound"),  # a wrong API URL
    ],
)
async def test_a_server_or_network_failure_is_retried_with_backoff(
    tmp_path: Path, answer: Answer, reason: str
) -> None:
    error = await refused(answer, tmp_path)
    assert (error.reason, error.permanent, error.unreachable, error.retry_after) == (
        reason,
        False,
        False,
        None,
    )


async def test_a_body_that_is_not_the_bot_apis_is_retried(tmp_path: Path) -> None:
    error = await refused((502, "<html>Bad gateway</html>"), tmp_path)  # a proxy's page
    assert (error.reason, error.permanent) == ("telegram ClientDecodeError", False)


# --- edits: a refusal Telegram answers for a message already as it should be -----------------------


@pytest.mark.parametrize(
    "description",
    [
        "Bad Request: message is not modified: specified new message content and reply markup are "
        "exactly the same as a current content and reply markup of the message",
        "Bad Request: message can't be edited",  # too old
        "Bad Request: message to edit not found",
    ],
)
async def test_a_pressed_keyboard_that_cannot_be_marked_does_not_stop_the_reply(
    tmp_path: Path, description: str
) -> None:
    session = ScriptedSession(refusal(400, description))
    channel = outbound(session, tmp_path)
    payload: OutboundPayload = {"text": "Bonjour", "receipt": {"message_id": 5, "label": "Oui"}}
    sent = await channel.deliver(CHAT, payload)
    assert session.called() == ["editMessageReplyMarkup", "sendMessage"]
    assert sent == "101"


async def test_an_edit_refused_as_not_modified_or_too_old_is_done(tmp_path: Path) -> None:
    for description in ("Bad Request: message is not modified", "Bad Request: message can't be edited"):
        session = ScriptedSession(refusal(400, description))
        edited = await outbound(session, tmp_path).deliver(CHAT, {"text": "Déjà pris", "edit_message_id": 9})
        assert edited == "9"
        assert session.called() == ["editMessageText"]


async def test_an_edit_refused_otherwise_is_mapped_like_a_send(tmp_path: Path) -> None:
    error = await refused(
        refusal(403, "Forbidden: bot was blocked by the user"), tmp_path, {"text": "x", "edit_message_id": 9}
    )
    assert (error.reason, error.unreachable) == ("telegram 403 blocked", True)


# --- what a failed send had already sent -------------------------------------------------------------


async def test_a_long_text_failing_midway_keeps_the_parts_sent(tmp_path: Path) -> None:
    text = "\n\n".join(f"Paragraphe {i}. " + "texte " * 120 for i in range(12))  # three parts
    session = ScriptedSession(message_sent(101), refusal(500, "Internal Server Error"))
    channel = outbound(session, tmp_path)
    with pytest.raises(DeliveryError) as raised:
        await channel.deliver(CHAT, {"text": text})
    assert raised.value.progress == {"sent_parts": 1}
    # The retry resumes at the second part.
    sent = await channel.deliver(CHAT, {"text": text, "sent_parts": 1})
    assert session.called() == ["sendMessage"] * 4
    assert sent == "102"


async def test_a_first_part_failing_has_nothing_to_keep(tmp_path: Path) -> None:
    error = await refused(refusal(500, "Internal Server Error"), tmp_path)
    assert error.progress is None


async def test_a_document_failing_after_its_text_keeps_the_text_sent(tmp_path: Path) -> None:
    files = FileStore(tmp_path)
    document = files.save_document(b"%PDF-1.4 export", ".pdf")
    session = ScriptedSession(message_sent(101), refusal(500, "Internal Server Error"))
    channel = outbound(session, tmp_path)
    payload: OutboundPayload = {
        "text": "Vos données",
        "document": {"path": document, "filename": "export.pdf", "mime": "application/pdf"},
    }
    with pytest.raises(DeliveryError) as raised:
        await channel.deliver(CHAT, payload)
    assert raised.value.progress == {"sent_parts": 1, "text_message_id": "101"}
    assert session.called() == ["sendMessage", "sendDocument"]
    retried = await channel.deliver(CHAT, {**payload, "sent_parts": 1, "text_message_id": "101"})
    assert retried == "101"
    assert session.called() == ["sendMessage", "sendDocument", "sendDocument"]


async def test_a_document_gone_sends_the_text_and_says_so(tmp_path: Path) -> None:
    session = ScriptedSession()
    payload: OutboundPayload = {
        "text": "Vos données",
        "document": {"path": "exports/gone.bin", "filename": "export.pdf", "mime": "application/pdf"},
    }
    delivered = await outbound(session, tmp_path).deliver(CHAT, payload)
    assert delivered == Delivered("101", {"document": "missing"})
    assert session.called() == ["sendMessage"]
