"""The opticians' registry: who they are, the one-time codes that link their Telegram chat, their
availability, who may be offered a visit, and the visits each one has taken."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import appointments, cases, optician_links, opticians


@dataclass(frozen=True, slots=True)
class Optician:
    """An optician as the registry shows them (``telegram_chat``: None until linked)."""

    public_id: str
    name: str
    phone: str
    departments: list[str]
    kit_expires_on: date | None
    active: bool
    available: bool
    telegram_chat: str | None
    whatsapp: str | None = None  # the WhatsApp number (wa_id digits) an admin linked (issue 16)


class OpticianValues(TypedDict):
    """What the console sets on an optician, checked and normalised by the registry."""

    name: str
    phone: str
    departments: list[str]
    kit_expires_on: date | None
    active: bool
    available: bool
    whatsapp: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Candidate:
    """An optician who may be offered a visit today, and the departments they cover."""

    id: int
    telegram_chat: str
    departments: list[str]


@dataclass(frozen=True, slots=True)
class TakenVisit:
    """A visit an optician took and has not closed (``/mescas``): no personal data."""

    case_id: int
    reference: str
    slot_date: date | None
    slot_part: str | None
    postal_code: str | None
    department: str | None
    # Its appointment, once the optician has it (None before a visit booked to the hour).
    appointment: str | None = None
    day: date | None = None
    hour: int | None = None


_COLUMNS = (
    opticians.c.public_id,
    opticians.c.name,
    opticians.c.phone,
    opticians.c.departments,
    opticians.c.kit_expires_on,
    opticians.c.active,
    opticians.c.available,
    opticians.c.telegram_chat,
    opticians.c.whatsapp,
)


def _optician(row: Any) -> Optician:
    return Optician(
        row.public_id,
        row.name,
        row.phone,
        list(row.departments or []),
        row.kit_expires_on,
        bool(row.active),
        bool(row.available),
        row.telegram_chat,
        row.whatsapp,
    )


async def list_opticians(connection: AsyncConnection) -> list[Optician]:
    """Every optician, by name."""
    rows = await connection.execute(sa.select(*_COLUMNS).order_by(opticians.c.name))
    return [_optician(row) for row in rows]


async def add_optician(connection: AsyncConnection, public_id: str, values: OpticianValues) -> Optician:
    await connection.execute(
        sa.insert(opticians).values(public_id=public_id, created_at=values["updated_at"], **values)
    )
    return await _by_public_id(connection, public_id)


async def change_optician(
    connection: AsyncConnection, public_id: str, values: OpticianValues
) -> Optician | None:
    """The optician with these values; None if there is no such optician."""
    changed = await connection.execute(
        sa.update(opticians).where(opticians.c.public_id == public_id).values(**values)
    )
    if not changed.rowcount:
        return None
    return await _by_public_id(connection, public_id)


async def _by_public_id(connection: AsyncConnection, public_id: str) -> Optician:
    row = (await connection.execute(sa.select(*_COLUMNS).where(opticians.c.public_id == public_id))).one()
    return _optician(row)


async def whatsapp_taken(connection: AsyncConnection, wa_id: str, public_id: str | None) -> bool:
    """Whether another optician than ``public_id`` has this WhatsApp number."""
    query = sa.select(opticians.c.id).where(opticians.c.whatsapp == wa_id)
    if public_id is not None:
        query = query.where(opticians.c.public_id != public_id)
    return await connection.scalar(query.limit(1)) is not None


async def optician_id_of(connection: AsyncConnection, public_id: str) -> int | None:
    found = await connection.scalar(sa.select(opticians.c.id).where(opticians.c.public_id == public_id))
    return None if found is None else int(found)


async def add_link(
    connection: AsyncConnection,
    code_hash: str,
    optician_id: int,
    *,
    created_by: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Keep a linking code (by its hash) for the optician, valid until ``expires_at``."""
    await connection.execute(
        sa.insert(optician_links).values(
            code_hash=code_hash,
            optician_id=optician_id,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
    )


async def use_link(connection: AsyncConnection, code_hash: str, now: datetime) -> int | None:
    """Spend a linking code: the optician's id if it was unused and fresh (one conditional UPDATE,
    so a code links one chat only), else None."""
    used = await connection.execute(
        sa.update(optician_links)
        .where(
            optician_links.c.code_hash == code_hash,
            optician_links.c.used_at.is_(None),
            optician_links.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(optician_links.c.optician_id)
    )
    optician_id = used.scalar()
    return None if optician_id is None else int(optician_id)


async def link_chat(connection: AsyncConnection, optician_id: int, chat: str, now: datetime) -> str:
    """Link the chat to the optician (a chat belongs to one optician: a former link of this chat is
    undone); returns the optician's name."""
    await connection.execute(
        sa.update(opticians).where(opticians.c.telegram_chat == chat).values(telegram_chat=None)
    )
    await connection.execute(
        sa.update(opticians).where(opticians.c.id == optician_id).values(telegram_chat=chat, updated_at=now)
    )
    return str(await connection.scalar(sa.select(opticians.c.name).where(opticians.c.id == optician_id)))


async def is_linked(connection: AsyncConnection, chat: str) -> bool:
    """Whether this chat is an optician's."""
    found = await connection.scalar(sa.select(opticians.c.id).where(opticians.c.telegram_chat == chat))
    return found is not None


async def set_available(connection: AsyncConnection, chat: str, *, available: bool, now: datetime) -> None:
    await connection.execute(
        sa.update(opticians)
        .where(opticians.c.telegram_chat == chat)
        .values(available=available, updated_at=now)
    )


async def eligible_opticians(connection: AsyncConnection, today: date) -> list[Candidate]:
    """Who may be offered a visit: active, available, linked, protection kit valid through today."""
    rows = await connection.execute(
        sa.select(opticians.c.id, opticians.c.telegram_chat, opticians.c.departments).where(
            opticians.c.active.is_(True),
            opticians.c.available.is_(True),
            opticians.c.telegram_chat.is_not(None),
            opticians.c.kit_expires_on >= today,
        )
    )
    return [Candidate(row.id, row.telegram_chat, list(row.departments or ())) for row in rows]


async def taken_visits(connection: AsyncConnection, chat: str) -> list[TakenVisit]:
    """The visits the optician of this chat took and that are still out, by half-day."""
    rows = await connection.execute(
        sa.select(
            cases.c.id,
            cases.c.reference,
            cases.c.slot_date,
            cases.c.slot_part,
            cases.c.postal_code,
            cases.c.department,
            appointments.c.status,
            appointments.c.day,
            appointments.c.hour,
        )
        .join(opticians, opticians.c.id == cases.c.optician_id)
        .outerjoin(appointments, appointments.c.case_id == cases.c.id)
        .where(opticians.c.telegram_chat == chat, cases.c.status == "dispatched")
        .order_by(cases.c.slot_date, cases.c.id)
    )
    return [TakenVisit(*row) for row in rows]
