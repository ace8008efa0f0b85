"""The webhook: Telegram's ``setWebhook`` and the route it posts updates to.

``POST /webhooks/telegram``: the secret header is checked in constant time (else 401, nothing read),
the update stored, and only then does Telegram get its 200; an error answers 503 and Telegram sends
the update again. An update no database will take (poison) is set aside and answered 200.
"""

from __future__ import annotations

import hmac
import logging

from aiogram import Bot
from aiogram.types import Update
from fastapi import APIRouter, HTTPException, Request, Response
from starlette.requests import ClientDisconnect

from bot.channels.telegram.inbound import TelegramInbound
from bot.channels.telegram.updates import ALLOWED_UPDATES
from bot.logs import describe
from bot.pipeline import is_poison
from bot.settings import Settings
from bot.web.guard import loads_bounded

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
MAX_UPDATE_BYTES = 1024 * 1024


async def register_webhook(bot: Bot, settings: Settings) -> None:
    """Ask Telegram to post this bot's updates to ``PUBLIC_URL`` + :data:`WEBHOOK_PATH`."""
    url = settings.public_url.rstrip("/") + WEBHOOK_PATH
    await bot.set_webhook(
        url,
        secret_token=settings.telegram_webhook_secret.get_secret_value(),
        allowed_updates=list(ALLOWED_UPDATES),
        drop_pending_updates=False,
    )
    log.info("telegram webhook registered")


def webhook_router(settings: Settings, bot: Bot, inbound: TelegramInbound) -> APIRouter:
    """``POST /webhooks/telegram``, storing each authentic update through ``inbound``."""
    router = APIRouter(tags=["telegram"])
    expected = settings.telegram_webhook_secret.get_secret_value().encode()

    async def set_aside(body: bytes, kind: str, error: BaseException) -> Response:
        return Response(status_code=200 if await inbound.set_aside(body, kind, error) else 503)

    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            raise HTTPException(401, "wrong secret token")
        try:
            body = await request.body()
        except ClientDisconnect:  # gone, or cut off past the body cap: no one to answer
            return Response(status_code=400)
        if len(body) > MAX_UPDATE_BYTES:
            raise HTTPException(413, "update too large")
        try:
            update = Update.model_validate(loads_bounded(body), context={"bot": bot})
        except ValueError as error:  # not JSON, or not an update: sending it again won't help
            return await set_aside(body, "webhook", error)
        try:
            await inbound.receive(update)
        except Exception as error:
            if is_poison(error):
                return await set_aside(body, "update", error)
            log.warning("telegram update not stored, Telegram will send it again: %s", describe(error))
            return Response(status_code=503)
        return Response(status_code=200)

    # A plain Starlette route: nothing for FastAPI's dependencies and response models to do here.
    router.add_route(WEBHOOK_PATH, webhook, methods=["POST"], include_in_schema=False)
    return router
