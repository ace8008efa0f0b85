"""The fake Telegram Bot API server, driven by the real aiogram client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.telegram import NOT_MODIFIED, TOKEN, WEBHOOK_CONFLICT, FakeTelegram

CHAT = 4242
INLINE = InlineKeyboardMarkup(
    inline_keyboard=[
        [InlineKeyboardButton(text="Cassées", callback_data="kind:broken")],
        [InlineKeyboardButton(text="Perdues", callback_data="kind:lost")],
    ]
)


def make_bot(fake: FakeTelegram, token: str = TOKEN, timeout: float = 60.0) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url), timeout=timeout)
    return Bot(token, session=session)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    client = make_bot(fake)
    yield client
    await client.session.close()


async def test_get_me(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (fake.bot_id, True, "optibot_test_bot")
    assert fake.requests[-1].method == "getMe"
    assert fake.requests[-1].status == 200


async def test_send_message_with_inline_and_contact_keyboards(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Qu'arrive-t-il à vos lunettes ?", reply_markup=INLINE)
    assert isinstance(sent, Message)
    assert sent.from_user is not None
    assert sent.from_user.id == fake.bot_id
    assert sent.chat.id == CHAT
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == INLINE.model_dump()  # == is False: aiogram mounts the bot on it
    assert fake.last_to(CHAT) is not None
    assert [b["callback_data"] for b in fake.sent[-1].buttons()] == ["kind:broken", "kind:lost"]
    assert fake.requests[-1].params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Cassées"
    assert fake.requests[-1].content_type == "application/x-www-form-urlencoded"

    contact = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Partager mon numéro", request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    sent = await bot.send_message(CHAT, "Votre numéro ?", reply_markup=contact)
    assert sent.reply_markup is None  # a Message only carries inline keyboards
    last = fake.last_to(CHAT)
    assert last is not None
    assert last.keyboard() == [{"text": "Partager mon numéro", "request_contact": True}]
    assert fake.keyboard_of(CHAT) == last.keyboard()
    assert [m.message_id for m in fake.messages_to(CHAT)] == [1, 2]


async def test_media_upload_is_multipart(fake: FakeTelegram, bot: Bot) -> None:
    photo = BufferedInputFile(b"\xff\xd8jpeg-bytes", filename="lunettes.jpg")
    sent = await bot.send_photo(CHAT, photo, caption="<b>Reçu</b>", parse_mode="HTML")
    assert sent.photo is not None
    assert sent.caption == "Reçu"
    assert fake.requests[-1].content_type == "multipart/form-data"
    assert fake.files[sent.photo[-1].file_id] == b"\xff\xd8jpeg-bytes"


async def test_edit_and_not_modified(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Choisissez", reply_markup=INLINE)
    edited = await bot.edit_message_text(
        "Choisissez encore", chat_id=CHAT, message_id=sent.message_id, reply_markup=INLINE
    )
    assert isinstance(edited, Message)
    assert edited.text == "Choisissez encore"
    assert edited.edit_date is not None
    message = fake.last_to(CHAT)
    assert message is not None
    assert [e["method"] for e in message.edits] == ["editMessageText"]

    with pytest.raises(TelegramBadRequest) as caught:
        await bot.edit_message_text(
            "Choisissez encore", chat_id=CHAT, message_id=sent.message_id, reply_markup=INLINE
        )
    assert caught.value.message == NOT_MODIFIED
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=999)

    await bot.edit_message_reply_markup(chat_id=CHAT, message_id=sent.message_id)
    assert message.buttons() == []
    assert message.text == "Choisissez encore"
    assert len(message.edits) == 2
    assert len(fake.sent) == 1


async def test_long_poll_returns_an_update_pushed_during_the_wait(fake: FakeTelegram, bot: Bot) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for(lambda: bool(fake.calls("getUpdates")))  # the poll reached the server
    assert not poll.done()  # and waits there: nothing to return yet
    pushed = await fake.say(CHAT, "mes lunettes sont cassées")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 2
    assert [u.update_id for u in updates] == [pushed["update_id"]]
    message = updates[0].message
    assert message is not None
    assert message.text == "mes lunettes sont cassées"
    assert message.from_user is not None
    assert message.from_user.language_code == "fr"
    assert message.chat.type == "private"

    assert len(await bot.get_updates()) == 1  # not confirmed yet
    assert await bot.get_updates(offset=pushed["update_id"] + 1) == []
    assert fake.pending_updates == []


async def test_allowed_updates_filtering(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT, "Choisissez", reply_markup=INLINE)
    assert await bot.get_updates(allowed_updates=["message"]) == []
    await fake.press_button(CHAT, "Perdues")  # a callback_query: not allowed, dropped
    said = await fake.say(CHAT, "bonjour")
    updates = await bot.get_updates(timeout=1)
    assert [u.update_id for u in updates] == [said["update_id"]]

    await bot.get_updates(offset=said["update_id"] + 1, allowed_updates=[])
    pressed = await fake.press_button(CHAT, "Cassées")
    updates = await bot.get_updates(offset=said["update_id"] + 1)
    assert [u.callback_query.data for u in updates if u.callback_query] == ["kind:broken"]
    assert updates[0].update_id == pressed["update_id"]


async def test_callback_query_answer(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(CHAT, "Choisissez", reply_markup=INLINE)
    pressed = await fake.press_button(CHAT, "perdu")
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert query is not None
    assert query.data == "kind:lost"
    assert query.id == pressed["callback_query"]["id"]
    assert isinstance(query.message, Message)
    assert await bot.answer_callback_query(query.id, text="Noté")
    assert fake.callback_answers[-1]["text"] == "Noté"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(AssertionError, match="kind:broken"):
        await fake.press_button(CHAT, "Rayées")


async def test_webhook_push_with_secret_and_retries(fake: FakeTelegram, bot: Bot) -> None:
    received: list[tuple[str | None, int]] = []
    answers = [500, 500]

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), update["update_id"]))
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, url = await serve(app)
    try:
        assert await bot.set_webhook(f"{url}/hook", secret_token="s3cret-token")
        first = await fake.say(CHAT, "un")
        second = await fake.say(CHAT, "deux")
        await fake.wait_for(lambda: len(received) == 4)
        one, two = first["update_id"], second["update_id"]
        assert fake.webhook_attempts == [(one, 500), (one, 500), (one, 200), (two, 200)]
        assert received == [("s3cret-token", one)] * 3 + [("s3cret-token", two)]
        info = await bot.get_webhook_info()
        assert info.url == f"{url}/hook"
        assert info.pending_update_count == 0
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        assert fake.webhook is not None
        assert fake.webhook["secret_token"] == "s3cret-token"
    finally:
        await runner.cleanup()


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def test_webhook_reply_of_an_aiogram_handler_is_executed(fake: FakeTelegram, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> SendMessage:
        return message.answer(f"écho : {message.text}", reply_markup=INLINE)

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False, secret_token="s").register(
        app, path="/h"
    )
    runner, url = await serve(app)
    try:
        await bot.set_webhook(f"{url}/h", secret_token="s")
        await fake.say(CHAT, "bonjour")
        await fake.wait_for(lambda: bool(fake.sent))
    finally:
        await runner.cleanup()
    assert fake.sent[0].text == "écho : bonjour"
    assert [b["text"] for b in fake.sent[0].buttons()] == ["Cassées", "Perdues"]
    assert fake.requests[-1].content_type == "webhook-reply"
    assert fake.pending_updates == []


async def test_a_second_poller_terminates_the_first(fake: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=3))
    await fake.wait_for(lambda: bool(fake.calls("getUpdates")))  # the first poll waits at the server
    second = asyncio.create_task(bot.get_updates(timeout=3))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first
    await fake.say(CHAT, "bonjour")
    assert len(await second) == 1


async def test_stop_wakes_a_long_poll_and_start_resumes_on_the_same_port() -> None:
    fake = FakeTelegram()
    await fake.start()
    bot = make_bot(fake)
    try:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await fake.wait_for(lambda: bool(fake.calls("getUpdates")))  # the poll waits at the server
        started = time.monotonic()
        await fake.stop()
        (outcome,) = await asyncio.gather(poll, return_exceptions=True)
        assert time.monotonic() - started < 2
        assert outcome == [] or isinstance(outcome, TelegramNetworkError)

        await fake.say(CHAT, "pendant la panne")
        with pytest.raises(TelegramNetworkError, match="ClientConnectorError"):
            await bot.get_updates()
        await fake.start()  # same port: the outage is over, the update was kept
        assert [u.message.text for u in await bot.get_updates() if u.message] == ["pendant la panne"]
    finally:
        await bot.session.close()
        await fake.stop()


async def test_get_updates_conflicts_while_a_webhook_is_set(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_webhook("http://127.0.0.1:9/nowhere")
    with pytest.raises(TelegramConflictError) as caught:
        await bot.get_updates()
    assert caught.value.message == WEBHOOK_CONFLICT
    assert await bot.delete_webhook()
    assert fake.webhook is None
    assert await bot.get_updates() == []


async def test_photo_get_file_and_download(fake: FakeTelegram, bot: Bot) -> None:
    content = bytes(range(256)) * 40
    await fake.send_photo(CHAT, content)
    (update,) = await bot.get_updates()
    assert isinstance(update, Update)
    assert update.message is not None
    assert update.message.photo is not None
    assert len(update.message.photo) == 3
    file = await bot.get_file(update.message.photo[-1].file_id)
    assert file.file_size == len(content)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == content
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_fail_next_429_raises_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "bonjour")
    assert caught.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in caught.value.message
    assert fake.sent == []
    await bot.send_message(CHAT, "bonjour")
    assert len(fake.sent) == 1
    assert fake.too_many == 0
    assert [r.status for r in fake.requests] == [429, 200]


async def test_blocked_user_is_forbidden(fake: FakeTelegram, bot: Bot) -> None:
    await fake.block_bot(CHAT)
    (update,) = await bot.get_updates(allowed_updates=["message", "my_chat_member"])
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    with pytest.raises(TelegramForbiddenError) as caught:
        await bot.send_message(CHAT, "bonjour")
    assert caught.value.message == "Forbidden: bot was blocked by the user"
    await bot.send_message(CHAT + 1, "bonjour")


async def test_hang_next_times_out_then_next_call_works(fake: FakeTelegram) -> None:
    bot = make_bot(fake, timeout=0.2)
    try:
        fake.hang_next("sendMessage", 0.5)
        with pytest.raises(TelegramNetworkError, match="Request timeout error"):
            await bot.send_message(CHAT, "perdu ?")
        await bot.send_message(CHAT, "suivant")
        await fake.wait_for(lambda: fake.requests[0].status != 0)
        assert fake.requests[0].status == 499  # the client had left: nothing sent
        assert [m.text for m in fake.sent] == ["suivant"]

        fake.hang_next("sendMessage", 0.5, deliver=True)
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(CHAT, "livré quand même")
        await fake.wait_for(lambda: len(fake.sent) == 2)
        assert fake.sent[-1].text == "livré quand même"
    finally:
        await bot.session.close()


async def test_chat_limit(fake: FakeTelegram, bot: Bot) -> None:
    for n in range(3):
        await bot.send_message(CHAT, f"message {n}")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "un de trop")
    assert 1 <= caught.value.retry_after <= 3
    assert fake.too_many == 1
    assert len(fake.sent) == 3
    await bot.edit_message_text(
        "modifié", chat_id=CHAT, message_id=fake.sent[0].message_id
    )  # edits don't count
    await bot.send_message(CHAT + 1, "ailleurs")


async def test_bot_limit(fake: FakeTelegram, bot: Bot) -> None:
    results = await asyncio.gather(
        *(bot.send_message(1000 + n, "bonjour") for n in range(31)), return_exceptions=True
    )
    rejected = [r for r in results if isinstance(r, TelegramRetryAfter)]
    assert len(rejected) == 1
    assert all(isinstance(r, Message) for r in results if r not in rejected)
    assert fake.too_many == 1
    assert len(fake.sent) == 30


async def test_flood_is_counted_apart(fake: FakeTelegram, bot: Bot) -> None:
    fake.flood(2)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "bonjour")
    assert caught.value.retry_after == 2
    assert (fake.flood_rejected, fake.too_many) == (1, 0)


async def test_set_my_commands_per_language(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Commencer")], language_code="fr")
    await bot.set_my_commands([BotCommand(command="start", description="Start")], language_code="en")
    await bot.set_my_commands(
        [BotCommand(command="help", description="Aide")], scope=BotCommandScopeAllPrivateChats()
    )
    assert fake.commands[("default", "fr")] == [{"command": "start", "description": "Commencer"}]
    assert fake.commands[("default", "en")] == [{"command": "start", "description": "Start"}]
    assert ("all_private_chats", "") in fake.commands
    (command,) = await bot.get_my_commands(language_code="en")
    assert command.description == "Start"
    assert await bot.delete_my_commands(language_code="en")
    assert await bot.get_my_commands(language_code="en") == []


async def test_message_validation(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CHAT, "")
    too_long = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="a", callback_data="d" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "bonjour", reply_markup=too_long)
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await bot.send_message(CHAT, "a <3 b", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(CHAT, "Merci.", parse_mode="MarkdownV2")
    sent = await bot.send_message(CHAT, "*Merci*\\.", parse_mode="MarkdownV2")
    assert sent.text == "Merci."
    assert fake.too_many == 0
    assert len(fake.sent) == 1


async def test_raw_protocol_and_wrong_tokens(fake: FakeTelegram) -> None:
    wrong = make_bot(fake, token="987654321:not-our-token")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await wrong.get_me()
    finally:
        await wrong.session.close()

    async with aiohttp.ClientSession() as http:
        body = {"chat_id": CHAT, "text": "json", "reply_markup": INLINE.model_dump(exclude_none=True)}
        async with http.post(f"{fake.base_url}/bot{TOKEN}/sendMessage", json=body) as response:
            answer = await response.json()
        assert answer["ok"] is True
        assert answer["result"]["reply_markup"]["inline_keyboard"][1][0]["callback_data"] == "kind:lost"
        async with http.get(
            f"{fake.base_url}/bot{TOKEN}/sendmessage", params={"chat_id": CHAT, "text": "q"}
        ) as r:
            assert (await r.json())["result"]["text"] == "q"
        async with http.post(f"{fake.base_url}/bot{TOKEN}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.post(f"{fake.base_url}/botgarbage/getMe") as response:
            assert response.status == 404
        async with http.get(f"{fake.base_url}/file/bot{TOKEN}/photos/none.jpg") as response:
            assert response.status == 404
    assert [m.text for m in fake.sent] == ["json", "q"]


async def test_wait_for_explains_a_timeout(fake: FakeTelegram) -> None:
    await fake.say(CHAT, "allô ?")
    with pytest.raises(TimeoutError, match="pending updates: 1"):
        await fake.wait_for(lambda: bool(fake.sent), timeout=0.05)
