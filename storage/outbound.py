"""Who a message goes to, and writing it to the outbox: the storage half of speaking to a client.

Every sender (the engine, the console, dispatch, and broadcasts and reminders to come) builds its
row with :func:`bot.replies.reply_row` and writes it here; the outbox sender delivers it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.conversations import lock_conversations
from storage.payloads import MessageRow
from storage.tables import cases, conversations, identities, messages
from storage.transcripts import current_conversation


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where a message goes: a channel's user, in a conversation (None: outside any, such as an
    optician's chat), in a language; ``case_id``: the case the message is about."""

    channel: str
    party: str
    conversation_id: int | None
    language: str
    case_id: int | None = None


@dataclass(frozen=True, slots=True)
class CaseRecipient:
    """The client of a case, locked: ``recipient`` is their current conversation (the case's own,
    or the one they started since it was handed back); ``case_conversation_id`` the case's."""

    recipient: Recipient
    case_conversation_id: int


@dataclass(frozen=True, slots=True)
class CaseParty:
    """A case with its conversation and the client's identity on that conversation's channel."""

    case_id: int
    reference: str
    conversation_id: int
    channel: str
    language: str
    key: str  # the identity's "channel:user", the conversation's lock key
    external_id: str


async def case_party(connection: AsyncConnection, case: sa.ColumnElement[bool]) -> CaseParty | None:
    """The case that ``case`` selects (by id or public id), with its conversation and identity."""
    row = (
        await connection.execute(
            sa.select(
                cases.c.id,
                cases.c.reference,
                cases.c.conversation_id,
                conversations.c.channel,
                conversations.c.language,
                identities.c.key,
                identities.c.external_id,
            )
            .join(conversations, conversations.c.id == cases.c.conversation_id)
            .join(identities, identities.c.id == conversations.c.identity_id)
            .where(case)
        )
    ).first()
    return None if row is None else CaseParty(*row)


async def client_of_case(connection: AsyncConnection, case_id: int) -> CaseRecipient | None:
    """The client of a case on their channel, their conversation locked as the engine locks it
    (so a reply cannot interleave with the engine handling their message); None if the case is gone."""
    target = await case_party(connection, cases.c.id == case_id)
    if target is None:
        return None
    # The client's current conversation if the case's one has ended (handed back to the bot).
    current = await current_conversation(connection, target.key)
    conversation_id, language = (
        (current.id, current.language or "fr") if current else (target.conversation_id, target.language)
    )
    await lock_conversations(connection, [target.key])
    recipient = Recipient(target.channel, target.external_id, conversation_id, language, case_id)
    return CaseRecipient(recipient, target.conversation_id)


async def insert_outbound(connection: AsyncConnection, row: MessageRow) -> int:
    """Write one outbound message (transcript and outbox at once); its row id."""
    inserted = await connection.execute(sa.insert(messages).values(**row).returning(messages.c.id))
    return int(inserted.scalar_one())
