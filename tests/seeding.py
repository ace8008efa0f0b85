"""Rows the tests insert directly: a client reachable on a channel, with an identity and a
conversation (what the engine would have made when they first wrote)."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa

from storage.database import Connection
from storage.tables import clients, conversations, identities


async def insert_client(
    connection: Connection,
    channel: str,
    user: str,
    now: datetime,
    *,
    language: str = "fr",
    owner: str = "bot",
) -> tuple[int, int]:
    """A client, their identity on ``channel`` as ``user`` and a finished conversation owned by
    ``owner``; returns (client id, conversation id)."""
    client_id = (
        await connection.execute(
            sa.insert(clients).values(language=language, created_at=now).returning(clients.c.id)
        )
    ).scalar_one()
    identity_id = (
        await connection.execute(
            sa.insert(identities)
            .values(
                client_id=client_id,
                channel=channel,
                external_id=user,
                key=f"{channel}:{user}",
                created_at=now,
            )
            .returning(identities.c.id)
        )
    ).scalar_one()
    conversation_id = (
        await connection.execute(
            sa.insert(conversations)
            .values(
                public_id=secrets.token_hex(8),
                client_id=client_id,
                identity_id=identity_id,
                channel=channel,
                state="done",
                owner=owner,
                language=language,
                answers={},
                created_at=now,
                updated_at=now,
            )
            .returning(conversations.c.id)
        )
    ).scalar_one()
    return int(client_id), int(conversation_id)
