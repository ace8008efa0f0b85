"""In: one Telegram update stored, whether polling or the webhook brought it.

Every update is stored in the inbox before Telegram is told it was received (polling: before the
next ``getUpdates`` confirms its offset; webhook: before the 200), then processed. A file is
fetched with ``getFile`` before its message is stored. A re-delivered update changes nothing. An
optician's message goes to the opticians' desk instead of the client conversation, and everything
else a linked optician sends to the members' desk (issue 16).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import io
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Update

from bot.channels.telegram.client import TRANSIENT, bot_id_of, quietly
from bot.channels.telegram.updates import CHANNEL, FileRef, Incoming, translate
from bot.desk import LINK_PREFIX, OPTICIAN_STEPS, MemberDesk, OpticianDesk
from bot.engine import Engine
from bot.logs import describe
from bot.pipeline import reason_of
from flows.types import ClientInput
from storage.files import FileStore, RejectedFileError

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 15  # seconds before a getFile is given up (Telegram sends the update again)
FILE_ATTEMPTS = 5  # a file that cannot be fetched after this many tries is refused politely
TELEGRAM_FILE_LIMIT = 20 * 1024 * 1024  # the cloud Bot API serves files up to 20 MB
OPTICIAN_COMMANDS = ("/disponible", "/indisponible", "/mescas")


class TelegramInbound:
    """Stores updates through the engine (``desk``: the opticians' side, if there is one)."""

    def __init__(
        self,
        bot: Bot,
        files: FileStore,
        *,
        engine: Engine,
        desk: OpticianDesk | None,
        members: MemberDesk | None = None,
    ) -> None:
        self.bot = bot
        self.members = members
        self.bot_id = bot_id_of(bot)
        self.files = files
        self.engine = engine
        self.desk = desk
        self._file_failures: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def receive(self, update: Update) -> bool:
        """Store one update (fetching its file first); True once it is stored or needs nothing.

        Raises when the update could not be stored: the caller must not acknowledge it.
        """
        engine = self.engine
        incoming = translate(update, self.bot_id)
        if await self._for_opticians(incoming):
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

    async def set_aside(self, body: bytes, kind: str, error: BaseException) -> bool:
        """An update no database will take, recorded (digest and size) so that Telegram can be told
        it was received (it stops sending it); False if even that failed (it must send it again)."""
        try:
            await self.engine.set_aside(CHANNEL, kind, error, body)
        except Exception as failure:
            log.warning("telegram update not set aside, Telegram will send it again: %s", describe(failure))
            return False
        log.warning("telegram %s set aside (answered 200): %s", kind, reason_of(error))
        return True

    async def stop(self) -> None:
        """Cancel the buttons' acknowledgements still under way."""
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def _for_opticians(self, incoming: Incoming) -> bool:
        """An optician's message (a linking code, an offer answered, a visit's outcome, their
        commands) goes to the opticians' desk, and everything else a linked optician sends to the
        members' desk, not to the client conversation. True if it was one."""
        desk, inbound = self.desk, incoming.inbound
        if inbound is None:
            return False
        said, chat = inbound.said, inbound.user
        text = (said.text or "").strip()
        command = text.split(maxsplit=1)[0].split("@", 1)[0].lower() if text.startswith("/") else ""
        action: Callable[[], Awaitable[None]]
        linking = False
        if desk is None:
            return await self._for_members(incoming)
        if said.choice is not None and said.step is not None and said.step in OPTICIAN_STEPS:
            on_message = (inbound.receipt or {}).get("message_id")
            action = functools.partial(desk.answer, chat, said.step, said.choice, on_message)
        elif command == "/start" and LINK_PREFIX in text:
            action = functools.partial(desk.link, chat, text.split(LINK_PREFIX, 1)[1].strip()[:64])
            linking = True
        elif command in OPTICIAN_COMMANDS and await desk.is_optician(chat):
            if command == "/mescas":
                action = functools.partial(desk.my_cases, chat)
            else:
                action = functools.partial(desk.set_available, chat, available=command == "/disponible")
        else:
            return await self._for_members(incoming)
        if await self.engine.store_once(inbound, "optician"):
            try:
                await action()
            except BaseException:
                await self.engine.unstore(inbound)  # not done: Telegram's next delivery of it counts
                raise
            finally:
                if linking and self.members is not None:
                    self.members.forget(CHANNEL)  # this chat may be a member's now
        return True

    async def _for_members(self, incoming: Incoming) -> bool:
        """A linked optician's chat is the members' line (issue 16): whatever else they send (text,
        the members' buttons, a document, /menu...) goes to the members' desk, stored once like the
        opticians' messages; a file is fetched and stored encrypted first. True if it was one."""
        members, inbound = self.members, incoming.inbound
        if members is None or inbound is None or not await members.is_member(CHANNEL, inbound.user):
            return False
        if incoming.file is not None:
            if await self.engine.is_stored(inbound.channel, inbound.external_id):
                return True  # a re-delivery: handled the first time
            said = await self._fetch(incoming.file, inbound.external_id)
            inbound = dataclasses.replace(inbound, said=said)
        if not await self.engine.store_once(inbound, "member"):
            self._discard(inbound.said.media)  # stored meanwhile by another delivery of the update
            return True
        on_message = (inbound.receipt or {}).get("message_id")
        try:
            await members.receive(CHANNEL, inbound.user, inbound.said, on_message)
        except BaseException:
            await self.engine.unstore(inbound)  # not done: Telegram's next delivery of it counts
            self._discard(inbound.said.media)
            raise
        return True

    def _discard(self, path: str | None) -> None:
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                self.files.delete(path)

    def _answer_callback(self, incoming: Incoming) -> None:
        """Stop the pressed button's spinner (the answer itself comes as a message)."""
        if incoming.callback_id is not None:
            task = asyncio.ensure_future(quietly(self.bot.answer_callback_query(incoming.callback_id)))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _fetch(self, ref: FileRef, ext: str) -> ClientInput:
        """The file, saved encrypted in the data folder; a file we cannot take is refused politely."""
        limit = min(self.files.max_bytes, TELEGRAM_FILE_LIMIT)
        if ref.size is not None and ref.size > limit:
            return ClientInput(unsupported="file", media_name=ref.name)
        try:
            found = await self.bot.get_file(ref.file_id, request_timeout=FETCH_TIMEOUT)
            if found.file_path is None or (found.file_size or 0) > limit:
                return ClientInput(unsupported="file", media_name=ref.name)
            buffer = io.BytesIO()
            await self.bot.download_file(found.file_path, buffer, timeout=60)
        except TelegramBadRequest:  # too big for the Bot API, or gone
            return ClientInput(unsupported="file", media_name=ref.name)
        except TRANSIENT:
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
