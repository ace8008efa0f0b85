"""What the operators' console reads of cases: the queue, a case's detail and transcript, and what
tells its live views that something changed. Reads only; the console's writes are in
``storage/cases.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

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
    messages,
    opticians,
)

QUEUE_LIMIT = 500  # the most cases a queue shows
WRITTEN_LIMIT = 20  # the most "the client wrote" notices at once
MESSAGES_AFTER_LIMIT = 200  # the most new messages the live view takes at once


@dataclass(frozen=True, slots=True)
class CaseSummaryRow:
    """A case as a line of the queue."""

    id: int
    public_id: str
    reference: str
    status: str
    kind: str
    need: str | None
    urgent: bool | None
    mode: str | None
    priority: str | None
    priority_rank: int
    department: str | None
    channel: str
    created_at: datetime
    updated_at: datetime
    claimed_by: str | None
    no_taker_at: datetime | None
    optician_id: int | None
    client_wrote_at: datetime | None
    reopened_at: datetime | None
    anonymised_at: datetime | None
    unreachable: bool | None  # None: the client's row is gone


@dataclass(frozen=True, slots=True)
class CaseDetailRow(CaseSummaryRow):
    """A case with its client's details and its conversation's owner."""

    conversation_id: int
    language: str
    contact_name: str | None
    contact_phone: str | None
    address: str | None
    postal_code: str | None
    slot_date: date | None
    slot_part: str | None
    slot_asap: bool  # "dès que possible": the slot is the first half-day free when asked
    prescription_path: str | None
    insurance_status: str | None  # insured | none | skipped; None: not asked
    insurer: str | None
    insurance_card_path: str | None
    tracking_number: str | None
    cancel_reason: str | None
    first_response_at: datetime | None
    done_at: datetime | None
    consent_id: int | None
    owner: str  # the conversation's
    operator: str | None  # the conversation's


@dataclass(frozen=True, slots=True)
class ConsentRow:
    purpose: str
    wording_version: str
    given_at: datetime


@dataclass(frozen=True, slots=True)
class OfferRow:
    """An offer of the case's home visit to an optician, by name."""

    optician: str
    status: str
    round: int


@dataclass(frozen=True, slots=True)
class OpticianRow:
    name: str
    phone: str


@dataclass(frozen=True, slots=True)
class NoteRow:
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """A message of a case's conversation as the console shows it; ``operator`` and ``via`` come
    from its payload (who wrote it in the console; "template": sent outside WhatsApp's window)."""

    id: int
    direction: str
    author: str
    operator: str | None
    text: str
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    read_at: datetime | None
    via: str | None


@dataclass(frozen=True, slots=True)
class ClientWrote:
    """A case whose client wrote (the holder's live notice): ids and references only."""

    public_id: str
    reference: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CaseFileRef:
    """A file of a case (the prescription, the insurance card), with whose it is."""

    case_id: int
    client_id: int | None
    path: str | None


_SUMMARY = (
    cases.c.id,
    cases.c.public_id,
    cases.c.reference,
    cases.c.status,
    cases.c.kind,
    cases.c.need,
    cases.c.urgent,
    cases.c.mode,
    cases.c.priority,
    cases.c.priority_rank,
    cases.c.department,
    cases.c.channel,
    cases.c.created_at,
    cases.c.updated_at,
    cases.c.claimed_by,
    cases.c.no_taker_at,
    cases.c.optician_id,
    cases.c.client_wrote_at,
    cases.c.reopened_at,
    cases.c.anonymised_at,
    clients.c.unreachable,
)

_DETAIL = (
    cases.c.conversation_id,
    cases.c.language,
    cases.c.contact_name,
    cases.c.contact_phone,
    cases.c.address,
    cases.c.postal_code,
    cases.c.slot_date,
    cases.c.slot_part,
    cases.c.slot_asap,
    cases.c.prescription_path,
    cases.c.insurance_status,
    cases.c.insurer,
    cases.c.insurance_card_path,
    cases.c.tracking_number,
    cases.c.cancel_reason,
    cases.c.first_response_at,
    cases.c.done_at,
    cases.c.consent_id,
    conversations.c.owner,
    conversations.c.operator,
)

_MESSAGE = (
    messages.c.id,
    messages.c.direction,
    messages.c.author,
    messages.c.text,
    messages.c.payload,
    messages.c.created_at,
    messages.c.sent_at,
    messages.c.failed_at,
    messages.c.last_error,
    messages.c.delivered_at,
    messages.c.read_at,
)


@dataclass(frozen=True, slots=True)
class QueueKey:
    """Where a queue's page ends, in its order: the next page starts after it (keyset pagination:
    no row shown twice and none skipped, whatever is inserted or moved between two pages)."""

    priority_rank: int
    created_at: datetime
    id: int


async def queue(
    connection: AsyncConnection,
    statuses: Sequence[str],
    *,
    mode: str | None = None,
    department: str | None = None,
    claimed_by: str | None = None,
    after: QueueKey | None = None,
    limit: int = QUEUE_LIMIT,
) -> list[CaseSummaryRow]:
    """Cases in these statuses (of this mode, department, holder if given): mobilised workers
    first (``priority_rank``), then the oldest; ``limit`` of them, after ``after`` if given."""
    query = (
        sa.select(*_SUMMARY)
        .outerjoin(clients, clients.c.id == cases.c.client_id)
        .where(cases.c.status.in_(list(statuses)))
        .order_by(cases.c.priority_rank, cases.c.created_at, cases.c.id)
        .limit(limit)
    )
    if after is not None:
        # A row value: both databases read it as a range of the (priority_rank, created_at, id)
        # index, so a page costs its own rows, however deep.
        key = sa.tuple_(cases.c.priority_rank, cases.c.created_at, cases.c.id)
        query = query.where(key > (after.priority_rank, after.created_at, after.id))
    if mode:
        query = query.where(cases.c.mode == mode)
    if department:
        query = query.where(cases.c.department == department)
    if claimed_by is not None:
        query = query.where(cases.c.claimed_by == claimed_by)
    return [CaseSummaryRow(**row._mapping) for row in await connection.execute(query)]


async def case_detail(connection: AsyncConnection, public_id: str) -> CaseDetailRow | None:
    row = (
        await connection.execute(
            sa.select(*_SUMMARY, *_DETAIL)
            .outerjoin(clients, clients.c.id == cases.c.client_id)
            .join(conversations, conversations.c.id == cases.c.conversation_id)
            .where(cases.c.public_id == public_id)
        )
    ).first()
    return None if row is None else CaseDetailRow(**row._mapping)


async def consent(connection: AsyncConnection, consent_id: int) -> ConsentRow | None:
    found = (
        await connection.execute(
            sa.select(consents.c.purpose, consents.c.wording_version, consents.c.given_at).where(
                consents.c.id == consent_id
            )
        )
    ).first()
    return None if found is None else ConsentRow(**found._mapping)


async def offers_of(connection: AsyncConnection, case_id: int) -> list[OfferRow]:
    """The offers of a case's home visit, oldest first."""
    rows = await connection.execute(
        sa.select(opticians.c.name, opticians.c.phone, dispatch_offers.c.status, dispatch_offers.c.round)
        .join(opticians, opticians.c.id == dispatch_offers.c.optician_id)
        .where(dispatch_offers.c.case_id == case_id)
        .order_by(dispatch_offers.c.id)
    )
    return [OfferRow(row.name, row.status, row.round) for row in rows]


async def optician(connection: AsyncConnection, optician_id: int) -> OpticianRow | None:
    found = (
        await connection.execute(
            sa.select(opticians.c.name, opticians.c.phone).where(opticians.c.id == optician_id)
        )
    ).first()
    return None if found is None else OpticianRow(found.name, found.phone)


async def notes_of(connection: AsyncConnection, case_id: int) -> list[NoteRow]:
    rows = await connection.execute(
        sa.select(case_notes.c.author, case_notes.c.text, case_notes.c.created_at)
        .where(case_notes.c.case_id == case_id)
        .order_by(case_notes.c.id)
    )
    return [NoteRow(row.author, row.text, row.created_at) for row in rows]


async def transcript(connection: AsyncConnection, conversation_id: int, limit: int) -> list[TranscriptLine]:
    """The newest ``limit`` messages of a conversation, oldest first."""
    rows = await connection.execute(
        sa.select(*_MESSAGE)
        .where(messages.c.conversation_id == conversation_id)
        .order_by(messages.c.id.desc())
        .limit(limit)
    )
    return [_line(row._mapping) for row in reversed(rows.all())]


async def messages_after(connection: AsyncConnection, public_id: str, after: int) -> list[TranscriptLine]:
    """Messages of a case's conversation after the ``after`` id, oldest first (the live view)."""
    conversation = sa.select(cases.c.conversation_id).where(cases.c.public_id == public_id)
    rows = await connection.execute(
        sa.select(*_MESSAGE)
        .where(messages.c.conversation_id == conversation.scalar_subquery(), messages.c.id > after)
        .order_by(messages.c.id)
        .limit(MESSAGES_AFTER_LIMIT)
    )
    return [_line(row._mapping) for row in rows]


def _line(row: sa.RowMapping) -> TranscriptLine:
    payload = row["payload"] or {}
    return TranscriptLine(
        id=row["id"],
        direction=row["direction"],
        author=row["author"],
        operator=payload.get("operator"),
        text=row["text"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        failed_at=row["failed_at"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
        read_at=row["read_at"],
        via=payload.get("via"),
    )


async def party_of(connection: AsyncConnection, conversation_id: int) -> str | None:
    """The channel's id of the client of a conversation."""
    party = await connection.scalar(
        sa.select(identities.c.external_id)
        .join(conversations, conversations.c.identity_id == identities.c.id)
        .where(conversations.c.id == conversation_id)
    )
    return None if party is None else str(party)


async def queue_version(connection: AsyncConnection) -> tuple[object, ...]:
    """Changes when any case may have changed: an erasure anonymises closed cases without
    touching ``updated_at``, so the newest ``anonymised_at`` counts too."""
    found = await connection.execute(
        sa.select(sa.func.count(), sa.func.max(cases.c.updated_at), sa.func.max(cases.c.anonymised_at))
    )
    return tuple(found.one())


async def case_version(connection: AsyncConnection, public_id: str) -> tuple[object, ...]:
    """Changes when the case, or its replies' delivery (sent, failed, delivered, read), changed."""
    conversation = sa.select(cases.c.conversation_id).where(cases.c.public_id == public_id)
    updated = sa.select(cases.c.updated_at).where(cases.c.public_id == public_id)
    anonymised = sa.select(cases.c.anonymised_at).where(cases.c.public_id == public_id)
    changed = sa.select(
        updated.scalar_subquery(),
        anonymised.scalar_subquery(),
        sa.func.max(messages.c.sent_at),
        sa.func.max(messages.c.failed_at),
        sa.func.max(messages.c.delivered_at),
        sa.func.max(messages.c.read_at),
        sa.func.count(messages.c.sent_at),
    ).where(
        messages.c.conversation_id == conversation.scalar_subquery(),
        messages.c.direction == "out",
    )
    return tuple((await connection.execute(changed)).one())


async def written_since(connection: AsyncConnection, holder: str, since: datetime) -> list[ClientWrote]:
    """The cases ``holder`` holds (or held last) whose client wrote after ``since``, oldest first."""
    rows = await connection.execute(
        sa.select(cases.c.public_id, cases.c.reference, cases.c.client_wrote_at)
        .where(cases.c.claimed_by == holder, cases.c.client_wrote_at > since)
        .order_by(cases.c.client_wrote_at)
        .limit(WRITTEN_LIMIT)
    )
    return [ClientWrote(row.public_id, row.reference, row.client_wrote_at) for row in rows]


async def prescription_of(connection: AsyncConnection, public_id: str) -> CaseFileRef | None:
    return await _file_of(connection, public_id, cases.c.prescription_path)


async def insurance_card_of(connection: AsyncConnection, public_id: str) -> CaseFileRef | None:
    return await _file_of(connection, public_id, cases.c.insurance_card_path)


async def _file_of(connection: AsyncConnection, public_id: str, column: sa.Column[str]) -> CaseFileRef | None:
    found = (
        await connection.execute(
            sa.select(cases.c.id, cases.c.client_id, column.label("path")).where(
                cases.c.public_id == public_id
            )
        )
    ).first()
    return None if found is None else CaseFileRef(found.id, found.client_id, found.path)
