"""Video follow-ups and the member's record end to end through the Telegram channel's inbound (the
fake Bot API's updates, callback data parsed and stored once, routed to the members' desk), on both
databases: the menu → a video request → a slot pressed → the link (and on the request's thread);
two members pressing one slot at once, one wins (100 races); /moncompte and /kit with its "Annuler" button."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from storage.tables import member_messages, member_requests, video_slots
from tests.harness import ChatMessage, Harness, OpticianSide, harness_with_opticians


def _with_button(side: OpticianSide, chat: str, value: str) -> ChatMessage:
    for message in reversed(side.chats.chats.get(chat, [])):
        if any(c["value"] == value for c in message.payload.get("choices") or []):
            return message
    raise AssertionError(f"no button {value!r} in chat {chat}")


async def _press(h: Harness, side: OpticianSide, chat: str, value: str) -> ChatMessage:
    """The member presses the button of ``value`` on the newest message showing it."""
    await h.services.sender.flush()
    message = _with_button(side, chat, value)
    await side.press(chat, message, value)
    return message


async def _read(h: Harness, side: OpticianSide, chat: str) -> list[dict[str, object]]:
    await h.services.sender.flush()
    return side.chats.read(chat)


async def test_menu_video_pick_link(database_url: str, tmp_path: Path) -> None:
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        slots = h.services.members.slots
        made = await slots.publish([h.clock() + timedelta(hours=28)], minutes=None, staff="Julie", by="t")
        chat = await side.add("Claire Martin", ["75"])
        await _read(h, side, chat)
        await side.type(chat, "/accompagnement")
        await _press(h, side, chat, "video")
        await side.type(chat, "Faire le point avec le réseau.")
        await _press(h, side, chat, "skip")
        await _press(h, side, chat, "send")
        got = await _read(h, side, chat)
        assert [m["key"] for m in got][-2:] == ["member.submitted_video", "slots.offer"]
        (request,) = await h.rows(member_requests)
        value = f"{made[0].id}.{request.id}"
        assert [c["value"] for c in got[-1]["choices"]] == [value, f"none.{request.id}"]  # type: ignore[index]

        offered = await _press(h, side, chat, value)
        (booked,) = await _read(h, side, chat)
        assert booked["key"] == "slots.booked"
        assert booked["edit_message_id"] == offered.id  # the list of slots becomes the confirmation
        (row,) = await h.rows(video_slots)
        link = f"https://meet.jit.si/{row.room}"
        assert link in str(booked["text"])
        assert (row.status, row.request_id, row.channel) == ("taken", request.id, "telegram")
        # Staff see the link on the request's thread.
        events = await h.rows(member_messages, member_messages.c.kind == "event")
        assert any(link in e.text for e in events)

        # The same button pressed again: they are shown the slot they hold.
        await side.press(chat, offered, value)
        assert [m["key"] for m in await _read(h, side, chat)] == ["slots.already"]
        # /moncompte lists the follow-up and the request.
        await side.type(chat, "/moncompte")
        (record,) = await _read(h, side, chat)
        assert record["key"] == "account.summary"
        assert link in str(record["text"])
        assert f"{request.reference} — Visio de suivi" in str(record["text"])


RACES = 100


async def test_two_members_press_one_slot_through_telegram(database_url: str, tmp_path: Path) -> None:
    """100 races, each two members pressing the same slot's button at once through the Telegram
    inbound (callback data parsed, stored once, routed to the desk): one books it, the other is told
    it was just taken; 0 double bookings."""
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        slots = h.services.members.slots
        for race in range(RACES):
            (slot,) = await slots.publish(
                [h.clock() + timedelta(hours=3, minutes=race)], minutes=None, staff="J", by="t"
            )
            chats = [await side.add(f"M{race}{n}", ["75"]) for n in range(2)]
            # Each member asks for a video follow-up from the menu: the free slot comes as a button.
            for chat in chats:
                await side.type(chat, "/menu")
                await _press(h, side, chat, "video")
                await _read(h, side, chat)
            presses = [side.press(chat, _with_button(side, chat, slot.id), slot.id) for chat in chats]
            await asyncio.gather(*presses)
            outcome = sorted([(await _read(h, side, chat))[-1]["key"] for chat in chats])  # type: ignore[type-var]
            assert outcome == ["slots.booked", "slots.taken_meanwhile_none"], (race, outcome)
        taken = await h.rows(video_slots)
        assert [r.status for r in taken] == ["taken"] * RACES
        assert len({r.optician_id for r in taken}) == RACES


async def test_kit_through_telegram(database_url: str, tmp_path: Path) -> None:
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        chat = await side.add("Claire Martin", ["75"])
        await _read(h, side, chat)
        await side.type(chat, "/kit")
        assert [m["key"] for m in await _read(h, side, chat)] == ["account.kit_ask"]
        await side.type(chat, "hier")
        assert [m["key"] for m in await _read(h, side, chat)] == ["account.kit_unreadable"]
        await side.type(chat, "31/12/2027")
        (declared,) = await _read(h, side, chat)
        assert declared["key"] == "account.kit_declared"
        await _press(h, side, chat, "undo.20271231")
        assert [m["key"] for m in await _read(h, side, chat)] == ["account.kit_undone"]
        await side.type(chat, "/kit 1er juin 2027")
        assert [m["key"] for m in await _read(h, side, chat)] == ["account.kit_declared"]
