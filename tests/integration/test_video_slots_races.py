"""Video follow-ups under concurrency (issue 16, review), on both databases: one member pressing two
slots at once holds one; a reminder follows the slot as the claim finds it (given back and taken by
another member since it was listed: nothing to the one who gave it back); a take books the room as
it is (not the one a read before found); a staff cancel racing a take reaches the request's thread.
Each interleaving is forced at the exact point where it matters, so the tests are not flaky."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from storage import video_slots as store
from storage.tables import member_messages, member_requests, video_slots
from tests.harness import NOW
from tests.integration.test_member_account import add_request
from tests.integration.test_video_slots import add_member, keys_to, press, publish, said_to, service


def _after(
    monkeypatch: pytest.MonkeyPatch, name: str, then: Callable[[], Awaitable[None]], when: Callable[..., bool]
) -> list[bool]:
    """Run ``then`` once, right after the first call of ``store.<name>`` that ``when`` accepts."""
    original = getattr(store, name)
    done: list[bool] = []

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        if not done and when(*args, **kwargs):
            done.append(True)
            await then()
        return result

    monkeypatch.setattr(store, name, wrapped)
    return done


async def test_one_member_pressing_two_slots_at_once_holds_one(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        answer = h.services.members.slots.answer
        for race in range(20):
            first, second = await publish(h, 5 + race, 5.5 + race)
            member_id, to = await add_member(h, f"M{race}")
            await asyncio.gather(
                answer(to, member_id, press(first), on_message=None),
                answer(to, member_id, press(second), on_message=None),
            )
            held = await h.rows(video_slots, video_slots.c.optician_id == member_id)
            assert len(held) == 1, (race, [r.public_id for r in held])
            assert sorted((await keys_to(h, to))[-2:]) == ["slots.already", "slots.booked"]


async def test_a_reminder_goes_to_the_slot_as_the_claim_finds_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        (slot,) = await publish(h, 3)
        gone_id, gone = await add_member(h, "Gone")
        new_id, new = await add_member(h, "New")
        await slots.answer(gone, gone_id, press(slot), on_message=None)
        h.clock.now = NOW + timedelta(hours=2, minutes=5)  # the reminder is due

        async def give_back_and_retake() -> None:
            # Between the list of due reminders and the claim: given back, taken by another
            # member within the hour (their confirmation is their reminder).
            await slots.answer(gone, gone_id, press(f"x.{slot}"), on_message=None)
            await slots.answer(new, new_id, press(slot), on_message=None)

        forced = _after(monkeypatch, "due_reminders", give_back_and_retake, lambda *a, **k: True)
        assert await slots.remind() == 0
        assert forced == [True]
        assert (await keys_to(h, gone))[-1] == "slots.given_back"
        assert "slots.reminder" not in await keys_to(h, gone)  # never the new member's link
        assert (await keys_to(h, new))[-1] == "slots.booked"
        (row,) = await h.rows(video_slots)
        assert (row.optician_id, row.reminded_at) == (new_id, None)


async def test_a_take_books_the_room_as_it_is(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL only: on SQLite the take holds the database's write lock from its first step, so
    # the give-back cannot come between its read and its UPDATE.
    async with service(postgres_url, tmp_path) as h:
        slots = h.services.members.slots
        (slot,) = await publish(h, 3)
        first_id, first = await add_member(h, "First")
        then_id, then = await add_member(h, "Then")
        await slots.answer(first, first_id, press(slot), on_message=None)
        old_link = f"https://meet.jit.si/{(await h.rows(video_slots))[0].room}"

        async def give_back() -> None:
            await slots.answer(first, first_id, press(f"x.{slot}"), on_message=None)

        forced = _after(monkeypatch, "held_by", give_back, lambda _c, optician_id, _n: optician_id == then_id)
        await slots.answer(then, then_id, press(slot), on_message=None)
        assert forced == [True]
        booked = (await said_to(h, then))[-1]
        assert booked["key"] == "slots.booked"
        (row,) = await h.rows(video_slots)
        assert row.optician_id == then_id
        assert f"https://meet.jit.si/{row.room}" in booked["text"]
        assert old_link not in booked["text"]  # the link the member who gave it back still has


async def test_a_staff_cancel_racing_a_take_reaches_the_request(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        (slot,) = await publish(h, 3)
        member_id, to = await add_member(h, "Martine")
        await add_request(h, member_id, "A-VISIO2", "video", "new")
        (request,) = await h.rows(member_requests)

        async def take() -> None:  # the member takes it, from their request, after staff read it
            await slots.answer(to, member_id, press(f"{slot}.{request.id}"), on_message=None)

        forced = _after(monkeypatch, "slot", take, lambda *a, **k: True)
        await slots.cancel(slot, by="claire")
        assert forced == [True]
        assert (await keys_to(h, to))[-2:] == ["slots.booked", "slots.cancelled_none"]
        events = [m.text for m in await h.rows(member_messages, member_messages.c.request_id == request.id)]
        assert any("annulée par l'équipe" in text for text in events), events
