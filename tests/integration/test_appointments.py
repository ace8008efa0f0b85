"""Appointments in storage, on both databases: each change is one conditional UPDATE, so of two
actions racing exactly one wins, and a reminder is claimed once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.dispatch.booking import Booking
from bot.dispatch.notices import Notices
from bot.dispatch.reminders import Reminders
from flows.catalog import Catalog
from storage import appointments as store
from storage.database import Database, create_engine
from storage.tables import appointments, cases, clients, conversations, identities, messages, opticians

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
DAY = date(2026, 11, 27)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(clients.insert().values(id=1, created_at=NOW))
        await connection.execute(
            identities.insert().values(
                id=1, client_id=1, channel="script", external_id="zoe", key="script:zoe", created_at=NOW
            )
        )
        await connection.execute(
            conversations.insert().values(
                id=1,
                public_id="c1",
                client_id=1,
                identity_id=1,
                channel="script",
                state="handed_off",
                answers={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await connection.execute(
            cases.insert().values(
                id=1,
                reference="OB-1",
                public_id="k1",
                client_id=1,
                conversation_id=1,
                kind="emergency",
                status="dispatched",
                channel="script",
                language="fr",
                priority_rank=1,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await connection.execute(
            opticians.insert().values(
                id=1,
                public_id="o1",
                name="Anne Martin",
                phone="+33611223344",
                departments=["75"],
                telegram_chat="101",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await store.open_appointment(connection, 1, 1, NOW)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _status(database: Database) -> str:
    async with database.connect() as connection:
        appointment = await store.appointment_of(connection, 1)
    assert appointment is not None
    return appointment.status


async def test_a_confirm_racing_another_moment_one_wins(database: Database) -> None:
    async with database.begin() as connection:
        assert await store.propose(connection, 1, DAY, 9, NOW) == 1
        # Proposed again before the client answered: the first proposal's buttons are void.
        assert await store.propose(connection, 1, DAY, 10, NOW) == 2
        assert not await store.confirm(connection, 1, 1, NOW, None)

    async def confirm() -> bool:
        async with database.begin() as connection:
            return await store.confirm(connection, 1, 2, NOW, None)

    async def another() -> bool:
        async with database.begin() as connection:
            return await store.ask_another_moment(connection, 1, 2, NOW)

    results = await asyncio.gather(confirm(), another())
    assert sorted(results) == [False, True]
    assert await _status(database) == ("confirmed" if results[0] else "moved")


async def test_an_old_proposal_or_a_cancelled_appointment_cannot_be_confirmed(database: Database) -> None:
    async with database.begin() as connection:
        assert await store.propose(connection, 1, DAY, 9, NOW) == 1
        assert await store.ask_another_moment(connection, 1, 1, NOW)
        assert await store.propose(connection, 1, DAY, 11, NOW) == 2
        assert not await store.confirm(connection, 1, 1, NOW, None)  # the first proposal's button
        assert await store.cancel(connection, 1, NOW)
        assert not await store.confirm(connection, 1, 2, NOW, None)  # cancelled first: stays so
        assert not await store.set_out(connection, 1, NOW)
    assert await _status(database) == "cancelled"


async def test_a_reminder_is_claimed_once(database: Database) -> None:
    due = NOW + timedelta(hours=20)
    async with database.begin() as connection:
        assert await store.propose(connection, 1, DAY, 9, NOW) == 1
        assert await store.confirm(connection, 1, 1, NOW, due)
        assert await store.due_reminders(connection, NOW) == []  # not yet

    async def claim() -> bool:
        async with database.begin() as connection:
            return await store.claim_reminder(connection, 1, due)

    assert sorted(await asyncio.gather(claim(), claim())) == [False, True]
    async with database.connect() as connection:
        assert await store.due_reminders(connection, due + timedelta(hours=1)) == []


async def test_no_reminder_is_due_once_the_case_is_closed(database: Database) -> None:
    due = NOW + timedelta(hours=20)
    async with database.begin() as connection:
        assert await store.propose(connection, 1, DAY, 9, NOW) == 1
        assert await store.confirm(connection, 1, 1, NOW, due)
        assert await store.due_reminders(connection, due) == [1]
        await connection.execute(cases.update().where(cases.c.id == 1).values(status="done"))
        assert await store.due_reminders(connection, due) == []


async def test_a_reminder_claimed_moves_the_case_version(database: Database) -> None:
    due = NOW + timedelta(hours=20)
    async with database.begin() as connection:
        assert await store.propose(connection, 1, DAY, 9, NOW) == 1
        assert await store.confirm(connection, 1, 1, NOW, due)
        assert await store.claim_reminder(connection, 1, due)
        version = await connection.scalar(cases.select().with_only_columns(cases.c.updated_at))
    assert version is not None
    assert version.replace(tzinfo=UTC) == due


async def test_closing_the_case_on_the_way_records_the_visit_done(database: Database) -> None:
    async with database.begin() as connection:
        assert await store.propose(connection, 1, DAY, 9, NOW) == 1
        assert not await store.close_with_case(connection, 1, NOW)  # not on the way: not done
        assert await store.confirm(connection, 1, 1, NOW, None)
        assert await store.set_out(connection, 1, NOW)
        assert await store.close_with_case(connection, 1, NOW)
    assert await _status(database) == "done"


def _reminders(database: Database, now: datetime) -> Reminders:
    booking = Booking(database, Notices(Catalog.load()), lambda: now, lambda: None)
    return Reminders(database, booking, lambda: now, lambda: None)


async def _second_visit(database: Database) -> None:
    """A second case of the same client, its appointment confirmed like the first's."""
    async with database.begin() as connection:
        await connection.execute(
            cases.insert().values(
                id=2,
                reference="OB-2",
                public_id="k2",
                client_id=1,
                conversation_id=1,
                kind="emergency",
                status="dispatched",
                channel="script",
                language="fr",
                priority_rank=1,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await store.open_appointment(connection, 2, 1, NOW)


async def _reminded(database: Database) -> dict[int, bool]:
    async with database.connect() as connection:
        rows = await connection.execute(sa.select(appointments.c.case_id, appointments.c.reminded_at))
        return {case_id: reminded_at is not None for case_id, reminded_at in rows}


async def _outbound(database: Database) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).where(messages.c.direction == "out")))


async def test_one_failing_reminder_does_not_hold_back_the_others(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 7:00 in Paris, the visits at 9:00
    await _second_visit(database)
    async with database.begin() as connection:
        for case_id in (1, 2):
            assert await store.propose(connection, case_id, DAY, 9, NOW) == 1
            assert await store.confirm(connection, case_id, 1, NOW, due)
    original = Reminders._remind

    async def failing(self: Reminders, connection: Any, client: Any, appointment: Any, *rest: Any) -> None:
        if appointment.case_id == 1:
            raise RuntimeError("the first one breaks")
        await original(self, connection, client, appointment, *rest)

    monkeypatch.setattr(Reminders, "_remind", failing)
    assert await _reminders(database, due).remind() == 1
    assert await _reminded(database) == {1: False, 2: True}  # the first is tried again next sweep
    assert await _outbound(database) == 2  # the second's, to the client and the optician


async def test_a_reminder_found_after_the_visit_started_is_claimed_not_sent(database: Database) -> None:
    due = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 7:00 in Paris, the visit at 9:00
    async with database.begin() as connection:
        assert await store.propose(connection, 1, DAY, 9, NOW) == 1
        assert await store.confirm(connection, 1, 1, NOW, due)
    late = datetime(2026, 11, 27, 8, 10, tzinfo=UTC)  # 9:10 in Paris: after a downtime
    assert await _reminders(database, late).remind() == 0
    assert await _reminded(database) == {1: True}  # claimed: never sent later either
    assert await _outbound(database) == 0
