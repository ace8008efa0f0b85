"""Reading a client's transcript back: the web chat's history, its reply stream, its documents.

A browser is one channel user (``party``); its messages are the ``messages`` rows of that channel
and party, whose ids are the web chat's cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.payloads import OutboundPayload
from storage.tables import conversations, identities, messages


@dataclass(frozen=True, slots=True)
class CurrentConversation:
    """An identity's current conversation (not ended): its id and language."""

    id: int
    language: str | None


@dataclass(frozen=True, slots=True)
class TranscriptRow:
    """A message as a client sees it again: its id, way, text, payload and time. ``payload`` is
    what the writer stored (an inbound message's payload is not an outbound one, but a reader asks
    it only for the keys both may have)."""

    id: int
    direction: str
    text: str
    payload: OutboundPayload
    created_at: datetime


async def current_conversation(connection: AsyncConnection, identity_key: str) -> CurrentConversation | None:
    """The conversation the identity ``channel:user`` is in, unless it ended (None)."""
    found = (
        await connection.execute(
            sa.select(conversations.c.id, conversations.c.language)
            .join(identities, identities.c.conversation_id == conversations.c.id)
            .where(identities.c.key == identity_key, conversations.c.owner != "closed")
        )
    ).first()
    return None if found is None else CurrentConversation(found.id, found.language)


async def identity_exists(connection: AsyncConnection, identity_key: str) -> bool:
    """Whether the identity ``channel:user`` is kept (the client wrote before)."""
    found = await connection.scalar(
        sa.select(identities.c.id).where(identities.c.key == identity_key).limit(1)
    )
    return found is not None


async def last_message_id(connection: AsyncConnection, channel: str, party: str) -> int:
    """The newest message id of a channel user, in or out (0: none)."""
    newest = (
        await connection.execute(
            sa.select(sa.func.coalesce(sa.func.max(messages.c.id), 0)).where(
                messages.c.channel == channel, messages.c.party == party
            )
        )
    ).scalar_one()
    return int(newest)


async def transcript(connection: AsyncConnection, conversation_id: int, up_to: int) -> list[TranscriptRow]:
    """A conversation's messages, in and out, up to the id ``up_to``, oldest first."""
    rows = await connection.execute(
        sa.select(
            messages.c.id,
            messages.c.direction,
            messages.c.text,
            messages.c.payload,
            messages.c.created_at,
        )
        .where(messages.c.conversation_id == conversation_id, messages.c.id <= up_to)
        .order_by(messages.c.id)
    )
    return [_row(r.id, r.direction, r.text, r.payload, r.created_at) for r in rows]


async def replies_after(
    connection: AsyncConnection, channel: str, party: str, after: int, *, limit: int = 100
) -> list[TranscriptRow]:
    """The outbound messages to a channel user after the id ``after``, oldest first."""
    rows = await connection.execute(
        sa.select(messages.c.id, messages.c.text, messages.c.payload, messages.c.created_at)
        .where(
            messages.c.channel == channel,
            messages.c.party == party,
            messages.c.direction == "out",
            messages.c.id > after,
        )
        .order_by(messages.c.id)
        .limit(limit)
    )
    return [_row(r.id, "out", r.text, r.payload, r.created_at) for r in rows]


@dataclass(frozen=True, slots=True)
class SentPayload:
    payload: OutboundPayload
    created_at: datetime


async def reply_to(
    connection: AsyncConnection, message_id: int, channel: str, party: str
) -> SentPayload | None:
    """The payload and time of one outbound message, if it went to this channel user (None
    otherwise: another user's message is as absent as a missing one)."""
    found = (
        await connection.execute(
            sa.select(messages.c.payload, messages.c.created_at).where(
                messages.c.id == message_id,
                messages.c.channel == channel,
                messages.c.direction == "out",
                messages.c.party == party,
            )
        )
    ).first()
    return None if found is None else SentPayload(_payload(found.payload), found.created_at)


def _row(row_id: int, direction: str, text: str, payload: Any, created_at: datetime) -> TranscriptRow:
    return TranscriptRow(row_id, direction, text, _payload(payload), created_at)


def _payload(stored: Any) -> OutboundPayload:
    """The stored JSON (None for a message written without one) as the payload it declares."""
    return cast(OutboundPayload, stored or {})
