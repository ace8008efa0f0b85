"""Personal data: where every piece of it lives, and the queries that export, erase, anonymise,
purge and journal it (docs/PRIVACY.md).

:data:`PERSONAL_DATA` names every column of the schema with what erasure does to it; a test fails
when a column is added without being named here, so a new place holding personal data cannot be
forgotten by erasure. Everything here runs inside the caller's transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import set_aside
from storage.tables import (
    access_journal,
    case_notes,
    cases,
    clients,
    consents,
    conversations,
    delivery_receipts,
    dispatch_offers,
    identities,
    inbox,
    messages,
    opticians,
    waitlist,
)

# What erasure does to a column:
#   delete  the client's rows of this table are deleted (the column goes with them)
#   blank   set to NULL (or emptied) when the client is erased or the case anonymised
#   hash    replaced by a keyed hash or a random value (it must stay unique, or recognisable)
#   keep    not personal: kept (ids, statuses, times, what reports need)
#   staff   about operators or opticians, not about clients
Treatment = Literal["delete", "blank", "hash", "keep", "staff"]

_KEEP_ALL: Treatment = "keep"
_STAFF_ALL: Treatment = "staff"
_DELETE_ALL: Treatment = "delete"

PERSONAL_DATA: dict[str, dict[str, Treatment] | Treatment] = {
    "clients": _KEEP_ALL,  # language, reachability, creation time: an anonymous shell remains
    "identities": {
        "id": "keep",
        "client_id": "keep",
        "channel": "keep",
        "external_id": "hash",
        "key": "hash",
        "conversation_id": "keep",
        "created_at": "keep",
    },
    "conversations": {
        "id": "keep",
        "public_id": "keep",
        "client_id": "keep",
        "identity_id": "keep",
        "channel": "keep",
        "state": "keep",
        "owner": "keep",
        "operator": "staff",
        "language": "keep",
        "answers": "blank",
        "misses": "keep",
        "notice_sent": "keep",
        "created_at": "keep",
        "updated_at": "keep",
        "closed_at": "keep",
    },
    "messages": _DELETE_ALL,  # the transcript, the optician's brief (case_id), notices to the client
    "delivery_receipts": _DELETE_ALL,  # WhatsApp statuses of the deleted messages
    "consents": _DELETE_ALL,
    "cases": {
        "id": "keep",
        "reference": "hash",
        "public_id": "keep",
        "client_id": "keep",
        "conversation_id": "keep",
        "kind": "keep",
        "status": "keep",
        "channel": "keep",
        "language": "keep",
        "need": "keep",
        "urgent": "keep",
        "mode": "keep",
        "priority": "keep",
        "priority_rank": "keep",
        "address": "blank",
        "postal_code": "blank",
        "department": "keep",
        "slot_date": "keep",
        "slot_part": "keep",
        "contact_name": "blank",
        "contact_phone": "blank",
        "prescription_path": "blank",
        "consent_id": "blank",
        "claimed_by": "staff",
        "cancel_reason": "blank",
        "tracking_number": "blank",
        "created_at": "keep",
        "updated_at": "keep",
        "claimed_at": "keep",
        "first_response_at": "keep",
        "dispatched_at": "keep",
        "done_at": "keep",
        "optician_id": "keep",
        "dispatch_round": "keep",
        "offered_at": "keep",
        "no_taker_at": "keep",
        "visit_outcome": "keep",
        "client_wrote_at": "blank",
        "reopened_at": "keep",
        "anonymised_at": "keep",
    },
    "case_notes": _DELETE_ALL,  # what operators wrote about the client
    "waitlist": _DELETE_ALL,
    "inbox": {
        "id": "keep",
        "channel": "keep",
        "external_id": "hash",  # always a keyed hash: deduplication needs no more
        "identity_key": "hash",
        "payload": "blank",
        "received_at": "keep",
        "processed_at": "keep",
        "attempts": "keep",
        "error": "keep",  # an error's kind, never its text
    },
    "dispatch_offers": _KEEP_ALL,  # who was offered what, when: its message goes with the case's messages
    "access_journal": _KEEP_ALL,  # ids and actors, never the data itself
    "set_aside": _KEEP_ALL,  # refused webhooks: channel, kind, error kind, body digest and size only
    "operators": _STAFF_ALL,
    "console_sessions": _STAFF_ALL,
    "login_failures": _STAFF_ALL,
    "canned_replies": _STAFF_ALL,
    "opticians": _STAFF_ALL,
    "optician_links": _STAFF_ALL,
}

HASH_PREFIX = "h1:"
ANONYMOUS_REFERENCE = "XX-"


class Pseudonyms:
    """Keyed hashes that stand in for raw ids (a chat id, a WhatsApp message id): the same id
    always gives the same hash, so a re-delivered message is still recognised, but the hash cannot
    be turned back into the id without the key (a plain hash of a phone number could be)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def of(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
        return HASH_PREFIX + digest[:48]


# --- the access journal -----------------------------------------------------------------------


async def record_access(
    connection: AsyncConnection,
    now: datetime,
    actor: str,
    action: str,
    *,
    client_id: int | None = None,
    case_id: int | None = None,
    detail: str | None = None,
) -> None:
    """One line of the access journal: who did what to whose personal data (never the data)."""
    await connection.execute(
        sa.insert(access_journal).values(
            at=now,
            actor=actor[:64],
            action=action[:32],
            client_id=client_id,
            case_id=case_id,
            detail=None if detail is None else detail[:64],
        )
    )


async def last_access(connection: AsyncConnection, actor: str, action: str, case_id: int) -> datetime | None:
    """When ``actor`` last did ``action`` on this case, by the journal (None: never)."""
    found = await connection.scalar(
        sa.select(sa.func.max(access_journal.c.at)).where(
            access_journal.c.actor == actor[:64],
            access_journal.c.action == action[:32],
            access_journal.c.case_id == case_id,
        )
    )
    return found if isinstance(found, datetime) else None


async def journal_lines(
    connection: AsyncConnection, limit: int = 50, before: int | None = None
) -> list[dict[str, Any]]:
    """The newest lines of the journal for the console: which case each one is about, as its
    reference and public id while the case keeps its data, and ``anonymised`` once it is gone.
    A line about a client without a case (an erasure) names the client's newest case that is
    not anonymised, if any (``client_of``). No row ids of clients or cases."""
    remaining = (
        sa.select(cases.c.reference)
        .where(cases.c.client_id == access_journal.c.client_id, cases.c.anonymised_at.is_(None))
        .order_by(cases.c.id.desc())
        .limit(1)
        .correlate(access_journal)
        .scalar_subquery()
    )
    query = (
        sa.select(
            access_journal.c.id,
            access_journal.c.at,
            access_journal.c.actor,
            access_journal.c.action,
            access_journal.c.detail,
            access_journal.c.case_id,
            access_journal.c.client_id,
            cases.c.reference,
            cases.c.public_id,
            cases.c.anonymised_at,
            remaining.label("client_of"),
        )
        .outerjoin(cases, cases.c.id == access_journal.c.case_id)
        .order_by(access_journal.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(access_journal.c.id < before)
    lines = []
    for row in await connection.execute(query):
        if row.case_id is not None:
            gone = row.public_id is None or row.anonymised_at is not None
            client_of = None
        else:
            client_of = row.client_of
            gone = row.client_id is not None and client_of is None
        lines.append(
            {
                "id": row.id,
                "at": row.at.isoformat(),
                "actor": row.actor,
                "action": row.action,
                "detail": row.detail,
                "case": None if gone else row.reference,
                "case_id": None if gone else row.public_id,
                "client_of": client_of,
                "anonymised": gone,
            }
        )
    return lines


# --- finding a client -------------------------------------------------------------------------


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


# --- export -------------------------------------------------------------------------------------


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
    the prescription files themselves (base64).
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
        .add_columns(waitlist.c.notified_at)
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
    expect it), their cases' prescriptions, and the exports of their data sent to them."""
    result = await connection.execute(
        sa.select(messages.c.direction, messages.c.payload)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(conversations.c.client_id == client_id)
    )
    paths: set[str] = set()
    for direction, payload in result:
        if not payload:
            continue
        if direction == "in" and payload.get("media"):
            paths.add(str(payload["media"]))
        document = payload.get("document")
        if exports and direction == "out" and isinstance(document, dict) and document.get("path"):
            paths.add(str(document["path"]))  # an export of their data, not deleted yet
    result = await connection.execute(
        sa.select(cases.c.prescription_path).where(
            cases.c.client_id == client_id, cases.c.prescription_path.is_not(None)
        )
    )
    paths.update(str(row[0]) for row in result)
    return sorted(paths)


# --- erasure --------------------------------------------------------------------------------------


def _forgettable() -> Any:
    """Outbound rows flagged ``forget`` (a goodbye still to deliver): spared by an erasure,
    deleted by the sweep once delivered."""
    return sa.func.coalesce(messages.c.payload["forget"].as_boolean(), sa.false())


async def open_cases_of(
    connection: AsyncConnection, client_ids: Sequence[int], statuses: Sequence[str]
) -> list[int]:
    if not client_ids:
        return []
    return list(
        await connection.scalars(
            sa.select(cases.c.id).where(
                cases.c.client_id.in_(list(client_ids)), cases.c.status.in_(list(statuses))
            )
        )
    )


async def newest_message_id(connection: AsyncConnection) -> int:
    return int(await connection.scalar(sa.select(sa.func.coalesce(sa.func.max(messages.c.id), 0))) or 0)


async def anonymise_cases(
    connection: AsyncConnection,
    case_ids: Sequence[int],
    now: datetime,
    pseudonyms: Pseudonyms,
    *,
    spare_after: int | None = None,
) -> list[str]:
    """Remove the personal data of these cases and keep what reports need (need, mode, priority,
    department, times, outcome). Their notes, consents and the messages about them (the
    optician's brief...) are deleted; messages written after ``spare_after`` (telling an optician
    not to come, which carry no personal data) are kept but unlinked. Returns their files."""
    if not case_ids:
        return []
    ids = list(case_ids)
    files = [
        str(p)
        for p in await connection.scalars(
            sa.select(cases.c.prescription_path).where(
                cases.c.id.in_(ids), cases.c.prescription_path.is_not(None)
            )
        )
    ]
    consent_ids = [
        c
        for c in await connection.scalars(sa.select(cases.c.consent_id).where(cases.c.id.in_(ids)))
        if c is not None
    ]
    about: Any = messages.c.case_id.in_(ids)
    if spare_after is not None:
        about = sa.and_(about, messages.c.id <= spare_after)
    await _delete_messages(connection, about)
    await connection.execute(sa.update(messages).where(messages.c.case_id.in_(ids)).values(case_id=None))
    await connection.execute(sa.delete(case_notes).where(case_notes.c.case_id.in_(ids)))
    blank = {
        column: None
        for column, treatment in _columns("cases").items()
        if treatment == "blank" and column not in ("reference",)
    }
    for case_id in ids:
        await connection.execute(
            sa.update(cases)
            .where(cases.c.id == case_id)
            .values(
                **blank,
                reference=ANONYMOUS_REFERENCE + secrets.token_hex(4).upper(),
                anonymised_at=sa.func.coalesce(cases.c.anonymised_at, now),
            )
        )
    if consent_ids:
        await connection.execute(sa.delete(consents).where(consents.c.id.in_(consent_ids)))
    return files


async def erase_clients(
    connection: AsyncConnection,
    client_ids: Sequence[int],
    now: datetime,
    pseudonyms: Pseudonyms,
    *,
    spare_after: int | None = None,
) -> list[str]:
    """Erase these clients: nothing of theirs is left but anonymous statistics.

    Their cases are anonymised (:func:`anonymise_cases`); their transcripts, consents, waitlist
    entries and the messages sent to them outside a conversation are deleted; their answers are
    emptied; their channel ids and inbox keys are replaced by keyed hashes (the inbox rows stay,
    without what the client wrote, so that a re-delivered message is still recognised). A client
    shell (language, creation time) remains so that the anonymous cases still count; a client with
    no case is deleted outright. Outbound rows
    flagged ``forget`` (the goodbye) are spared until delivered. Returns the files to delete once
    the transaction has committed.
    """
    if not client_ids:
        return []
    ids = list(client_ids)
    files = set(await _files_of(connection, ids))
    case_ids = list(await connection.scalars(sa.select(cases.c.id).where(cases.c.client_id.in_(ids))))
    files.update(await anonymise_cases(connection, case_ids, now, pseudonyms, spare_after=spare_after))
    convo_ids = list(
        await connection.scalars(sa.select(conversations.c.id).where(conversations.c.client_id.in_(ids)))
    )
    found = (
        await connection.execute(
            sa.select(
                identities.c.id, identities.c.channel, identities.c.external_id, identities.c.key
            ).where(identities.c.client_id.in_(ids))
        )
    ).all()
    if convo_ids:
        await _delete_messages(connection, messages.c.conversation_id.in_(convo_ids))
    for identity in found:  # technical notices sent outside any conversation
        await _delete_messages(
            connection,
            sa.and_(
                messages.c.conversation_id.is_(None),
                messages.c.case_id.is_(None),
                messages.c.channel == identity.channel,
                messages.c.party == identity.external_id,
                sa.not_(_forgettable()),
            ),
        )
    await connection.execute(sa.delete(consents).where(consents.c.client_id.in_(ids)))
    await connection.execute(sa.delete(waitlist).where(waitlist.c.client_id.in_(ids)))
    if convo_ids:
        await connection.execute(
            sa.update(conversations)
            .where(conversations.c.id.in_(convo_ids))
            .values(
                answers={},
                state="ended",
                owner="closed",
                closed_at=sa.func.coalesce(conversations.c.closed_at, now),
                updated_at=now,
            )
        )
    for identity in found:
        erased = pseudonyms.of(identity.key)
        await connection.execute(
            sa.update(inbox)
            .where(inbox.c.identity_key == identity.key)
            .values(payload={}, identity_key=erased, processed_at=sa.func.coalesce(inbox.c.processed_at, now))
        )
        # A shell: an erased client's next message is a stranger's (a new client).
        await connection.execute(
            sa.update(identities)
            .where(identities.c.id == identity.id)
            .values(external_id="erased", key=erased + ":" + secrets.token_hex(6), conversation_id=None)
        )
    # A client with no case leaves nothing at all (no statistic needs the shell).
    await connection.execute(
        sa.delete(clients).where(clients.c.id.in_(ids), clients.c.id.not_in(sa.select(cases.c.client_id)))
    )
    return sorted(files)


async def _files_of(connection: AsyncConnection, client_ids: list[int]) -> list[str]:
    paths: set[str] = set()
    for client_id in client_ids:
        paths.update(await client_files(connection, client_id))
    return sorted(paths)


async def _delete_messages(connection: AsyncConnection, condition: Any) -> None:
    """Delete messages, and the WhatsApp receipts of those that went out."""
    sent = [
        e
        for e in await connection.scalars(
            sa.select(messages.c.external_id).where(condition, messages.c.channel == "whatsapp")
        )
        if e
    ]
    if sent:
        await connection.execute(
            sa.delete(delivery_receipts).where(
                delivery_receipts.c.channel == "whatsapp", delivery_receipts.c.external_id.in_(sent)
            )
        )
    await connection.execute(sa.delete(messages).where(condition))


def _columns(table: str) -> dict[str, Treatment]:
    treatment = PERSONAL_DATA[table]
    return treatment if isinstance(treatment, dict) else {}


# --- retention ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    inbox: timedelta = timedelta(days=7)
    cases: timedelta = timedelta(days=90)
    files: timedelta = timedelta(days=30)
    waitlist: timedelta = timedelta(days=180)
    journal: timedelta = timedelta(days=365)
    goodbyes: timedelta = timedelta(minutes=5)  # delivered "forget" rows (the web page shows them)


@dataclass(slots=True)
class Purge:
    """What a sweep removed (or would remove): counts only, never values."""

    inbox_rows: int = 0
    clients_erased: int = 0
    cases_anonymised: int = 0
    prescriptions_deleted: int = 0
    waitlist_entries: int = 0
    journal_lines: int = 0
    set_aside: int = 0
    goodbyes: int = 0
    files: list[str] = field(default_factory=list)
    erased_clients: list[int] = field(default_factory=list)

    def lines(self) -> list[tuple[str, int]]:
        return [
            ("inbox rows processed long ago", self.inbox_rows),
            ("clients erased (nothing live, inactive)", self.clients_erased),
            ("closed cases anonymised", self.cases_anonymised),
            ("prescription files deleted", self.prescriptions_deleted),
            ("waitlist entries", self.waitlist_entries),
            ("access journal lines", self.journal_lines),
            ("webhooks set aside", self.set_aside),
            ("delivered goodbyes", self.goodbyes),
        ]


async def purge(
    connection: AsyncConnection,
    now: datetime,
    policy: RetentionPolicy,
    pseudonyms: Pseudonyms,
    *,
    open_statuses: Sequence[str],
) -> Purge:
    """Everything past its retention delay, removed in the caller's transaction (a dry run rolls
    it back). Files are returned, to delete once committed."""
    done = Purge()
    live = list(open_statuses)
    # 0. Waitlist entries past their delay (their client may then have nothing left).
    done.waitlist_entries = (
        await connection.execute(sa.delete(waitlist).where(waitlist.c.created_at < now - policy.waitlist))
    ).rowcount
    # 1. Clients with nothing live and no activity for the case delay: erased whole (anonymous
    #    cases stay). A waitlist entry still within its delay keeps its client.
    case_cutoff = now - policy.cases
    active = sa.select(conversations.c.client_id).where(conversations.c.updated_at > case_cutoff)
    open_case = sa.select(cases.c.client_id).where(cases.c.status.in_(live))
    waiting = sa.select(waitlist.c.client_id).where(waitlist.c.created_at > now - policy.waitlist)
    has_data = sa.select(identities.c.client_id).where(identities.c.external_id != "erased")
    stale = list(
        await connection.scalars(
            sa.select(clients.c.id).where(
                clients.c.id.in_(has_data),
                clients.c.id.not_in(active),
                clients.c.id.not_in(open_case),
                clients.c.id.not_in(waiting),
                clients.c.created_at < case_cutoff,
            )
        )
    )
    if stale:
        done.files += await erase_clients(connection, stale, now, pseudonyms)
        done.clients_erased = len(stale)
        done.erased_clients = stale
    # 2. Closed cases of clients still active: anonymised past the delay.
    old_cases = list(
        await connection.scalars(
            sa.select(cases.c.id).where(
                cases.c.anonymised_at.is_(None),
                cases.c.status.not_in(live),
                sa.func.coalesce(cases.c.done_at, cases.c.updated_at) < case_cutoff,
            )
        )
    )
    if old_cases:
        done.files += await anonymise_cases(connection, old_cases, now, pseudonyms)
        done.cases_anonymised = len(old_cases)
        # Their conversations' transcripts go too, unless the conversation was used since.
        convos = list(
            await connection.scalars(
                sa.select(cases.c.conversation_id).where(
                    cases.c.id.in_(old_cases),
                    cases.c.conversation_id.in_(
                        sa.select(conversations.c.id).where(conversations.c.updated_at <= case_cutoff)
                    ),
                )
            )
        )
        if convos:
            await _delete_messages(connection, messages.c.conversation_id.in_(convos))
            await connection.execute(
                sa.update(conversations).where(conversations.c.id.in_(convos)).values(answers={})
            )
    # 3. Prescriptions of cases closed past the file delay.
    file_cutoff = now - policy.files
    old_files = (
        await connection.execute(
            sa.select(cases.c.id, cases.c.prescription_path).where(
                cases.c.prescription_path.is_not(None),
                cases.c.status.not_in(live),
                sa.func.coalesce(cases.c.done_at, cases.c.updated_at) < file_cutoff,
            )
        )
    ).all()
    if old_files:
        await connection.execute(
            sa.update(cases).where(cases.c.id.in_([r.id for r in old_files])).values(prescription_path=None)
        )
        done.files += [r.prescription_path for r in old_files]
        done.prescriptions_deleted = len(old_files)
    # 4. The rest, by age.
    done.inbox_rows = (
        await connection.execute(
            sa.delete(inbox).where(
                inbox.c.processed_at.is_not(None), inbox.c.received_at < now - policy.inbox
            )
        )
    ).rowcount
    done.journal_lines = (
        await connection.execute(sa.delete(access_journal).where(access_journal.c.at < now - policy.journal))
    ).rowcount
    # Set-aside records hold no personal data; they are kept as long as the access journal.
    done.set_aside = await set_aside.purge_before(connection, now - policy.journal)
    gone = list(
        await connection.scalars(
            sa.select(messages.c.id).where(
                messages.c.conversation_id.is_(None),
                messages.c.case_id.is_(None),
                sa.or_(
                    messages.c.sent_at < now - policy.goodbyes, messages.c.failed_at < now - policy.goodbyes
                ),
                _forgettable(),
            )
        )
    )
    if gone:
        await _delete_messages(connection, messages.c.id.in_(gone))
    done.goodbyes = len(gone)
    done.files = sorted(set(done.files))
    return done


async def hash_legacy_inbox_ids(
    connection: AsyncConnection, pseudonyms: Pseudonyms, chunk: int = 1000
) -> int:
    """Inbox rows stored before ids were kept as keyed hashes get theirs (once, at start-up), so
    that a message delivered again after the upgrade is still recognised. Returns the count."""
    done = 0
    after = 0
    while True:
        rows = (
            await connection.execute(
                sa.select(inbox.c.id, inbox.c.external_id)
                .where(inbox.c.id > after, sa.not_(inbox.c.external_id.startswith(HASH_PREFIX)))
                .order_by(inbox.c.id)
                .limit(chunk)
            )
        ).all()
        if not rows:
            return done
        await connection.execute(
            sa.update(inbox)
            .where(inbox.c.id == sa.bindparam("b_id"), inbox.c.external_id == sa.bindparam("b_raw"))
            .values(external_id=sa.bindparam("b_hash")),
            [{"b_id": r.id, "b_raw": r.external_id, "b_hash": pseudonyms.of(r.external_id)} for r in rows],
        )
        done += len(rows)
        after = rows[-1].id
