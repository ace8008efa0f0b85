"""The Telegram channel: one bot, updates in by polling or webhook, the paced outbox out.

A façade over the channel's parts, built once by the composition root with everything it needs:
:mod:`~bot.channels.telegram.inbound` stores updates (an optician's go to the opticians' desk),
:mod:`~bot.channels.telegram.polling` or :mod:`~bot.channels.telegram.webhook` brings them, and
:mod:`~bot.channels.telegram.outbound` delivers the outbox's replies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import BotCommandScopeDefault, Update
from fastapi import APIRouter

from bot.channels.telegram import render
from bot.channels.telegram.client import make_bot, retrying
from bot.channels.telegram.inbound import TelegramInbound
from bot.channels.telegram.outbound import TelegramOutbound, default_limiter
from bot.channels.telegram.polling import Poller
from bot.channels.telegram.updates import CHANNEL
from bot.channels.telegram.webhook import register_webhook, webhook_router
from bot.desk import MemberDesk, OpticianDesk
from bot.engine import Engine
from bot.logs import describe
from bot.outbox import Delivered
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from flows.catalog import Catalog
from storage.database import Database
from storage.files import FileStore
from storage.payloads import OutboundPayload

log = logging.getLogger(__name__)


class TelegramChannel:
    """One Telegram bot. Built by the composition root; :meth:`start` once the engine runs.

    ``database``: where the pollers of several processes agree on which one polls; ``desk``: the
    opticians' side, if any; ``limiter``: the pacing of sends (default: Telegram's limits from the
    settings); ``session``: aiogram's HTTP session (default: the settings' Bot API server).
    """

    name = CHANNEL

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        files: FileStore,
        *,
        engine: Engine,
        database: Database,
        desk: OpticianDesk | None = None,
        members: MemberDesk | None = None,
        limiter: RateLimiter | None = None,
        session: BaseSession | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.bot = make_bot(settings, session)
        self.inbound = TelegramInbound(self.bot, files, engine=engine, desk=desk, members=members)
        self.outbound = TelegramOutbound(self.bot, catalog, files, limiter or default_limiter(settings))
        self.poller = Poller(self.bot, self.inbound, database)
        self.username: str | None = None  # the bot's @name, once getMe answered (deep links)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def limiter(self) -> RateLimiter:
        """The pacing of this bot's sends (given at construction: never replaced afterwards)."""
        return self.outbound.limiter

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register the commands, then poll or register the webhook (retrying in the background)."""
        jobs: dict[str, Coroutine[Any, Any, None]] = {"commands": retrying(self._introduce, "introduce")}
        if self.settings.telegram_mode == "webhook":
            jobs["webhook"] = retrying(lambda: register_webhook(self.bot, self.settings), "set_webhook")
        else:
            jobs["polling"] = self.poller.run()
        for name, job in jobs.items():
            task = asyncio.create_task(job, name=name)
            task.add_done_callback(_report_crash)
            self._tasks.append(task)

    async def stop(self) -> None:
        """Stop polling; the webhook stays set so Telegram keeps the updates for the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.inbound.stop()
        await self.bot.session.close()

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

    # --- in and out ------------------------------------------------------------------------------

    async def receive(self, update: Update) -> bool:
        """Store one update; raises when it could not be stored (see :class:`TelegramInbound`)."""
        return await self.inbound.receive(update)

    def router(self) -> APIRouter:
        """``POST /webhooks/telegram`` (see :mod:`~bot.channels.telegram.webhook`)."""
        return webhook_router(self.settings, self.bot, self.inbound)

    def recently_sent(self, recipient: str, ages: Sequence[float]) -> None:
        """The outbox's word on the chat's last sends (see :class:`TelegramOutbound`)."""
        self.outbound.recently_sent(recipient, ages)

    async def deliver(self, recipient: str, payload: OutboundPayload) -> str | Delivered | None:
        """Send one reply (see :meth:`TelegramOutbound.deliver`)."""
        return await self.outbound.deliver(recipient, payload)


def _report_crash(task: asyncio.Task[None]) -> None:
    """A background job of the channel must not end in silence."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("telegram %s stopped: %s", task.get_name(), describe(error))
