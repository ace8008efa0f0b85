"""Video follow-ups (issue 16) on both databases: staff publish slots, a member takes one from the
buttons and gets the Jitsi link, two members pressing one slot → one wins (100 races, 0 double
bookings, the loser told), giving a slot back, staff cancelling one, and the reminder an hour
before — once, with a moved clock, even with two services on one PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.members import MemberChat
from bot.members.slots import SLOT_STEP, SlotError
from flows.types import ClientInput
from storage.tables import access_journal, messages, opticians, video_slots
from tests.harness import NOW, Clock, Harness, harness, harness_with_opticians

_chats = itertools.count(880001)


async def add_member(
    h: Harness, name: str, departments: list[str] | None = None, **values: Any
) -> tuple[int, MemberChat]:
    """A linked optician (Telegram), straight into the registry: their id and chat."""
    chat = str(next(_chats))
    async with h.services.database.begin() as connection:
        row_id = (
            await connection.execute(
                sa.insert(opticians)
                .values(
                    public_id=f"opt{chat}",
                    name=name,
                    phone="06 11 22 33 44",
                    departments=departments or ["75"],
                    telegram_chat=chat,
                    created_at=NOW,
                    updated_at=NOW,
                    **values,
                )
                .returning(opticians.c.id)
            )
        ).scalar_one()
    return int(row_id), MemberChat("telegram", chat)


async def said_to(h: Harness, to: MemberChat) -> list[dict[str, Any]]:
    """Every message written to the member's chat (its payload with its text), oldest first."""
    rows = await h.rows(messages, messages.c.direction == "out", messages.c.party == to.chat)
    return [{**(row.payload or {}), "text": row.text} for row in rows]


async def keys_to(h: Harness, to: MemberChat) -> list[str]:
    return [m["key"] for m in await said_to(h, to)]


async def offer(
    h: Harness, to: MemberChat, optician_id: int, request_id: int | None = None
) -> dict[str, Any]:
    async with h.services.database.begin() as connection:
        await h.services.members.slots.offer(connection, to, optician_id, h.clock(), request_id=request_id)
    return (await said_to(h, to))[-1]


def press(value: str) -> ClientInput:
    return ClientInput(choice=value, step=SLOT_STEP)


async def publish(h: Harness, *hours_ahead: float, minutes: int | None = None) -> list[str]:
    starts = [h.clock() + timedelta(hours=hours) for hours in hours_ahead]
    made = await h.services.members.slots.publish(starts, minutes=minutes, staff="Claire", by="claire")
    return [view.id for view in made]


@contextlib.asynccontextmanager
async def service(database_url: str, tmp_path: Path, clock: Clock | None = None) -> AsyncIterator[Harness]:
    async with harness(database_url, tmp_path, clock=clock or Clock()) as h:
        yield h


async def test_a_member_picks_a_slot_and_gets_its_link(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        first, second = await publish(h, 2, 26)
        member_id, to = await add_member(h, "Martine")
        shown = await offer(h, to, member_id)
        assert shown["key"] == "slots.offer"
        assert shown["step"] == SLOT_STEP
        # Soonest first, then "none of these"; callback data stays within Telegram's 64 bytes.
        assert [c["value"] for c in shown["choices"]] == [first, second, "none"]
        assert shown["choices"][0]["label"] == "Jeu. 26/11 · 12h30"  # NOW is 9:30 UTC = 10:30 Paris
        assert all(len(f"{SLOT_STEP}:{c['value']}".encode()) <= 64 for c in shown["choices"])

        await slots.answer(to, member_id, press(first), on_message=None)
        booked = (await said_to(h, to))[-1]
        assert booked["key"] == "slots.booked"
        assert "jeudi 26 novembre à 12h30" in booked["text"]
        (row,) = await h.rows(video_slots, video_slots.c.public_id == first)
        link = f"https://meet.jit.si/{row.room}"
        assert link in booked["text"]
        assert row.room.startswith("optibot-")
        assert len(row.room) == len("optibot-") + 24
        assert (row.status, row.optician_id, row.channel) == ("taken", member_id, "telegram")
        assert [c["value"] for c in booked["choices"]] == [f"x.{first}"]  # "Annuler la visio"
        # Staff see it in the console's list: the member and the same link.
        listed = {v.id: v for v in await slots.listing()}
        assert (listed[first].status, listed[first].member, listed[first].link) == ("taken", "Martine", link)
        assert (listed[second].status, listed[second].member) == ("open", None)

        # One upcoming slot per member: offered again, they are shown the one they hold.
        again = await offer(h, to, member_id)
        assert again["key"] == "slots.already"
        assert link in again["text"]
        await slots.answer(to, member_id, press(second), on_message=None)
        assert (await said_to(h, to))[-1]["key"] == "slots.already"
        assert (await h.rows(video_slots, video_slots.c.public_id == second))[0].status == "open"

        # Tampered and stale buttons: a polite word and the fresh choices; nothing taken.
        for value in ("zz", "0123456789", "x.nothing", f"x.{second}"):
            await slots.answer(to, member_id, press(value), on_message=None)
        assert (await keys_to(h, to))[-4:] == [
            "slots.already",
            "slots.already",
            "slots.not_given_back",
            "slots.not_given_back",
        ]

        # Giving it back: open again for others, with a new room (the old link leads nowhere).
        await slots.answer(to, member_id, press(f"x.{first}"), on_message=None)
        assert (await said_to(h, to))[-1]["key"] == "slots.given_back"
        (row,) = await h.rows(video_slots, video_slots.c.public_id == first)
        assert (row.status, row.optician_id) == ("open", None)
        assert f"https://meet.jit.si/{row.room}" != link
        other_id, other = await add_member(h, "Paul")
        await slots.answer(other, other_id, press(first), on_message=None)
        assert (await said_to(h, other))[-1]["key"] == "slots.booked"


async def test_none_of_these_and_no_slot_free(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        member_id, to = await add_member(h, "Martine")
        assert (await offer(h, to, member_id))["key"] == "slots.offer_none"
        (only,) = await publish(h, 3)
        await h.services.members.slots.answer(to, member_id, press("none"), on_message=None)
        assert (await said_to(h, to))[-1]["key"] == "slots.none_chosen"
        # A slot that started is never taken (the button was pressed too late).
        h.clock.now += timedelta(hours=3, minutes=1)
        await h.services.members.slots.answer(to, member_id, press(only), on_message=None)
        assert (await said_to(h, to))[-1]["key"] == "slots.taken_meanwhile_none"
        assert (await h.rows(video_slots))[0].status == "open"


async def test_publishing_refuses_past_far_and_twice(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        now = h.clock()
        for starts, minutes in (
            ([now - timedelta(minutes=1)], None),
            ([now + timedelta(days=400)], None),
            ([now + timedelta(hours=1)] * 2, None),
            ([now + timedelta(hours=1)], 5),
            ([], None),
        ):
            with pytest.raises(SlotError):
                await slots.publish(starts, minutes=minutes, staff="x", by="claire")
        assert await h.rows(video_slots) == []
        made = await slots.publish([now + timedelta(hours=1)], minutes=None, staff="", by="claire")
        assert (made[0].minutes, made[0].staff) == (30, "claire")  # VIDEO_SLOT_MINUTES, the caller
        journal = await h.rows(access_journal, access_journal.c.action == "video_slot")
        assert [(j.actor, j.detail) for j in journal] == [("claire", f"add {made[0].id}")]


async def _race(h: Harness, first: tuple[int, MemberChat], second: tuple[int, MemberChat]) -> str:
    (slot,) = await publish(h, 5)
    answer = h.services.members.slots.answer
    await asyncio.gather(
        answer(first[1], first[0], press(slot), on_message=None),
        answer(second[1], second[0], press(slot), on_message=None),
    )
    return slot


async def test_two_members_one_slot_one_wins_in_100_races(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        pairs = [(await add_member(h, f"A{n}"), await add_member(h, f"B{n}")) for n in range(100)]
        for first, second in pairs:
            await _race(h, first, second)
        taken = await h.rows(video_slots)
        assert len(taken) == 100
        assert all(row.status == "taken" and row.optician_id is not None for row in taken)
        winners = {row.optician_id for row in taken}
        assert len(winners) == 100  # one member per slot, one slot per race
        for first, second in pairs:
            outcome = sorted([(await keys_to(h, first[1]))[-1], (await keys_to(h, second[1]))[-1]])
            assert outcome == ["slots.booked", "slots.taken_meanwhile_none"], outcome
            assert len({first[0], second[0]} & winners) == 1


async def test_staff_cancel_tells_the_member_and_offers_the_others(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        held, spare = await publish(h, 4, 6)
        member_id, to = await add_member(h, "Martine")
        await slots.answer(to, member_id, press(held), on_message=None)
        cancelled = await slots.cancel(held, by="claire")
        assert (cancelled.status, cancelled.member) == ("cancelled", None)
        told = (await said_to(h, to))[-1]
        assert told["key"] == "slots.cancelled"
        assert "jeudi 26 novembre à 14h30" in told["text"]
        assert [c["value"] for c in told["choices"]] == [spare, "none"]
        with pytest.raises(SlotError):
            await slots.cancel(held, by="claire")  # already cancelled
        with pytest.raises(LookupError):
            await slots.cancel("nothing", by="claire")
        # Open slots are withdrawn silently; a started one is not cancelled any more.
        h.clock.now += timedelta(hours=7)
        with pytest.raises(SlotError):
            await slots.cancel(spare, by="claire")
        journal = await h.rows(access_journal, access_journal.c.action == "video_slot")
        assert [j.detail for j in journal][-1] == f"cancel {held}"


# --- the reminder an hour before ---------------------------------------------------------------------


async def _taken(h: Harness, hours: float) -> tuple[str, MemberChat]:
    (slot,) = await publish(h, hours)
    member_id, to = await add_member(h, f"M{slot}")
    await h.services.members.slots.answer(to, member_id, press(slot), on_message=None)
    return slot, to


async def test_the_reminder_goes_once_an_hour_before(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        _, to = await _taken(h, 3)
        late, stale = await _taken(h, 2.5)
        _, now_to = await _taken(h, 0.5)  # taken within the hour: its confirmation is the reminder
        h.clock.now = NOW + timedelta(hours=1, minutes=20)
        assert await slots.remind() == 0
        # At 2h35: the 3 h slot's reminder is due; the 2h30 one has started: claimed, not sent.
        h.clock.now = NOW + timedelta(hours=2, minutes=35)
        assert await slots.remind() == 1
        assert await slots.remind() == 0
        reminder = (await said_to(h, to))[-1]
        assert reminder["key"] == "slots.reminder"
        assert "dans 25 min" in reminder["text"]
        assert "meet.jit.si/optibot-" in reminder["text"]
        (row,) = await h.rows(video_slots, video_slots.c.public_id == late)
        assert row.reminded_at is not None
        assert "slots.reminder" not in await keys_to(h, stale)
        assert "slots.reminder" not in await keys_to(h, now_to)
        assert [k for k in await keys_to(h, to) if k == "slots.reminder"] == ["slots.reminder"]


async def test_the_running_service_reminds_when_woken(database_url: str, tmp_path: Path) -> None:
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        _, to = await _taken(h, 3)
        await h.services.sender.flush()
        side.chats.read(to.chat)
        h.clock.now = NOW + timedelta(hours=2, minutes=30)
        h.services.members.wake()
        for _ in range(500):  # the loop wakes, claims and enqueues; the outbox delivers
            await h.services.sender.flush()
            got = [p.get("key") for p in side.chats.read(to.chat)]
            if got:
                break
            await asyncio.sleep(0.01)
        assert got == ["slots.reminder"]


async def test_two_services_on_one_postgres_remind_once(postgres_url: str, tmp_path: Path) -> None:
    clock = Clock()
    async with (
        service(postgres_url, tmp_path / "a", clock) as one,
        service(postgres_url, tmp_path / "b", clock) as two,
    ):
        taken = [await _taken(one, 3) for _ in range(20)]
        clock.now = NOW + timedelta(hours=2, minutes=5)
        counts = await asyncio.gather(*(s.services.members.slots.remind() for s in (one, two, one, two)))
        assert sum(counts) == 20
        for _, to in taken:
            assert [k for k in await keys_to(one, to) if k == "slots.reminder"] == ["slots.reminder"]


async def test_retention_drops_slots_started_long_ago(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        old, recent = await publish(h, 2, 3)
        member_id, to = await add_member(h, "Martine")
        await slots.answer(to, member_id, press(old), on_message=None)
        # RETENTION_MEMBER_REQUEST_DAYS (730 by default) after the first started, not the second.
        h.clock.now = NOW + timedelta(days=730, hours=2, minutes=30)
        done = await h.services.engine.privacy.purge()
        assert ("video follow-up slots started long ago", 1) in done.lines()
        assert [r.public_id for r in await h.rows(video_slots)] == [recent]


async def test_retention_drops_messages_to_members_sent_long_ago(database_url: str, tmp_path: Path) -> None:
    """A member's messages (about no case: menus, replies, reminders, announcements) are staff data,
    deleted as long after they were sent or failed as members' requests, not before."""
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        (first,) = await publish(h, 2)
        member_id, to = await add_member(h, "Martine")
        await slots.answer(to, member_id, press(first), on_message=None)
        async with h.services.database.begin() as connection:
            await connection.execute(
                sa.update(messages)
                .where(messages.c.direction == "out", messages.c.party == to.chat)
                .values(sent_at=NOW)
            )
        told = await h.rows(messages, messages.c.party == to.chat)
        assert told, "the member was told of their slot"
        h.clock.now = NOW + timedelta(days=729)
        assert ("messages to opticians and members sent long ago", 0) in (
            await h.services.engine.privacy.purge()
        ).lines()
        h.clock.now = NOW + timedelta(days=731)
        done = await h.services.engine.privacy.purge()
        assert ("messages to opticians and members sent long ago", len(told)) in done.lines()
        assert await h.rows(messages, messages.c.party == to.chat) == []
