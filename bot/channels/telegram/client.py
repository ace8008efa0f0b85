"""The Bot API client the channel's parts share: aiogram's ``Bot`` for the configured API server,
the answer types kept alive, and which failures are worth trying again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramAPIError
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    EditMessageReplyMarkup,
    GetFile,
    GetUpdates,
    SendDocument,
    SendMessage,
    SetMyCommands,
    SetWebhook,
)
from aiogram.methods.base import Response as ApiResponse

from bot.channels.telegram.session import LeanSession
from bot.logs import describe
from bot.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
# aiogram parses every answer with ``Response[<the method's result type>]``, a pydantic generic
# class that pydantic caches only weakly: after a garbage collection it may be built again (~4 ms).
# Keeping the ones this channel uses alive is measured in docs/PERFORMANCE.md.
_RESPONSE_TYPES = tuple(
    ApiResponse[method.__returning__]  # type: ignore[name-defined]
    for method in (
        SendMessage, EditMessageReplyMarkup, AnswerCallbackQuery, GetFile, GetUpdates, SetWebhook,
        SetMyCommands, DeleteWebhook, SendDocument,
    )
)  # fmt: skip
# Errors worth trying again later: Telegram's refusals, a body that is not the Bot API's (a proxy's
# error page), network failures, file downloads answered with an error status.
TRANSIENT = (TelegramAPIError, ClientDecodeError, aiohttp.ClientError, TimeoutError)


def make_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """The bot of ``TELEGRAM_BOT_TOKEN`` on ``TELEGRAM_API_URL`` (``session``: tests answer for it)."""
    if session is None:  # aiogram's aiohttp session, lighter on the frequent calls
        session = LeanSession(api=TelegramAPIServer.from_base(settings.telegram_api_url.rstrip("/")))
    return Bot(settings.telegram_bot_token.get_secret_value(), session=session)


def bot_id_of(bot: Bot) -> int:
    """The bot's own id (the token's first part): update ids are per bot."""
    return int(bot.token.split(":", 1)[0])


async def retrying(action: Callable[[], Awaitable[None]], name: str) -> None:
    """``action`` until it succeeds, backing off from one second to :data:`MAX_BACKOFF`."""
    delay = 1.0
    while True:
        try:
            await action()
            return
        except Exception as error:  # a proxy's error page, the network...: try again
            log.warning("telegram %s failed, retrying in %.0f s: %s", name, delay, describe(error))
        await asyncio.sleep(delay)
        delay = min(MAX_BACKOFF, delay * 2)


async def quietly(job: Awaitable[object]) -> None:
    """A call whose failure changes nothing (a button's spinner stopped)."""
    with contextlib.suppress(*TRANSIENT):
        await job
