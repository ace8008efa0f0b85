"""Home-visit offers and the case rows dispatch reads and moves.

An offer (``dispatch_offers``) is ``offered``, then ``accepted``, ``declined``, ``taken`` (another
optician accepted first), ``withdrawn`` (the case left home visits) or ``failed`` (the optician who
took it could not serve). A case's status changes only through lifecycle moves
(``storage.cases.move_case``); the first accept is one conditional UPDATE (:func:`assign_visit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.cases import Transition, move_case, move_cases_where
from storage.tables import cases, consents, dispatch_offers, messages, opticians

OfferStatus = Literal["offered", "accepted", "declined", "taken", "withdrawn", "failed"]
OUT_ON_A_VISIT = "dispatched"  # a case offered to the opticians, or taken by one


# --- rounds of offers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseToOffer:
    """What an offer says of a case (no personal data), and its current round."""

    id: int
    reference: str
    need: str | None
    department: str | None
    postal_code: str | None
    slot_date: date | None
    slot_part: str | None
    slot_asap: bool
    dispatch_round: int


@dataclass(frozen=True, slots=True)
class EarlierOffer:
    id: int
    status: OfferStatus


async def case_to_offer(connection: AsyncConnection, case_id: int) -> CaseToOffer:
    row = (
        await connection.execute(
            sa.select(
                cases.c.id,
                cases.c.reference,
                cases.c.need,
                cases.c.department,
                cases.c.postal_code,
                cases.c.slot_date,
                cases.c.slot_part,
                cases.c.slot_asap,
                cases.c.dispatch_round,
            ).where(cases.c.id == case_id)
        )
    ).one()
    return CaseToOffer(*row)


async def earlier_offers(connection: AsyncConnection, case_id: int) -> dict[int, EarlierOffer]:
    """The case's offers so far, by optician id."""
    rows = await connection.execute(
        sa.select(dispatch_offers.c.id, dispatch_offers.c.optician_id, dispatch_offers.c.status).where(
            dispatch_offers.c.case_id == case_id
        )
    )
    return {row.optician_id: EarlierOffer(row.id, row.status) for row in rows}


async def start_round(
    connection: AsyncConnection, case_id: int, round_number: int, now: datetime, *, reached: bool
) -> None:
    """Note a new round of offers on the case; one that reached nobody (``reached`` false) raises
    the no-taker alert at once, not after the wait."""
    await connection.execute(
        sa.update(cases)
        .where(cases.c.id == case_id)
        .values(
            dispatch_round=round_number, offered_at=now, no_taker_at=None if reached else now, updated_at=now
        )
    )


async def record_offer(
    connection: AsyncConnection,
    *,
    case_id: int,
    optician_id: int,
    earlier: EarlierOffer | None,
    public_id: str,
    round_number: int,
    message_id: int,
    now: datetime,
) -> None:
    """An open offer of the case to the optician, carried by message ``message_id``; ``earlier``:
    the optician's offer of an earlier round, offered again."""
    values: dict[str, Any] = {
        "public_id": public_id,
        "round": round_number,
        "status": "offered",
        "message_id": message_id,
        "created_at": now,
        "answered_at": None,
    }
    if earlier is not None:
        await connection.execute(
            sa.update(dispatch_offers).where(dispatch_offers.c.id == earlier.id).values(**values)
        )
    else:
        await connection.execute(
            sa.insert(dispatch_offers).values(case_id=case_id, optician_id=optician_id, **values)
        )


# --- closing offers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenOffer:
    """An open offer and where its message is: sent (``external_id``), failed, or still waiting."""

    id: int
    message_id: int | None
    telegram_chat: str
    external_id: str | None
    sent_at: datetime | None
    failed_at: datetime | None
    reference: str


@dataclass(frozen=True, slots=True)
class AcceptedOffer:
    id: int
    telegram_chat: str | None
    reference: str


async def open_offers(connection: AsyncConnection, case_id: int) -> list[OpenOffer]:
    rows = await connection.execute(
        sa.select(
            dispatch_offers.c.id,
            dispatch_offers.c.message_id,
            opticians.c.telegram_chat,
            messages.c.external_id,
            messages.c.sent_at,
            messages.c.failed_at,
            cases.c.reference,
        )
        .join(opticians, opticians.c.id == dispatch_offers.c.optician_id)
        .join(cases, cases.c.id == dispatch_offers.c.case_id)
        .outerjoin(messages, messages.c.id == dispatch_offers.c.message_id)
        .where(dispatch_offers.c.case_id == case_id, dispatch_offers.c.status == "offered")
    )
    return [OpenOffer(*row) for row in rows]


async def close_offers(
    connection: AsyncConnection, offer_ids: Sequence[int], status: OfferStatus, now: datetime
) -> None:
    await connection.execute(
        sa.update(dispatch_offers)
        .where(dispatch_offers.c.id.in_(list(offer_ids)))
        .values(status=status, answered_at=now)
    )


async def drop_unsent_offer(connection: AsyncConnection, message_id: int, now: datetime) -> bool:
    """Give up an offer's message not sent yet; False if the outbox holds it right now (leased,
    maybe on its way): it is not due, and has not failed before."""
    dropped = await connection.execute(
        sa.update(messages)
        .where(
            messages.c.id == message_id,
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
            sa.or_(messages.c.available_at <= now, messages.c.last_error.is_not(None)),
        )
        .values(failed_at=now, last_error="withdrawn")
    )
    return dropped.rowcount == 1


async def accepted_offers(connection: AsyncConnection, case_id: int) -> list[AcceptedOffer]:
    rows = await connection.execute(
        sa.select(dispatch_offers.c.id, opticians.c.telegram_chat, cases.c.reference)
        .join(opticians, opticians.c.id == dispatch_offers.c.optician_id)
        .join(cases, cases.c.id == dispatch_offers.c.case_id)
        .where(dispatch_offers.c.case_id == case_id, dispatch_offers.c.status == "accepted")
    )
    return [AcceptedOffer(*row) for row in rows]


async def set_offer_status(
    connection: AsyncConnection, offer_id: int, status: OfferStatus, now: datetime
) -> None:
    """The offer's answer, whatever its status was."""
    await connection.execute(
        sa.update(dispatch_offers)
        .where(dispatch_offers.c.id == offer_id)
        .values(status=status, answered_at=now)
    )


# --- the optician's answers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferToAnswer:
    """An offer as its optician answers it, with what decides whether they may still accept."""

    id: int
    case_id: int
    optician_id: int
    status: OfferStatus
    reference: str
    active: bool
    kit_expires_on: date | None


@dataclass(frozen=True, slots=True)
class GivenConsent:
    given_at: datetime
    wording_version: str


@dataclass(frozen=True, slots=True)
class VisitBrief:
    """What the optician who took a visit learns: who, where, when, the client's consent and
    insurance (never in an offer: ``CaseToOffer`` has none of these)."""

    public_id: str
    reference: str
    contact_name: str | None
    contact_phone: str | None
    address: str | None
    slot_date: date | None
    slot_part: str | None
    slot_asap: bool
    language: str
    optician: str  # the optician's name, for the client
    consent: GivenConsent | None
    insurance_status: str | None = None  # insured | none | skipped; None: not asked
    insurer: str | None = None
    insurance_card_path: str | None = None


@dataclass(frozen=True, slots=True)
class TakenCase:
    """A case as the optician who took it reports the visit."""

    id: int
    reference: str
    status: str
    language: str
    claimed_by: str | None


async def offer_to_answer(connection: AsyncConnection, public_id: str, chat: str) -> OfferToAnswer | None:
    """The offer, if it was made to the optician of this chat."""
    row = (
        await connection.execute(
            sa.select(
                dispatch_offers.c.id,
                dispatch_offers.c.case_id,
                dispatch_offers.c.optician_id,
                dispatch_offers.c.status,
                cases.c.reference,
                opticians.c.active,
                opticians.c.kit_expires_on,
            )
            .join(opticians, opticians.c.id == dispatch_offers.c.optician_id)
            .join(cases, cases.c.id == dispatch_offers.c.case_id)
            .where(dispatch_offers.c.public_id == public_id, opticians.c.telegram_chat == chat)
        )
    ).first()
    return None if row is None else OfferToAnswer(*row)


async def decline_offer(connection: AsyncConnection, offer_id: int, now: datetime) -> None:
    """Declined, if it was still open."""
    await connection.execute(
        sa.update(dispatch_offers)
        .where(dispatch_offers.c.id == offer_id, dispatch_offers.c.status == "offered")
        .values(status="declined", answered_at=now)
    )


async def assign_visit(connection: AsyncConnection, case_id: int, optician_id: int, now: datetime) -> bool:
    """The first accept wins: one conditional UPDATE gives the visit to this optician if nobody has
    it and it is still out; False if another optician was first (or the case left home visits)."""
    won = await connection.execute(
        sa.update(cases)
        .where(cases.c.id == case_id, cases.c.optician_id.is_(None), cases.c.status == OUT_ON_A_VISIT)
        .values(optician_id=optician_id, no_taker_at=None, updated_at=now)
    )
    return bool(won.rowcount)


async def visit_brief(connection: AsyncConnection, case_id: int) -> VisitBrief:
    row = (
        await connection.execute(
            sa.select(
                cases.c.public_id,
                cases.c.reference,
                cases.c.contact_name,
                cases.c.contact_phone,
                cases.c.address,
                cases.c.slot_date,
                cases.c.slot_part,
                cases.c.slot_asap,
                cases.c.language,
                opticians.c.name.label("optician"),
            )
            .add_columns(
                cases.c.consent_id, cases.c.insurance_status, cases.c.insurer, cases.c.insurance_card_path
            )
            .join(opticians, opticians.c.id == cases.c.optician_id)
            .where(cases.c.id == case_id)
        )
    ).one()
    consent = None
    if row.consent_id is not None:
        given = (
            await connection.execute(
                sa.select(consents.c.given_at, consents.c.wording_version).where(
                    consents.c.id == row.consent_id
                )
            )
        ).first()
        consent = None if given is None else GivenConsent(*given)
    return VisitBrief(
        row.public_id,
        row.reference,
        row.contact_name,
        row.contact_phone,
        row.address,
        row.slot_date,
        row.slot_part,
        row.slot_asap,
        row.language,
        row.optician,
        consent,
        row.insurance_status,
        row.insurer,
        row.insurance_card_path,
    )


async def taken_case(connection: AsyncConnection, case_public_id: str, chat: str) -> TakenCase | None:
    """The case, if the optician of this chat has taken it."""
    row = (
        await connection.execute(
            sa.select(cases.c.id, cases.c.reference, cases.c.status, cases.c.language, cases.c.claimed_by)
            .join(opticians, opticians.c.id == cases.c.optician_id)
            .where(cases.c.public_id == case_public_id, opticians.c.telegram_chat == chat)
        )
    ).first()
    return None if row is None else TakenCase(*row)


async def fail_accepted_offers(connection: AsyncConnection, case_id: int, now: datetime) -> None:
    """The optician who took the case could not serve: not offered it again."""
    await connection.execute(
        sa.update(dispatch_offers)
        .where(dispatch_offers.c.case_id == case_id, dispatch_offers.c.status == "accepted")
        .values(status="failed", answered_at=now)
    )


# --- the case's moves ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FromVisit:
    sources: tuple[str, ...]
    destination: str


async def move_visit(
    connection: AsyncConnection, case_id: int, transition: Transition, values: dict[str, Any]
) -> bool:
    """``move_case``, only while the case is out on a visit (``dispatched``), whichever other
    statuses the move starts from: an optician's report applies to the visit they took."""
    if OUT_ON_A_VISIT not in transition.sources:
        raise ValueError(f"a move from {transition.sources} does not start from a visit")
    return await move_case(connection, case_id, _FromVisit((OUT_ON_A_VISIT,), transition.destination), values)


async def dispatch_new_visits(
    connection: AsyncConnection, transition: Transition, now: datetime
) -> list[int]:
    """Automatic dispatch: every emergency home-visit case handed off and never offered takes
    ``transition`` (queued → dispatched), in one conditional UPDATE; the ids of those this call
    moved (a case another process or an operator moved or changed first is left to them)."""
    visits = (cases.c.mode == "visit", cases.c.kind == "emergency", cases.c.dispatch_round == 0)
    return await move_cases_where(connection, transition, visits, {"dispatched_at": now, "updated_at": now})


async def flag_untaken_visits(connection: AsyncConnection, now: datetime, accept_within: timedelta) -> int:
    """Raise the no-taker alert on visits offered more than ``accept_within`` ago that nobody took;
    how many."""
    late = await connection.execute(
        sa.update(cases)
        .where(
            cases.c.status == OUT_ON_A_VISIT,
            cases.c.optician_id.is_(None),
            cases.c.no_taker_at.is_(None),
            cases.c.offered_at < now - accept_within,
        )
        .values(no_taker_at=now, updated_at=now)
    )
    return late.rowcount or 0
