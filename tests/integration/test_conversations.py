"""Every conversation script, played through the real engine, storage and outbox on both databases."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flows.types import SERVICE_TIME_ZONE
from storage.tables import cases, clients, consents, conversations, identities, waitlist
from tests.harness import Harness, harness
from tests.scripts import Line, parse, scripts


def tiny_png() -> bytes:
    """A valid 1×1 PNG, made here (a prescription photo stand-in)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


class Player:
    def __init__(self, h: Harness, user: str, where: str) -> None:
        self.h = h
        self.user = user
        self.where = where
        self.replies: list[dict[str, Any]] = []
        self.language: Any = None

    def fail(self, line: Line, message: str) -> None:
        pytest.fail(f"{self.where}:{line.number}: {message}")

    async def play(self, line: Line) -> None:
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
        elif verb == "waitlist":
            count = len(await self.h.rows(waitlist, waitlist.c.client_id.in_(await self.client_ids())))
            if count != int(arg):
                self.fail(line, f"waitlist has {count} entries, expected {arg}")
        elif verb == "erased":
            if await self.client_ids():
                self.fail(line, "the client's data is still stored")
        else:
            self.fail(line, f"unknown verb {verb!r}")

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
    async with harness(database_url, tmp_path) as h:
        player = Player(h, f"client-{script.stem}", script.name)
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
