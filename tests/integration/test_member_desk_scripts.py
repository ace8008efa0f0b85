"""The members' conversation scripts (tests/conversations/members/*.chat), on both databases.

A member is an optician of the registry whose Telegram chat is linked (as the console and
``/start optician_<code>`` link it); what they type and press goes through the Telegram channel's
inbound (``TelegramInbound.receive``, which routes a linked optician's chat to the members' desk),
and what they read is what the outbox delivered to their chat. Verbs (besides ``#`` comments):

member: Claire Martin 75            the member (linked, these departments); first line
user: une avance                    the member types this
press: commission_advance           the member presses the button of that value (the last message
                                    of their chat that has it)
tamper: m.kind:short_time           a button of this step and value pressed on the member's last
                                    message (an old keyboard, or tampered callback data)
file: bilan.pdf                     the member sends a document (a generated PDF), handed to the
                                    members' desk as the channel hands it once fetched
slot: 2026-11-27 14:00              staff publish a video slot at this Paris time
bot: member.ask_kind, member.menu   the keys of what the member was sent by the last action
says: 3 000 €                       the last of those contains this
state: amount                       the member's session
request: kind=x amount_cents=300000 the member's one request has these columns (document=yes: kept,
                                    and decryptable)
no request                          the member has filed none
thread: event, in                   the kinds of the request's thread, in order
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flows.types import SERVICE_TIME_ZONE, ClientInput
from storage.tables import inbox, member_messages, member_requests, member_sessions, opticians
from tests.harness import ChatMessage, Harness, OpticianSide, harness_with_opticians
from tests.scripts import FOLDER, Line, parse

MEMBER_FOLDER = FOLDER / "members"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
ACTIONS = ("user", "press", "tamper", "file", "member")


def member_scripts() -> list[Path]:
    return sorted(MEMBER_FOLDER.glob("*.chat"))


class MemberPlayer:
    def __init__(self, h: Harness, side: OpticianSide, where: str) -> None:
        self.h = h
        self.side = side
        self.where = where
        self.chat = ""
        self.got: list[dict[str, Any]] = []

    def fail(self, line: Line, message: str) -> None:
        pytest.fail(f"{self.where}:{line.number}: {message}")

    async def play(self, line: Line) -> None:
        verb, arg = line.verb, line.argument
        if verb in ACTIONS:
            await self.act(line)
            await self.h.services.sender.flush()
            self.got = self.side.chats.read(self.chat)
        elif verb == "slot":
            when = datetime.fromisoformat(arg).replace(tzinfo=SERVICE_TIME_ZONE)
            await self.h.services.members.slots.publish([when], minutes=None, staff="Julie", by="script")
        elif verb == "bot":
            expected = [k.strip() for k in arg.split(",") if k.strip()]
            keys = [m["key"] for m in self.got]
            if keys != expected:
                texts = "\n  ".join(m["text"] for m in self.got)
                self.fail(line, f"the member got {keys}, expected {expected}\n  {texts}")
        elif verb == "says":
            if not self.got or arg not in self.got[-1]["text"]:
                self.fail(line, f"the last message does not contain {arg!r}: {self.got[-1:]}")
        elif verb == "state":
            async with self.h.services.database.connect() as connection:
                state = await connection.scalar(
                    sa.select(member_sessions.c.state).where(member_sessions.c.channel == "telegram")
                )
            if state != arg:
                self.fail(line, f"state is {state!r}, expected {arg!r}")
        elif verb == "request":
            await self.check_request(line)
        elif verb == "no request":
            found = await self.h.rows(member_requests)
            if found:
                self.fail(line, f"expected no request, found {len(found)}")
        elif verb == "thread":
            (request,) = await self.h.rows(member_requests)
            rows = await self.h.rows(member_messages, member_messages.c.request_id == request.id)
            kinds = [r.kind for r in rows]
            expected = [k.strip() for k in arg.split(",")]
            if kinds != expected:
                self.fail(line, f"the thread is {kinds}, expected {expected}")
        else:
            self.fail(line, f"unknown verb {verb!r}")

    async def act(self, line: Line) -> None:
        verb, arg = line.verb, line.argument
        if verb == "member":
            words = arg.split()
            departments = [w for w in words if w.isdigit()]
            self.chat = await self.side.add(" ".join(w for w in words if w not in departments), departments)
        elif verb == "user":
            await self.side.type(self.chat, arg)
        elif verb == "press":
            await self.side.press(self.chat, self.button(line), arg)
        elif verb == "tamper":
            step, _, value = arg.partition(":")
            last = self.side.chats.chats[self.chat][-1]
            await self.side.press(self.chat, ChatMessage(last.id, {**last.payload, "step": step}), value)
        elif verb == "file":
            path = self.h.services.files.save(PDF)
            said = ClientInput(media=path, media_name=arg)
            await self.h.services.members.receive("telegram", self.chat, said, None)

    def button(self, line: Line) -> ChatMessage:
        for message in reversed(self.side.chats.chats.get(self.chat, [])):
            if any(c["value"] == line.argument for c in message.payload.get("choices") or []):
                return message
        self.fail(line, f"no button {line.argument!r} in the member's chat")
        raise AssertionError

    async def check_request(self, line: Line) -> None:
        found = await self.h.rows(member_requests)
        if len(found) != 1:
            self.fail(line, f"expected one request, found {len(found)}")
        request = found[0]
        for pair in line.argument.split():
            name, _, want = pair.partition("=")
            if name == "document":
                got = "no" if request.document_path is None else "yes"
                if request.document_path is not None:
                    assert self.h.services.files.read(request.document_path) == PDF  # kept, encrypted
            elif name == "reference":
                got = "A-XXXXXX" if _is_reference(request.reference) else request.reference
            else:
                value = getattr(request, name)
                got = "null" if value is None else str(value)
            if got != want:
                self.fail(line, f"request {name} is {got!r}, expected {want!r}")


def _is_reference(reference: str) -> bool:
    return len(reference) == 8 and reference.startswith("A-") and not set(reference[2:]) & set("0O1I")


@pytest.mark.parametrize("script", member_scripts(), ids=lambda p: p.stem)
async def test_member_script(script: Path, database_url: str, tmp_path: Path) -> None:
    lines = parse(script)
    assert lines
    assert lines[0].verb == "member", "a member script starts with its member"
    assert any(line.verb == "bot" for line in lines), "a script must check what the member is told"
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        player = MemberPlayer(h, side, f"members/{script.name}")
        for line in lines:
            await player.play(line)


async def test_every_kind_of_request_has_a_script() -> None:
    from flows.member_table import KINDS

    texts = [p.read_text(encoding="utf-8") for p in member_scripts()]
    for kind in KINDS:
        assert any(f"request: kind={kind}" in text for text in texts), kind


def test_the_clients_scripts_do_not_include_the_members() -> None:
    from tests.scripts import scripts

    assert member_scripts()
    assert not set(member_scripts()) & set(scripts())


async def test_an_optician_not_linked_is_no_member(database_url: str, tmp_path: Path) -> None:
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        chat = await side.add("Claire Martin", ["75"])
        members = h.services.members
        assert await members.is_member("telegram", chat)
        assert not await members.is_member("telegram", "999")
        assert not await members.is_member("whatsapp", chat)
        assert (await h.rows(opticians))[0].telegram_chat == chat


async def test_a_chat_unlinked_by_another_process_is_a_client_at_once(
    database_url: str, tmp_path: Path
) -> None:
    """The linked chats are read every 5 s; one unlinked meanwhile elsewhere (another process's
    console) is not taken by the desk on the cached answer, then dropped: it is a client's message."""
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        chat = await side.add("Claire Martin", ["75"])
        assert await h.services.members.is_member("telegram", chat)  # the cache holds the chat
        async with h.services.database.begin() as connection:  # another process unlinks it
            await connection.execute(sa.update(opticians).values(telegram_chat=None))
        await side.type(chat, "Bonjour, mes lunettes sont cassées")
        async with h.services.database.connect() as connection:
            assert not (await connection.execute(sa.select(member_sessions))).all()
        payloads = [row.payload for row in await h.rows(inbox)]
        assert not [p for p in payloads if p.get("event") == "member"]
        said = [p["said"] for p in payloads if "said" in p]
        assert said == [{"text": "Bonjour, mes lunettes sont cassées"}]  # stored as a client's message


async def test_kit_asked_mid_request_drops_the_draft_and_its_document(
    database_url: str, tmp_path: Path
) -> None:
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        chat = await side.add("Claire Martin", ["75"])
        await side.type(chat, "/accompagnement")
        await side.type(chat, "autre")
        path = h.services.files.save(PDF)
        await h.services.members.receive("telegram", chat, ClientInput(media=path, media_name="a.pdf"), None)
        assert h.services.files.read(path) == PDF  # kept as the draft's document
        await side.type(chat, "/kit")
        with pytest.raises(FileNotFoundError):
            h.services.files.read(path)  # the draft is dropped: its file is not left behind
        async with h.services.database.connect() as connection:
            data = await connection.scalar(sa.select(member_sessions.c.data))
        assert data == {}


async def test_two_messages_of_a_member_at_once_are_read_one_after_the_other(
    database_url: str, tmp_path: Path
) -> None:
    """The member's session is locked for the message's transaction: "Envoyer" pressed twice at
    once files one request (the second press finds the summary gone: no longer valid)."""
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        chat = await side.add("Claire Martin", ["75"])
        members = h.services.members
        send = ClientInput(choice="send", step="m.summary")
        for round_ in range(1, 6):
            for text in ("/accompagnement", "autre", f"Question {round_}", "passer"):
                await side.type(chat, text)
            await asyncio.gather(*(members.receive("telegram", chat, send, None) for _ in range(2)))
            assert len(await h.rows(member_requests)) == round_
