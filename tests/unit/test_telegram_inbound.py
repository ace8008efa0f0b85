"""An optician's updates go to the opticians' desk (the port), a client's to the engine.

The channel's inbound part runs with a desk and an engine that record what they are asked, and an
aiogram session that answers from a script (the pressed button's spinner is stopped through it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.types import Update

from bot.channels.telegram.inbound import TelegramInbound
from bot.messages import Inbound
from storage.files import FileStore
from tests.unit.test_telegram_outbound import TOKEN, ScriptedSession

OPTICIAN = 5005


@dataclass
class Desk:
    """The opticians' side, recording each call; ``fail`` makes ``answer`` raise."""

    opticians: set[str] = field(default_factory=set)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail: bool = False

    async def link(self, chat: str, code: str) -> None:
        self.calls.append(("link", chat, code))

    async def is_optician(self, chat: str) -> bool:
        return chat in self.opticians

    async def set_available(self, chat: str, *, available: bool) -> None:
        self.calls.append(("available", chat, available))

    async def my_cases(self, chat: str) -> None:
        self.calls.append(("my_cases", chat))

    async def answer(self, chat: str, step: str, value: str, on_message: int | None) -> None:
        if self.fail:
            raise RuntimeError("the desk is down")
        self.calls.append(("answer", chat, step, value, on_message))


@dataclass
class Engine:
    """The engine's inbox as the inbound part uses it: what was stored, what went to the client flow."""

    stored: set[str] = field(default_factory=set)
    submitted: list[Inbound] = field(default_factory=list)

    async def store_once(self, inbound: Inbound, kind: str) -> bool:
        if inbound.external_id in self.stored:
            return False
        self.stored.add(inbound.external_id)
        return True

    async def unstore(self, inbound: Inbound) -> None:
        self.stored.discard(inbound.external_id)

    async def submit(self, inbound: Inbound) -> None:
        self.submitted.append(inbound)


def inbound(desk: Desk | None, engine: Engine, tmp_path: Path) -> tuple[TelegramInbound, ScriptedSession]:
    session = ScriptedSession()
    bot = Bot(TOKEN, session=session)
    return TelegramInbound(bot, FileStore(tmp_path), engine=engine, desk=desk), session  # type: ignore[arg-type]


async def spinners_stopped(session: ScriptedSession, count: int) -> None:
    """Wait until ``count`` pressed buttons' spinners were stopped (in the background)."""
    async with asyncio.timeout(5):
        while session.called().count("answerCallbackQuery") < count:  # noqa: ASYNC110 (the session is the signal)
            await asyncio.sleep(0)


def press(update_id: int, data: str, *, on_message: int = 77) -> Update:
    chat = {"id": OPTICIAN, "type": "private", "first_name": "Opt"}
    user = {"id": OPTICIAN, "is_bot": False, "first_name": "Opt"}
    message = {"message_id": on_message, "date": int(time.time()), "chat": chat, "text": "Une visite ?"}
    query = {"id": f"q{update_id}", "from": user, "message": message, "chat_instance": "1", "data": data}
    return Update.model_validate({"update_id": update_id, "callback_query": query})


def say(update_id: int, text: str) -> Update:
    chat = {"id": OPTICIAN, "type": "private", "first_name": "Opt"}
    user = {"id": OPTICIAN, "is_bot": False, "first_name": "Opt"}
    message = {"message_id": 1, "date": int(time.time()), "chat": chat, "from": user, "text": text}
    return Update.model_validate({"update_id": update_id, "message": message})


async def test_an_offer_answered_goes_to_the_desk_once_with_its_message(tmp_path: Path) -> None:
    desk, engine = Desk(), Engine()
    channel, session = inbound(desk, engine, tmp_path)
    assert await channel.receive(press(1, "offer:Xy12.a"))
    assert await channel.receive(press(1, "offer:Xy12.a"))  # Telegram sends it again: nothing more
    assert desk.calls == [("answer", str(OPTICIAN), "offer", "Xy12.a", 77)]
    assert engine.submitted == []
    await spinners_stopped(session, 2)  # each delivery of the press is acknowledged


async def test_a_visit_outcome_goes_to_the_desk(tmp_path: Path) -> None:
    desk = Desk()
    channel, session = inbound(desk, Engine(), tmp_path)
    await channel.receive(press(2, "visit:C9.absent", on_message=80))
    await spinners_stopped(session, 1)
    assert desk.calls == [("answer", str(OPTICIAN), "visit", "C9.absent", 80)]


async def test_an_answer_that_failed_counts_again_when_telegram_resends_it(tmp_path: Path) -> None:
    desk, engine = Desk(fail=True), Engine()
    channel, session = inbound(desk, engine, tmp_path)
    with pytest.raises(RuntimeError):
        await channel.receive(press(3, "offer:Xy12.d"))
    desk.fail = False
    await channel.receive(press(3, "offer:Xy12.d"))
    await spinners_stopped(session, 1)
    assert desk.calls == [("answer", str(OPTICIAN), "offer", "Xy12.d", 77)]


async def test_linking_and_commands_go_to_the_desk_only_for_opticians(tmp_path: Path) -> None:
    desk, engine = Desk(), Engine()
    channel, _ = inbound(desk, engine, tmp_path)
    await channel.receive(say(4, "/start optician_ABC123"))
    await channel.receive(say(5, "/disponible"))  # not an optician yet: the client flow has it
    desk.opticians.add(str(OPTICIAN))
    await channel.receive(say(6, "/indisponible@optibot_test_bot"))
    await channel.receive(say(7, "/mescas"))
    assert desk.calls == [
        ("link", str(OPTICIAN), "ABC123"),
        ("available", str(OPTICIAN), False),
        ("my_cases", str(OPTICIAN)),
    ]
    assert [i.said.text for i in engine.submitted] == ["/disponible"]


async def test_a_clients_button_goes_to_the_conversation(tmp_path: Path) -> None:
    for desk in (Desk(), None):
        engine = Engine()
        channel, session = inbound(desk, engine, tmp_path)
        await channel.receive(press(8, "need:broken"))
        (submitted,) = engine.submitted
        assert (submitted.said.step, submitted.said.choice) == ("need", "broken")
        assert submitted.receipt == {"message_id": 77}
        await spinners_stopped(session, 1)
