"""Finding a client and reading everything stored about them (the console, the CLI, the export)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import (
    case_notes,
    cases,
    clients,
    consents,
    conversations,
    dispatch_offers,
    identities,
    inbox,
    messages,
    opticians,
    waitlist,
)


async def client_of_case(connection: AsyncConnection, case_public_id: str) -> tuple[int, int] | None:
    """(client id, case id) of a case, by its public id."""
    row = (
        await connection.execute(
            sa.select(cases.c.client_id, cases.c.id).where(cases.c.public_id == case_public_id)
        )
    ).first()
    return None if row is None else (row.client_id, row.id)


async def find_clients(
    connection: AsyncConnection, reference: str | None, phones: Sequence[str]
) -> list[int]:
    """Clients with this case reference, or whose case or channel id carries one of these phone
    numbers (E.164 "+33612345678", and WhatsApp's "33612345678")."""
    found: set[int] = set()
    if reference:
        found.update(
            await connection.scalars(
                sa.select(cases.c.client_id).where(sa.func.upper(cases.c.reference) == reference.upper())
            )
        )
    if phones:
        found.update(
            await connection.scalars(
                sa.select(cases.c.client_id).where(cases.c.contact_phone.in_(list(phones)))
            )
        )
        bare = [p.lstrip("+") for p in phones]
        found.update(
            await connection.scalars(
                sa.select(identities.c.client_id).where(identities.c.external_id.in_([*phones, *bare]))
            )
        )
    return sorted(found)


async def identity_keys(connection: AsyncConnection, client_id: int) -> list[str]:
    """The conversation keys ("channel:id") of a client: what the engine locks."""
    return list(
        await connection.scalars(sa.select(identities.c.key).where(identities.c.client_id == client_id))
    )


async def client_summary(connection: AsyncConnection, client_id: int) -> dict[str, Any] | None:
    """A line about a client for a search result: channels, cases (reference and status)."""
    client = (await connection.execute(sa.select(clients).where(clients.c.id == client_id))).first()
    if client is None:
        return None
    channels = sorted(
        set(
            await connection.scalars(
                sa.select(identities.c.channel).where(identities.c.client_id == client_id)
            )
        )
    )
    found = await connection.execute(
        sa.select(cases.c.reference, cases.c.status, cases.c.created_at, cases.c.anonymised_at)
        .where(cases.c.client_id == client_id)
        .order_by(cases.c.id)
    )
    return {
        "id": client_id,
        "since": client.created_at.isoformat(),
        "channels": channels,
        "cases": [
            {"reference": c.reference, "status": c.status, "created_at": c.created_at.isoformat()}
            for c in found
            if c.anonymised_at is None
        ],
    }


# --- export ---


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _plain(row: Any, skip: Sequence[str] = ()) -> dict[str, Any]:
    return {key: _iso(value) for key, value in row._mapping.items() if key not in skip}


async def client_record(
    connection: AsyncConnection, client_id: int, read_file: Callable[[str], bytes] | None = None
) -> dict[str, Any]:
    """Everything stored about a client (GDPR Art. 15), as plain JSON-ready data.

    Identifiers per channel; every case with all its fields, its notes, offers and optician, its
    consent; every conversation with its answers and transcript; messages about their cases sent
    to opticians; waitlist entries; inbound messages still in the inbox; and, with ``read_file``,
    the files themselves (base64): prescriptions, insurance cards, what they sent.
    """
    client = (await connection.execute(sa.select(clients).where(clients.c.id == client_id))).first()
    if client is None:
        return {}
    record: dict[str, Any] = {"client": _plain(client)}
    found_identities = (
        await connection.execute(
            sa.select(identities).where(identities.c.client_id == client_id).order_by(identities.c.id)
        )
    ).all()
    record["identities"] = [
        {"channel": i.channel, "id": i.external_id, "since": i.created_at.isoformat()}
        for i in found_identities
    ]
    record["cases"] = []
    case_rows = (
        await connection.execute(sa.select(cases).where(cases.c.client_id == client_id).order_by(cases.c.id))
    ).all()
    for case in case_rows:
        entry = _plain(
            case, skip=("id", "client_id", "conversation_id", "consent_id", "optician_id", "public_id")
        )
        notes = await connection.execute(
            sa.select(case_notes.c.author, case_notes.c.text, case_notes.c.created_at)
            .where(case_notes.c.case_id == case.id)
            .order_by(case_notes.c.id)
        )
        entry["notes"] = [_plain(n) for n in notes]
        offers = await connection.execute(
            sa.select(
                opticians.c.name.label("optician"),
                dispatch_offers.c.round,
                dispatch_offers.c.status,
                dispatch_offers.c.created_at,
                dispatch_offers.c.answered_at,
            )
            .join(opticians, opticians.c.id == dispatch_offers.c.optician_id)
            .where(dispatch_offers.c.case_id == case.id)
            .order_by(dispatch_offers.c.id)
        )
        entry["offers"] = [_plain(o) for o in offers]
        entry["optician"] = None
        if case.optician_id is not None:
            optician = (
                await connection.execute(
                    sa.select(opticians.c.name, opticians.c.phone).where(opticians.c.id == case.optician_id)
                )
            ).first()
            entry["optician"] = None if optician is None else _plain(optician)
        entry["consent"] = None
        if case.consent_id is not None:
            consent = (
                await connection.execute(
                    sa.select(consents.c.purpose, consents.c.wording_version, consents.c.given_at).where(
                        consents.c.id == case.consent_id
                    )
                )
            ).first()
            entry["consent"] = None if consent is None else _plain(consent)
        about = await connection.execute(
            sa.select(messages.c.text, messages.c.created_at, messages.c.sent_at)
            .where(messages.c.case_id == case.id)
            .order_by(messages.c.id)
        )
        entry["messages_to_opticians"] = [_plain(m) for m in about]
        record["cases"].append(entry)
    record["conversations"] = []
    for convo in (
        await connection.execute(
            sa.select(conversations)
            .where(conversations.c.client_id == client_id)
            .order_by(conversations.c.id)
        )
    ).all():
        transcript = await connection.execute(
            sa.select(
                messages.c.direction,
                messages.c.author,
                messages.c.text,
                messages.c.created_at,
                messages.c.sent_at,
                messages.c.delivered_at,
                messages.c.read_at,
            )
            .where(messages.c.conversation_id == convo.id)
            .order_by(messages.c.id)
        )
        record["conversations"].append(
            {
                "channel": convo.channel,
                "state": convo.state,
                "started_at": convo.created_at.isoformat(),
                "closed_at": _iso(convo.closed_at),
                "answers": convo.answers,
                "transcript": [_plain(m) for m in transcript],
            }
        )
    given = await connection.execute(
        sa.select(consents.c.purpose, consents.c.wording_version, consents.c.given_at)
        .where(consents.c.client_id == client_id)
        .order_by(consents.c.id)
    )
    record["consents"] = [_plain(c) for c in given]
    entries = await connection.execute(
        sa.select(waitlist.c.channel, waitlist.c.language, waitlist.c.reason, waitlist.c.created_at)
        .add_columns(waitlist.c.notified_at, waitlist.c.department)
        .add_columns(waitlist.c.contact_email, waitlist.c.contact_phone)
        .where(waitlist.c.client_id == client_id)
        .order_by(waitlist.c.id)
    )
    record["waitlist"] = [_plain(w) for w in entries]
    keys = [i.key for i in found_identities]
    received = await connection.execute(
        sa.select(inbox.c.channel, inbox.c.payload, inbox.c.received_at)
        .where(inbox.c.identity_key.in_(keys))
        .order_by(inbox.c.id)
    )
    record["inbox"] = [
        {
            "channel": r.channel,
            "received_at": r.received_at.isoformat(),
            "said": (r.payload or {}).get("said"),
        }
        for r in received
        if r.payload
    ]
    files = await client_files(connection, client_id, exports=False)
    record["files"] = []
    for path in files:
        item: dict[str, Any] = {"name": path.rsplit("/", 1)[-1].removesuffix(".enc")}
        if read_file is not None:
            try:
                item["base64"] = base64.b64encode(read_file(path)).decode()
            except (OSError, ValueError):
                item["missing"] = True
        record["files"].append(item)
    return record


async def client_files(connection: AsyncConnection, client_id: int, *, exports: bool = True) -> list[str]:
    """Data-folder paths of every file of the client: what they sent (each is named in the
    transcript row of the message that carried it: kept, replaced, or sent at a step that did not
    expect it), their cases' prescriptions, the exports of their data sent to them, and what was
    sent about their cases outside their conversation (a visit's calendar file and the copy of their
    insurance card sent to the optician)."""
    theirs = sa.select(conversations.c.id).where(conversations.c.client_id == client_id)
    their_cases = sa.select(cases.c.id).where(cases.c.client_id == client_id)
    # Two reads, each by its index: an OR of the two made PostgreSQL read every message (a full
    # scan of the table per erased client). A message in both is read twice: paths are a set.
    rows = [
        *await connection.execute(
            sa.select(messages.c.direction, messages.c.payload).where(messages.c.conversation_id.in_(theirs))
        ),
        *await connection.execute(
            sa.select(messages.c.direction, messages.c.payload).where(messages.c.case_id.in_(their_cases))
        ),
    ]
    paths: set[str] = set()
    for direction, payload in rows:
        if not payload:
            continue
        if direction == "in" and payload.get("media"):
            paths.add(str(payload["media"]))
        document = payload.get("document")
        if exports and direction == "out" and isinstance(document, dict) and document.get("path"):
            # an export of their data, or a visit's calendar file or insurance card sent to its optician
            paths.add(str(document["path"]))
    for column in (cases.c.prescription_path, cases.c.insurance_card_path):
        result = await connection.execute(
            sa.select(column).where(cases.c.client_id == client_id, column.is_not(None))
        )
        paths.update(str(row[0]) for row in result)
    return sorted(paths)


# --- what the client reads when they ask for their data ---------------------------------------


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """A case as its client reads it in "mes données"."""

    reference: str
    status: str
    created_at: datetime
    need: str | None
    mode: str | None
    address: str | None
    contact_name: str | None
    contact_phone: str | None
    slot_date: date | None
    slot_part: str | None
    slot_asap: bool
    insurance_status: str | None = None
    insurer: str | None = None
    insurance_card_path: str | None = None


@dataclass(frozen=True, slots=True)
class ClientOverview:
    """Everything the client's summary lists: channels, cases, consents, waitlist entries."""

    channels: list[str]
    cases: list[CaseSummary]
    consents: list[tuple[str, datetime]]  # wording version, given at
    waitlist: list[WaitlistEntry]


@dataclass(frozen=True, slots=True)
class WaitlistEntry:
    """A waitlist entry as the client's summary lists it: when, where, how to reach them."""

    joined_at: datetime
    department: str | None
    contact_email: str | None
    contact_phone: str | None


async def client_overview(connection: AsyncConnection, client_id: int) -> ClientOverview:
    """What a client is told is stored about them, oldest first."""
    channels = await connection.execute(
        sa.select(identities.c.channel).where(identities.c.client_id == client_id)
    )
    found = await connection.execute(
        sa.select(
            cases.c.reference,
            cases.c.status,
            cases.c.created_at,
            cases.c.need,
            cases.c.mode,
            cases.c.address,
            cases.c.contact_name,
            cases.c.contact_phone,
            cases.c.slot_date,
            cases.c.slot_part,
            cases.c.slot_asap,
            cases.c.insurance_status,
            cases.c.insurer,
            cases.c.insurance_card_path,
        )
        .where(cases.c.client_id == client_id)
        .order_by(cases.c.id)
    )
    given = await connection.execute(
        sa.select(consents.c.wording_version, consents.c.given_at)
        .where(consents.c.client_id == client_id)
        .order_by(consents.c.id)
    )
    waiting = await connection.execute(
        sa.select(
            waitlist.c.created_at, waitlist.c.department, waitlist.c.contact_email, waitlist.c.contact_phone
        )
        .where(waitlist.c.client_id == client_id)
        .order_by(waitlist.c.id)
    )
    return ClientOverview(
        channels=[row.channel for row in channels],
        cases=[CaseSummary(**row._mapping) for row in found],
        consents=[(row.wording_version, row.given_at) for row in given],
        waitlist=[
            WaitlistEntry(row.created_at, row.department, row.contact_email, row.contact_phone)
            for row in waiting
        ],
    )
