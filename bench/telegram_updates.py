"""What the Telegram benchmark's clients send: ``Update`` JSON as the Bot API makes it (typed text and
presses of the bot's real buttons), posted to the app's webhook; and the bare aiogram echo fed the same
updates."""

from __future__ import annotations

import itertools
import json
import random
import time
from dataclasses import dataclass
from typing import Any

from bench.common import Step
from bench.fake_telegram_server import FakeTelegramProcess
from tests.fakes.telegram import TOKEN

SECRET = "bench-webhook-secret_0123456789"
FIRST_NAME = "Camille"


@dataclass(frozen=True)
class Pressed:
    """A button press learnt once from the bot's real keyboard: its data and the keyboard's message."""

    data: str
    message: dict[str, Any]


class Updates:
    """Telegram ``Update`` JSON as the Bot API sends it, with fresh update and callback query ids."""

    _ids = itertools.count(500_000_001)  # update ids are per bot: never twice in a process
    _messages = itertools.count(10_001)

    def __init__(self) -> None:
        self.query_ids: list[str] = []

    @staticmethod
    def _user(chat: int) -> dict[str, Any]:
        return {"id": chat, "is_bot": False, "first_name": FIRST_NAME, "language_code": "fr"}

    def text(self, chat: int, text: str) -> dict[str, Any]:
        return {
            "update_id": next(self._ids),
            "message": {
                "message_id": next(self._messages),
                "from": self._user(chat),
                "chat": {"id": chat, "type": "private", "first_name": FIRST_NAME},
                "date": int(time.time()),
                "text": text,
            },
        }

    def press(self, chat: int, pressed: Pressed) -> dict[str, Any]:
        query_id = str(random.getrandbits(63))
        self.query_ids.append(query_id)
        message = {**pressed.message, "chat": {"id": chat, "type": "private", "first_name": FIRST_NAME}}
        return {
            "update_id": next(self._ids),
            "callback_query": {
                "id": query_id,
                "from": self._user(chat),
                "message": message,
                "chat_instance": str(chat * 7919 + 4_200_000_000_000_000),
                "data": pressed.data,
            },
        }

    def conversation(self, chat: int, script: list[Step], presses: list[Pressed | None]) -> list[bytes]:
        out = []
        for step, pressed in zip(script, presses, strict=True):
            update = self.text(chat, step.text or "") if pressed is None else self.press(chat, pressed)
            out.append(json.dumps(update).encode())
        return out


async def find_button(fake: FakeTelegramProcess, chat: int, label: str) -> Pressed:
    """The press of the button labelled ``label`` on the last keyboard the bot sent to ``chat``."""
    sent = await fake.messages_to(chat)
    with_buttons = [m for m in sent if m.get("reply_markup", {}).get("inline_keyboard")]
    if not with_buttons:
        raise RuntimeError(f"no keyboard to press {label!r} on")
    message = with_buttons[-1]
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            data = button.get("callback_data")
            if label.casefold() in button["text"].casefold() and data not in (None, "-"):
                message = {k: v for k, v in message.items() if k != "chat"}
                return Pressed(data, message)
    raise RuntimeError(f"no button {label!r} in {message['reply_markup']}")


async def post_update(http: Any, url: str, body: bytes) -> None:
    """POST one update to the app's webhook, with its secret; anything but 200 is an error."""
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"the webhook answered {response.status}")


class Echo:
    """The bare aiogram echo: a Dispatcher answering every message and button press at once."""

    def __init__(self, api_url: str) -> None:
        from aiogram import Bot, Dispatcher, Router
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer
        from aiogram.types import CallbackQuery, Message

        router = Router()

        @router.message()
        async def echo(message: Message) -> None:
            await message.answer(message.text or "ok")

        @router.callback_query()
        async def pressed(query: CallbackQuery) -> None:
            await query.answer()
            await bot.send_message(query.from_user.id, query.data or "ok")

        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(router)
        self.bot = bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url)))

    async def feed(self, body: bytes) -> None:
        from aiogram.types import Update

        update = Update.model_validate(json.loads(body), context={"bot": self.bot})
        await self.dispatcher.feed_update(self.bot, update)

    async def close(self) -> None:
        await self.bot.session.close()
