"""Every conversation script, played through the real engine, storage and outbox on both databases."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.console.auth import Operator
from bot.dispatch.buttons import OfferAnswer, SlotPick, VisitOutcome
from bot.dispatch.buttons import parse as parse_button
from flows.types import SERVICE_TIME_ZONE
from storage.tables import appointments, cases, clients, consents, conversations, identities, waitlist
from tests.harness import ChatMessage, Harness, OpticianSide, harness, harness_with_opticians
from tests.scripts import Line, parse, scripts

ADVISOR = Operator(0, "script", "alice", "admin")
# What makes something happen (the others only check): after each, both sides' new messages are read.
CLIENT_ACTIONS = ("user", "press", "file", "contact", "sticker")
SERVICE_ACTIONS = ("optician", "optician press", "dispatch", "sweep")


def tiny_png() -> bytes:
    """A valid 1×1 PNG, made here (a prescription photo stand-in)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def button_name(step: str | None, value: str) -> str | None:
    """What a script calls an optician's button: ``accept``, ``decline``, ``window 09``,
    ``half_day 2026-11-30 am``, ``other_half_day``, ``en_route``, ``done``, ``fail``, ``absent``..."""
    pressed = parse_button(step or "", value)
    if isinstance(pressed, OfferAnswer):
        return "accept" if pressed.accept else "decline"
    if isinstance(pressed, VisitOutcome):
        return "en_route" if pressed.verb == "route" else pressed.verb
    if isinstance(pressed, SlotPick):
        if pressed.day is None:
            return "other_half_day"
        if pressed.hour is not None:
            return f"window {pressed.hour:02d}"
        return f"half_day {pressed.day.isoformat()} {pressed.part}"
    return None


class Player:
    def __init__(self, h: Harness, user: str, where: str, opticians: OpticianSide | None = None) -> None:
        self.h = h
        self.user = user
        self.where = where
        self.replies: list[dict[str, Any]] = []
        self.language: Any = None
        self.opticians = opticians
        self.chat: str | None = None  # the optician's Telegram chat
        self.optician_got: list[dict[str, Any]] = []

    def fail(self, line: Line, message: str) -> None:
        pytest.fail(f"{self.where}:{line.number}: {message}")

    async def play(self, line: Line) -> None:
        if line.verb in SERVICE_ACTIONS:
            await self.serve(line)
            self.replies = await self.h.delivered_to(self.user)  # what the client was sent meanwhile
        else:
            await self.act(line)
        if self.chat is not None and line.verb in (*CLIENT_ACTIONS, *SERVICE_ACTIONS):
            await self.h.services.sender.flush()
            self.optician_got = self.opticians_side(line).chats.read(self.chat)

    async def act(self, line: Line) -> None:
        verb, arg = line.verb, line.argument
        if verb == "lang":
            self.language = arg
        elif verb == "clock":
            self.h.clock.now = datetime.fromisoformat(arg).replace(tzinfo=SERVICE_TIME_ZONE).astimezone(UTC)
        elif verb == "user":
            self.replies = await self.h.send(self.user, text=arg, language=self.language)
        elif verb == "press":
            step = next((r["step"] for r in reversed(self.replies) if r.get("choices")), None)
            self.replies = await self.h.send(self.user, choice=arg, step=step)
        elif verb == "file":
            path = self.h.services.files.save(tiny_png())
            self.replies = await self.h.send(self.user, media=path)
        elif verb == "contact":
            self.replies = await self.h.send(self.user, contact_phone=arg)
        elif verb == "sticker":
            self.replies = await self.h.send(self.user, unsupported="sticker")
        elif verb == "bot":
            expected = [k.strip() for k in arg.split(",") if k.strip()]
            keys = [r["key"] for r in self.replies]
            if keys != expected:
                texts = "\n  ".join(r["text"] for r in self.replies)
                self.fail(line, f"bot said {keys}, expected {expected}\n  {texts}")
        elif verb == "says":
            if not self.replies or arg not in self.replies[-1]["text"]:
                self.fail(line, f"last reply does not contain {arg!r}: {self.replies[-1:]}")
        elif verb in ("state", "owner"):
            convo = await self.conversation()
            if convo is None or getattr(convo, verb) != arg:
                self.fail(line, f"{verb} is {getattr(convo, verb, None)!r}, expected {arg!r}")
        elif verb == "case":
            await self.check_case(line)
        elif verb == "no case":
            found = await self.cases()
            if found:
                self.fail(line, f"expected no case, found {len(found)}")
        elif verb == "waitlist":  # "1", or "1 department=29 reason=suspended": the last entry's columns
            count, *pairs = arg.split()
            rows = await self.h.rows(waitlist, waitlist.c.client_id.in_(await self.client_ids()))
            if len(rows) != int(count):
                self.fail(line, f"waitlist has {len(rows)} entries, expected {count}")
            for name, _, want in (pair.partition("=") for pair in pairs):
                got = getattr(rows[-1], name)
                if ("null" if got is None else str(got)) != want:
                    self.fail(line, f"waitlist {name} is {got!r}, expected {want!r}")
        elif verb == "level":  # "normal", or "suspended 75": an admin switches the service level
            level, *department = arg.split()
            await self.h.services.levels.set(level, department=(department or [None])[0], by="script")
        elif verb == "erased":
            if await self.client_ids():
                self.fail(line, "the client's data is still stored")
        elif verb == "optician gets":
            expected = [k.strip() for k in arg.split(",") if k.strip()]
            keys = [m["key"] for m in self.optician_got]
            if keys != expected:
                texts = "\n  ".join(m["text"] for m in self.optician_got)
                self.fail(line, f"the optician got {keys}, expected {expected}\n  {texts}")
        elif verb == "optician reads":
            if not self.optician_got or arg not in self.optician_got[-1]["text"]:
                self.fail(
                    line, f"the optician's last message does not contain {arg!r}: {self.optician_got[-1:]}"
                )
        elif verb == "appointment":
            await self.check_appointment(line)
        else:
            self.fail(line, f"unknown verb {verb!r}")

    def opticians_side(self, line: Line) -> OpticianSide:
        if self.opticians is None:
            self.fail(line, "no optician in this script")
        assert self.opticians is not None
        return self.opticians

    async def serve(self, line: Line) -> None:
        """What the optician, an advisor or the service does."""
        side = self.opticians_side(line)
        if line.verb == "optician":  # "Claire Martin 75 92": a name, then departments
            words = line.argument.split()
            departments = [w for w in words if w.isdigit() or w.upper() in ("2A", "2B")]
            self.chat = await side.add(" ".join(w for w in words if w not in departments), departments)
        elif line.verb == "optician press":
            assert self.chat is not None
            message, value = self.button(line, side.chats.chats.get(self.chat, []))
            await side.press(self.chat, message, value)
        elif line.verb == "dispatch":  # an advisor takes the case and sends it to the opticians
            (case,) = await self.cases()
            await self.h.services.console.claim(ADVISOR, case.public_id)
            await self.h.services.console.dispatch(ADVISOR, case.public_id)
        elif line.verb == "sweep":  # dispatch's periodic sweep, once, at the script's clock
            await self.h.services.dispatch.sweep_once()
            await self.h.services.dispatch.remind()

    def button(self, line: Line, chat: list[ChatMessage]) -> tuple[ChatMessage, str]:
        """The last message of the optician's chat with the button named ``line.argument``."""
        for message in reversed(chat):
            payload = message.payload
            for choice in payload.get("choices") or []:
                if button_name(payload.get("step"), choice["value"]) == line.argument:
                    return message, choice["value"]
        self.fail(line, f"no button {line.argument!r} in the optician's chat")
        raise AssertionError  # unreachable: fail raises

    async def check_appointment(self, line: Line) -> None:
        case_ids = [c.id for c in await self.cases()]
        found = await self.h.rows(appointments, appointments.c.case_id.in_(case_ids))
        if len(found) != 1:
            self.fail(line, f"expected one appointment, found {len(found)}")
        for pair in _pairs(line.argument):
            name, _, want = pair.partition("=")
            value = getattr(found[0], name)
            if isinstance(value, datetime):  # read in Paris time, as the script's clock
                value = value.astimezone(SERVICE_TIME_ZONE).strftime("%Y-%m-%d %H:%M")
            got = "null" if value is None else str(value)
            if got != want:
                self.fail(line, f"appointment {name} is {got!r}, expected {want!r}")

    async def client_ids(self) -> list[int]:
        rows = await self.h.rows(identities, identities.c.key == f"script:{self.user}")
        return [r.client_id for r in rows]

    async def conversation(self) -> Any:
        found = await self.h.rows(identities, identities.c.key == f"script:{self.user}")
        if not found:
            return None
        rows = await self.h.rows(conversations, conversations.c.id == found[0].conversation_id)
        return rows[0] if rows else None

    async def cases(self) -> list[Any]:
        return await self.h.rows(cases, cases.c.client_id.in_(await self.client_ids()))

    async def check_case(self, line: Line) -> None:
        found = await self.cases()
        if len(found) != 1:
            self.fail(line, f"expected one case, found {len(found)}")
        case = found[0]
        for pair in _pairs(line.argument):
            name, _, want = pair.partition("=")
            got = await self.case_value(case, name)
            if got != want:
                self.fail(line, f"case {name} is {got!r}, expected {want!r}")

    async def case_value(self, case: Any, name: str) -> str:
        if name == "consent":
            if case.consent_id is None:
                return "no"
            rows = await self.h.rows(consents, consents.c.id == case.consent_id)
            return "yes" if rows and rows[0].wording_version else "no"
        if name == "client_wrote":
            return "yes" if case.client_wrote_at is not None else "no"
        if name == "slot":
            return f"{case.slot_date.isoformat()}/{case.slot_part}" if case.slot_date else "null"
        if name == "prescription":
            if case.prescription_path is None:
                return "no"
            self.h.services.files.read(case.prescription_path)  # stored and decryptable
            return "yes"
        column = {"name": "contact_name", "phone": "contact_phone"}.get(name, name)
        value = getattr(case, column)
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)


def _pairs(argument: str) -> list[str]:
    """``a=b c=d e=f g`` → ["a=b", "c=d", "e=f g"] (values may contain spaces)."""
    pairs: list[str] = []
    for token in argument.split():
        if "=" in token or not pairs:
            pairs.append(token)
        else:
            pairs[-1] += f" {token}"
    return pairs


@pytest.mark.parametrize("script", scripts(), ids=lambda p: p.stem)
async def test_conversation_script(script: Path, database_url: str, tmp_path: Path) -> None:
    lines = parse(script)
    assert any(line.verb == "bot" for line in lines), "a script must check what the bot says"
    async with harness_with_opticians(database_url, tmp_path) as (h, opticians):
        player = Player(h, f"client-{script.stem}", script.name, opticians)
        for line in lines:
            await player.play(line)


async def test_scripts_cover_every_path() -> None:
    names = {p.stem for p in scripts()}
    required = {
        "broken_visit_nurse",
        "lost_shipment",
        "unsuitable_with_prescription",
        "unsuitable_without_prescription",
        "not_urgent_waitlist",
        "something_else",
        "advisor_at_every_step",
        "cancel_and_restart",
        "change_at_summary",
        "english",
        "three_misses",
        "visit_booked_reminded_done",
        "visit_moved_and_cancelled",
        "optician_proposes_other_half_day",
    }
    assert required <= names, required - names


async def test_no_client_left_behind_by_erasure(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        await h.send("eraser", text="mes lunettes sont cassées")
        await h.send("eraser", text="supprimer mes données")
        replies = await h.send("eraser", choice="erase", step="confirm_delete")
        assert [r["key"] for r in replies] == ["delete.done"]
        async with h.services.database.connect() as connection:
            remaining = (await connection.execute(sa.select(sa.func.count()).select_from(clients))).scalar()
        assert remaining == 0
