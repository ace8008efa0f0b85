"""The opticians' protection kits: whose kit reminder is due, its claim, and the kits to renew.

A reminder has a stage: 14 (the kit expires within 14 days), 3 (within 3 days, or today) and 0
(it has expired). ``kit_reminded_on`` and ``kit_reminded_days`` keep the last one sent and the
expiry date it was about: a reminder is due while its stage is later than the one sent for the
kit's current date, so a new date (the kit renewed) re-arms them without anyone resetting them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import opticians

EARLY, LATE, EXPIRED = 14, 3, 0  # the stages, in the order they go


def stage_of(expires_on: date, today: date) -> int | None:
    """The reminder due for a kit valid through ``expires_on`` (None: not yet)."""
    if expires_on < today:
        return EXPIRED
    if expires_on <= today + timedelta(days=LATE):
        return LATE
    if expires_on <= today + timedelta(days=EARLY):
        return EARLY
    return None


@dataclass(frozen=True, slots=True)
class KitDue:
    """An optician whose kit reminder is due (no personal data but their chat)."""

    id: int
    telegram_chat: str
    kit_expires_on: date


@dataclass(frozen=True, slots=True)
class ExpiringKit:
    """An optician whose kit is to be renewed, as the console and the CLI list them."""

    public_id: str
    name: str
    departments: list[str]
    kit_expires_on: date
    active: bool
    linked: bool
    reminded_days: int | None  # the last reminder's stage for this expiry date (None: none yet)


def _stage(today: date) -> Any:
    """The stage due of each row, in SQL (the same as :func:`stage_of` for a kit within 14 days)."""
    return sa.case(
        (opticians.c.kit_expires_on < today, EXPIRED),
        (opticians.c.kit_expires_on <= today + timedelta(days=LATE), LATE),
        else_=EARLY,
    )


def _not_yet_reminded(today: date) -> Any:
    """No reminder for the kit's current date at the stage due now, or an earlier one only."""
    return sa.or_(
        opticians.c.kit_reminded_on.is_(None),
        opticians.c.kit_reminded_days.is_(None),
        opticians.c.kit_reminded_on != opticians.c.kit_expires_on,
        opticians.c.kit_reminded_days > _stage(today),
    )


def _remindable(today: date) -> tuple[Any, ...]:
    return (
        opticians.c.active.is_(True),
        opticians.c.telegram_chat.is_not(None),
        opticians.c.kit_expires_on.is_not(None),
        opticians.c.kit_expires_on <= today + timedelta(days=EARLY),
        _not_yet_reminded(today),
    )


async def due_kit_reminders(connection: AsyncConnection, today: date, batch: int = 100) -> list[KitDue]:
    """Active, linked opticians whose kit reminder is due on ``today`` (Paris), soonest first."""
    rows = await connection.execute(
        sa.select(opticians.c.id, opticians.c.telegram_chat, opticians.c.kit_expires_on)
        .where(*_remindable(today))
        .order_by(opticians.c.kit_expires_on, opticians.c.id)
        .limit(batch)
    )
    return [KitDue(row.id, row.telegram_chat, row.kit_expires_on) for row in rows]


async def claim_kit_reminder(connection: AsyncConnection, due: KitDue, stage: int, today: date) -> bool:
    """Record the reminder at ``stage`` for the kit's date, if it is still due (one conditional
    UPDATE: of two processes or sweeps, one claims it). Called in the transaction that enqueues the
    message: the claim and the message commit together."""
    claimed = await connection.execute(
        sa.update(opticians)
        .where(
            opticians.c.id == due.id,
            opticians.c.telegram_chat == due.telegram_chat,
            opticians.c.kit_expires_on == due.kit_expires_on,
            *_remindable(today),
        )
        .values(kit_reminded_on=due.kit_expires_on, kit_reminded_days=stage)
    )
    return bool(claimed.rowcount)


async def expiring_kits(connection: AsyncConnection, until: date) -> list[ExpiringKit]:
    """Every optician whose kit expires by ``until`` (the expired ones too), soonest first."""
    reminded = sa.case(
        (opticians.c.kit_reminded_on == opticians.c.kit_expires_on, opticians.c.kit_reminded_days),
        else_=None,
    )
    rows = await connection.execute(
        sa.select(
            opticians.c.public_id,
            opticians.c.name,
            opticians.c.departments,
            opticians.c.kit_expires_on,
            opticians.c.active,
            opticians.c.telegram_chat.is_not(None).label("linked"),
            reminded.label("reminded_days"),
        )
        .where(opticians.c.kit_expires_on <= until)
        .order_by(opticians.c.kit_expires_on, opticians.c.name)
    )
    return [
        ExpiringKit(
            row.public_id,
            row.name,
            list(row.departments or ()),
            row.kit_expires_on,
            bool(row.active),
            bool(row.linked),
            None if row.reminded_days is None else int(row.reminded_days),
        )
        for row in rows
    ]
