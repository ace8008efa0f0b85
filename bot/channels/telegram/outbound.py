"""Out: one reply from the outbox to a chat, paced within Telegram's limits.

:meth:`TelegramOutbound.deliver` is called by the outbox sender, one message at a time per chat,
paced by a :class:`~bot.ratelimit.RateLimiter`; Telegram's answers become
:class:`~bot.outbox.DeliveryError` s that the sender records (retry, back off, give up).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot.channels import documents
from bot.channels.telegram import render
from bot.channels.telegram.client import TRANSIENT
from bot.logs import describe
from bot.outbox import Delivered, DeliveryError
from bot.ratelimit import RateLimiter, Window
from bot.settings import Settings
from flows.catalog import Catalog
from storage.files import FileStore
from storage.payloads import OutboundPayload, ReceiptData, SendProgress

log = logging.getLogger(__name__)

T = TypeVar("T")
SEND_TIMEOUT = 15  # seconds before a send is given up (then retried by the outbox)
JITTER_SECONDS = 0.04  # how late a paced send may leave and still count in its own second

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def default_limiter(settings: Settings) -> RateLimiter:
    """About one message a second per chat, after a short burst; the bot's own budget per second.

    The bot's budget is counted over a window a little longer than Telegram's second: a send that
    leaves late (a busy event loop) must not make one too many in Telegram's second.
    """
    burst = settings.telegram_chat_burst
    per_bot = Window(settings.telegram_max_per_second, 1.0 + JITTER_SECONDS)
    return RateLimiter(Window(burst, burst + JITTER_SECONDS), per_bot)


class TelegramOutbound:
    """Sends replies: texts in parts, keyboards, documents, edits; remembers which chats were shown
    the share-my-number keyboard (to put it away once the number is given)."""

    def __init__(self, bot: Bot, catalog: Catalog, files: FileStore, limiter: RateLimiter) -> None:
        self.bot = bot
        self.catalog = catalog
        self.files = files
        self.limiter = limiter
        self._phone_keyboard: set[str] = set()  # chats shown the share-my-number keyboard

    def recently_sent(self, recipient: str, ages: Sequence[float]) -> None:
        """The outbox's word on the chat's last sends (seconds ago), by any process: its window
        counts them, so a chat moving between processes is not sent too much at once."""
        self.limiter.seed(recipient, ages)

    async def deliver(self, recipient: str, payload: OutboundPayload) -> str | Delivered | None:
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
        content = (
            None if document is None else await documents.read_for_delivery(self.files, document, "telegram")
        )
        receipt = payload.get("receipt")
        if receipt and not payload.get("sent_parts"):
            await self._mark_answered(chat_id, receipt, render.language_of(payload))
        sent_id = payload.get("text_message_id")
        sent_parts = int(payload.get("sent_parts") or 0)
        for index, text, last in render.parts_to_send(payload):
            markup = self._markup(recipient, payload) if last else None
            await self.limiter.acquire(recipient)
            message = await self._call(
                recipient,
                lambda text=text, markup=markup: self.bot.send_message(  # type: ignore[misc]
                    chat_id, text, reply_markup=markup, request_timeout=SEND_TIMEOUT
                ),
                progress={"sent_parts": index} if index else None,
            )
            if isinstance(markup, ReplyKeyboardRemove):
                self._phone_keyboard.discard(recipient)
            sent_id = str(message.message_id)
            sent_parts = index + 1
        if document is None:
            return sent_id
        if content is None:
            return Delivered(sent_id, {"document": documents.MISSING})
        await self.limiter.acquire(recipient)  # a document is a message: paced like one
        await self._call(
            recipient,
            lambda: self.bot.send_document(
                chat_id,
                BufferedInputFile(content, filename=document.filename),
                request_timeout=SEND_TIMEOUT,
            ),
            # The text went out: the retry sends the document only.
            progress={"sent_parts": sent_parts, "text_message_id": sent_id},
        )
        return sent_id

    async def _edit(self, chat_id: int, message_id: int, payload: OutboundPayload) -> None:
        """Replace a message's text and buttons; one already gone or unchanged is left as it is."""
        choices = payload.get("choices")
        markup = render.inline_keyboard(choices, payload.get("step")) if choices else None
        text = render.split_text(payload.get("text") or "")[0]
        await self._edit_as_is(
            chat_id,
            lambda: self.bot.edit_message_text(
                text=text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=markup,
                request_timeout=SEND_TIMEOUT,
            ),
        )

    def _markup(self, recipient: str, payload: OutboundPayload) -> Markup | None:
        language = render.language_of(payload)
        if payload.get("expects") == "phone":
            self._phone_keyboard.add(recipient)
            return render.share_phone_keyboard(self.catalog, language)
        choices = payload.get("choices")
        if choices:
            return render.inline_keyboard(choices, payload.get("step"))
        if recipient in self._phone_keyboard:  # the number was given: put the keyboard away
            return render.remove_keyboard()
        return None

    async def _mark_answered(self, chat_id: int, receipt: ReceiptData, language: str) -> None:
        """The pressed keyboard shows the choice taken, or goes if the button was stale."""
        label = receipt.get("label")
        markup = render.answered_keyboard(label, self.catalog, language) if label else None
        message_id = receipt.get("message_id")
        if not isinstance(message_id, int):
            return
        await self._edit_as_is(
            chat_id,
            lambda: self.bot.edit_message_reply_markup(
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=markup,
                request_timeout=SEND_TIMEOUT,
            ),
        )

    async def _edit_as_is(self, chat_id: int, edit: Callable[[], Awaitable[object]]) -> None:
        """An edit; a message Telegram will not edit (not modified, gone, too old) stays as it is."""
        with contextlib.suppress(TelegramBadRequest):
            await self._call(str(chat_id), edit, raw_bad_request=True)

    async def _call(
        self,
        chat: str,
        call: Callable[[], Awaitable[T]],
        *,
        progress: SendProgress | None = None,
        raw_bad_request: bool = False,
    ) -> T:
        """One Bot API call, Telegram's refusals mapped to what the outbox does about them;
        ``progress``: what this reply sent before the call, kept for the retry."""
        try:
            return await call()
        except TelegramRetryAfter as error:
            self.limiter.pause(chat, error.retry_after)
            raise DeliveryError("telegram 429", retry_after=error.retry_after, progress=progress) from None
        except TelegramForbiddenError:  # blocked by the user, or the account is gone
            raise DeliveryError(
                "telegram 403 blocked", permanent=True, unreachable=True, progress=progress
            ) from None
        except TelegramMigrateToChat:
            raise DeliveryError("telegram chat migrated", permanent=True, progress=progress) from None
        except TelegramBadRequest as error:
            if raw_bad_request:
                raise
            unreachable = "chat not found" in error.message.lower()
            raise DeliveryError(
                "telegram 400", permanent=True, unreachable=unreachable, progress=progress
            ) from None
        except (TelegramServerError, TelegramNetworkError, TimeoutError) as error:
            raise DeliveryError(f"telegram {type(error).__name__}", progress=progress) from None
        except TRANSIENT as error:  # 401 (token revoked), 404 (wrong API URL), a proxy's page...
            log.error("telegram refused a send: %s", describe(error))
            raise DeliveryError(f"telegram {type(error).__name__}", progress=progress) from None
