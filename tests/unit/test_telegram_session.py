"""The channel's lean aiogram session against the fake Bot API: calls as JSON bodies, a file still
as a multipart form, the frequent answers read for what the service uses, and every refusal raised
exactly as aiogram's own session raises it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramAPIError, TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.channels.telegram.session import LeanSession, serialised
from tests.fakes.telegram import TOKEN, FakeTelegram

CHAT = 4242
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [InlineKeyboardButton(text="Cassées", callback_data="kind:broken")],
        [InlineKeyboardButton(text="Perdues", callback_data="kind:lost")],
    ]
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def bot_on(base_url: str, lean: bool = True) -> Bot:
    api = TelegramAPIServer.from_base(base_url)
    return Bot(TOKEN, session=LeanSession(api=api) if lean else AiohttpSession(api=api))


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    client = bot_on(fake.base_url)
    yield client
    await client.session.close()


async def test_a_message_goes_as_json_and_its_answer_gives_id_date_and_chat(
    fake: FakeTelegram, bot: Bot
) -> None:
    sent = await bot.send_message(CHAT, "Qu'arrive-t-il à vos lunettes ?", reply_markup=KEYBOARD)
    assert fake.requests[-1].content_type == "application/json"
    (message,) = fake.messages_to(CHAT)
    assert message.text == "Qu'arrive-t-il à vos lunettes ?"
    assert message.reply_markup == KEYBOARD.model_dump(exclude_none=True)
    assert isinstance(sent, Message)
    assert (sent.message_id, sent.chat.id, int(sent.date.timestamp())) == (
        message.message_id,
        CHAT,
        message.date,
    )
    assert sent.bot is bot
    # The keyboard's edit and the button's answer go as JSON too, and do what aiogram's would.
    edited = await bot.edit_message_reply_markup(chat_id=CHAT, message_id=message.message_id)
    assert isinstance(edited, Message)
    assert edited.message_id == message.message_id
    assert fake.messages_to(CHAT)[0].reply_markup is None
    assert [r.content_type for r in fake.requests] == ["application/json"] * 2


@pytest.mark.parametrize(
    "method",
    [
        SendMessage(chat_id=CHAT, text="Votre ordonnance ?", reply_markup=KEYBOARD),
        SendMessage(
            chat_id=CHAT,
            text="Votre numéro ?",
            reply_markup=ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text="Partager", request_contact=True)]],
                resize_keyboard=True,
                one_time_keyboard=True,
            ),
        ),
        SendMessage(chat_id=CHAT, text="Merci", reply_markup=ReplyKeyboardRemove(remove_keyboard=True)),
        EditMessageReplyMarkup(chat_id=CHAT, message_id=12, reply_markup=KEYBOARD),
        EditMessageReplyMarkup(chat_id=CHAT, message_id=12),
        EditMessageText(
            chat_id=CHAT, message_id=12, text="Pris par un autre opticien", reply_markup=KEYBOARD
        ),
        AnswerCallbackQuery(callback_query_id="4815162342"),
    ],
)
async def test_a_frequent_call_serialised_by_pydantic_is_what_aiogram_would_send(
    method: TelegramMethod[Any],
) -> None:
    session = LeanSession()
    bot = Bot(TOKEN, session=session)
    body = serialised(bot, method)
    assert body is not None
    assert json.loads(body) == json.loads(session.prepared(bot, method) or b"")
    # With a default of the bot in effect (aiogram resolves it), it is aiogram's preparation.
    styled = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode="HTML"))
    if isinstance(method, SendMessage):
        assert serialised(styled, method) is None
        assert json.loads(session.json_body(styled, method) or b"")["parse_mode"] == "HTML"
    await session.close()


async def test_a_file_still_goes_as_a_multipart_form(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_document(CHAT, BufferedInputFile(b"%PDF-1.4 devis", filename="devis.pdf"))
    assert fake.requests[-1].content_type == "multipart/form-data"
    (message,) = fake.messages_to(CHAT)
    assert message.media is not None
    assert message.media["document"]["file_name"] == "devis.pdf"


@pytest.mark.parametrize(
    ("method", "status", "retry_after"),
    [
        ("sendMessage", 429, 7),
        ("sendMessage", 403, None),
        ("sendMessage", 400, None),
        ("editMessageReplyMarkup", 400, None),
    ],
)
async def test_a_refusal_is_raised_as_aiogram_raises_it(
    fake: FakeTelegram, method: str, status: int, retry_after: int | None
) -> None:
    raised: list[TelegramAPIError] = []
    for lean in (True, False):
        client = bot_on(fake.base_url, lean)
        fake.fail_next(method, status, retry_after=retry_after)
        call = (
            client.send_message(CHAT, "Bonjour")
            if method == "sendMessage"
            else client.edit_message_reply_markup(chat_id=CHAT, message_id=1)
        )
        with pytest.raises(TelegramAPIError) as caught:
            await call
        raised.append(caught.value)
        await client.session.close()
    lean_error, aiogram_error = raised
    assert type(lean_error) is type(aiogram_error)
    assert lean_error.message == aiogram_error.message
    if retry_after is not None:
        assert isinstance(lean_error, TelegramRetryAfter)
        assert lean_error.retry_after == retry_after


async def _answering(body: str) -> TestServer:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/{path:.*}", answer)
    server = TestServer(app)
    await server.start_server()
    return server


@pytest.mark.parametrize(
    "result",
    [True, {"message_id": "not a number", "date": 0, "chat": {"id": CHAT, "type": "private"}}, {"date": 0}],
)
async def test_an_unexpected_answer_to_a_send_is_refused_as_aiogram_refuses_it(result: Any) -> None:
    """Read lean only when it is what a send answers: anything else is aiogram's to judge."""
    server = await _answering(json.dumps({"ok": True, "result": result}))
    client = bot_on(str(server.make_url("")).rstrip("/"))
    try:
        with pytest.raises(ClientDecodeError):
            await client.send_message(CHAT, "Bonjour")
    finally:
        await client.session.close()
        await server.close()
