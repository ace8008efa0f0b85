"""Appointments: a home visit booked to the hour, one per visit case.

The optician who accepted the visit proposes a one-hour window (``proposed``), the client confirms
it (``confirmed``) or asks for another moment (``moved``: the optician proposes again); the optician
sets out (``en_route``) and reports the visit ``done`` or ``impossible``; the client may move or
cancel it before (``cancelled`` also when the case leaves home visits). Each change is one
conditional UPDATE on the status (and, for the client's answers, on the proposal it answers), so of
two actions racing (a confirm and a cancel) exactly one wins. The morning reminder is claimed the
same way, in the transaction that enqueues it, so it goes once whatever the number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import appointments, cases, opticians

AppointmentStatus = Literal[
    "pending", "proposed", "confirmed", "en_route", "done", "impossible", "moved", "cancelled"
]
# The appointment still ahead: the client may move or cancel it, the optician is told.
AHEAD: tuple[AppointmentStatus, ...] = ("pending", "proposed", "confirmed", "moved")
# The optician may propose a window: right after accepting, when the client asked for another, or
# again while a proposal waits (its number moves on: the client's buttons of the older one are void).
TO_PROPOSE: tuple[AppointmentStatus, ...] = ("pending", "proposed", "moved")
# Not over yet (a visit report or a withdrawal ends it).
LIVE: tuple[AppointmentStatus, ...] = (*AHEAD, "en_route")


@dataclass(frozen=True, slots=True)
class AppointmentView:
    """An appointment as the console's case page shows it."""

    status: AppointmentStatus
    day: date | None
    hour: int | None
    proposal: int
    confirmed_at: datetime | None
    en_route_at: datetime | None
    reminded_at: datetime | None


async def appointment_view(connection: AsyncConnection, case_id: int) -> AppointmentView | None:
    row = (
        await connection.execute(
            sa.select(
                appointments.c.status,
                appointments.c.day,
                appointments.c.hour,
                appointments.c.proposal,
                appointments.c.confirmed_at,
                appointments.c.en_route_at,
                appointments.c.reminded_at,
            ).where(appointments.c.case_id == case_id)
        )
    ).first()
    return None if row is None else AppointmentView(*row)


async def appointments_of_client(
    connection: AsyncConnection, client_id: int
) -> dict[str, tuple[AppointmentStatus, date, int]]:
    """The client's appointments that name a moment, by their case's reference (for "mes
    données")."""
    rows = await connection.execute(
        sa.select(cases.c.reference, appointments.c.status, appointments.c.day, appointments.c.hour)
        .join(cases, cases.c.id == appointments.c.case_id)
        .where(
            cases.c.client_id == client_id, appointments.c.day.is_not(None), appointments.c.hour.is_not(None)
        )
    )
    return {row.reference: (row.status, row.day, row.hour) for row in rows}


@dataclass(frozen=True, slots=True)
class Appointment:
    """An appointment with what its messages say: the case, the optician and their chat."""

    id: int
    case_id: int
    case_public_id: str
    status: AppointmentStatus
    day: date | None
    hour: int | None
    proposal: int
    proposed_by: str | None
    optician: str | None  # the optician's name
    telegram_chat: str | None
    reference: str
    address: str | None


def _selected() -> sa.Select[Any]:
    return (
        sa.select(
            appointments.c.id,
            appointments.c.case_id,
            cases.c.public_id,
            appointments.c.status,
            appointments.c.day,
            appointments.c.hour,
            appointments.c.proposal,
            appointments.c.proposed_by,
            opticians.c.name,
            opticians.c.telegram_chat,
            cases.c.reference,
            cases.c.address,
        )
        .join(cases, cases.c.id == appointments.c.case_id)
        .outerjoin(opticians, opticians.c.id == appointments.c.optician_id)
    )


async def appointment_of(connection: AsyncConnection, case_id: int) -> Appointment | None:
    """The case's appointment, if a visit of it was ever accepted."""
    row = (await connection.execute(_selected().where(appointments.c.case_id == case_id))).first()
    return None if row is None else Appointment(*row)


async def open_appointment(
    connection: AsyncConnection, case_id: int, optician_id: int, now: datetime
) -> None:
    """The optician won the visit (in the accept's transaction, which only one wins): a ``pending``
    appointment, replacing the one of an earlier optician who could not serve."""
    fresh: dict[str, Any] = {
        "optician_id": optician_id,
        "status": "pending",
        "day": None,
        "hour": None,
        "proposed_by": None,
        "remind_at": None,
        "reminded_at": None,
        "confirmed_at": None,
        "en_route_at": None,
        "ended_at": None,
        "updated_at": now,
    }
    await _touch_case(connection, case_id, now)  # the case's row before the appointment's
    renewed = await connection.execute(
        sa.update(appointments).where(appointments.c.case_id == case_id).values(**fresh)
    )
    if not renewed.rowcount:
        await connection.execute(sa.insert(appointments).values(case_id=case_id, created_at=now, **fresh))


async def _move(
    connection: AsyncConnection,
    case_id: int,
    sources: tuple[AppointmentStatus, ...],
    destination: AppointmentStatus,
    values: dict[str, Any],
    *conditions: sa.ColumnElement[bool],
) -> bool:
    """The one writer of an appointment's status: a conditional UPDATE, False if it was not in one
    of ``sources`` any more (another action won).

    Lock order: the case's row is written first (``_touch_case``), then the appointment's; every
    path locks the client's conversation before both (the engine holds it already, the optician's
    answers and the reminders call ``client_of_case`` first)."""
    await _touch_case(connection, case_id, values["updated_at"])
    moved = await connection.execute(
        sa.update(appointments)
        .where(appointments.c.case_id == case_id, appointments.c.status.in_(sources), *conditions)
        .values(status=destination, **values)
    )
    return bool(moved.rowcount)


async def _touch_case(connection: AsyncConnection, case_id: int, now: datetime) -> None:
    """The case's page shows its appointment: its version (``updated_at``) moves with it, so the
    console's live view sees the change from any process."""
    await connection.execute(sa.update(cases).where(cases.c.id == case_id).values(updated_at=now))


async def propose(
    connection: AsyncConnection, case_id: int, day: date, hour: int, now: datetime
) -> int | None:
    """The optician proposes ``day`` at ``hour``: the proposal's number, or None if the
    appointment is not waiting for one (already proposed, confirmed, cancelled...)."""
    moved = await _move(
        connection,
        case_id,
        TO_PROPOSE,
        "proposed",
        {
            "day": day,
            "hour": hour,
            "proposed_by": "optician",
            "proposal": appointments.c.proposal + 1,
            "updated_at": now,
        },
    )
    if not moved:
        return None
    number = await connection.execute(
        sa.select(appointments.c.proposal).where(appointments.c.case_id == case_id)
    )
    return int(number.scalar_one())


async def confirm(
    connection: AsyncConnection, case_id: int, proposal: int, now: datetime, remind_at: datetime | None
) -> bool:
    """The client confirms proposal number ``proposal`` (not an older one); ``remind_at``: when the
    morning reminder is due (None: no reminder, the moment is already past)."""
    values = {"confirmed_at": now, "remind_at": remind_at, "reminded_at": None, "updated_at": now}
    return await _move(
        connection, case_id, ("proposed",), "confirmed", values, appointments.c.proposal == proposal
    )


async def ask_another_moment(connection: AsyncConnection, case_id: int, proposal: int, now: datetime) -> bool:
    """The client declines proposal ``proposal``: the optician proposes again."""
    return await _move(
        connection, case_id, ("proposed",), "moved", {"updated_at": now}, appointments.c.proposal == proposal
    )


async def move_by_client(connection: AsyncConnection, case_id: int, now: datetime) -> bool:
    """The client asks to move an appointment proposed or confirmed: the optician proposes again."""
    values = {"remind_at": None, "updated_at": now}
    return await _move(connection, case_id, ("proposed", "confirmed"), "moved", values)


async def cancel(connection: AsyncConnection, case_id: int, now: datetime) -> bool:
    """The visit will not happen (the client cancelled, the case left home visits)."""
    return await _move(connection, case_id, LIVE, "cancelled", {"ended_at": now, "updated_at": now})


async def set_out(connection: AsyncConnection, case_id: int, now: datetime) -> bool:
    """The optician is on the way to a confirmed appointment."""
    return await _move(
        connection, case_id, ("confirmed",), "en_route", {"en_route_at": now, "updated_at": now}
    )


async def end(connection: AsyncConnection, case_id: int, *, done: bool, now: datetime) -> bool:
    """The optician's report: the visit was done, or could not be."""
    destination: AppointmentStatus = "done" if done else "impossible"
    return await _move(connection, case_id, LIVE, destination, {"ended_at": now, "updated_at": now})


async def close_with_case(connection: AsyncConnection, case_id: int, now: datetime) -> bool:
    """An operator closed the case ("Terminer") while the optician was on the way: the visit is
    what closed it, ``done``. False if the appointment was not ``en_route``."""
    return await _move(connection, case_id, ("en_route",), "done", {"ended_at": now, "updated_at": now})


# --- the morning reminder --------------------------------------------------------------------------


async def due_reminders(connection: AsyncConnection, now: datetime, limit: int = 100) -> list[int]:
    """Cases still out on a visit whose confirmed appointment's reminder is due and not sent
    (oldest first)."""
    rows = await connection.execute(
        sa.select(appointments.c.case_id)
        .join(cases, cases.c.id == appointments.c.case_id)
        .where(
            cases.c.status == "dispatched",
            appointments.c.status == "confirmed",
            appointments.c.remind_at <= now,
            appointments.c.reminded_at.is_(None),
        )
        .order_by(appointments.c.remind_at, appointments.c.id)
        .limit(limit)
    )
    return [int(case_id) for case_id in rows.scalars()]


async def claim_reminder(connection: AsyncConnection, case_id: int, now: datetime) -> bool:
    """Mark the reminder sent, if nobody did (another process, an earlier sweep) and the
    appointment is still confirmed: the caller enqueues it in this same transaction. The case's
    version moves with it (the console's page shows "rappel envoyé" live)."""
    await _touch_case(connection, case_id, now)
    claimed = await connection.execute(
        sa.update(appointments)
        .where(
            appointments.c.case_id == case_id,
            appointments.c.status == "confirmed",
            appointments.c.remind_at <= now,
            appointments.c.reminded_at.is_(None),
        )
        .values(reminded_at=now)
    )
    return bool(claimed.rowcount)
