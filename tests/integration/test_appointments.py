"""Appointments in storage, on both databases: each change is one conditional UPDATE, so of two
actions racing exactly one wins, and a reminder is claimed once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from storage import appointments as store
from storage.database import Database, create_engine
from storage.tables import cases, clients, conversations, identities, opticians

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
        assert await store.propose(connection, 1, DAY, 10, NOW) is None  # already proposed

    async def confirm() -> bool:
        async with database.begin() as connection:
            return await store.confirm(connection, 1, 1, NOW, None)

    async def another() -> bool:
        async with database.begin() as connection:
            return await store.ask_another_moment(connection, 1, 1, NOW)

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
