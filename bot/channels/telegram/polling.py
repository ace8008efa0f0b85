"""Long polling (``getUpdates``), by the one process holding the bot's polling lock.

The offset moves past updates only once they are stored, so an update Telegram considers delivered
is never lost; errors back off and polling resumes. Telegram serves one poller per bot: with several
processes on PostgreSQL, the one holding the bot's lock polls and the others stand by to take over
within :data:`STANDBY_SECONDS` if it goes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramConflictError
from aiogram.types import Update

from bot.channels.telegram.client import MAX_BACKOFF, retrying
from bot.channels.telegram.inbound import TelegramInbound
from bot.channels.telegram.updates import ALLOWED_UPDATES
from bot.logs import describe
from bot.pipeline import is_poison
from storage.database import Database
from storage.locks import LockUnavailableError, SessionLock, try_session_lock

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25  # seconds a getUpdates waits for updates
STANDBY_SECONDS = 10.0  # a standby process checks this often whether the poller is gone


class Poller:
    """Polls for ``inbound`` while this process holds the bot's polling lock in ``database``."""

    def __init__(self, bot: Bot, inbound: TelegramInbound, database: Database) -> None:
        self.bot = bot
        self.inbound = inbound
        self.database = database

    async def run(self) -> None:
        """Poll until cancelled; stand by whenever another process polls."""
        while True:
            lock = await self._sole_poller()
            try:
                await retrying(self._delete_webhook, "delete_webhook")
                await self._poll_updates(lock.still_held)
            finally:
                await lock.release()
            log.warning("telegram polling: the polling lock was lost; standing by")

    async def _sole_poller(self) -> SessionLock:
        """Wait to be the bot's one poller; the lock held says whether this process still is."""
        name = f"telegram-polling:{self.inbound.bot_id}"
        while True:
            try:
                lock = await try_session_lock(self.database, name)
            except LockUnavailableError as error:
                log.warning("telegram polling lock unavailable: %s", describe(error.__cause__ or error))
                lock = None
            if lock is not None:
                if lock.exclusive:
                    log.info("telegram polling: this process polls")
                return lock
            await asyncio.sleep(STANDBY_SECONDS)

    async def _delete_webhook(self) -> None:
        await self.bot.delete_webhook(drop_pending_updates=False)

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

    async def _store_in_order(self, updates: list[Update]) -> None:
        """Each chat's updates one after the other (their order is the conversation's), chats
        side by side; raises if any could not be stored (the batch is fetched again)."""
        chats: dict[str, list[Update]] = {}
        for update in updates:
            chats.setdefault(_chat_of(update), []).append(update)

        async def store(queue: list[Update]) -> None:
            for update in queue:
                try:
                    await self.inbound.receive(update)
                except Exception as error:
                    if not is_poison(error):
                        raise
                    # Refused for good: set aside, or polling would fetch it again forever.
                    body = update.model_dump_json(exclude_none=True).encode()
                    if not await self.inbound.set_aside(body, "update", error):
                        raise

        results = await asyncio.gather(*(store(q) for q in chats.values()), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


def _chat_of(update: Update) -> str:
    if update.message is not None:
        return str(update.message.chat.id)
    if update.callback_query is not None:
        return str(update.callback_query.from_user.id)
    if update.my_chat_member is not None:
        return str(update.my_chat_member.chat.id)
    return f"update:{update.update_id}"
