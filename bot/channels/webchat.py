"""The web chat channel: a page served by the app, a JSON API, and replies streamed by SSE.

A browser is identified by a random cookie; the database only keeps a hash of it. Replies are read
from the outbound message rows of that browser (their ids are the stream's cursor, the same ids as
in the history), so a page that reconnects resumes exactly where it stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import (
    APIRouter,
    Cookie,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from bot.channels import documents
from bot.channels.webchat_hub import WebChatHub
from bot.engine import Engine
from bot.messages import Inbound
from bot.signals import wait_set
from bot.throttle import Door, Throttle, client_address, throttle_of
from flows.catalog import Catalog
from flows.types import ClientInput, as_language
from storage.database import Database
from storage.files import RejectedFileError
from storage.payloads import OutboundPayload
from storage.transcripts import (
    TranscriptRow,
    current_conversation,
    identity_exists,
    last_message_id,
    replies_after,
    reply_to,
    transcript,
)

log = logging.getLogger(__name__)

CHANNEL = "webchat"
COOKIE = "optibot_chat"
KEEPALIVE_SECONDS = 15.0
# Another process may have delivered a reply: without a listener (bot/live.py), look again this
# often even if not woken.
POLL_SECONDS = 2.0
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and fields around an uploaded file
DOCUMENT_NOT_FOUND = "Document introuvable."
DOCUMENT_EXPIRED = "Ce lien a expiré : écrivez « mes données » pour en recevoir un nouveau."
DOCUMENT_GONE = "Ce document n'est plus disponible : écrivez « mes données » pour en recevoir un nouveau."


def user_of(token: str) -> str:
    """The identity stored for a browser: a hash of its cookie, never the cookie itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:40]


def message_id(user: str, client_id: str) -> str:
    """The browser's own message id, scoped to that browser: another browser cannot collide."""
    return f"{user}:{client_id}"


class WebChatChannel:
    name = CHANNEL

    def __init__(self, hub: WebChatHub) -> None:
        self.hub = hub

    async def deliver(self, recipient: str, payload: OutboundPayload) -> None:
        self.hub.delivered(recipient)


class ChatMessageIn(BaseModel):
    id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    text: str | None = Field(default=None, max_length=60_000)
    choice: str | None = Field(default=None, max_length=64)
    step: str | None = Field(default=None, max_length=64)
    lang: Literal["fr", "en"] | None = None


class ChatPostAnswer(BaseModel):
    """The answer to a posted message or file: stored now, or already stored (a retry)."""

    status: Literal["accepted", "duplicate"]


class ChatChoice(BaseModel):
    value: str
    label: str


class ChatDocument(BaseModel):
    """A file attached to a bot message: downloaded by the browser it was sent to, until
    ``expires_at``."""

    url: str
    filename: str
    expires_at: datetime


class ChatMessageOut(BaseModel):
    id: int
    direction: Literal["in", "out"]
    text: str
    choices: list[ChatChoice] = []
    step: str | None = None
    expects: str | None = None
    document: ChatDocument | None = None


class History(BaseModel):
    messages: list[ChatMessageOut]
    cursor: int
    language: Literal["fr", "en"] | None = None


def _out(row: TranscriptRow, link_lifetime: timedelta) -> ChatMessageOut:
    payload = row.payload
    document = documents.document_of(payload) if row.direction == "out" else None
    return ChatMessageOut(
        id=row.id,
        direction="out" if row.direction == "out" else "in",
        text=row.text,
        choices=[ChatChoice(**c) for c in payload.get("choices") or []],
        step=payload.get("step"),
        expects=payload.get("expects"),
        document=None
        if document is None
        else ChatDocument(
            url=f"/api/chat/documents/{row.id}",
            filename=document.filename,
            expires_at=row.created_at + link_lifetime,
        ),
    )


def build_router(
    engine: Engine,
    database: Database,
    hub: WebChatHub,
    catalog: Catalog,
    *,
    secure_cookie: bool = False,
    export_link_minutes: int = 15,
    poll: Callable[[], float] = lambda: POLL_SECONDS,
) -> APIRouter:
    """``poll``: how long a reply stream waits for a wake-up before reading anyway (bot/live.py)."""
    router = APIRouter(prefix="/api/chat", tags=["web chat"])
    link_lifetime = timedelta(minutes=export_link_minutes)

    async def browser(request: Request, response: Response, token: str | None, lang: str | None) -> str:
        """The browser's user id, its cookie set if it had none. A browser new to the service
        (no cookie, or a cookie the service never knew) is a new conversation, counted per address;
        past the limits the request is refused (429)."""
        throttle, address = throttle_of(request), client_address(request)
        issued = False
        if token is None or not (20 <= len(token) <= 64):
            token, issued = secrets.token_urlsafe(24), True
        user = user_of(token)
        if issued or not await _known(throttle, database, user):
            wait = await throttle.admit("new_chat", address=address)
            if wait is not None:
                raise _too_many(catalog, request, lang, wait)
            await throttle.know(user)
        if issued:
            response.set_cookie(
                COOKIE, token, httponly=True, samesite="lax", secure=secure_cookie, max_age=90 * 86400
            )
        return user

    async def admit(request: Request, door: Door, user: str, lang: str | None) -> None:
        wait = await throttle_of(request).admit(door, address=client_address(request), browser=user)
        if wait is not None:
            raise _too_many(catalog, request, lang, wait)

    @router.get("/texts")
    async def texts(lang: Literal["fr", "en"] = "fr") -> dict[str, str]:
        """The page's own words, from the text catalogue."""
        return {key[4:]: catalog.text(lang, key) for key in catalog.keys(lang) if key.startswith("web.")}

    @router.get("/history", responses={429: {}})
    async def history(
        request: Request, response: Response, optibot_chat: Annotated[str | None, Cookie()] = None
    ) -> History:
        """The open conversation's transcript and the cursor to stream replies from."""
        user = await browser(request, response, optibot_chat, None)
        async with database.connect() as connection:
            convo = await current_conversation(connection, f"{CHANNEL}:{user}")
            cursor = await last_message_id(connection, CHANNEL, user)
            rows = [] if convo is None else await transcript(connection, convo.id, cursor)
        found = [_out(row, link_lifetime) for row in rows]
        language = None if convo is None else as_language(convo.language)
        return History(messages=found, cursor=cursor, language=language)

    @router.post("/messages", status_code=202, responses={429: {}})
    async def post_message(
        body: ChatMessageIn,
        request: Request,
        response: Response,
        optibot_chat: Annotated[str | None, Cookie()] = None,
    ) -> ChatPostAnswer:
        """Store one client message (idempotent on ``id``); the reply arrives on the stream.
        Too many from one browser or one address: 429 with ``Retry-After`` and a polite text."""
        if body.text is None and body.choice is None:
            raise HTTPException(422, "text or choice is required")
        user = await browser(request, response, optibot_chat, body.lang)
        await admit(request, "message", user, body.lang)
        said = ClientInput(text=body.text, choice=body.choice, step=body.step)
        return await _submit(engine, Inbound(CHANNEL, user, message_id(user, body.id), said, body.lang))

    @router.post("/files", status_code=202, responses={413: {}, 429: {}})
    async def post_file(
        request: Request,
        response: Response,
        id: Annotated[str, Form(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
        file: Annotated[UploadFile, File()],
        lang: Annotated[Literal["fr", "en"] | None, Form()] = None,
        optibot_chat: Annotated[str | None, Cookie()] = None,
    ) -> ChatPostAnswer:
        """A prescription photo or PDF (checked by content, encrypted at rest)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > engine.files.max_bytes + FORM_OVERHEAD:
            raise HTTPException(413, "file too large")
        user = await browser(request, response, optibot_chat, lang)
        await admit(request, "upload", user, lang)
        if await engine.is_stored(CHANNEL, message_id(user, id)):  # a retried upload: store it once
            return ChatPostAnswer(status="duplicate")
        content = await file.read(engine.files.max_bytes + 1)
        try:
            path = await asyncio.to_thread(engine.files.save, content)
            said = ClientInput(media=path, media_name=(file.filename or "")[:255])
        except RejectedFileError:
            said = ClientInput(unsupported="file")
        return await _submit(engine, Inbound(CHANNEL, user, message_id(user, id), said, lang))

    @router.get("/events", response_class=StreamingResponse)
    async def events(
        request: Request,
        after: Annotated[int, Query(ge=0)] = 0,
        optibot_chat: Annotated[str | None, Cookie()] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        """Server-Sent Events: one ``message`` event per bot reply after the ``after`` cursor."""
        if optibot_chat is None:
            raise HTTPException(401, "no chat session")
        user = user_of(optibot_chat)
        if last_event_id is not None and last_event_id.isdigit():
            after = max(after, int(last_event_id))
        return StreamingResponse(
            _stream(request, database, hub, user, after, link_lifetime, poll),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get(
        "/documents/{message_id}",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}, 404: {}, 410: {}},
    )
    async def document(message_id: int, optibot_chat: Annotated[str | None, Cookie()] = None) -> Response:
        """The file attached to one of this browser's bot messages (its data export), for
        ``EXPORT_LINK_MINUTES`` after it was made: 404 for anyone else, 410 once expired."""
        if optibot_chat is None:
            return _refusal(404, DOCUMENT_NOT_FOUND)
        async with database.connect() as connection:
            row = await reply_to(connection, message_id, CHANNEL, user_of(optibot_chat))
        attached = None if row is None else documents.document_of(row.payload)
        if row is None or attached is None:
            return _refusal(404, DOCUMENT_NOT_FOUND)
        if engine.clock() >= row.created_at + link_lifetime:
            return _refusal(410, DOCUMENT_EXPIRED)
        content = await documents.read_document(engine.files, attached)
        if content is None:
            return _refusal(410, DOCUMENT_GONE)
        return Response(
            content,
            media_type=attached.mime,
            headers={
                "Content-Disposition": documents.content_disposition(attached.filename),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router


async def _known(throttle: Throttle, database: Database, user: str) -> bool:
    """A browser already counted, or whose identity the database keeps (a returning client)."""
    if await throttle.known(user):
        return True
    async with database.connect() as connection:
        found = await identity_exists(connection, f"{CHANNEL}:{user}")
    if not found:
        return False
    await throttle.know(user)
    return True


def _too_many(catalog: Catalog, request: Request, lang: str | None, wait: int) -> HTTPException:
    """429, in the client's language (the page's, else the browser's, else French)."""
    if lang not in ("fr", "en"):
        lang = "en" if request.headers.get("accept-language", "").lower().startswith("en") else "fr"
    return HTTPException(
        429,
        catalog.text(lang, "web.too_fast"),
        headers={"Retry-After": str(wait), "Cache-Control": "no-store"},
    )


def _refusal(status: int, detail: str) -> Response:
    """The chat routes' error shape (``{"detail": ...}``), never cached."""
    return JSONResponse({"detail": detail}, status_code=status, headers={"Cache-Control": "no-store"})


async def _submit(engine: Engine, inbound: Inbound) -> ChatPostAnswer:
    accepted = await engine.submit(inbound)
    return ChatPostAnswer(status="duplicate" if accepted.duplicate else "accepted")


async def _stream(
    request: Request,
    database: Database,
    hub: WebChatHub,
    user: str,
    cursor: int,
    link_lifetime: timedelta,
    poll: Callable[[], float],
) -> AsyncIterator[str]:
    """Reads when woken (a reply delivered to this browser, here or by another process), else
    every ``poll()`` seconds (the safety net); a keepalive every :data:`KEEPALIVE_SECONDS`."""
    wake = hub.subscribe(user)
    try:
        yield "retry: 2000\n\n"
        idle = 0.0
        read = True
        read_at = time.monotonic()
        while not await request.is_disconnected():
            if read:
                read_at = time.monotonic()
                async with database.connect() as connection:
                    found = await replies_after(connection, CHANNEL, user, cursor)
                for row in found:
                    cursor = row.id
                    message = _out(row, link_lifetime)
                    yield f"id: {row.id}\nevent: message\ndata: {message.model_dump_json()}\n\n"
                if found:
                    idle = 0.0
                    continue
            seconds = poll()
            tick = min(seconds, KEEPALIVE_SECONDS)
            woke = await wait_set(wake, tick)
            wake.clear()
            if not woke:
                idle += tick
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keepalive\n\n"
            read = woke or time.monotonic() - read_at >= seconds - 0.05
    finally:
        hub.unsubscribe(user, wake)
