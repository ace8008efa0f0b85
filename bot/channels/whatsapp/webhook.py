"""Meta's door: ``GET /webhooks/whatsapp`` answers the verification handshake, ``POST`` takes
signed webhooks.

A webhook is checked with ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app
secret) before anything is parsed, and answered 200 only once everything it carries is stored;
anything that could not be stored answers 503, and Meta delivers the webhook again. A signed
webhook no database will take (unreadable, or poison) is set aside and answered 200.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.requests import ClientDisconnect

from bot.channels.whatsapp.inbound import Receiver, SetAsideError
from bot.channels.whatsapp.updates import CHANNEL, SIGNATURE_HEADER, signed
from bot.engine import Engine
from bot.logs import describe
from bot.pipeline import reason_of
from bot.settings import Settings
from bot.web.guard import BadJSONError, loads_bounded

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
MAX_WEBHOOK_BYTES = 3 * 1024 * 1024


def webhook_router(settings: Settings, receiver: Receiver, engine: Engine) -> APIRouter:
    """The two routes of the webhook, storing through ``receiver``, setting aside through ``engine``."""
    router = APIRouter(tags=["whatsapp"])
    verify_token = settings.whatsapp_verify_token.get_secret_value().encode()
    secret = settings.whatsapp_app_secret.get_secret_value().encode()

    @router.get(WEBHOOK_PATH, include_in_schema=False)
    async def verify(
        mode: str = Query("", alias="hub.mode"),
        token: str = Query("", alias="hub.verify_token"),
        challenge: str = Query("", alias="hub.challenge", max_length=256),
    ) -> PlainTextResponse:
        if mode != "subscribe" or not hmac.compare_digest(token.encode(), verify_token):
            raise HTTPException(403, "verification refused")
        return PlainTextResponse(challenge)

    async def set_aside(body: bytes, kind: str, error: BaseException) -> Response:
        """A signed webhook no database will take: answered 200 (Meta stops sending it), counted."""
        try:
            await engine.set_aside(CHANNEL, kind, error, body)
        except Exception as failure:
            log.warning("whatsapp webhook not set aside, Meta will send it again: %s", describe(failure))
            return Response(status_code=503)
        log.warning("whatsapp %s set aside (answered 200): %s", kind, reason_of(error))
        return Response(status_code=200)

    @router.post(WEBHOOK_PATH, include_in_schema=False)
    async def webhook(request: Request) -> Response:
        if not request.headers.get(SIGNATURE_HEADER):  # refused before reading a byte of it
            log.warning("whatsapp webhook refused: no signature")
            raise HTTPException(401, "invalid signature")
        try:
            body = await _read_body(request)
        except ClientDisconnect:  # gone, or cut off past the body cap: no one to answer
            return Response(status_code=400)
        if not signed(body, request.headers.get(SIGNATURE_HEADER), secret):
            log.warning("whatsapp webhook refused: missing or wrong signature")
            raise HTTPException(401, "invalid signature")
        try:
            payload = loads_bounded(body)
        except BadJSONError as error:  # signed by Meta yet unreadable: sending it again won't help
            return await set_aside(body, "webhook", error)
        try:
            await receiver.receive(payload)
        except SetAsideError as poison:
            return await set_aside(body, poison.kind, poison.error)
        except Exception as error:
            log.warning("whatsapp webhook not stored, Meta will send it again: %s", describe(error))
            return Response(status_code=503)
        return Response(status_code=200)

    return router


async def _read_body(request: Request) -> bytes:
    """The raw body, refused past the limit without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise HTTPException(413, "webhook too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            raise HTTPException(413, "webhook too large")
        chunks.append(chunk)
    return b"".join(chunks)
