"""The staff's reminder of a video follow-up (issue 16, point 3), on both databases: when the
member's reminder is claimed, the request the slot was taken from gets a "Rappel" event on its
thread in the same transaction — once, with the member's name, the hour, the staff and the link;
also when the member can no longer be reached; never for a slot that started or was taken from
no request."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import sqlalchemy as sa

from storage.tables import member_messages, member_requests, opticians, video_slots
from tests.harness import NOW, Harness
from tests.integration.test_member_account import add_request
from tests.integration.test_video_slots import add_member, keys_to, press, publish, service


async def _request_id(h: Harness, reference: str) -> int:
    (request,) = await h.rows(member_requests, member_requests.c.reference == reference)
    return int(request.id)


async def _events(h: Harness, request_id: int) -> list[str]:
    rows = await h.rows(member_messages, member_messages.c.request_id == request_id)
    return [row.text for row in rows if row.kind == "event"]


async def test_the_staffs_reminder_goes_on_the_requests_thread_once(
    database_url: str, tmp_path: Path
) -> None:
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        first, unlinked_slot, bare = await publish(h, 3, 3.5, 4)
        member_id, to = await add_member(h, "Anne Martin")
        await add_request(h, member_id, "A-VISIO3", "video", "in_progress")
        request_id = await _request_id(h, "A-VISIO3")
        await slots.answer(to, member_id, press(f"{first}.{request_id}"), on_message=None)
        # A member unlinked since they took it: staff are reminded all the same.
        gone_id, gone = await add_member(h, "Paul Durand")
        await add_request(h, gone_id, "A-VISIO4", "video", "new")
        gone_request = await _request_id(h, "A-VISIO4")
        await slots.answer(gone, gone_id, press(f"{unlinked_slot}.{gone_request}"), on_message=None)
        async with h.services.database.begin() as connection:
            await connection.execute(
                sa.update(opticians).where(opticians.c.id == gone_id).values(telegram_chat=None)
            )
        # Taken from no request (the menu's "Réserver une visio"): no thread to write on.
        bare_id, bare_to = await add_member(h, "Lise")
        await slots.answer(bare_to, bare_id, press(bare), on_message=None)
        before = {r: await _events(h, r) for r in (request_id, gone_request)}
        (row,) = await h.rows(video_slots, video_slots.c.public_id == first)
        link = f"https://meet.jit.si/{row.room}"

        h.clock.now = NOW + timedelta(hours=2, minutes=5)  # first's reminder is due (3 h ahead)
        assert await slots.remind() == 1
        assert await slots.remind() == 0
        added = (await _events(h, request_id))[len(before[request_id]) :]
        # NOW is 9:30 UTC = 10:30 Paris: the slot starts at 13h30 Paris, in 55 min.
        assert added == [f"Rappel : visio avec Anne Martin à 13h30 (dans 55 min, avec Claire) — {link}"]
        assert [k for k in await keys_to(h, to) if k == "slots.reminder"] == ["slots.reminder"]
        (request,) = await h.rows(member_requests, member_requests.c.id == request_id)
        updated = request.updated_at
        updated = updated.replace(tzinfo=UTC) if updated.tzinfo is None else updated
        assert updated == h.clock.now  # the thread changed: the Réseau view is told

        h.clock.now = NOW + timedelta(hours=3, minutes=5)  # the unlinked member's and Lise's
        assert await slots.remind() == 1  # Lise only: the other member has no chat any more
        added = (await _events(h, gone_request))[len(before[gone_request]) :]
        assert len(added) == 1
        assert added[0].startswith("Rappel : visio avec Paul Durand à 14h")
        assert sum(t.startswith("Rappel") for t in await _events(h, request_id)) == 1  # still once
        events = await h.rows(member_messages, member_messages.c.kind == "event")
        assert sum(e.text.startswith("Rappel") for e in events) == 2  # none for Lise's slot


async def test_no_staff_reminder_for_a_slot_that_started(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        slots = h.services.members.slots
        (slot,) = await publish(h, 3)
        member_id, to = await add_member(h, "Anne Martin")
        await add_request(h, member_id, "A-LATE22", "video", "in_progress")
        request_id = await _request_id(h, "A-LATE22")
        await slots.answer(to, member_id, press(f"{slot}.{request_id}"), on_message=None)
        h.clock.now = NOW + timedelta(hours=3, minutes=1)  # found after the start: claimed, not told
        assert await slots.remind() == 0
        assert not [t for t in await _events(h, request_id) if t.startswith("Rappel")]
        (row,) = await h.rows(video_slots, video_slots.c.public_id == slot)
        assert row.reminded_at is not None
