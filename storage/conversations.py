"""The queries of the conversation engine, each working on many conversations at once.

Everything here runs inside the pipeline's transaction (``bot/pipeline.py``) on an
``AsyncConnection``; statements take lists so that one round trip serves a whole batch.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import bulk
from storage.payloads import OutboundPayload
from storage.tables import (
    cases,
    clients,
    consents,
    conversations,
    identities,
    messages,
    waitlist,
)


@dataclass(slots=True)
class OpenConversation:
    """A conversation as the engine sees it while handling one message."""

    key: str
    channel: str
    user: str
    client_id: int
    identity_id: int
    conversation_id: int
    public_id: str
    state: str
    owner: str
    language: str
    answers: dict[str, Any]
    misses: int
    notice_sent: bool
    unreachable: bool = False  # the channel said they cannot be reached; they wrote since


@dataclass(slots=True)
class BatchWrites:
    """Rows one batch adds or changes, flushed with one statement per table."""

    conversation_updates: list[dict[str, Any]] = field(default_factory=list)
    messages: list[Mapping[str, Any]] = field(default_factory=list)  # inbound and outbound rows
    consents: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    waitlist: list[dict[str, Any]] = field(default_factory=list)
    # What a client said after joining the waitlist: (conversation id, the columns to set).
    waitlist_details: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    client_languages: list[dict[str, Any]] = field(default_factory=list)
    erase_clients: list[int] = field(default_factory=list)  # erased by the engine after the flush
    reachable_clients: list[int] = field(default_factory=list)  # marked unreachable, yet they wrote
    client_wrote: list[int] = field(default_factory=list)  # cases whose client wrote after hand-off
    at: datetime | None = None  # the batch's time (what client_wrote records)


def lock_key(key: str) -> int:
    """A stable signed 64-bit advisory-lock key for a conversation key."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


async def lock_conversations(connection: AsyncConnection, keys: Sequence[str]) -> None:
    """Take the transaction-scoped advisory locks of these conversations, in a fixed order."""
    if connection.dialect.name != "postgresql" or not keys:
        return
    ordered = sorted({lock_key(k) for k in keys})
    await connection.execute(
        sa.text(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[]))"
            " WITH ORDINALITY AS t(k, n) ORDER BY n"
        ),
        {"keys": ordered},
    )


async def load_conversations(connection: AsyncConnection, keys: Sequence[str]) -> dict[str, OpenConversation]:
    """The current conversation of each identity key that exists (closed ones included)."""
    query = (
        sa.select(
            identities.c.key,
            identities.c.channel,
            identities.c.external_id,
            identities.c.client_id,
            identities.c.id.label("identity_id"),
            conversations.c.id.label("conversation_id"),
            conversations.c.public_id,
            conversations.c.state,
            conversations.c.owner,
            conversations.c.language,
            conversations.c.answers,
            conversations.c.misses,
            conversations.c.notice_sent,
            clients.c.unreachable,
        )
        .select_from(
            identities.join(clients, clients.c.id == identities.c.client_id).outerjoin(
                conversations, conversations.c.id == identities.c.conversation_id
            )
        )
        .where(identities.c.key.in_(keys))
    )
    found: dict[str, OpenConversation] = {}
    for row in await connection.execute(query):
        found[row.key] = OpenConversation(
            key=row.key,
            channel=row.channel,
            user=row.external_id,
            client_id=row.client_id,
            identity_id=row.identity_id,
            conversation_id=row.conversation_id or 0,
            public_id=row.public_id or "",
            state=row.state or "greeting",
            owner=row.owner or "closed",
            language=row.language or "fr",
            answers=dict(row.answers or {}),
            misses=row.misses or 0,
            notice_sent=bool(row.notice_sent),
            unreachable=bool(row.unreachable),
        )
    return found


@dataclass(frozen=True, slots=True)
class NewConversation:
    key: str
    channel: str
    user: str
    language: str
    client_id: int | None = None
    identity_id: int | None = None


async def open_conversations(
    connection: AsyncConnection, wanted: Sequence[NewConversation], now: datetime
) -> dict[str, OpenConversation]:
    """Start conversations, creating the client and identity first where they are new."""
    if not wanted:
        return {}
    new_clients = [w for w in wanted if w.client_id is None]
    client_ids: dict[str, int] = {w.key: w.client_id for w in wanted if w.client_id is not None}
    identity_ids: dict[str, int] = {w.key: w.identity_id for w in wanted if w.identity_id is not None}
    if new_clients:
        result = await connection.execute(
            sa.insert(clients).returning(clients.c.id, sort_by_parameter_order=True),
            [{"language": w.language, "created_at": now} for w in new_clients],
        )
        for w, row in zip(new_clients, result.all(), strict=True):
            client_ids[w.key] = row.id
        result = await connection.execute(
            sa.insert(identities).returning(identities.c.id, sort_by_parameter_order=True),
            [
                {
                    "client_id": client_ids[w.key],
                    "channel": w.channel,
                    "external_id": w.user,
                    "key": w.key,
                    "created_at": now,
                }
                for w in new_clients
            ],
        )
        for w, row in zip(new_clients, result.all(), strict=True):
            identity_ids[w.key] = row.id
    public_ids = {w.key: secrets.token_urlsafe(16) for w in wanted}
    result = await connection.execute(
        sa.insert(conversations).returning(conversations.c.id, sort_by_parameter_order=True),
        [
            {
                "public_id": public_ids[w.key],
                "client_id": client_ids[w.key],
                "identity_id": identity_ids[w.key],
                "channel": w.channel,
                "state": "greeting",
                "owner": "bot",
                "language": w.language,
                "answers": {},
                "misses": 0,
                "notice_sent": False,
                "created_at": now,
                "updated_at": now,
            }
            for w in wanted
        ],
    )
    opened: dict[str, OpenConversation] = {}
    for w, row in zip(wanted, result.all(), strict=True):
        opened[w.key] = OpenConversation(
            key=w.key,
            channel=w.channel,
            user=w.user,
            client_id=client_ids[w.key],
            identity_id=identity_ids[w.key],
            conversation_id=row.id,
            public_id=public_ids[w.key],
            state="greeting",
            owner="bot",
            language=w.language,
            answers={},
            misses=0,
            notice_sent=False,
        )
    await connection.execute(
        sa.update(identities)
        .where(identities.c.id == sa.bindparam("b_identity"))
        .values(conversation_id=sa.bindparam("b_conversation")),
        [{"b_identity": c.identity_id, "b_conversation": c.conversation_id} for c in opened.values()],
    )
    return opened


async def save_batch(connection: AsyncConnection, writes: BatchWrites) -> None:
    """Flush a batch's rows: one statement per table."""
    postgres = connection.dialect.name == "postgresql"
    if writes.conversation_updates and postgres:
        await bulk.update_conversations(connection, writes.conversation_updates)
    elif writes.conversation_updates:
        await connection.execute(
            sa.update(conversations)
            .where(conversations.c.id == sa.bindparam("b_id"))
            .values(
                state=sa.bindparam("state"),
                owner=sa.bindparam("owner"),
                language=sa.bindparam("language"),
                answers=sa.bindparam("answers"),
                misses=sa.bindparam("misses"),
                notice_sent=sa.bindparam("notice_sent"),
                updated_at=sa.bindparam("updated_at"),
                closed_at=sa.bindparam("closed_at"),
            ),
            writes.conversation_updates,
        )
    if writes.client_languages:
        await connection.execute(
            sa.update(clients)
            .where(clients.c.id == sa.bindparam("b_id"))
            .values(language=sa.bindparam("language")),
            writes.client_languages,
        )
    if writes.reachable_clients:
        await connection.execute(
            sa.update(clients).where(clients.c.id.in_(writes.reachable_clients)).values(unreachable=False)
        )
    if writes.messages:
        # executemany takes its columns from the first row: a key missing there would be dropped.
        if len({frozenset(m) for m in writes.messages}) != 1:
            raise ValueError("message rows of one batch must have the same columns")
        if postgres:
            await bulk.insert_messages(connection, writes.messages)
        else:
            await connection.execute(sa.insert(messages), writes.messages)
    if writes.consents:
        await connection.execute(sa.insert(consents), writes.consents)
    if writes.cases:
        await _link_consents(connection, writes.cases)
        await connection.execute(sa.insert(cases), writes.cases)
    if writes.waitlist:
        await _join_waitlist(connection, writes.waitlist)
    for conversation_id, values in writes.waitlist_details:  # rare: one statement each
        if values:
            await connection.execute(
                sa.update(waitlist).where(waitlist.c.conversation_id == conversation_id).values(**values)
            )
    if writes.client_wrote:  # "le client a écrit" until an operator answers
        await connection.execute(
            sa.update(cases)
            .where(cases.c.id.in_(writes.client_wrote))
            .values(client_wrote_at=writes.at, updated_at=writes.at)
        )


async def _join_waitlist(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """One entry per conversation still waiting: a conversation that joins again ("recommencer",
    then yes again) updates its entry not yet told (its reason, and its department when known)
    rather than adding a second one. Joins are rare: one SELECT for the batch's."""
    ids = {row["conversation_id"] for row in rows}
    found = await connection.execute(
        sa.select(waitlist.c.conversation_id, sa.func.max(waitlist.c.id))
        .where(waitlist.c.conversation_id.in_(ids), waitlist.c.notified_at.is_(None))
        .group_by(waitlist.c.conversation_id)
    )
    waiting: dict[int, int] = {int(conversation): int(entry) for conversation, entry in found.all()}
    new: dict[int, dict[str, Any]] = {}
    for row in rows:
        conversation = row["conversation_id"]
        again = {"reason": row["reason"], **({"department": row["department"]} if row["department"] else {})}
        if conversation in new:
            new[conversation].update(again)
        elif conversation in waiting:
            await connection.execute(
                sa.update(waitlist).where(waitlist.c.id == waiting[conversation]).values(**again)
            )
        else:
            new[conversation] = dict(row)
    if new:
        # executemany takes its columns from the first row: every row has the same keys.
        await connection.execute(sa.insert(waitlist), list(new.values()))


async def _link_consents(connection: AsyncConnection, new_cases: list[dict[str, Any]]) -> None:
    """Point each visit case at the latest home-visit consent of its conversation (one query)."""
    visits = [c for c in new_cases if c["mode"] == "visit"]
    if not visits:
        return
    result = await connection.execute(
        sa.select(consents.c.conversation_id, sa.func.max(consents.c.id))
        .where(
            consents.c.conversation_id.in_([c["conversation_id"] for c in visits]),
            consents.c.purpose == "home_visit",
        )
        .group_by(consents.c.conversation_id)
    )
    latest = {row[0]: row[1] for row in result}
    for case in visits:
        case["consent_id"] = latest.get(case["conversation_id"])


async def insert_message(connection: AsyncConnection, row: dict[str, Any]) -> None:
    await connection.execute(sa.insert(messages).values(**row))


async def last_bot_message(connection: AsyncConnection, key: str) -> OutboundPayload | None:
    """The newest bot message of the identity's open, bot-owned conversation, as a channel is
    handed it (the payload, with the text)."""
    result = await connection.execute(
        sa.select(messages.c.text, messages.c.payload)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(identities, identities.c.conversation_id == conversations.c.id)
        .where(identities.c.key == key, conversations.c.owner == "bot", messages.c.author == "bot")
        .order_by(messages.c.id.desc())
        .limit(1)
    )
    row = result.first()
    if row is None:
        return None
    payload = cast(OutboundPayload, dict(row.payload or {}))
    payload["text"] = row.text
    return payload


async def set_reachable(connection: AsyncConnection, channel: str, user: str, *, reachable: bool) -> bool:
    """Record whether the client behind ``channel:user`` can be reached there (they may block the
    bot); returns whether that changed anything (a client already so is not written)."""
    client = sa.select(identities.c.client_id).where(identities.c.key == f"{channel}:{user}")
    result = await connection.execute(
        sa.update(clients)
        .where(clients.c.id.in_(client.scalar_subquery()), clients.c.unreachable == reachable)
        .values(unreachable=not reachable)
    )
    return bool(result.rowcount)


async def assign_operator(connection: AsyncConnection, conversation_id: int, operator: str | None) -> None:
    """The operator a conversation is with (a client back in an ended conversation of a live case)."""
    await connection.execute(
        sa.update(conversations).where(conversations.c.id == conversation_id).values(operator=operator)
    )


async def hand_conversation(
    connection: AsyncConnection, conversation_id: int, owner: str, operator: str | None, now: datetime
) -> None:
    """The case's conversation goes to ``owner`` (``operator``, ``queue``, ``closed``: then it
    is closed now) with ``operator`` (or none)."""
    values: dict[str, Any] = {"owner": owner, "operator": operator, "updated_at": now}
    if owner == "closed":
        values["closed_at"] = now
    await connection.execute(
        sa.update(conversations).where(conversations.c.id == conversation_id).values(**values)
    )


async def close_conversation(connection: AsyncConnection, conversation_id: int, now: datetime) -> None:
    """Close a case's conversation (its visit is done); one that ended already stays as it is."""
    await connection.execute(
        sa.update(conversations)
        .where(conversations.c.id == conversation_id, conversations.c.owner != "closed")
        .values(owner="closed", closed_at=now, updated_at=now)
    )
