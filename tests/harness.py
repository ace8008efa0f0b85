"""Drive the real engine, storage and outbox from tests, as a channel would."""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from sqlalchemy import exc

from bot.app import Services, build, running
from bot.channels.telegram.inbound import TelegramInbound
from bot.channels.telegram.render import callback_data
from bot.dispatch import OpticianDetails
from bot.engine import utcnow
from bot.messages import Inbound
from bot.settings import Settings
from flows.types import SERVICE_TIME_ZONE, ClientInput, Language
from storage import inbox

# A Thursday morning: half-days like "demain matin" read the same in every run.
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
CHANNEL = "script"


@dataclass
class RecordingChannel:
    """A channel that keeps what it is asked to deliver, per recipient."""

    name: str = CHANNEL
    delivered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> None:
        self.delivered.append((recipient, payload))


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RealClock(Clock):
    """The real time, moved on by ``shift`` (a test where other processes' sweeps judge staleness
    by the real time, or where a link must expire while a server runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.shift


@dataclass
class Harness:
    services: Services
    channel: RecordingChannel
    clock: Clock
    seen: int = 0

    @property
    def engine(self) -> Any:
        return self.services.engine

    async def send(
        self,
        user: str,
        *,
        text: str | None = None,
        choice: str | None = None,
        step: str | None = None,
        media: str | None = None,
        contact_phone: str | None = None,
        unsupported: str | None = None,
        language: Language | None = None,
        external_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Say something as ``user``; returns the replies delivered to them for it."""
        said = ClientInput(
            text=text,
            choice=choice,
            step=step,
            media=media,
            contact_phone=contact_phone,
            unsupported=unsupported,
        )
        inbound = Inbound(CHANNEL, user, external_id or uuid.uuid4().hex, said, language)
        await self.engine.handle(inbound)
        return await self.delivered_to(user)

    async def delivered_to(self, user: str) -> list[dict[str, Any]]:
        await self.services.sender.flush()
        new = self.channel.delivered[self.seen :]
        self.seen = len(self.channel.delivered)
        return [payload for recipient, payload in new if recipient == user]

    async def rows(self, table: sa.Table, *where: Any) -> list[Any]:
        async with self.services.database.connect() as connection:
            result = await connection.execute(sa.select(table).where(*where).order_by(table.c.id))
            return list(result.all())


class StorageDown:
    """While ``down``, writing to the inbox fails as when the database cannot be reached."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        self.refused = 0
        self.first_refused_at = 0.0  # time.monotonic() of the first refusal
        original = inbox.insert_inbox

        async def insert_inbox(
            connection: Any, rows: Sequence[inbox.InboxRow], now: Any, *, processing: bool = False
        ) -> list[int | None]:
            if self.down and rows:
                self.refused += 1
                self.first_refused_at = self.first_refused_at or time.monotonic()
                cause = ConnectionRefusedError("injected: the database is down")
                raise exc.OperationalError("INSERT INTO inbox", {}, cause)
            return await original(connection, rows, now, processing=processing)

        monkeypatch.setattr(inbox, "insert_inbox", insert_inbox)


_references = itertools.count(1)


@contextlib.asynccontextmanager
async def harness(
    database_url: str,
    tmp_path: Path,
    *,
    clock: Clock | None = None,
    references: Callable[[], str] | None = None,
    **overrides: Any,
) -> AsyncIterator[Harness]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        optibot_data_dir=tmp_path / "data",
        auto_migrate=True,
        **overrides,
    )
    channel = RecordingChannel()
    clock = clock or Clock()
    references = references or (lambda: f"OB-T{next(_references):05d}")
    services = build(settings, [channel], clock=clock, references=references)
    async with running(services, deliver=False, retention=False):
        yield Harness(services, channel, clock)


# --- The opticians' side of the conversation scripts ----------------------------------------------
# (Kept apart from the clients' side above: the opticians speak through the Telegram channel's own
# inbound code, and read what dispatch wrote to their chat through the outbox.)

OPTICIANS_CHANNEL = "telegram"  # where dispatch writes to an optician (bot/dispatch/notices.py)
_BOT_TOKEN = "4242:" + "S" * 35  # a well-formed token: aiogram checks it, no request uses it
_OPTICIAN_PHONE = "06 11 22 33 44"  # the optician's phone in the registry (a console field)


@dataclass
class ChatMessage:
    """A message in an optician's chat: Telegram's id for it, and what it shows now."""

    id: int
    payload: dict[str, Any]


@dataclass
class OpticianChats:
    """The opticians' Telegram chats as the outbox delivers to them: each message gets an id (the
    outbox records it, as it records Telegram's), and a message that edits another replaces what
    that one shows (its text and buttons), as Telegram does."""

    name: str = OPTICIANS_CHANNEL
    chats: dict[str, list[ChatMessage]] = field(default_factory=dict)
    unread: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(101))

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> str:
        self.unread.setdefault(recipient, []).append(payload)
        chat = self.chats.setdefault(recipient, [])
        edited = payload.get("edit_message_id")
        if isinstance(edited, int):
            for message in chat:
                if message.id == edited:
                    message.payload = payload
            return str(edited)
        message = ChatMessage(next(self._ids), payload)
        chat.append(message)
        return str(message.id)

    def read(self, chat: str) -> list[dict[str, Any]]:
        """What the chat received (new messages and edits) since the last read."""
        return self.unread.pop(chat, [])


class _AcknowledgingSession(BaseSession):
    """aiogram's HTTP session for a bot whose only call here is stopping a pressed button's spinner
    (``answerCallbackQuery``): every call succeeds, as Telegram would answer it."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        return self.check_response(bot, method, 200, '{"ok": true, "result": true}').result  # type: ignore[return-value]

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (aiogram's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncIterator[bytes]:
        yield b""


class OpticianSide:
    """The opticians of a harness: registered and linked as the console and ``/start`` do it; what
    they type and press goes through the Telegram channel's inbound (``TelegramInbound.receive``,
    what the webhook and polling hand each update to), so a button reaches dispatch exactly as it
    would from Telegram: its callback data parsed, stored once, routed to the opticians' desk."""

    def __init__(self, h: Harness, chats: OpticianChats) -> None:
        self.h = h
        self.chats = chats
        self.bot = Bot(_BOT_TOKEN, session=_AcknowledgingSession())
        services = h.services
        self.inbound = TelegramInbound(
            self.bot, services.files, engine=services.engine, desk=services.dispatch, members=services.members
        )
        self._updates = itertools.count(1)
        self._chats = itertools.count(7501)

    async def add(self, name: str, departments: Sequence[str]) -> str:
        """An optician in the registry (active, available, kit valid 60 days), their Telegram chat
        linked with a one-time code; their chat id."""
        dispatch = self.h.services.dispatch
        kit = self.h.clock().astimezone(SERVICE_TIME_ZONE).date() + timedelta(days=60)
        saved = await dispatch.save(None, OpticianDetails(name, _OPTICIAN_PHONE, departments, kit))
        code, _ = await dispatch.new_link(saved["id"], "script")
        chat = str(next(self._chats))
        await self.type(chat, f"/start optician_{code}")
        return chat

    async def type(self, chat: str, text: str) -> None:
        """The optician sends ``text`` in their chat."""
        message = self._message(chat, next(self._updates), text=text)
        await self._receive({"message": message})

    async def press(self, chat: str, message: ChatMessage, value: str) -> None:
        """The optician presses the button of ``value`` on ``message``."""
        payload = message.payload
        data = callback_data(payload.get("step"), value)  # what Telegram holds for the button
        shown = self._message(chat, message.id, text=str(payload.get("text", "")))
        update_id = next(self._updates)
        query = {"id": f"cb{update_id}", "from": self._user(chat), "chat_instance": chat, "data": data}
        await self._receive({"callback_query": {**query, "message": shown}}, update_id)

    async def stop(self) -> None:
        await self.inbound.stop()
        await self.bot.session.close()

    async def _receive(self, body: dict[str, Any], update_id: int | None = None) -> None:
        update = Update.model_validate(
            {"update_id": update_id or next(self._updates), **body}, context={"bot": self.bot}
        )
        assert await self.inbound.receive(update)

    def _message(self, chat: str, message_id: int, *, text: str) -> dict[str, Any]:
        sent = int(self.h.clock().timestamp())
        chat_of = {"id": int(chat), "type": "private"}
        return {
            "message_id": message_id,
            "date": sent,
            "chat": chat_of,
            "from": self._user(chat),
            "text": text,
        }

    @staticmethod
    def _user(chat: str) -> dict[str, Any]:
        return {"id": int(chat), "is_bot": False, "first_name": "Optician", "language_code": "fr"}


@contextlib.asynccontextmanager
async def harness_with_opticians(
    database_url: str, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[Harness, OpticianSide]]:
    """:func:`harness`, with the opticians' Telegram chats among the outbox's channels."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        optibot_data_dir=tmp_path / "data",
        auto_migrate=True,
        **overrides,
    )
    channel, chats, clock = RecordingChannel(), OpticianChats(), Clock()
    services = build(
        settings, [channel, chats], clock=clock, references=lambda: f"OB-T{next(_references):05d}"
    )
    async with running(services, deliver=False, retention=False):
        side = OpticianSide(Harness(services, channel, clock), chats)
        try:
            yield side.h, side
        finally:
            await side.stop()
