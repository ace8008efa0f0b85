"""Erasing clients and anonymising cases, in the caller's transaction."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.privacy.classification import (
    ANONYMOUS_REFERENCE,
    HASH_PREFIX,
    Pseudonyms,
    columns_of,
)
from storage.privacy.records import client_files
from storage.tables import (
    case_notes,
    cases,
    clients,
    consents,
    conversations,
    delivery_receipts,
    identities,
    inbox,
    messages,
    waitlist,
)


def forgettable() -> Any:
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
    not to come, which carry no personal data) are kept but unlinked. Returns their files (the
    prescriptions and insurance cards; the documents of the deleted messages are the caller's)."""
    if not case_ids:
        return []
    ids = list(case_ids)
    files = [
        str(p)
        for column in (cases.c.prescription_path, cases.c.insurance_card_path)
        for p in await connection.scalars(sa.select(column).where(cases.c.id.in_(ids), column.is_not(None)))
    ]
    consent_ids = [
        c
        for c in await connection.scalars(sa.select(cases.c.consent_id).where(cases.c.id.in_(ids)))
        if c is not None
    ]
    about: Any = messages.c.case_id.in_(ids)
    if spare_after is not None:
        about = sa.and_(about, messages.c.id <= spare_after)
    await delete_messages(connection, about)
    await connection.execute(sa.update(messages).where(messages.c.case_id.in_(ids)).values(case_id=None))
    await connection.execute(sa.delete(case_notes).where(case_notes.c.case_id.in_(ids)))
    blank = {
        column: None
        for column, treatment in columns_of("cases").items()
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
    files = set(await files_of(connection, ids))
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
        await delete_messages(connection, messages.c.conversation_id.in_(convo_ids))
    for identity in found:  # technical notices sent outside any conversation
        await delete_messages(
            connection,
            sa.and_(
                messages.c.conversation_id.is_(None),
                messages.c.case_id.is_(None),
                messages.c.channel == identity.channel,
                messages.c.party == identity.external_id,
                sa.not_(forgettable()),
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
        # NOT EXISTS by the cases' client index (a NOT IN read every case of the year).
        sa.delete(clients).where(clients.c.id.in_(ids), ~sa.exists().where(cases.c.client_id == clients.c.id))
    )
    return sorted(files)


async def files_of(connection: AsyncConnection, client_ids: list[int]) -> list[str]:
    paths: set[str] = set()
    for client_id in client_ids:
        paths.update(await client_files(connection, client_id))
    return sorted(paths)


async def delete_messages(connection: AsyncConnection, condition: Any) -> None:
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
