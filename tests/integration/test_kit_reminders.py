"""The opticians' protection kits, on both databases: reminders 14 and 3 days before the kit expires
and once after, through the fake Bot API, each sent once whatever the sweeps and processes; a new
expiry date re-arms them; the admins' list of kits to renew, in the console and the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dispatch import Dispatch, OpticianDetails
from bot.dispatch.kits import KitReminders
from bot.dispatch.notices import Notices, service_day
from bot.engine import utcnow
from flows.catalog import Catalog
from flows.types import SERVICE_TIME_ZONE
from storage.database import create_engine
from storage.tables import opticians
from tests.e2e.test_cli import optibot
from tests.fakes.telegram import FakeTelegram
from tests.harness import RealClock
from tests.integration.serving import Service
from tests.integration.test_console import PASSWORD
from tests.integration.test_dispatch import _drained, _optician, fake, serve
from tests.integration.test_telegram import Client

__all__ = ["fake"]
ANNE = 1501
BRUNO = 1502
SOON = "kit de protection expire le"
EXPIRED = "kit de protection a expiré"


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SERVICE_TIME_ZONE)


def _clock_at(clock: RealClock, moment: datetime) -> None:
    clock.shift = moment - utcnow()


def _tomorrow_at(hour: int, minute: int = 0) -> RealClock:
    """A clock set to tomorrow, Paris time, at this hour (ahead of the real one: links stay valid)."""
    clock = RealClock()
    _clock_at(clock, _at(service_day(utcnow()) + timedelta(days=1), hour, minute))
    return clock


@asynccontextmanager
async def _other_process(service: Service, clock: RealClock) -> AsyncIterator[Dispatch]:
    """Dispatch as another process of the service builds it: its own engine on the same database."""
    database = create_engine(service.services.settings.database_url)
    try:
        yield Dispatch(database, Catalog.load(), clock, lambda: None)
    finally:
        await database.dispose()


async def _set_kit(service: Service, public_id: str, name: str, kit: date, **extra: bool) -> None:
    """The console changes the optician's kit date (their departments stay 75)."""
    await service.services.dispatch.save(
        public_id, OpticianDetails(name, "06 11 22 33 44", ["75"], kit, **extra)
    )


def _kit_messages(fake: FakeTelegram, chat: int) -> list[str]:
    return [m.text for m in fake.messages_to(chat) if SOON in m.text or EXPIRED in m.text]


async def _swept_by_two_processes(service: Service, other: Dispatch) -> int:
    """Both processes sweep (the service's own sweep may run too): how many reminders they sent."""
    first = await service.services.dispatch.kits.remind()
    second = await other.kits.remind()
    return first + second


async def test_each_reminder_goes_once_and_a_new_date_rearms_them(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    clock = _tomorrow_at(7, 30)
    async with (
        serve(database_url, tmp_path, fake, clock=clock) as service,
        _other_process(service, clock) as other,
    ):
        anne = await _optician(
            fake, service, ANNE, "Anne Martin", ["75"], kit=date.today() + timedelta(days=90)
        )
        chat = Client(fake, ANNE)
        chat.seen = len(fake.messages_to(ANNE))
        today = service_day(clock())
        kits = service.services.dispatch.kits

        # Ten days before: nothing before 8:00 in Paris, then the 14-day reminder, once.
        await _set_kit(service, anne, "Anne Martin", today + timedelta(days=10))
        assert await _swept_by_two_processes(service, other) == 0
        _clock_at(clock, _at(today, 8, 1))
        assert await _swept_by_two_processes(service, other) <= 1  # the service's sweep may be first
        reminder = (await chat.expect(SOON, "dans 10 jours", within=15))[-1]
        assert "renouvelez-le" in reminder.text
        assert await _swept_by_two_processes(service, other) == 0
        (row,) = await service.rows(opticians)
        assert (row.kit_reminded_on, row.kit_reminded_days) == (today + timedelta(days=10), 14)

        # Two days before: the 3-day reminder, once (two processes sweeping the same moment).
        _clock_at(clock, _at(today + timedelta(days=8), 9))
        assert await _swept_by_two_processes(service, other) <= 1
        await chat.expect(SOON, "dans 2 jours", within=15)
        assert await _swept_by_two_processes(service, other) == 0

        # The day after it expired: one message; none the days after.
        _clock_at(clock, _at(today + timedelta(days=11), 8, 30))
        assert await _swept_by_two_processes(service, other) <= 1
        await chat.expect(EXPIRED, "ne recevez plus de visites", within=15)
        _clock_at(clock, _at(today + timedelta(days=12), 10))
        assert await _swept_by_two_processes(service, other) == 0
        assert await kits.remind() == 0

        # The kit renewed (a new date entered in the console): the reminders are armed again.
        later = today + timedelta(days=12)
        await _set_kit(service, anne, "Anne Martin", later + timedelta(days=13))
        assert await _swept_by_two_processes(service, other) <= 1
        await chat.expect(SOON, "dans 13 jours", within=15)
        assert await _swept_by_two_processes(service, other) == 0

        await _drained(service)
        texts = _kit_messages(fake, ANNE)
        assert len(texts) == 4, texts
        assert [
            ("dans 10 jours" in t, "dans 2 jours" in t, EXPIRED in t, "dans 13 jours" in t) for t in texts
        ] == [
            (True, False, False, False),
            (False, True, False, False),
            (False, False, True, False),
            (False, False, False, True),
        ]
        (row,) = await service.rows(opticians)
        assert (row.kit_reminded_on, row.kit_reminded_days) == (later + timedelta(days=13), 14)


class HeldWrites:
    """Another process's engine whose first transaction waits for ``go``: it has read the due
    reminders (``read``) and is about to claim one, as a process would that a first one overtakes."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.read = asyncio.Event()
        self.go = asyncio.Event()

    def connect(self) -> Any:
        return self.engine.connect()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Any]:
        self.read.set()
        await self.go.wait()
        async with self.engine.begin() as connection:
            yield connection


async def test_a_process_overtaken_between_reading_and_claiming_sends_nothing(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    clock = _tomorrow_at(7)
    async with serve(database_url, tmp_path, fake, clock=clock) as service:
        anne = await _optician(
            fake, service, ANNE, "Anne Martin", ["75"], kit=date.today() + timedelta(days=90)
        )
        today = service_day(clock())
        await _set_kit(service, anne, "Anne Martin", today + timedelta(days=3))
        engine = create_engine(database_url)
        try:
            held = HeldWrites(engine)
            other = KitReminders(cast(AsyncEngine, held), Notices(Catalog.load()), clock, lambda: None)
            _clock_at(clock, _at(today, 9))
            late = asyncio.create_task(other.remind())
            await held.read.wait()  # the other process found the reminder due
            await service.services.dispatch.kits.remind()  # this one (or the service's sweep) sends it
            await Client(fake, ANNE).expect(SOON, "dans 3 jours", within=15)
            held.go.set()
            assert await late == 0  # its claim finds the reminder taken: nothing more is sent
        finally:
            await engine.dispose()
        await _drained(service)
        assert len(_kit_messages(fake, ANNE)) == 1


async def test_no_reminder_to_an_unlinked_or_inactive_optician(
    database_url: str, tmp_path: Path, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    clock = _tomorrow_at(9)
    async with serve(database_url, tmp_path, fake, clock=clock) as service:
        dispatch = service.services.dispatch
        today = service_day(clock())
        bruno = await _optician(fake, service, BRUNO, "Bruno Petit", ["75"], kit=today + timedelta(days=90))
        await _set_kit(service, bruno, "Bruno Petit", today + timedelta(days=5), active=False)
        kit = today - timedelta(days=1)
        await dispatch.save(None, OpticianDetails("Chloé Sans Telegram", "06 11 22 33 55", ["92"], kit))
        assert await dispatch.kits.remind() == 0
        await _drained(service)
        assert _kit_messages(fake, BRUNO) == []
        assert not [r for r in caplog.records if r.name == "bot.dispatch.kits"]  # none even tried
        assert [(r.kit_reminded_on, r.kit_reminded_days) for r in await service.rows(opticians)] == [
            (None, None),
            (None, None),
        ]
        # Active again: Bruno is told now.
        await _set_kit(service, bruno, "Bruno Petit", today + timedelta(days=5))
        await dispatch.kits.remind()
        await Client(fake, BRUNO).expect(SOON, "dans 5 jours", within=15)


async def test_the_kits_to_renew_are_for_admins_only(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    clock = _tomorrow_at(9)
    async with serve(database_url, tmp_path, fake, clock=clock) as service:
        dispatch = service.services.dispatch
        accounts = service.services.accounts
        await accounts.add("alice", PASSWORD, "admin")
        await accounts.add("bob", PASSWORD, "operator")
        today = service_day(clock())
        anne = await _optician(
            fake, service, ANNE, "Anne Martin", ["75", "92"], kit=today + timedelta(days=90)
        )
        await _set_kit(service, anne, "Anne Martin", today + timedelta(days=2))
        await dispatch.kits.remind()
        await Client(fake, ANNE).expect(SOON, within=15)
        for name, kit in [("Chloé Expirée", -4), ("Denis Bientôt", 14), ("Emma Tranquille", 15)]:
            await dispatch.save(
                None, OpticianDetails(name, "06 11 22 33 55", ["93"], today + timedelta(days=kit))
            )

        async with httpx.AsyncClient(base_url=service.base, timeout=15) as anonymous:
            assert (await anonymous.get("/api/console/opticians/kits")).status_code == 401
        async with httpx.AsyncClient(base_url=service.base, timeout=15) as bob:
            assert (
                await bob.post("/api/console/login", json={"name": "bob", "password": PASSWORD})
            ).status_code == 200
            assert (await bob.get("/api/console/opticians/kits")).status_code == 403
        async with httpx.AsyncClient(base_url=service.base, timeout=15) as alice:
            login = await alice.post("/api/console/login", json={"name": "alice", "password": PASSWORD})
            assert login.status_code == 200
            listed = (await alice.get("/api/console/opticians/kits")).json()
            assert listed["within"] == 14
            kits = listed["kits"]
            assert [(k["name"], k["days_left"], k["expired"], k["reminded"]) for k in kits] == [
                ("Chloé Expirée", -4, True, None),
                ("Anne Martin", 2, False, "3_days"),
                ("Denis Bientôt", 14, False, None),
            ]
            assert [k["departments"] for k in kits] == [["93"], ["75"], ["93"]]
            assert kits[1]["kit_expires_on"] == (today + timedelta(days=2)).isoformat()
            assert [k["linked"] for k in kits] == [False, True, False]
            wider = (await alice.get("/api/console/opticians/kits", params={"within": 30})).json()
            assert [k["name"] for k in wider["kits"]][-1] == "Emma Tranquille"
            assert (await alice.get("/api/console/opticians/kits", params={"within": -1})).status_code == 422


async def test_the_cli_lists_the_kits_to_renew(database_url: str, tmp_path: Path) -> None:
    database = create_engine(database_url)
    try:
        dispatch = Dispatch(database, Catalog.load(), utcnow, lambda: None)
        today = service_day(utcnow())
        for name, kit in [("Anne Martin", 3), ("Chloé Expirée", -1), ("Emma Tranquille", 40)]:
            await dispatch.save(
                None, OpticianDetails(name, "06 11 22 33 55", ["75"], today + timedelta(days=kit))
            )
    finally:
        await database.dispose()

    table = optibot("kits", "list", database_url=database_url, workdir=tmp_path).stdout
    lines = table.splitlines()
    assert lines[0].split() == [
        "name",
        "departments",
        "kit_expires_on",
        "days_left",
        "active",
        "linked",
        "reminded",
    ]
    assert lines[2].split()[:5] == ["Chloé", "Expirée", "75", (today - timedelta(days=1)).isoformat(), "-1"]
    assert lines[3].split()[:5] == ["Anne", "Martin", "75", (today + timedelta(days=3)).isoformat(), "3"]
    assert "Emma" not in table

    listed = json.loads(
        optibot(
            "kits", "list", "--within", "60", "--json", database_url=database_url, workdir=tmp_path
        ).stdout
    )
    assert [(k["name"], k["days_left"], k["departments"]) for k in listed] == [
        ("Chloé Expirée", -1, ["75"]),
        ("Anne Martin", 3, ["75"]),
        ("Emma Tranquille", 40, ["75"]),
    ]
