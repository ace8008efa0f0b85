"""PostgreSQL fast paths: a whole batch of rows in ONE statement through ``unnest`` of arrays.

``executemany`` makes PostgreSQL parse-bind-execute once per row; these statements send each
column as one array and let the server do a single set-based INSERT or UPDATE, which measured about
a third faster on this path. SQLite keeps ``executemany`` (in-process, no round trips to save).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

_MESSAGE_COLUMNS = {
    "conversation_id": "bigint",
    "direction": "text",
    "author": "text",
    "channel": "text",
    "party": "text",
    "text": "text",
    "payload": "jsonb",
    "created_at": "timestamptz",
    "available_at": "timestamptz",
}
_CONVERSATION_COLUMNS = {
    "state": "text",
    "owner": "text",
    "language": "text",
    "answers": "jsonb",
    "misses": "integer",
    "notice_sent": "boolean",
    "updated_at": "timestamptz",
    "closed_at": "timestamptz",
}
_INBOX_COLUMNS = {
    "channel": "text",
    "external_id": "text",
    "identity_key": "text",
    "payload": "jsonb",
    "received_at": "timestamptz",
    "processed_at": "timestamptz",
    "attempts": "integer",
}


def _arrays(rows: Sequence[Mapping[str, Any]], columns: dict[str, str]) -> dict[str, list[Any]]:
    arrays: dict[str, list[Any]] = {}
    for name, kind in columns.items():
        values = [row[name] for row in rows]
        if kind == "jsonb":
            values = [None if v is None else json.dumps(v) for v in values]
        arrays[name] = values
    return arrays


def _unnest(columns: dict[str, str]) -> str:
    return ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns.items())


# Built once from the constant column tables above: no outside text reaches these statements.
_INSERT_MESSAGES = sa.text(
    f"INSERT INTO messages ({', '.join(_MESSAGE_COLUMNS)}) SELECT * FROM unnest({_unnest(_MESSAGE_COLUMNS)})"
)
_UPDATE_CONVERSATIONS = sa.text(
    f"UPDATE conversations AS c SET {', '.join(f'{n} = v.{n}' for n in _CONVERSATION_COLUMNS)} "
    f"FROM unnest(CAST(:b_id AS bigint[]), {_unnest(_CONVERSATION_COLUMNS)}) "
    f"AS v(id, {', '.join(_CONVERSATION_COLUMNS)}) WHERE c.id = v.id"
)
_INSERT_INBOX = sa.text(
    f"INSERT INTO inbox ({', '.join(_INBOX_COLUMNS)}) "
    f"SELECT * FROM unnest({_unnest(_INBOX_COLUMNS)}) "
    "ON CONFLICT (channel, external_id) DO NOTHING RETURNING id, channel, external_id"
)


async def insert_messages(connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await connection.execute(_INSERT_MESSAGES, _arrays(rows, _MESSAGE_COLUMNS))


async def update_conversations(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    arrays = _arrays(rows, _CONVERSATION_COLUMNS)
    arrays["b_id"] = [row["b_id"] for row in rows]
    await connection.execute(_UPDATE_CONVERSATIONS, arrays)


async def insert_inbox(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Any]:
    result = await connection.execute(_INSERT_INBOX, _arrays(rows, _INBOX_COLUMNS))
    return list(result.all())


def dialect_insert(table: sa.Table, dialect: str) -> Any:
    """An INSERT with the dialect's ON CONFLICT clauses available."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
