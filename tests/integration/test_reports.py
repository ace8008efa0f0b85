"""Reports (issue 15) against a seeded data set whose every figure was counted by hand, on both
databases: the figures (national, one department, Paris-day boundaries, nearest-rank p50/p90), the
console's API (sign-in, validation, JSON, CSV) and ``optibot report`` printing the same figures.

The data set, in January 2026 (Paris = UTC+1), period Monday 12 → Sunday 18 (times UTC):

C1  12th 10:00  emergency broken telegram visit health 75; claimed after 10 min; A accepted
                the offer after 5 min (B declined); visit done
C2  12th 11:00  emergency lost whatsapp visit firefighter 75; never claimed; A accepted after
                20 min; appointment confirmed
C3  13th 09:00  emergency broken webchat visit none 92; 30 min; no taker (the alert is up)
C4  13th 14:00  emergency unsuitable telegram shipment none 75; 60 min; offered, nobody took
                it, turned into a shipment
C5  14th 08:00  emergency broken telegram visit delivery 75; 2 min; A accepted after 30 min
                (08:33), the visit was impossible (client absent): the offer failed, its answer
                time rewritten (11:00)
C6  14th 12:00  emergency lost whatsapp visit food_retail 92; 4 min; A accepted after 15 min 30 s
                (12:25:30), then withdrawn (13:00): the visit cancelled
C7  15th 16:00  advisor (no need, mode, priority) webchat, no department; 6 min
C8  16th 07:30  emergency other telegram shipment other 75; never claimed
C9  18th 22:30  (23:30 Paris, the 18th) emergency broken whatsapp visit health 75; never
                claimed; its offer open
C10 17th 10:00  emergency broken telegram shipment none 69, anonymised; 90 min
C11 15th 09:00  emergency broken telegram visit health 75; 16 min; A accepted after 10 min;
                closed by the operator while A was on the way (done)
C12 11th 23:00  (midnight Paris, the 12th) emergency lost telegram shipment health 75; 8 min
R1  16th 09:00  normal service's ordinary request: renewal telegram shipment, a mobilised worker
                (health, queue rank 2) 75; never claimed
R2  17th 14:00  ordinary request: lenses webchat shipment none 92; 40 min
X1  11th 22:59  (23:59 Paris, the 11th): out of the period; claimed after 1 min
X2  18th 23:30  (00:30 Paris, the 19th): out of the period; no taker

Waitlist: W1 12th 09:00 (75), W2 12th 15:00 (92), W3 16th 10:00 (75, already told), W4 5th (75),
W5 18th 23:10 UTC (75; the 19th in Paris).

An appointment is created at the optician's first accept (``storage.appointments``), which is when
the seed creates it; an offer's ``answered_at`` is its last answer (failed, withdrawn: rewritten).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.reports import Period, Reports, midnight, minutes, paris_day, period_of
from flows.lifecycle import priority_rank
from storage.database import Connection, create_engine
from storage.tables import (
    appointments,
    cases,
    dispatch_offers,
    opticians,
    waitlist,
)
from tests.e2e.test_cli import optibot
from tests.integration.serving import Service, serve_app
from tests.seeding import insert_client

PASSWORD = "correct horse battery staple"
START, END = date(2026, 1, 12), date(2026, 1, 18)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


@dataclass
class Offer:
    optician: str  # "A" or "B"
    created: datetime
    status: str
    answered: datetime | None = None


@dataclass
class Seeded:
    name: str
    created: datetime
    kind: str = "emergency"
    need: str | None = "broken"
    channel: str = "telegram"
    mode: str | None = "shipment"
    priority: str | None = "none"
    department: str | None = "75"
    status: str = "queued"
    claimed_after: int | None = None  # minutes
    dispatch_round: int = 0
    no_taker: bool = False
    visit_outcome: str | None = None
    appointment: str | None = None  # its status
    taken_at: datetime | None = None  # the first accept: the appointment's creation
    offers: list[Offer] = field(default_factory=list)
    anonymised: bool = False


CASES = [
    Seeded(
        "C1",
        at(12, 10),
        need="broken",
        mode="visit",
        priority="health",
        status="done",
        claimed_after=10,
        dispatch_round=1,
        visit_outcome="done",
        appointment="done",
        taken_at=at(12, 10, 17),
        offers=[
            Offer("A", at(12, 10, 12), "accepted", at(12, 10, 17)),
            Offer("B", at(12, 10, 12), "declined", at(12, 10, 13)),
        ],
    ),
    Seeded(
        "C2",
        at(12, 11),
        need="lost",
        channel="whatsapp",
        mode="visit",
        priority="firefighter",
        status="dispatched",
        dispatch_round=1,
        appointment="confirmed",
        taken_at=at(12, 11, 21),
        offers=[Offer("A", at(12, 11, 1), "accepted", at(12, 11, 21))],
    ),
    Seeded(
        "C3",
        at(13, 9),
        channel="webchat",
        mode="visit",
        department="92",
        status="dispatched",
        claimed_after=30,
        dispatch_round=1,
        no_taker=True,
        offers=[Offer("B", at(13, 9, 31), "declined", at(13, 9, 40))],
    ),
    Seeded("C4", at(13, 14), need="unsuitable", status="claimed", claimed_after=60, dispatch_round=1),
    Seeded(
        "C5",
        at(14, 8),
        mode="visit",
        priority="delivery",
        status="claimed",
        claimed_after=2,
        dispatch_round=2,
        no_taker=True,
        visit_outcome="failed:absent",
        appointment="impossible",
        taken_at=at(14, 8, 33),
        offers=[Offer("A", at(14, 8, 3), "failed", at(14, 11))],
    ),
    Seeded(
        "C6",
        at(14, 12),
        need="lost",
        channel="whatsapp",
        mode="visit",
        priority="food_retail",
        department="92",
        status="cancelled",
        claimed_after=4,
        dispatch_round=1,
        appointment="cancelled",
        taken_at=at(14, 12, 25) + timedelta(seconds=30),
        offers=[Offer("A", at(14, 12, 10), "withdrawn", at(14, 13))],
    ),
    Seeded(
        "C7",
        at(15, 16),
        kind="advisor",
        need=None,
        channel="webchat",
        mode=None,
        priority=None,
        department=None,
        status="done",
        claimed_after=6,
    ),
    Seeded("C8", at(16, 7, 30), need="other", priority="other"),
    Seeded(
        "C9",
        at(18, 22, 30),
        channel="whatsapp",
        mode="visit",
        priority="health",
        status="dispatched",
        dispatch_round=1,
        offers=[Offer("A", at(18, 22, 31), "offered")],
    ),
    Seeded("C10", at(17, 10), department="69", status="done", claimed_after=90, anonymised=True),
    Seeded(
        "C11",
        at(15, 9),
        mode="visit",
        priority="health",
        status="done",
        claimed_after=16,
        dispatch_round=1,
        appointment="done",
        taken_at=at(15, 9, 30),
        offers=[Offer("A", at(15, 9, 20), "accepted", at(15, 9, 30))],
    ),
    Seeded("C12", at(11, 23), need="lost", priority="health", status="done", claimed_after=8),
    Seeded("R1", at(16, 9), kind="request", need="renewal", priority="health", status="queued"),
    Seeded(
        "R2",
        at(17, 14),
        kind="request",
        need="lenses",
        channel="webchat",
        department="92",
        status="claimed",
        claimed_after=40,
    ),
    Seeded("X1", at(11, 22, 59), priority="health", status="done", claimed_after=1),
    Seeded("X2", at(18, 23, 30), mode="visit", priority="health", dispatch_round=1, no_taker=True),
]

WAITLIST = [
    ("W1", at(12, 9), "75", False),
    ("W2", at(12, 15), "92", False),
    ("W3", at(16, 10), "75", True),
    ("W4", at(5, 10), "75", False),
    ("W5", at(18, 23, 10), "75", False),
]


async def _client(connection: Connection, name: str, channel: str, now: datetime) -> tuple[int, int]:
    return await insert_client(connection, channel, name, now, owner="queue")


async def seed(database_url: str, extra: Sequence[Seeded] = ()) -> None:
    """The data set above (and ``extra`` cases), by plain inserts."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            now = at(1, 8)
            optician_ids = {}
            for letter in ("A", "B"):
                optician_ids[letter] = (
                    await connection.execute(
                        sa.insert(opticians)
                        .values(
                            public_id=f"opt-{letter}",
                            name=f"Optique {letter}",
                            phone="0600000000",
                            departments=["75", "92"],
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(opticians.c.id)
                    )
                ).scalar_one()
            for case in [*CASES, *extra]:
                client_id, conversation_id = await _client(connection, case.name, case.channel, case.created)
                claimed = (
                    None
                    if case.claimed_after is None
                    else case.created + timedelta(minutes=case.claimed_after)
                )
                case_id = (
                    await connection.execute(
                        sa.insert(cases)
                        .values(
                            reference=f"OB-{case.name}",
                            public_id=f"case-{case.name}",
                            client_id=client_id,
                            conversation_id=conversation_id,
                            kind=case.kind,
                            status=case.status,
                            channel=case.channel,
                            language="fr",
                            need=case.need,
                            mode=case.mode,
                            priority=case.priority,
                            priority_rank=priority_rank(case.priority, case.kind),
                            postal_code=None if case.anonymised else "75011",
                            department=case.department,
                            claimed_by=None if claimed is None else "alice",
                            created_at=case.created,
                            updated_at=case.created,
                            claimed_at=claimed,
                            dispatch_round=case.dispatch_round,
                            offered_at=case.created if case.dispatch_round else None,
                            no_taker_at=case.created + timedelta(minutes=45) if case.no_taker else None,
                            visit_outcome=case.visit_outcome,
                            anonymised_at=case.created + timedelta(days=1) if case.anonymised else None,
                        )
                        .returning(cases.c.id)
                    )
                ).scalar_one()
                for offer in case.offers:
                    await connection.execute(
                        sa.insert(dispatch_offers).values(
                            public_id=secrets.token_hex(8),
                            case_id=case_id,
                            optician_id=optician_ids[offer.optician],
                            round=1,
                            status=offer.status,
                            created_at=offer.created,
                            answered_at=offer.answered,
                        )
                    )
                if case.appointment is not None:
                    assert case.taken_at is not None
                    await connection.execute(
                        sa.insert(appointments).values(
                            case_id=case_id,
                            optician_id=optician_ids["A"],
                            status=case.appointment,
                            created_at=case.taken_at,
                            updated_at=case.taken_at,
                        )
                    )
            for name, joined, department, told in WAITLIST:
                client_id, conversation_id = await _client(connection, name, "telegram", joined)
                await connection.execute(
                    sa.insert(waitlist).values(
                        client_id=client_id,
                        conversation_id=conversation_id,
                        channel="telegram",
                        language="fr",
                        reason="routine",
                        created_at=joined,
                        notified_at=joined + timedelta(days=1) if told else None,
                        department=department,
                    )
                )
    finally:
        await engine.dispose()


def counts(rows: list[Any]) -> dict[str, int]:
    return {row.code: row.cases for row in rows}


async def _report(database_url: str, period: Period) -> Any:
    engine = create_engine(database_url)
    try:
        return await Reports(engine, lambda: at(20, 12)).report(period)
    finally:
        await engine.dispose()


async def test_the_figures_of_a_period_equal_those_counted_by_hand(database_url: str) -> None:
    await seed(database_url)
    report = await _report(database_url, period_of("2026-01-12", "2026-01-18"))

    # C1…C12, R1, R2: C12 was handed off at midnight Paris on the 12th, C9 at 23:30 Paris on the
    # 18th; X1 (23:59 Paris on the 11th) and X2 (00:30 Paris on the 19th) are out. C10 is
    # anonymised. Mobilised by the priority given: C1 C2 C5 C6 C8 C9 C11 C12, and R1 — a mobilised
    # worker's ordinary request, though it ranks after every emergency in the queue.
    assert (report.cases, report.mobilised, report.others) == (14, 9, 5)
    assert counts(report.by_kind) == {"emergency": 11, "request": 2, "advisor": 1}
    assert [c.label for c in report.by_kind] == ["Urgence", "Demande ordinaire", "Conseiller"]
    assert counts(report.by_need) == {
        "broken": 6, "lost": 3, "unsuitable": 1, "renewal": 1, "lenses": 1, "other": 1, "unknown": 1,
    }  # fmt: skip
    assert counts(report.by_channel) == {"telegram": 8, "whatsapp": 3, "webchat": 3}
    assert counts(report.by_mode) == {"visit": 7, "shipment": 6, "unknown": 1}
    assert counts(report.by_priority) == {
        "health": 5, "food_retail": 1, "delivery": 1, "firefighter": 1, "other": 1, "none": 4, "unknown": 1,
    }  # fmt: skip
    # The report agrees with its own priority table: the mobilised are the five jobs' cases.
    assert report.mobilised == sum(c.cases for c in report.by_priority if c.code not in ("none", "unknown"))
    assert counts(report.by_outcome) == {
        "queued": 2,
        "claimed": 3,
        "dispatched": 3,
        "done": 5,
        "cancelled": 1,
    }

    # Claimed after (min): mobilised C1 10, C5 2, C6 4, C11 16, C12 8 → [2, 4, 8, 10, 16]: p50 the
    # 3rd (8 min), p90 the 5th (16 min); C2, C8, C9, R1 never claimed. Others C3 30, C4 60, C7 6,
    # C10 90, R2 40 → [6, 30, 40, 60, 90]: p50 the 3rd (40), p90 the 5th (90). All ten: p50 the 5th
    # (10), p90 the 9th (60).
    claim = {d.group: (d.claimed, d.p50_s, d.p90_s, d.unclaimed) for d in report.claim}
    assert claim == {
        "mobilised": (5, 8 * 60, 16 * 60, 4),
        "others": (5, 40 * 60, 90 * 60, 0),
        "all": (10, 10 * 60, 60 * 60, 4),
    }
    # Offer to the first accept, of every visit an optician took: C1 5 min, C2 20, C5 30 (failed
    # since), C6 15.5 (withdrawn since), C11 10 → [5, 10, 15.5, 20, 30]: p50 the 3rd (15 min 30 s),
    # p90 the 5th (30 min). C9's offer is open; declines do not count.
    acceptance = report.acceptance
    assert (acceptance.accepted, acceptance.p50_s, acceptance.p90_s) == (5, 15 * 60 + 30, 30 * 60)
    # Visits taken by an optician: C1 done, C11 done (closed on the way), C5 impossible (absent),
    # C6 cancelled, C2 open.
    assert (report.visits.done, report.visits.impossible) == (2, 1)
    assert counts(report.visits.outcomes) == {
        "done": 2, "failed:absent": 1, "failed:address": 0, "failed:other": 0, "cancelled": 1, "open": 1,
    }  # fmt: skip
    # Offered to the opticians: C1 C2 C5 C6 C11 taken; C3 (alert) and C4 (turned into a shipment)
    # found no taker; C9 still open → 2 of 8 = 25 %.
    dispatch = report.dispatch
    assert (dispatch.offered, dispatch.taken, dispatch.no_taker, dispatch.pending) == (8, 5, 2, 1)
    assert dispatch.no_taker_rate == 0.25
    # W1 W2 W3 joined in the period (W4 before, W5 on the 19th in Paris); W1 W2 W4 W5 wait now.
    assert (report.waitlist.joined, report.waitlist.waiting_now) == (3, 4)
    days = [
        (d.day.day, d.cases, d.emergency, d.requests, d.advisor, d.mobilised, d.others, d.waitlist_joins)
        for d in report.days
    ]
    assert days == [
        (12, 3, 3, 0, 0, 3, 0, 2),  # C12 C1 C2; W1 W2
        (13, 2, 2, 0, 0, 0, 2, 0),  # C3 C4
        (14, 2, 2, 0, 0, 2, 0, 0),  # C5 C6
        (15, 2, 1, 0, 1, 1, 1, 0),  # C11, C7 (advisor)
        (16, 2, 1, 1, 0, 2, 0, 1),  # C8, R1 (a mobilised worker's request); W3
        (17, 2, 1, 1, 0, 0, 2, 0),  # C10, R2
        (18, 1, 1, 0, 0, 1, 0, 0),  # C9 at 23:30 Paris
    ]


async def test_one_department_and_the_day_boundaries(database_url: str) -> None:
    await seed(database_url)
    report = await _report(database_url, period_of("2026-01-12", "2026-01-18", "75"))
    # In the 75: C1 C2 C4 C5 C8 C9 C11 C12 R1.
    assert (report.cases, report.mobilised, report.others) == (9, 8, 1)
    assert report.department_name == "Paris"
    assert counts(report.by_need) == {
        "broken": 4,
        "lost": 2,
        "unsuitable": 1,
        "renewal": 1,
        "lenses": 0,
        "other": 1,
    }
    # Mobilised claimed after C1 10, C5 2, C11 16, C12 8 → [2, 8, 10, 16]: p50 the 2nd, p90 the 4th.
    claim = {d.group: (d.claimed, d.p50_s, d.p90_s, d.unclaimed) for d in report.claim}
    assert claim["mobilised"] == (4, 8 * 60, 16 * 60, 4)
    assert claim["others"] == (1, 60 * 60, 60 * 60, 0)
    # Accepted in the 75: C1 5, C2 20, C5 30, C11 10 → [5, 10, 20, 30]: p50 the 2nd, p90 the 4th
    # (C6, accepted after 15.5 min, is in the 92).
    acceptance = report.acceptance
    assert (acceptance.accepted, acceptance.p50_s, acceptance.p90_s) == (4, 10 * 60, 30 * 60)
    # Offered: C1 C2 C5 C11 taken, C4 no taker, C9 open → 1 of 6.
    dispatch = report.dispatch
    assert (dispatch.offered, dispatch.taken, dispatch.no_taker, dispatch.pending) == (6, 4, 1, 1)
    assert dispatch.no_taker_rate == 0.1667
    assert (report.visits.done, report.visits.impossible) == (2, 1)
    # C1 C11 done, C5 impossible, C2 open; C6's cancelled visit is in the 92.
    assert counts(report.visits.outcomes) == {
        "done": 2, "failed:absent": 1, "failed:address": 0, "failed:other": 0, "cancelled": 0, "open": 1,
    }  # fmt: skip
    assert [(d.day.day, d.requests, d.mobilised) for d in report.days if d.requests] == [(16, 1, 2)]  # R1
    # W1 W3 joined in the 75; W1 W4 W5 wait there now.
    assert (report.waitlist.joined, report.waitlist.waiting_now) == (2, 3)

    # One Paris day each side of the boundaries: the 11th holds X1 only, the 19th X2 only.
    eleventh = await _report(database_url, period_of("2026-01-11", "2026-01-11"))
    nineteenth = await _report(database_url, period_of("2026-01-19", "2026-01-19"))
    assert (eleventh.cases, nineteenth.cases) == (1, 1)
    assert eleventh.claim[0].p50_s == 60  # X1, claimed after a minute
    assert nineteenth.dispatch.no_taker == 1  # X2
    assert nineteenth.waitlist.joined == 1  # W5, 00:10 Paris on the 19th


async def test_a_whole_year_counts_each_case_on_its_paris_day_across_both_clock_changes(
    database_url: str,
) -> None:
    """The longest period (366 days, 365 bounds: the per-day series is counted in SQL), with cases a
    minute either side of the Paris midnights around the autumn and spring clock changes."""
    around = [
        datetime(2025, 10, 25, 21, 59, tzinfo=UTC),  # 23:59 Paris (UTC+2), the 25th
        datetime(2025, 10, 25, 22, 0, tzinfo=UTC),  # 00:00 Paris, the 26th (the long day)
        datetime(2025, 10, 26, 22, 59, tzinfo=UTC),  # 23:59 Paris (UTC+1), the 26th
        datetime(2026, 3, 28, 22, 59, tzinfo=UTC),  # 23:59 Paris (UTC+1), the 28th
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),  # 00:00 Paris, the 29th (the short day)
        datetime(2026, 3, 29, 21, 59, tzinfo=UTC),  # 23:59 Paris (UTC+2), the 29th
        datetime(2026, 3, 29, 22, 0, tzinfo=UTC),  # 00:00 Paris, the 30th
        datetime(2026, 7, 1, 21, 59, tzinfo=UTC),  # 23:59 Paris, the 1st of July: the last day
        datetime(2026, 7, 1, 22, 0, tzinfo=UTC),  # the 2nd of July: out
    ]
    extra = [Seeded(f"Y{n}", instant) for n, instant in enumerate(around)]
    await seed(database_url, extra)
    report = await _report(database_url, period_of("2025-07-01", "2026-07-01"))
    assert len(report.days) == 366
    expected = Counter(paris_day(c.created) for c in [*CASES, *extra[:-1]])
    found = {d.day: d.cases for d in report.days if d.cases}
    assert found == dict(expected)
    assert [found[date(2025, 10, day)] for day in (25, 26)] == [1, 2]
    assert [found[date(2026, 3, day)] for day in (28, 29, 30)] == [1, 2, 1]
    assert found[date(2026, 7, 1)] == 1
    assert report.cases == sum(found.values()) == len(CASES) + len(extra) - 1
    assert (report.days[0].day, report.days[-1].day) == (date(2025, 7, 1), date(2026, 7, 1))


def test_delays_show_in_minutes_to_the_tenth_a_half_rounded_up() -> None:
    # As the console's cards round the same seconds (Math.round(seconds / 6) / 10).
    assert [minutes(s) for s in (None, 0, 9, 15, 930, 3 * 3600 + 33)] == [None, 0.0, 0.2, 0.3, 15.5, 180.6]


@pytest.mark.parametrize(
    ("start", "end", "department", "problem"),
    [
        ("2026-01-18", "2026-01-12", None, "précéder"),
        ("2025-01-01", "2026-01-02", None, "366 jours"),
        ("2026-01-12", "2026-01-18", "99", "Département inconnu"),
        ("2026-02-30", "2026-03-01", None, "AAAA-MM-JJ"),
    ],
)
def test_a_period_that_cannot_be_reported_is_refused_politely(
    start: str, end: str, department: str | None, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        period_of(start, end, department)
    assert period_of("2025-01-01", "2026-01-01").days == 366  # a whole year and a day is the limit
    assert period_of("2026-01-12", "2026-01-18", " 2a ").department == "2A"


async def _until_no_taker_alert(service: Service, public_id: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await service.rows(cases, cases.c.public_id == public_id, cases.c.no_taker_at.is_not(None)):
        assert time.monotonic() < deadline, "the dispatch sweep never raised the no-taker alert"
        await asyncio.sleep(0.05)


async def test_the_console_api_and_the_command_line_give_the_same_figures(
    database_url: str, tmp_path: Path
) -> None:
    await seed(database_url)
    async with serve_app(database_url, tmp_path) as service:
        await service.services.accounts.add("bob", PASSWORD, "operator")
        # The running service's dispatch sweep raises the no-taker alert on C9, offered long before
        # its clock's now: wait for it, so that the API and the command line read the same rows.
        await _until_no_taker_alert(service, "case-C9")
        async with httpx.AsyncClient(base_url=service.base, timeout=15) as http:
            query = {"from": "2026-01-12", "to": "2026-01-18", "department": "75"}
            # Signed in only.
            assert (await http.get("/api/console/reports", params=query)).status_code == 401
            assert (await http.get("/api/console/reports/needs.csv", params=query)).status_code == 401
            login = await http.post("/api/console/login", json={"name": "bob", "password": PASSWORD})
            assert login.status_code == 200
            # An operator (not an admin) reads reports.
            response = await http.get("/api/console/reports", params=query)
            assert response.status_code == 200, response.text
            api = response.json()
            assert api["report"]["cases"] == 9
            # C4 and now C9 found no taker, of the six offered in the 75.
            assert api["report"]["dispatch"]["no_taker_rate"] == 0.3333
            assert [t["name"] for t in api["tables"]][:3] == ["summary", "kinds", "needs"]
            needs = next(t for t in api["tables"] if t["name"] == "needs")
            assert needs["rows"][0] == ["Lunettes cassées", "broken", 4]
            csv = await http.get("/api/console/reports/needs.csv", params=query)
            assert csv.status_code == 200
            assert csv.headers["content-type"].startswith("text/csv")
            assert (
                'filename="optibot-needs-2026-01-12-2026-01-18-75.csv"' in csv.headers["content-disposition"]
            )
            assert csv.text.splitlines() == [
                "besoin,code,dossiers",
                "Lunettes cassées,broken,4",
                "Lunettes perdues,lost,2",
                "Plus adaptées,unsuitable,1",
                "Renouvellement,renewal,1",
                "Lentilles de contact,lenses,0",
                "Autre chose,other,1",
            ]
            days = await http.get("/api/console/reports/days.csv", params=query)
            assert days.text.splitlines()[:2] == [
                "jour,dossiers,urgences,demandes ordinaires,conseiller,mobilisés,autres,"
                "inscrits liste d'attente",
                "2026-01-12,3,3,0,0,3,0,1",
            ]
            assert "2026-01-16,2,1,1,0,2,0,1" in days.text.splitlines()  # C8 and R1; W3
            # Refused, politely, with a reason and never the input echoed.
            refused = {
                "from after to": {**query, "from": "2026-01-19"},
                "too long": {**query, "from": "2024-01-01"},
                "unknown department": {**query, "department": "99"},
                "not a date": {**query, "from": "12/01/2026"},
                "impossible date": {**query, "from": "2026-02-30"},
            }
            for why, params in refused.items():
                answer = await http.get("/api/console/reports", params=params)
                assert answer.status_code == 422, (why, answer.text)
                assert answer.json()["detail"], why
            missing = await http.get("/api/console/reports", params={"from": "2026-01-12"})
            assert missing.status_code == 422
            assert (await http.get("/api/console/reports/nothing.csv", params=query)).status_code == 404

    # The command line, as a user runs it, on the same database and period.
    period = ["--from", "2026-01-12", "--to", "2026-01-18", "--department", "75"]
    printed = json.loads(
        optibot("report", *period, "--format", "json", database_url=database_url, workdir=tmp_path).stdout
    )
    for document in (api, printed):
        document["report"].pop("generated_at")
    assert printed == api
    table = optibot(
        "report", *period, "--format", "csv", "--table", "needs", database_url=database_url, workdir=tmp_path
    )
    assert table.stdout.splitlines() == csv.text.splitlines()  # (text mode reads CRLF as LF)
    every = optibot("report", *period, "--format", "csv", database_url=database_url, workdir=tmp_path).stdout
    assert "needs: Dossiers par besoin\nbesoin,code,dossiers\nLunettes cassées,broken,4\n" in every
    assert "days: Par jour\n" in every
    page = optibot("report", *period, "--format", "html", database_url=database_url, workdir=tmp_path).stdout
    assert page.startswith("<!doctype html>")
    assert "<script" not in page
    assert '<table id="dispatch">' in page
    assert '<td>Lunettes cassées</td><td>broken</td><td class="n">4</td>' in page
    text = optibot("report", *period, database_url=database_url, workdir=tmp_path).stdout
    assert "Rapport du 2026-01-12 au 2026-01-18, département 75 (Paris)" in text
    assert "Taux sans preneur (%)" in text
    assert "33.3" in text
    wrong = optibot(
        "report",
        "--from",
        "2026-01-18",
        "--to",
        "2026-01-12",
        database_url=database_url,
        workdir=tmp_path,
        expect=2,
    )
    assert "La date de début doit précéder la date de fin" in wrong.stderr
    unknown = optibot(
        "report",
        *period,
        "--format",
        "csv",
        "--table",
        "nope",
        database_url=database_url,
        workdir=tmp_path,
        expect=2,
    )
    assert "--table: one of summary, kinds, needs" in unknown.stderr


def test_a_paris_day_begins_at_its_own_midnight_in_winter_and_in_summer() -> None:
    # Winter (UTC+1), the spring change on Sunday 29 March 2026, then summer (UTC+2).
    assert midnight(date(2026, 1, 12)) == datetime(2026, 1, 11, 23, tzinfo=UTC)
    assert midnight(date(2026, 3, 29)) == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert midnight(date(2026, 3, 30)) == datetime(2026, 3, 29, 22, tzinfo=UTC)
    window = period_of("2026-03-29", "2026-03-29").window()
    assert window.end - window.start == timedelta(hours=23)  # the short day
    assert paris_day(datetime(2026, 7, 1, 22, 30, tzinfo=UTC)) == date(2026, 7, 2)


async def test_an_accept_later_reported_impossible_counts_from_its_offer_to_its_first_accept(
    database_url: str, tmp_path: Path
) -> None:
    """Through the real dispatch (the fake Bot API): Anne accepts, reports the visit impossible (her
    offer's answer time is rewritten), the case goes to Bruno, who accepts, then the case is
    cancelled (his offer withdrawn). The report measures Anne's offer to Anne's accept, the first.
    The services' clock moves on 3 minutes before each accept, so that each delay is minutes long."""
    from tests.fakes.telegram import FakeTelegram
    from tests.harness import RealClock
    from tests.integration.test_dispatch import ALICE, _dispatch, _offers_to, _optician, _visit_case, serve
    from tests.integration.test_telegram import Client

    clock = RealClock()
    async with (
        FakeTelegram(chat_limit=(40, 1.0)) as fake,
        serve(database_url, tmp_path, fake, clock=clock) as service,
    ):
        await _optician(fake, service, 701, "Anne Paris", ["75"])
        await _optician(fake, service, 702, "Bruno Paris", ["75"])
        case_id = await _visit_case(fake, service)
        await _dispatch(service, case_id)
        await fake.wait_for(lambda: bool(_offers_to(fake, 701)) and bool(_offers_to(fake, 702)))
        clock.shift += timedelta(minutes=3)
        await fake.press_button(701, "J'accepte")
        await Client(fake, 701).expect("est pour vous", within=15)
        (anne,) = await service.rows(dispatch_offers, dispatch_offers.c.status == "accepted")
        (appointment,) = await service.rows(appointments)
        assert appointment.created_at == anne.answered_at  # the appointment is made at the accept
        await fake.press_button(701, "Visite impossible")
        await fake.wait_for(lambda: "Pourquoi" in fake.messages_to(701)[-1].text)
        await fake.press_button(701, "Adresse introuvable")
        await fake.wait_for(lambda: "rendue au service client" in fake.messages_to(701)[-1].text, 15)
        console = service.services.console
        await console.dispatch(ALICE, case_id)
        await fake.wait_for(
            lambda: len(_offers_to(fake, 702)) == 1 and bool(fake.messages_to(702)[-1].buttons())
        )
        clock.shift += timedelta(minutes=3)
        await fake.press_button(702, "J'accepte")
        await Client(fake, 702).expect("est pour vous", within=15)
        await console.cancel(ALICE, case_id, "le client a trouvé un autre opticien")
        await fake.wait_for(lambda: "annulée" in fake.messages_to(702)[-1].text, 15)

        offers = {o.optician_id: o for o in await service.rows(dispatch_offers)}
        failed, withdrawn = offers[anne.optician_id], offers[next(i for i in offers if i != anne.optician_id)]
        assert (failed.status, withdrawn.status) == ("failed", "withdrawn")
        assert failed.answered_at > anne.answered_at  # the accept's time is gone from the offer
        assert withdrawn.created_at > anne.answered_at  # Bruno's second-round offer
        (kept,) = await service.rows(appointments)
        assert (kept.created_at, kept.optician_id) == (anne.answered_at, withdrawn.optician_id)

        today = paris_day(clock())
        report = await service.services.reports.report(
            period_of(today - timedelta(days=1), today + timedelta(days=1), "75")
        )
        waited = round((anne.answered_at - anne.created_at).total_seconds())
        assert 180 <= waited < 240
        acceptance = report.acceptance
        assert (acceptance.accepted, acceptance.p50_s, acceptance.p90_s) == (1, waited, waited)


async def test_a_report_reads_grouped_counts_not_every_case(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 more cases, never claimed, on one day: the report counts them, yet what its reads hand to
    Python does not grow with them (counts come grouped; only claimed cases' instants come one by
    one, for the percentiles)."""
    from storage import reports as store

    extra = [Seeded(f"Z{n}", at(13, 10) + timedelta(seconds=n), priority="health") for n in range(200)]
    await seed(database_url, extra)
    received: dict[str, int] = {}
    for name in ("cases_by", "case_counts", "claims", "acceptances", "visit_outcomes", "waitlist_joins"):
        read = getattr(store, name)

        async def counted(*args: Any, _read: Any = read, _name: str = name) -> Any:
            found = await _read(*args)
            received[_name] = received.get(_name, 0) + len(found)
            return found

        monkeypatch.setattr(store, name, counted)
    report = await _report(database_url, period_of("2026-01-12", "2026-01-18"))
    assert (report.cases, report.mobilised) == (214, 209)
    assert report.days[1].cases == 202  # the 13th: C3 C4 and the 200
    assert report.claim[0].unclaimed == 204
    # The same as without the 200: grouped rows, the ten claimed cases, the five visits taken.
    assert received["claims"] == 10
    assert received["acceptances"] == 5
    assert received["case_counts"] <= 7 * 3 * 2 * 2
    assert sum(received.values()) < 100, received
