"""The big tables' data set (issue 17, point 4): a year of a busy service, seeded set-based.

100,000 cases and 1,000,000 messages by default, built to look like real data: several kinds,
statuses, needs, priorities, departments (weighted like France's population), channels, dates spread
over the year before ``NOW`` (the ids grow with time, as they would), clients with several cases
(skewed: most have one, some many), opticians with offers and appointments for the home visits, a
waitlist, an access journal, the inbox of the last days, and a few very long transcripts. Nothing
in it is anyone's data: names, phones and texts are made up.

Rows go in by big batches: ``executemany`` on SQLite, ``COPY`` (asyncpg) on PostgreSQL.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
OPERATORS = [f"op{n:02d}" for n in range(12)]
# The departments with the most people first; the long tail shares the rest.
DEPARTMENTS = ["75", "13", "59", "69", "92", "93", "33", "62", "78", "94", "77", "31", "44", "91", "06"]
DEPARTMENT_WEIGHTS = [9, 7, 7, 6, 6, 5, 5, 5, 5, 5, 5, 4, 4, 4, 4]
TAIL = [f"{n:02d}" for n in range(1, 96) if f"{n:02d}" not in DEPARTMENTS and n != 20] + ["2A", "2B", "971"]
CHANNELS = ["telegram", "whatsapp", "webchat"]
PRIORITIES = ["health", "food_retail", "delivery", "firefighter", "other", "none"]
PRIORITY_WEIGHTS = [25, 10, 8, 3, 6, 48]
NEEDS = ["broken", "lost", "unsuitable", "renewal", "lenses", "other"]
LONG_TRANSCRIPTS = 20  # conversations with LONG_LENGTH messages each (within the total)
LONG_LENGTH = 3000
BATCH = 20_000


@dataclass
class Seeded:
    """What the measurements pick from: public ids of cases (all, open, long), clients with several
    cases, the open cases' statuses and departments."""

    cases: list[str] = field(default_factory=list)
    open_cases: list[str] = field(default_factory=list)
    long_cases: list[str] = field(default_factory=list)
    busy_clients: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _department(rng: random.Random) -> str:
    if rng.random() < 0.55:
        return rng.choices(DEPARTMENTS, DEPARTMENT_WEIGHTS)[0]
    return rng.choice(TAIL)


async def _insert(connection: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        columns = list(dict.fromkeys(key for row in rows for key in row))
        json_columns = {
            c.name for c in table.columns if isinstance(c.type, (sa.JSON,)) or "JSON" in str(c.type)
        }
        records = [
            tuple(
                json.dumps(r[c]) if c in json_columns and r.get(c) is not None else r.get(c) for c in columns
            )
            for r in rows
        ]
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    for start in range(0, len(rows), BATCH):
        batch = [{c: r.get(c) for c in columns} for r in rows[start : start + BATCH]]
        await connection.execute(sa.insert(table), batch)


async def _restart_sequences(connection: AsyncConnection, tables: Sequence[sa.Table]) -> None:
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        await connection.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table.name}))"
            )
        )


async def seed(
    connection: AsyncConnection, total_cases: int, total_messages: int, seed_value: int = 17
) -> Seeded:
    """Insert the data set in the caller's transaction; returns what the measurements pick from."""
    from storage.tables import (
        access_journal,
        appointments,
        cases,
        clients,
        conversations,
        dispatch_offers,
        identities,
        inbox,
        messages,
        opticians,
        waitlist,
    )

    rng = random.Random(seed_value)
    out = Seeded()
    # Cases over the year, oldest first (ids grow with time).
    created = sorted(NOW - YEAR * rng.random() for _ in range(total_cases))
    client_count = max(1, int(total_cases * 0.4))
    owner = [min(client_count, 1 + int(client_count * rng.random() ** 1.6)) for _ in range(total_cases)]
    first_seen: dict[int, datetime] = {}
    per_client: dict[int, int] = {}
    for when, client in zip(created, owner, strict=True):
        first_seen.setdefault(client, when)
        per_client[client] = per_client.get(client, 0) + 1
    # Only clients with a case exist (the skewed draws leave gaps): one who never got as far as a
    # case would have been erased by the sweep long ago.
    known = sorted(first_seen)
    client_rows = [
        {"id": c, "language": "en" if c % 10 == 0 else "fr", "created_at": first_seen[c]} for c in known
    ]
    identity_rows = []
    party: dict[int, tuple[str, str]] = {}
    for c in known:
        channel = rng.choices(CHANNELS, [45, 40, 15])[0]
        external = {"telegram": str(100_000_000 + c), "whatsapp": f"336{c:08d}", "webchat": uuid.uuid4().hex}[
            channel
        ]
        party[c] = (channel, external)
        identity_rows.append(
            {
                "id": c,
                "client_id": c,
                "channel": channel,
                "external_id": external,
                "key": f"{channel}:{external}",
                "created_at": first_seen[c],
            }
        )
    optician_rows = [
        {
            "id": o,
            "public_id": uuid.uuid4().hex[:16],
            "name": f"Optique {o}",
            "phone": f"+3314{o:07d}",
            "departments": [rng.choice(DEPARTMENTS)],
            "created_at": NOW - YEAR - timedelta(days=30),
            "updated_at": NOW - YEAR,
        }
        for o in range(1, 301)
    ]
    # Messages per case: 4 to 16 (10 on average), a few very long transcripts, adjusted to the total.
    lengths = [4 + int(rng.random() * 13) for _ in range(total_cases)]
    long_length = min(LONG_LENGTH, total_messages // (10 * LONG_TRANSCRIPTS))
    long_ids = set(rng.sample(range(total_cases), min(LONG_TRANSCRIPTS, total_cases)))
    for i in long_ids:
        lengths[i] = long_length
    gap = total_messages - sum(lengths)
    step = 1 if gap > 0 else -1
    i = 0
    while gap != 0:
        if i not in long_ids and lengths[i] + step >= 2:
            lengths[i] += step
            gap -= step
        i = (i + 1) % total_cases
    case_rows, convo_rows, message_rows, offer_rows, appointment_rows = [], [], [], [], []
    message_id = offer_id = appointment_id = 0
    recent = NOW - timedelta(days=3)
    for n, (when, client) in enumerate(zip(created, owner, strict=True)):
        case_id = n + 1
        channel, external = party[client]
        kind = rng.choices(["emergency", "request", "advisor"], [55, 30, 15])[0]
        priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
        rank = 2 if kind == "request" else (0 if priority != "none" else 1)
        if when >= recent:
            status = rng.choices(
                ["queued", "claimed", "dispatched", "done", "cancelled"], [40, 20, 10, 25, 5]
            )[0]
        elif rng.random() < 0.015:
            status = rng.choice(["queued", "claimed", "dispatched"])
        else:
            status = rng.choices(["done", "cancelled"], [80, 20])[0]
        mode = None if kind == "advisor" else rng.choices(["visit", "shipment"], [40, 60])[0]
        if status == "dispatched":
            mode = "visit"
        department = _department(rng)
        claimed = status != "queued" and rng.random() < 0.95
        claimed_at = when + timedelta(minutes=2 + 60 * rng.random()) if claimed else None
        done_at = when + timedelta(hours=2 + 48 * rng.random()) if status in ("done", "cancelled") else None
        length = lengths[n]
        last = when + timedelta(seconds=45 * length)
        updated = max(x for x in (last, done_at, claimed_at, when) if x is not None)
        public_id = uuid.uuid4().hex[:16]
        out.cases.append(public_id)
        if status in ("queued", "claimed", "dispatched"):
            out.open_cases.append(public_id)
        if n in long_ids:
            out.long_cases.append(public_id)
        dispatch_round = 0
        optician = None
        if mode == "visit" and status != "queued" and kind != "advisor":
            dispatch_round = 1
            chosen = rng.sample(range(1, 301), 3)
            taken = rng.random() < 0.75
            for k, o in enumerate(chosen):
                offer_id += 1
                accepted = taken and k == 0
                offer_rows.append(
                    {
                        "id": offer_id,
                        "public_id": uuid.uuid4().hex[:16],
                        "case_id": case_id,
                        "optician_id": o,
                        "round": 1,
                        "status": "accepted" if accepted else ("taken" if taken else "declined"),
                        "created_at": (claimed_at or when) + timedelta(minutes=1),
                        "answered_at": (claimed_at or when) + timedelta(minutes=5 + 30 * rng.random()),
                    }
                )
            if taken:
                optician = chosen[0]
                appointment_id += 1
                at = (claimed_at or when) + timedelta(minutes=40)
                appointment_rows.append(
                    {
                        "id": appointment_id,
                        "case_id": case_id,
                        "optician_id": optician,
                        "status": "done"
                        if status == "done"
                        else ("cancelled" if status == "cancelled" else "confirmed"),
                        "day": (at + timedelta(days=1)).date(),
                        "hour": 9 + rng.randrange(9),
                        "proposed_by": "optician",
                        "proposal": 1,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
        closed = status in ("done", "cancelled")
        convo_rows.append(
            {
                "id": case_id,
                "public_id": uuid.uuid4().hex[:16],
                "client_id": client,
                "identity_id": client,
                "channel": channel,
                "state": "done",
                "owner": "bot" if closed else "operator",
                "operator": None if closed or not claimed else rng.choice(OPERATORS),
                "language": "fr",
                "answers": {},
                "created_at": when,
                "updated_at": updated,
                "closed_at": done_at,
            }
        )
        holder = rng.choice(OPERATORS) if claimed else None
        case_rows.append(
            {
                "id": case_id,
                "reference": f"R{case_id:07d}",
                "public_id": public_id,
                "client_id": client,
                "conversation_id": case_id,
                "kind": kind,
                "status": status,
                "channel": channel,
                "language": "fr",
                "need": None if kind == "advisor" else rng.choice(NEEDS),
                "urgent": (rng.random() < 0.6) if kind == "emergency" else None,
                "mode": mode,
                "priority": priority,
                "priority_rank": rank,
                "address": f"{1 + case_id % 90} rue des Essais" if mode == "visit" else None,
                "postal_code": f"{department[:2]}0{case_id % 10}0" if department != "971" else "97100",
                "department": department,
                "contact_name": f"Client {client}",
                "contact_phone": f"+336{client:08d}",
                "claimed_by": holder,
                "created_at": when,
                "updated_at": updated,
                "claimed_at": claimed_at,
                "first_response_at": claimed_at + timedelta(minutes=1) if claimed_at else None,
                "dispatched_at": claimed_at if dispatch_round else None,
                "done_at": done_at,
                "optician_id": optician,
                "dispatch_round": dispatch_round,
                "offered_at": claimed_at if dispatch_round else None,
                "no_taker_at": (claimed_at or when) + timedelta(hours=1)
                if dispatch_round and optician is None and status == "dispatched"
                else None,
                "client_wrote_at": last
                if status in ("claimed", "dispatched") and rng.random() < 0.2
                else None,
            }
        )
        for k in range(length):
            message_id += 1
            inbound = k % 2 == 0
            at = when - timedelta(minutes=10) + timedelta(seconds=45 * k)
            author = "client" if inbound else ("operator" if claimed and k > 12 else "bot")
            message_rows.append(
                {
                    "id": message_id,
                    "conversation_id": case_id,
                    "direction": "in" if inbound else "out",
                    "author": author,
                    "channel": channel,
                    "party": external,
                    "text": "message du client" if inbound else "réponse du service",
                    "payload": {"operator": holder} if author == "operator" else None,
                    "created_at": at,
                    "sent_at": None if inbound else at + timedelta(seconds=1),
                    "delivered_at": at + timedelta(seconds=3)
                    if channel == "whatsapp" and not inbound
                    else None,
                }
            )
    _as_swept(case_rows, convo_rows, identity_rows, rng)
    busy = sorted(per_client, key=lambda c: -per_client[c])
    out.busy_clients = busy[:200] + rng.sample(busy, min(800, len(busy)))
    waitlist_rows = [
        {
            "id": w,
            "client_id": rng.choice(known),
            "conversation_id": 1 + rng.randrange(total_cases),
            "channel": "telegram",
            "language": "fr",
            "reason": "crisis",
            "created_at": NOW - timedelta(days=170 * rng.random()),
            "notified_at": None if rng.random() < 0.6 else NOW - timedelta(days=10 * rng.random()),
            "department": _department(rng),
        }
        for w in range(1, 3001)
    ]
    journal_rows = [
        {
            "id": j,
            "at": NOW - timedelta(days=364) + timedelta(seconds=j * 364 * 86400 / 100_000),
            "actor": rng.choice(OPERATORS),
            "action": "view_case",
            "client_id": owner[(j * 7) % total_cases],
            "case_id": 1 + (j * 7) % total_cases,
        }
        for j in range(1, 100_001)
    ]
    inbox_rows = [
        {
            "id": m["id"],
            "channel": m["channel"],
            "external_id": f"in-{m['id']}",
            "identity_key": f"{m['channel']}:{m['party']}",
            "payload": {"text": "x"},
            "received_at": m["created_at"],
            "processed_at": m["created_at"] + timedelta(milliseconds=30),
        }
        for m in message_rows
        if m["direction"] == "in" and m["created_at"] > NOW - timedelta(days=7)
    ]
    plan = [
        (clients, client_rows),
        (identities, identity_rows),
        (opticians, optician_rows),
        (conversations, convo_rows),
        (cases, case_rows),
        (messages, message_rows),
        (dispatch_offers, offer_rows),
        (appointments, appointment_rows),
        (waitlist, waitlist_rows),
        (access_journal, journal_rows),
        (inbox, inbox_rows),
    ]
    for table, rows in plan:
        if connection.dialect.name == "postgresql":
            for start in range(0, len(rows), 200_000):
                await _insert(connection, table, rows[start : start + 200_000])
        else:
            await _insert(connection, table, rows)
        out.counts[table.name] = len(rows)
    await _restart_sequences(connection, [t for t, _ in plan])
    return out


RETENTION = timedelta(days=90)  # the default case delay (RetentionPolicy.cases)


def _as_swept(
    case_rows: list[dict[str, Any]],
    convo_rows: list[dict[str, Any]],
    identity_rows: list[dict[str, Any]],
    rng: random.Random,
) -> None:
    """What an hourly retention sweep would have left: closed cases past the delay anonymised,
    clients with nothing live and inactive past the delay erased (their identity a shell). Their
    transcripts are kept (a sweep deletes them): the messages table stays at its full size, which
    is harsher on every read than a swept one."""
    cutoff = NOW - RETENTION
    live: set[int] = set()
    last: dict[int, datetime] = {}
    for case, convo in zip(case_rows, convo_rows, strict=True):
        client = case["client_id"]
        last[client] = max(last.get(client, convo["updated_at"]), convo["updated_at"])
        if case["status"] in ("queued", "claimed", "dispatched"):
            live.add(client)
    for case in case_rows:
        ended = case["done_at"] or case["updated_at"]
        if case["status"] in ("done", "cancelled") and ended < cutoff:
            swept = ended + RETENTION + timedelta(minutes=60 * rng.random())
            case.update(
                anonymised_at=swept,
                reference=f"ANON-{case['id']:08X}",
                contact_name=None,
                contact_phone=None,
                address=None,
                postal_code=None,
            )
    erased = {c for c, at in last.items() if c not in live and at < cutoff}
    for convo in convo_rows:
        if convo["client_id"] in erased:
            convo.update(owner="closed", state="ended", updated_at=last[convo["client_id"]] + RETENTION)
    for identity in identity_rows:
        if identity["client_id"] in erased:
            identity.update(external_id="erased", key=f"erased:{uuid.uuid4().hex}", conversation_id=None)
