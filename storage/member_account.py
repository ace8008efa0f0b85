"""A member's own record (issue 16): what ``/moncompte`` shows them (their departments, kit,
availability, open requests) and the kit date they declare with ``/kit``, which an admin then
confirms into ``kit_expires_on`` (re-arming the kit reminders: storage/kits.py) or refuses.

Each change of a declared date is one conditional UPDATE on the date the admin (or the member's
button) saw, so a date declared again meanwhile is never confirmed or withdrawn unseen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import member_requests, opticians


@dataclass(frozen=True, slots=True)
class MemberRecord:
    departments: list[str]
    kit_expires_on: date | None
    kit_declared_on: date | None
    active: bool
    available: bool


@dataclass(frozen=True, slots=True)
class OpenRequest:
    reference: str
    kind: str
    status: str


@dataclass(frozen=True, slots=True)
class DeclaredKit:
    """A date a member declared, as the console lists them for an admin."""

    public_id: str
    name: str
    departments: list[str]
    kit_expires_on: date | None
    declared_on: date
    declared_at: datetime


@dataclass(frozen=True, slots=True)
class Decided:
    """An admin's decision applied: the member's id, where they are reached, the kit date now."""

    optician_id: int
    telegram_chat: str | None
    whatsapp: str | None
    kit_expires_on: date | None


async def record(connection: AsyncConnection, optician_id: int) -> MemberRecord | None:
    row = (
        await connection.execute(
            sa.select(
                opticians.c.departments,
                opticians.c.kit_expires_on,
                opticians.c.kit_declared_on,
                opticians.c.active,
                opticians.c.available,
            ).where(opticians.c.id == optician_id)
        )
    ).first()
    if row is None:
        return None
    return MemberRecord(
        list(row.departments), row.kit_expires_on, row.kit_declared_on, row.active, row.available
    )


async def open_requests(connection: AsyncConnection, optician_id: int) -> list[OpenRequest]:
    """The member's requests not closed, newest first (theirs only)."""
    rows = await connection.execute(
        sa.select(member_requests.c.reference, member_requests.c.kind, member_requests.c.status)
        .where(member_requests.c.optician_id == optician_id, member_requests.c.status != "closed")
        .order_by(member_requests.c.created_at.desc(), member_requests.c.id.desc())
        .limit(20)
    )
    return [OpenRequest(r.reference, r.kind, r.status) for r in rows]


async def declare_kit(connection: AsyncConnection, optician_id: int, day: date, now: datetime) -> None:
    """The member's date, awaiting an admin (a later declaration replaces an earlier one)."""
    await connection.execute(
        sa.update(opticians)
        .where(opticians.c.id == optician_id)
        .values(kit_declared_on=day, kit_declared_at=now, updated_at=now)
    )


async def withdraw_kit(connection: AsyncConnection, optician_id: int, day: date, now: datetime) -> bool:
    """The member withdraws the date they declared, if it is still that one awaiting an admin."""
    withdrawn = await connection.execute(
        sa.update(opticians)
        .where(opticians.c.id == optician_id, opticians.c.kit_declared_on == day)
        .values(kit_declared_on=None, kit_declared_at=None, updated_at=now)
    )
    return bool(withdrawn.rowcount)


async def declared_kits(connection: AsyncConnection) -> list[DeclaredKit]:
    """Every date declared and not yet decided, oldest declaration first."""
    rows = await connection.execute(
        sa.select(
            opticians.c.public_id,
            opticians.c.name,
            opticians.c.departments,
            opticians.c.kit_expires_on,
            opticians.c.kit_declared_on,
            opticians.c.kit_declared_at,
        )
        .where(opticians.c.kit_declared_on.is_not(None))
        .order_by(opticians.c.kit_declared_at, opticians.c.id)
    )
    return [
        DeclaredKit(
            r.public_id,
            r.name,
            list(r.departments),
            r.kit_expires_on,
            r.kit_declared_on,
            r.kit_declared_at if r.kit_declared_at.tzinfo else r.kit_declared_at.replace(tzinfo=UTC),
        )
        for r in rows
    ]


async def decide_kit(
    connection: AsyncConnection, public_id: str, day: date, now: datetime, *, confirm: bool
) -> Decided | None:
    """An admin confirms (the date becomes the kit's) or refuses the date ``day`` the member
    declared; None if that member has no longer that date awaiting (decided, withdrawn, replaced)."""
    values: dict[str, object] = {"kit_declared_on": None, "kit_declared_at": None, "updated_at": now}
    if confirm:
        values["kit_expires_on"] = day
    row = (
        await connection.execute(
            sa.update(opticians)
            .where(opticians.c.public_id == public_id, opticians.c.kit_declared_on == day)
            .values(**values)
            .returning(
                opticians.c.id, opticians.c.telegram_chat, opticians.c.whatsapp, opticians.c.kit_expires_on
            )
        )
    ).first()
    if row is None:
        return None
    return Decided(row.id, row.telegram_chat, row.whatsapp, row.kit_expires_on)


async def exists(connection: AsyncConnection, public_id: str) -> bool:
    found = await connection.scalar(sa.select(opticians.c.id).where(opticians.c.public_id == public_id))
    return found is not None
