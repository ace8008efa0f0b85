"""The Telegram channel: the real aiogram client, polling or webhook in, the paced outbox out.

In: every update is stored in the inbox before Telegram is told it was received (polling: before
the next ``getUpdates`` confirms its offset; webhook: before the 200), then processed. A file is
fetched with ``getFile`` before its message is stored. A re-delivered update changes nothing.

Out: :meth:`TelegramChannel.deliver` is called by the outbox sender, one message at a time per
chat, paced by a :class:`~bot.ratelimit.RateLimiter` within Telegram's limits; Telegram's answers
become :class:`~bot.outbox.DeliveryError` s that the sender records (retry, back off, give up).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import hmac
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import sqlalchemy as sa
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
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
from aiogram.types import (
    BotCommandScopeDefault,
    BufferedInputFile,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import ClientDisconnect

from bot.channels import documents
from bot.channels.telegram import render
from bot.channels.telegram.updates import ALLOWED_UPDATES, CHANNEL, FileRef, Incoming, translate
from bot.dispatch import LINK_PREFIX, OFFER_STEP, VISIT_STEP, Dispatch
from bot.engine import Engine
from bot.logs import describe
from bot.outbox import Delivered, DeliveryError
from bot.pipeline import is_poison, reason_of
from bot.ratelimit import RateLimiter, Window
from bot.settings import Settings
from bot.web.guard import loads_bounded
from flows.catalog import Catalog
from flows.types import ClientInput
from storage import set_aside
from storage.conversations import lock_key
from storage.files import FileStore, RejectedFileError

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
POLL_TIMEOUT = 25  # seconds a getUpdates waits for updates
SEND_TIMEOUT = 15  # seconds before a send is given up (then retried by the outbox)
MAX_UPDATE_BYTES = 1024 * 1024
MAX_BACKOFF = 30.0
JITTER_SECONDS = 0.04  # how late a paced send may leave and still count in its own second
STANDBY_SECONDS = 10.0  # a standby process checks this often whether the poller is gone
FILE_ATTEMPTS = 5  # a file that cannot be fetched after this many tries is refused politely
TELEGRAM_FILE_LIMIT = 20 * 1024 * 1024  # the cloud Bot API serves files up to 20 MB

T = TypeVar("T")
OPTICIAN_COMMANDS = ("/disponible", "/indisponible", "/mescas")
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
_TRANSIENT = (TelegramAPIError, ClientDecodeError, aiohttp.ClientError, TimeoutError)


class TelegramChannel:
    """One Telegram bot. Built by the composition root; :meth:`start` once the engine runs."""

    name = CHANNEL

    def __init__(self, settings: Settings, catalog: Catalog, files: FileStore) -> None:
        token = settings.telegram_bot_token.get_secret_value()
        self.settings = settings
        self.catalog = catalog
        self.files = files
        self.bot_id = int(token.split(":", 1)[0])
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url.rstrip("/")))
        self.bot = Bot(token, session=session)
        burst = settings.telegram_chat_burst
        # About one message a second per chat, after a short burst; the bot's own budget per second.
        # The bot's budget is counted over a window a little longer than Telegram's second: a send
        # that leaves late (a busy event loop) must not make one too many in Telegram's second.
        per_bot = Window(settings.telegram_max_per_second, 1.0 + JITTER_SECONDS)
        self.limiter = RateLimiter(Window(burst, burst + JITTER_SECONDS), per_bot)
        self.engine: Engine | None = None
        self.send_timeout = SEND_TIMEOUT
        self.username: str | None = None  # the bot's @name, once getMe answered (deep links)
        self.visits: Dispatch | None = None  # the opticians' side (set by the composition root)
        self._phone_keyboard: set[str] = set()  # chats shown the share-my-number keyboard
        self._file_failures: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, engine: Engine) -> None:
        """Register the commands, then poll or register the webhook (retrying in the background)."""
        self.engine = engine
        jobs = {"commands": self._retrying(self._introduce)}
        if self.settings.telegram_mode == "webhook":
            jobs["webhook"] = self._retrying(self._set_webhook)
        else:
            jobs["polling"] = self._poll()
        for name, job in jobs.items():
            task = asyncio.create_task(job, name=name)
            task.add_done_callback(_report_crash)
            self._tasks.append(task)

    async def stop(self) -> None:
        """Stop polling; the webhook stays set so Telegram keeps the updates for the next start."""
        for task in [*self._tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        self._tasks.clear()
        await self.bot.session.close()

    async def _retrying(self, action: Callable[[], Awaitable[None]]) -> None:
        delay = 1.0
        while True:
            try:
                await action()
                return
            except Exception as error:  # a proxy's error page, the network...: try again
                name = action.__name__.strip("_")
                log.warning("telegram %s failed, retrying in %.0f s: %s", name, delay, describe(error))
            await asyncio.sleep(delay)
            delay = min(MAX_BACKOFF, delay * 2)

    async def _introduce(self) -> None:
        """Check the token (``getMe``), say which bot this is, and register the commands menu."""
        try:
            me = await self.bot.get_me()
        except TelegramUnauthorizedError:
            log.error("Telegram refuses TELEGRAM_BOT_TOKEN (401): check it with @BotFather")
            raise
        self.username = me.username
        log.info("telegram: bot @%s, %s mode", me.username, self.settings.telegram_mode)
        for language in ("fr", "en"):
            await self.bot.set_my_commands(
                render.bot_commands(self.catalog, language), language_code=language
            )
        # Clients whose Telegram speaks neither language see the default: French.
        await self.bot.set_my_commands(
            render.bot_commands(self.catalog, "fr"), scope=BotCommandScopeDefault()
        )

    async def _set_webhook(self) -> None:
        url = self.settings.public_url.rstrip("/") + WEBHOOK_PATH
        await self.bot.set_webhook(
            url,
            secret_token=self.settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=False,
        )
        log.info("telegram webhook registered")

    # --- in --------------------------------------------------------------------------------------

    async def receive(self, update: Update) -> bool:
        """Store one update (fetching its file first); True once it is stored or needs nothing.

        Raises when the update could not be stored: the caller must not acknowledge it.
        """
        engine = self._engine()
        incoming = translate(update, self.bot_id)
        if await self._for_opticians(engine, incoming):
            self._answer_callback(incoming)
            return True
        if incoming.reachable is not None:
            user, reachable = incoming.reachable
            await engine.set_reachable(CHANNEL, user, reachable=reachable, external_id=incoming.event_id)
        inbound = incoming.inbound
        if inbound is not None:
            if incoming.file is not None:
                if await engine.is_stored(inbound.channel, inbound.external_id):
                    self._answer_callback(incoming)
                    return True  # a re-delivery: the file was fetched the first time
                said = await self._fetch(incoming.file, inbound.external_id)
                inbound = dataclasses.replace(inbound, said=said)
            await engine.submit(inbound)
        self._answer_callback(incoming)
        return True

    async def _for_opticians(self, engine: Engine, incoming: Incoming) -> bool:
        """An optician's message (a linking code, an offer answered, a visit's outcome, their
        commands) goes to the dispatch, not to the client conversation. True if it was one."""
        visits, inbound = self.visits, incoming.inbound
        if visits is None or inbound is None:
            return False
        said, chat = inbound.said, inbound.user
        text = (said.text or "").strip()
        command = text.split(maxsplit=1)[0].split("@", 1)[0].lower() if text.startswith("/") else ""
        action: Callable[[], Awaitable[None]]
        if said.choice is not None and said.step in (OFFER_STEP, VISIT_STEP):
            data = f"{said.step}:{said.choice}"
            message_id = (inbound.receipt or {}).get("message_id")
            action = functools.partial(visits.answer, chat, data, message_id)
        elif command == "/start" and LINK_PREFIX in text:
            action = functools.partial(visits.link, chat, text.split(LINK_PREFIX, 1)[1].strip()[:64])
        elif command in OPTICIAN_COMMANDS and await visits.is_optician(chat):
            if command == "/mescas":
                action = functools.partial(visits.my_cases, chat)
            else:
                action = functools.partial(visits.set_available, chat, available=command == "/disponible")
        else:
            return False
        if await engine.store_once(inbound, "optician"):
            try:
                await action()
            except BaseException:
                await engine.unstore(inbound)  # not done: Telegram's next delivery of it counts
                raise
        return True

    def _answer_callback(self, incoming: Incoming) -> None:
        """Stop the pressed button's spinner (the answer itself comes as a message)."""
        if incoming.callback_id is not None:
            self._spawn(self._quietly(self.bot.answer_callback_query(incoming.callback_id)))

    async def _fetch(self, ref: FileRef, ext: str) -> ClientInput:
        """The file, saved encrypted in the data folder; a file we cannot take is refused politely."""
        limit = min(self.files.max_bytes, TELEGRAM_FILE_LIMIT)
        if ref.size is not None and ref.size > limit:
            return ClientInput(unsupported="file", media_name=ref.name)
        try:
            found = await self.bot.get_file(ref.file_id, request_timeout=self.send_timeout)
            if found.file_path is None or (found.file_size or 0) > limit:
                return ClientInput(unsupported="file", media_name=ref.name)
            buffer = io.BytesIO()
            await self.bot.download_file(found.file_path, buffer, timeout=60)
        except TelegramBadRequest:  # too big for the Bot API, or gone
            return ClientInput(unsupported="file", media_name=ref.name)
        except _TRANSIENT:
            failures = self._file_failures.get(ext, 0) + 1
            if failures >= FILE_ATTEMPTS:
                self._file_failures.pop(ext, None)
                log.warning("telegram file could not be fetched after %d attempts", failures)
                return ClientInput(unsupported="file", media_name=ref.name)
            self._file_failures[ext] = failures
            raise
        self._file_failures.pop(ext, None)
        try:
            path = await asyncio.to_thread(self.files.save, buffer.getvalue()[: limit + 1])
        except RejectedFileError:
            return ClientInput(unsupported="file", media_name=ref.name)
        return ClientInput(media=path, media_name=ref.name)

    async def _poll(self) -> None:
        """Long polling. The offset moves past updates only once they are stored, so an update
        Telegram considers delivered is never lost; errors back off and polling resumes.

        Telegram serves one poller per bot: with several processes on PostgreSQL, the one holding
        the bot's advisory lock polls and the others stand by to take over if it goes.
        """
        while True:
            async with self._sole_poller() as still_held:
                await self._retrying(self._delete_webhook)
                await self._poll_updates(still_held)
            log.warning("telegram polling: the polling lock was lost; standing by")

    @contextlib.asynccontextmanager
    async def _sole_poller(self) -> AsyncIterator[Callable[[], Awaitable[bool]]]:
        """Wait to be the bot's one poller; yields a check that this process still is."""
        database = self._engine().database
        if database.dialect.name != "postgresql":
            yield _always  # SQLite: one process
            return
        key = lock_key(f"telegram-polling:{self.bot_id}")
        while True:
            connection: AsyncConnection | None = None
            held = False
            try:
                connection = await database.connect()
                held = bool(await connection.scalar(sa.select(sa.func.pg_try_advisory_lock(key))))
            except (OSError, SQLAlchemyError) as error:
                log.warning("telegram polling lock unavailable: %s", describe(error))
            if held and connection is not None:
                log.info("telegram polling: this process polls")
                still_held = functools.partial(_alive, connection)
                try:
                    yield still_held
                finally:
                    with contextlib.suppress(OSError, SQLAlchemyError):
                        await connection.close()
                return
            if connection is not None:
                with contextlib.suppress(OSError, SQLAlchemyError):
                    await connection.close()
            await asyncio.sleep(STANDBY_SECONDS)

    async def _poll_updates(self, still_held: Callable[[], Awaitable[bool]]) -> None:
        """Poll until cancelled, or until this process is no longer the bot's poller."""
        offset: int | None = None
        delay = 1.0
        while await still_held():
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=POLL_TIMEOUT,
                    allowed_updates=list(ALLOWED_UPDATES),
                    request_timeout=POLL_TIMEOUT + 10,
                )
                if updates:
                    await self._store_in_order(updates)
                    offset = updates[-1].update_id + 1
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except TelegramConflictError:
                log.warning("telegram polling conflicts with a webhook or another poller; retrying")
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)
            except Exception as error:
                log.warning("telegram polling failed, retrying in %.0f s: %s", delay, describe(error))
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)

    async def _delete_webhook(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)

    async def _store_in_order(self, updates: list[Update]) -> None:
        """Each chat's updates one after the other (their order is the conversation's), chats
        side by side; raises if any could not be stored (the batch is fetched again)."""
        chats: dict[str, list[Update]] = {}
        for update in updates:
            chats.setdefault(_chat_of(update), []).append(update)

        async def store(queue: list[Update]) -> None:
            for update in queue:
                try:
                    await self.receive(update)
                except Exception as error:
                    if not is_poison(error):
                        raise
                    # Refused for good: set aside, or polling would fetch it again forever.
                    body = update.model_dump_json(exclude_none=True).encode()
                    if (await self._set_aside(body, "update", error)).status_code != 200:
                        raise

        results = await asyncio.gather(*(store(q) for q in chats.values()), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def router(self) -> APIRouter:
        """``POST /webhooks/telegram``: the secret is checked in constant time, the update stored,
        and only then does Telegram get its 200 (an error makes Telegram send it again)."""
        router = APIRouter(tags=["telegram"])
        expected = self.settings.telegram_webhook_secret.get_secret_value().encode()

        @router.post(WEBHOOK_PATH, include_in_schema=False)
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
                update = Update.model_validate(loads_bounded(body), context={"bot": self.bot})
            except ValueError as error:  # not JSON, or not an update: sending it again won't help
                return await self._set_aside(body, "webhook", error)
            try:
                await self.receive(update)
            except Exception as error:
                if is_poison(error):
                    return await self._set_aside(body, "update", error)
                log.warning("telegram update not stored, Telegram will send it again: %s", describe(error))
                return Response(status_code=503)
            return Response(status_code=200)

        return router

    async def _set_aside(self, body: bytes, kind: str, error: BaseException) -> Response:
        """An update no database will take: answered 200 (Telegram stops sending it), counted."""
        reason = reason_of(error)
        try:
            async with self._engine().database.begin() as connection:
                await set_aside.record(
                    connection,
                    channel=CHANNEL,
                    kind=kind,
                    reason=reason,
                    digest=hashlib.sha256(body).hexdigest(),
                    size=len(body),
                    now=self._engine().clock(),
                )
        except Exception as failure:
            log.warning("telegram update not set aside, Telegram will send it again: %s", describe(failure))
            return Response(status_code=503)
        log.warning("telegram %s set aside (answered 200): %s", kind, reason)
        return Response(status_code=200)

    # --- out -------------------------------------------------------------------------------------

    def recently_sent(self, recipient: str, ages: Sequence[float]) -> None:
        """The outbox's word on the chat's last sends (seconds ago), by any process: its window
        counts them, so a chat moving between processes is not sent too much at once."""
        self.limiter.seed(recipient, ages)

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> str | Delivered | None:
        """Send one reply: mark the pressed keyboard, then the text (in parts if long) with its
        keyboard on the last part, then its document if it has one. Resumes after what a previous
        attempt sent. Returns the Telegram id of the (last) text message sent. A payload with
        ``edit_message_id`` edits that message instead (an offer that was taken by someone else)."""
        chat_id = int(recipient)
        paused = self.limiter.paused_for(recipient)
        if paused > 1.0:  # Telegram asked to wait: the row waits in the outbox, not holding a lease
            raise DeliveryError("telegram paused", retry_after=paused)
        edited = payload.get("edit_message_id")
        if isinstance(edited, int):
            await self._edit(chat_id, edited, payload)
            return str(edited)
        document = documents.document_of(payload)
        # Read before anything is sent: a storage hiccup then costs a retry, never a repeat.
        content = None if document is None else await self._read(document)
        receipt = payload.get("receipt")
        if receipt and not payload.get("sent_parts"):
            await self._mark_answered(chat_id, receipt, render.language_of(payload))
        sent_id: str | None = payload.get("text_message_id")
        sent_parts = int(payload.get("sent_parts") or 0)
        for index, text, last in render.parts_to_send(payload):
            markup = self._markup(recipient, payload) if last else None
            await self.limiter.acquire(recipient)
            try:
                message = await self._call(
                    recipient,
                    lambda text=text, markup=markup: self.bot.send_message(  # type: ignore[misc]
                        chat_id, text, reply_markup=markup, request_timeout=self.send_timeout
                    ),
                )
            except DeliveryError as error:
                error.progress = {"sent_parts": index} if index else None
                raise
            if isinstance(markup, ReplyKeyboardRemove):
                self._phone_keyboard.discard(recipient)
            sent_id = str(message.message_id)
            sent_parts = index + 1
        if document is None:
            return sent_id
        if content is None:
            return Delivered(sent_id, {"document": documents.MISSING})
        await self.limiter.acquire(recipient)  # a document is a message: paced like one
        try:
            await self._call(
                recipient,
                lambda: self.bot.send_document(
                    chat_id,
                    BufferedInputFile(content, filename=document.filename),
                    request_timeout=self.send_timeout,
                ),
            )
        except DeliveryError as error:  # the text went out: the retry sends the document only
            error.progress = {"sent_parts": sent_parts, "text_message_id": sent_id}
            raise
        return sent_id

    async def _read(self, document: documents.Document) -> bytes | None:
        try:
            return await documents.read_document(self.files, document)
        except OSError as error:
            log.warning("telegram: document not readable now, retrying: %s", describe(error))
            raise DeliveryError("document unreadable") from None

    async def _edit(self, chat_id: int, message_id: int, payload: dict[str, Any]) -> None:
        """Replace a message's text and buttons; one already gone or unchanged is left as it is."""
        choices = payload.get("choices")
        markup = render.inline_keyboard(choices, payload.get("step")) if choices else None
        text = render.split_text(payload.get("text") or "")[0]
        with contextlib.suppress(TelegramBadRequest):
            await self._call(
                str(chat_id),
                lambda: self.bot.edit_message_text(
                    text=text,
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                    request_timeout=self.send_timeout,
                ),
                raw_bad_request=True,
            )

    def _markup(
        self, recipient: str, payload: dict[str, Any]
    ) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
        language = render.language_of(payload)
        if payload.get("expects") == "phone":
            self._phone_keyboard.add(recipient)
            return render.share_phone_keyboard(self.catalog, language)
        if payload.get("choices"):
            return render.inline_keyboard(payload["choices"], payload.get("step"))
        if recipient in self._phone_keyboard:  # the number was given: put the keyboard away
            return render.remove_keyboard()
        return None

    async def _mark_answered(self, chat_id: int, receipt: dict[str, Any], language: str) -> None:
        """The pressed keyboard shows the choice taken, or goes if the button was stale."""
        label = receipt.get("label")
        markup = render.answered_keyboard(label, self.catalog, language) if label else None
        message_id = receipt.get("message_id")
        if not isinstance(message_id, int):
            return
        with contextlib.suppress(TelegramBadRequest):  # not modified, gone, too old to edit
            await self._call(
                str(chat_id),
                lambda: self.bot.edit_message_reply_markup(
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                    request_timeout=self.send_timeout,
                ),
                raw_bad_request=True,
            )

    async def _call(self, chat: str, call: Callable[[], Awaitable[T]], *, raw_bad_request: bool = False) -> T:
        """One Bot API call, Telegram's refusals mapped to what the outbox does about them."""
        try:
            return await call()
        except TelegramRetryAfter as error:
            self.limiter.pause(chat, error.retry_after)
            raise DeliveryError("telegram 429", retry_after=error.retry_after) from None
        except TelegramForbiddenError:  # blocked by the user, or the account is gone
            raise DeliveryError("telegram 403 blocked", permanent=True, unreachable=True) from None
        except TelegramMigrateToChat:
            raise DeliveryError("telegram chat migrated", permanent=True) from None
        except TelegramBadRequest as error:
            if raw_bad_request:
                raise
            unreachable = "chat not found" in error.message.lower()
            raise DeliveryError("telegram 400", permanent=True, unreachable=unreachable) from None
        except (TelegramServerError, TelegramNetworkError, TimeoutError) as error:
            raise DeliveryError(f"telegram {type(error).__name__}") from None
        except _TRANSIENT as error:  # 401 (token revoked), 404 (wrong API URL), a proxy's page...
            log.error("telegram refused a send: %s", describe(error))
            raise DeliveryError(f"telegram {type(error).__name__}") from None

    # --- helpers ---------------------------------------------------------------------------------

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("the Telegram channel is not started")
        return self.engine

    def _spawn(self, job: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _quietly(job: Awaitable[Any]) -> None:
        with contextlib.suppress(*_TRANSIENT):
            await job


async def _always() -> bool:
    return True


async def _alive(connection: AsyncConnection) -> bool:
    """A session-level lock lives as long as its session: is the connection still up?"""
    try:
        await connection.execute(sa.select(1))
    except (OSError, SQLAlchemyError):
        return False
    return True


def _report_crash(task: asyncio.Task[None]) -> None:
    """A background job of the channel must not end in silence."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("telegram %s stopped: %s", task.get_name(), describe(error))


def _chat_of(update: Update) -> str:
    if update.message is not None:
        return str(update.message.chat.id)
    if update.callback_query is not None:
        return str(update.callback_query.from_user.id)
    if update.my_chat_member is not None:
        return str(update.my_chat_member.chat.id)
    return f"update:{update.update_id}"
