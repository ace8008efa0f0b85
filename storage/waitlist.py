"""The waitlist's queries: who waits (for the console, the CLI and the CSV export), who a broadcast
targets, and marking clients told.

A client who said "Oui, prévenez-moi" has a row here; ``notified_at`` is set once they are told
the service resumed (by a broadcast), so a later broadcast leaves them out unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import broadcast_deliveries, broadcasts, cases, conversations, identities, waitlist

ACTIVE = ("pending", "sending")  # a delivery still to be made


@dataclass(frozen=True, slots=True)
class WaitlistFilter:
    """Which entries: ``told`` None for all, False for those still waiting, True for those told."""

    department: str | None = None
    reason: str | None = None
    channel: str | None = None
    told: bool | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry as staff see it: how the client can be reached, never the contact itself (but the
    phone to call back, which only admins are shown)."""

    reason: str
    department: str | None
    channel: str
    language: str
    since: datetime
    notified_at: datetime | None
    has_email: bool
    has_phone: bool
    phone: str | None
    served: bool = False  # a case of theirs was created since: no longer waiting


@dataclass(frozen=True, slots=True)
class Target:
    """A waiting client a broadcast is to tell: where they wait, and how they can be reached."""

    waitlist_id: int
    client_id: int
    channel: str
    language: str
    external_id: str | None  # the client's id on their channel
    conversation_id: int
    has_email: bool
    has_phone: bool
    department: str | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """Where to send a delivery: the client's channel id, conversation and language; the e-mail
    address for an e-mail (read only when it is sent)."""

    waitlist_id: int
    client_id: int
    channel: str
    language: str
    external_id: str | None
    conversation_id: int
    email: str | None


def _conditions(chosen: WaitlistFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if chosen.department is not None:
        conditions.append(waitlist.c.department == chosen.department)
    if chosen.reason is not None:
        conditions.append(waitlist.c.reason == chosen.reason)
    if chosen.channel is not None:
        conditions.append(waitlist.c.channel == chosen.channel)
    if chosen.told is True:
        conditions.append(waitlist.c.notified_at.is_not(None))
    elif chosen.told is False:  # still waiting: not told, and no case of theirs since the entry
        conditions.append(waitlist.c.notified_at.is_(None))
        conditions.append(sa.not_(_served()))
    return conditions


async def entries(connection: AsyncConnection, chosen: WaitlistFilter, limit: int = 1000) -> list[Entry]:
    """The entries matching ``chosen``, oldest first."""
    result = await connection.execute(
        sa.select(
            waitlist.c.reason,
            waitlist.c.department,
            waitlist.c.channel,
            waitlist.c.language,
            waitlist.c.created_at,
            waitlist.c.notified_at,
            waitlist.c.contact_email.is_not(None).label("has_email"),
            waitlist.c.contact_phone,
            _served().label("served"),
        )
        .where(*_conditions(chosen))
        .order_by(waitlist.c.created_at, waitlist.c.id)
        .limit(limit)
    )
    return [
        Entry(
            r.reason,
            r.department,
            r.channel,
            r.language,
            r.created_at,
            r.notified_at,
            bool(r.has_email),
            r.contact_phone is not None,
            r.contact_phone,
            bool(r.served),
        )
        for r in result
    ]


async def count(connection: AsyncConnection, chosen: WaitlistFilter) -> int:
    found = await connection.scalar(
        sa.select(sa.func.count()).select_from(waitlist).where(*_conditions(chosen))
    )
    return int(found or 0)


def _being_told() -> sa.ColumnElement[bool]:
    """The entry's client (through any of their entries) has a delivery still to be made by a
    running broadcast."""
    theirs = waitlist.alias("theirs")
    return sa.exists(
        sa.select(broadcast_deliveries.c.id)
        .join(broadcasts, broadcasts.c.id == broadcast_deliveries.c.broadcast_id)
        .join(theirs, theirs.c.id == broadcast_deliveries.c.waitlist_id)
        .where(
            theirs.c.client_id == waitlist.c.client_id,
            broadcast_deliveries.c.status.in_(ACTIVE),
            broadcasts.c.status == "running",
        )
    )


def _served() -> sa.ColumnElement[bool]:
    """The client no longer waits: a case of theirs was created since the entry."""
    return sa.exists(
        sa.select(cases.c.id).where(
            cases.c.client_id == waitlist.c.client_id, cases.c.created_at >= waitlist.c.created_at
        )
    )


async def targets(
    connection: AsyncConnection,
    chosen: WaitlistFilter,
    *,
    again: bool = False,
    reasons: tuple[str, ...] | None = None,
) -> list[Target]:
    """The entries a broadcast with ``chosen`` tells: those still waiting (every one with ``again``),
    of these ``reasons`` (None: any), whose client no running broadcast is already telling and who
    has no case since (served: no longer waiting); one per client (their newest entry)."""
    conditions = _conditions(WaitlistFilter(chosen.department, chosen.reason, chosen.channel))
    if not again:
        conditions.append(waitlist.c.notified_at.is_(None))
    if reasons is not None:
        conditions.append(waitlist.c.reason.in_(reasons))
    conditions.append(sa.not_(_being_told()))
    conditions.append(sa.not_(_served()))
    result = await connection.execute(
        sa.select(
            waitlist.c.id,
            waitlist.c.client_id,
            waitlist.c.channel,
            waitlist.c.language,
            identities.c.external_id,
            waitlist.c.conversation_id,
            waitlist.c.contact_email.is_not(None).label("has_email"),
            waitlist.c.contact_phone.is_not(None).label("has_phone"),
            waitlist.c.department,
        )
        .select_from(waitlist)
        .join(conversations, conversations.c.id == waitlist.c.conversation_id)
        .outerjoin(identities, identities.c.id == conversations.c.identity_id)
        .where(*conditions)
        .order_by(waitlist.c.id.desc())
    )
    newest: dict[int, Target] = {}
    for r in result:
        if r.client_id not in newest:
            newest[r.client_id] = Target(
                r.id,
                r.client_id,
                r.channel,
                r.language,
                r.external_id,
                r.conversation_id,
                bool(r.has_email),
                bool(r.has_phone),
                r.department,
            )
    return sorted(newest.values(), key=lambda t: t.waitlist_id)


async def addresses(connection: AsyncConnection, waitlist_ids: list[int]) -> dict[int, Address]:
    """Where to send the deliveries of these entries, by entry id (an erased client's are gone)."""
    if not waitlist_ids:
        return {}
    result = await connection.execute(
        sa.select(
            waitlist.c.id,
            waitlist.c.client_id,
            waitlist.c.channel,
            waitlist.c.language,
            identities.c.external_id,
            waitlist.c.conversation_id,
            waitlist.c.contact_email,
        )
        .select_from(waitlist)
        .join(conversations, conversations.c.id == waitlist.c.conversation_id)
        .outerjoin(identities, identities.c.id == conversations.c.identity_id)
        .where(waitlist.c.id.in_(waitlist_ids))
    )
    return {r.id: Address(*r) for r in result}


async def mark_told(connection: AsyncConnection, client_ids: list[int], now: datetime) -> None:
    """These clients are told: every entry of theirs is marked (told last at ``now``)."""
    if client_ids:
        await connection.execute(
            sa.update(waitlist).where(waitlist.c.client_id.in_(client_ids)).values(notified_at=now)
        )


async def add(connection: AsyncConnection, row: dict[str, Any]) -> int:
    """One entry (tests and tools; the engine writes its own with the batch)."""
    inserted = await connection.execute(sa.insert(waitlist).values(**row).returning(waitlist.c.id))
    return int(inserted.scalar_one())
