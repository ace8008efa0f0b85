"""The members' desk, a member's side (issue 16): who a linked chat belongs to, the member's session
in the request flow, a request created with its reference and first thread event, and what the
member writes afterwards joining their open request as an "in" message.

Staff's side of the requests (claim, reply, notes, status, outcome) is ``storage/member_requests.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import dialect_insert
from storage.member_requests import member_wrote
from storage.tables import member_messages, member_requests, member_sessions, opticians

# A request's reference: "A-" and six characters that cannot be misread (no 0/O, no 1/I).
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6
OPEN_STATUSES = ("new", "in_progress", "answered")
_CHAT_COLUMNS = {"telegram": opticians.c.telegram_chat, "whatsapp": opticians.c.whatsapp}


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """A member's request still open (new, in progress or answered)."""

    id: int
    reference: str
    status: str


@dataclass(frozen=True, slots=True)
class NewRequest:
    """What a member asked for, as the flow gathered it."""

    optician_id: int
    channel: str
    chat: str
    kind: str
    details: str
    amount_cents: int | None = None
    months: int | None = None
    document_path: str | None = None
    document_name: str | None = None


def new_reference() -> str:
    return "A-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


async def linked_chats(connection: AsyncConnection, channel: str) -> set[str]:
    """Every chat of ``channel`` linked to an optician (a small set: one per member)."""
    column = _CHAT_COLUMNS.get(channel)
    if column is None:
        return set()
    return {str(chat) for chat in await connection.scalars(sa.select(column).where(column.is_not(None)))}


async def member_of(connection: AsyncConnection, channel: str, chat: str) -> int | None:
    """The optician whose chat on ``channel`` this is, or None."""
    column = _CHAT_COLUMNS.get(channel)
    if column is None:
        return None
    found = await connection.scalar(sa.select(opticians.c.id).where(column == chat))
    return None if found is None else int(found)


async def session_state(connection: AsyncConnection, optician_id: int, channel: str) -> str | None:
    """The member's state on this channel, None before their first message (a plain read)."""
    found = await connection.scalar(
        sa.select(member_sessions.c.state).where(
            member_sessions.c.optician_id == optician_id, member_sessions.c.channel == channel
        )
    )
    return None if found is None else str(found)


async def lock_session(
    connection: AsyncConnection, optician_id: int, channel: str, now: datetime
) -> tuple[str, dict[str, Any]]:
    """The member's session on this channel (state, data), created idle if there is none, and
    locked until the transaction ends: two messages of one member are read one after the other."""
    await connection.execute(
        dialect_insert(member_sessions, connection.dialect.name)
        .values(optician_id=optician_id, channel=channel, state="idle", data={}, updated_at=now)
        .on_conflict_do_nothing(index_elements=["optician_id", "channel"])
    )
    row = (
        await connection.execute(
            sa.select(member_sessions.c.state, member_sessions.c.data)
            .where(member_sessions.c.optician_id == optician_id, member_sessions.c.channel == channel)
            .with_for_update()
        )
    ).one()
    return str(row.state), dict(row.data or {})


async def save_session(
    connection: AsyncConnection,
    optician_id: int,
    channel: str,
    state: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    await connection.execute(
        sa.update(member_sessions)
        .where(member_sessions.c.optician_id == optician_id, member_sessions.c.channel == channel)
        .values(state=state, data=data, updated_at=now)
    )


async def open_request(connection: AsyncConnection, optician_id: int) -> OpenRequest | None:
    """The member's most recently active open request, or None."""
    row = (
        await connection.execute(
            sa.select(member_requests.c.id, member_requests.c.reference, member_requests.c.status)
            .where(member_requests.c.optician_id == optician_id, member_requests.c.status.in_(OPEN_STATUSES))
            .order_by(member_requests.c.updated_at.desc(), member_requests.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else OpenRequest(int(row.id), str(row.reference), str(row.status))


async def open_requests(connection: AsyncConnection, optician_id: int) -> list[OpenRequest]:
    """The member's open requests, the most recently active first."""
    rows = await connection.execute(
        sa.select(member_requests.c.id, member_requests.c.reference, member_requests.c.status)
        .where(member_requests.c.optician_id == optician_id, member_requests.c.status.in_(OPEN_STATUSES))
        .order_by(member_requests.c.updated_at.desc(), member_requests.c.id.desc())
    )
    return [OpenRequest(int(r.id), str(r.reference), str(r.status)) for r in rows]


async def _reference_taken(connection: AsyncConnection, reference: str) -> bool:
    found = await connection.scalar(
        sa.select(member_requests.c.id).where(member_requests.c.reference == reference)
    )
    return found is not None


async def create_request(
    connection: AsyncConnection, request: NewRequest, event: Callable[[str], str], now: datetime
) -> tuple[int, str]:
    """The request (status new) with a reference no other request has, and its first thread event
    (``event(reference)``: what the member is told); its row id and reference."""
    reference = new_reference()
    while await _reference_taken(connection, reference):  # 32^6 ≈ 10^9 references: rarely twice
        reference = new_reference()
    created = await connection.execute(
        sa.insert(member_requests)
        .values(
            public_id=secrets.token_urlsafe(12),
            reference=reference,
            optician_id=request.optician_id,
            channel=request.channel,
            chat=request.chat,
            kind=request.kind,
            amount_cents=request.amount_cents,
            months=request.months,
            details=request.details,
            document_path=request.document_path,
            document_name=request.document_name,
            status="new",
            created_at=now,
            updated_at=now,
        )
        .returning(member_requests.c.id)
    )
    request_id = int(created.scalar_one())
    await connection.execute(
        sa.insert(member_messages).values(
            request_id=request_id, kind="event", author="bot", text=event(reference), created_at=now
        )
    )
    return request_id, reference


async def add_member_message(connection: AsyncConnection, request_id: int, text: str, now: datetime) -> int:
    """What the member wrote, in their request's thread ("in"); the request is active again."""
    added = await connection.execute(
        sa.insert(member_messages)
        .values(request_id=request_id, kind="in", author="member", text=text, created_at=now)
        .returning(member_messages.c.id)
    )
    await member_wrote(connection, request_id, now)  # an answered request is in progress again
    return int(added.scalar_one())


async def last_member_message_at(connection: AsyncConnection, request_id: int) -> datetime | None:
    """When the member last wrote in this request's thread (to acknowledge a new burst only)."""
    found: datetime | None = await connection.scalar(
        sa.select(member_messages.c.created_at)
        .where(member_messages.c.request_id == request_id, member_messages.c.kind == "in")
        .order_by(member_messages.c.id.desc())
        .limit(1)
    )
    return found


async def staff_spoke_since(connection: AsyncConnection, request_id: int, since: datetime) -> bool:
    """Whether staff answered the member (an "out" message) after ``since``."""
    found = await connection.scalar(
        sa.select(member_messages.c.id)
        .where(
            member_messages.c.request_id == request_id,
            member_messages.c.kind == "out",
            member_messages.c.created_at > since,
        )
        .limit(1)
    )
    return found is not None
