"""The console's members' desk routes (issue 16), under /api/console: video follow-up slots
(publish, list, cancel: network staff and admins) and the kit dates members declared with /kit
(list, confirm, refuse: admins). Documented in docs/CONSOLE.md. Every change is journaled.

- ``GET  /slots``: the slots from the start of today (Paris) on, with their status, member, link;
- ``POST /slots``: ``{date, times: ["14:00", ...], minutes?, staff?}`` publishes one slot per time;
- ``POST /slots/{id}/cancel``: withdraws a slot before it starts (its member, if taken, is told);
- ``GET  /kits/declared``; ``POST /kits/declared/{optician_id}/confirm|refuse`` with
  ``{declared_on}``: the date the admin saw (409 if the member changed or withdrew it meanwhile).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from bot.console.auth import Session
from bot.console.guards import Changing, NetworkChanging, NetworkSignedIn, SignedIn, require_admin
from bot.members.account import DeclaredKitView, KitConflictError
from bot.members.slots import MAX_AT_ONCE, SlotError, SlotView
from flows.types import SERVICE_TIME_ZONE

if TYPE_CHECKING:
    from bot.app import Services

_HOUR = re.compile(r"^([01]?\d|2[0-3])[:hH]([0-5]\d)?$")


class SlotOut(BaseModel):
    id: str
    starts_at: datetime
    minutes: int
    staff: str
    status: str  # open | taken | cancelled
    member: str | None  # the optician who took it (their name)
    member_id: str | None
    reference: str | None  # the member's request, when taken from one
    link: str  # the Jitsi Meet link (the member gets it when they take the slot)
    taken_at: datetime | None
    reminded_at: datetime | None
    soon: bool  # taken and starting within the reminder's delay
    created_by: str


class SlotList(BaseModel):
    slots: list[SlotOut]
    minutes: int  # the default length (VIDEO_SLOT_MINUTES)


class SlotsIn(BaseModel):
    date: date
    times: list[Annotated[str, Field(max_length=5)]] = Field(min_length=1, max_length=MAX_AT_ONCE)
    minutes: int | None = Field(default=None, ge=10, le=180)
    staff: str | None = Field(default=None, max_length=64)  # who holds them (default: the caller)


class DeclaredOut(BaseModel):
    optician_id: str
    name: str
    departments: list[str]
    kit_expires_on: date | None
    declared_on: date
    declared_at: datetime


class DeclaredList(BaseModel):
    kits: list[DeclaredOut]


class DecisionIn(BaseModel):
    declared_on: date  # the date the admin saw


class DecisionOut(BaseModel):
    optician_id: str
    decision: str  # confirmed | refused
    kit_expires_on: date | None
    by: str


def _slot_out(view: SlotView) -> SlotOut:
    return SlotOut(
        id=view.id,
        starts_at=view.starts_at,
        minutes=view.minutes,
        staff=view.staff,
        status=view.status,
        member=view.member,
        member_id=view.member_id,
        reference=view.reference,
        link=view.link,
        taken_at=view.taken_at,
        reminded_at=view.reminded_at,
        soon=view.soon,
        created_by=view.created_by,
    )


def _declared_out(view: DeclaredKitView) -> DeclaredOut:
    return DeclaredOut(
        optician_id=view.optician_id,
        name=view.name,
        departments=view.departments,
        kit_expires_on=None if view.kit_expires_on is None else date.fromisoformat(view.kit_expires_on),
        declared_on=date.fromisoformat(view.declared_on),
        declared_at=view.declared_at,
    )


def _starts(day: date, times: list[str]) -> list[datetime]:
    """Paris times of ``day``; 422 in French for an hour that does not read."""
    starts = []
    for text in times:
        found = _HOUR.match(text.strip())
        if found is None:
            raise HTTPException(422, f"heure illisible : {text[:5]} (ex. 14:30)")
        hour, minute = int(found[1]), int(found[2] or 0)
        starts.append(datetime(day.year, day.month, day.day, hour, minute, tzinfo=SERVICE_TIME_ZONE))
    return starts


PublicId = Annotated[str, Path(max_length=32)]


# The admins' routes check the role as a dependency: anyone else gets 403 before the body is read.
async def _admin_reading(session: SignedIn) -> Session:
    require_admin(session)
    return session


async def _admin_changing(session: Changing) -> Session:
    require_admin(session)
    return session


AdminSignedIn = Annotated[Session, Depends(_admin_reading)]
AdminChanging = Annotated[Session, Depends(_admin_changing)]


def build_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/console", tags=["console"])
    slots = services.members.slots
    account = services.members.account

    @router.get("/slots", responses={403: {}})
    async def listing(session: NetworkSignedIn) -> SlotList:
        """Network staff and admins: the slots from the start of today (Paris) on, soonest first."""
        return SlotList(slots=[_slot_out(v) for v in await slots.listing()], minutes=slots.minutes)

    @router.post("/slots", responses={403: {}, 422: {}})
    async def publish(body: SlotsIn, session: NetworkChanging) -> SlotList:
        """Network staff and admins: publish slots on a day (Paris times); journaled. 422 when one
        is past, more than a year ahead, or given twice."""
        by = session.operator.name
        try:
            made = await slots.publish(
                _starts(body.date, body.times), minutes=body.minutes, staff=body.staff or by, by=by
            )
        except SlotError as error:
            raise HTTPException(422, str(error)) from None
        return SlotList(slots=[_slot_out(v) for v in made], minutes=slots.minutes)

    @router.post("/slots/{public_id}/cancel", responses={403: {}, 404: {}, 409: {}})
    async def cancel(public_id: PublicId, session: NetworkChanging) -> SlotOut:
        """Network staff and admins: withdraw a slot before it starts (its member is told and
        offered the other slots); journaled. 409 when already cancelled or started."""
        try:
            return _slot_out(await slots.cancel(public_id, by=session.operator.name))
        except LookupError:
            raise HTTPException(404, "créneau introuvable") from None
        except SlotError as error:
            raise HTTPException(409, str(error)) from None

    @router.get("/kits/declared", responses={403: {}})
    async def declared(session: AdminSignedIn) -> DeclaredList:
        """Admins: the kit dates members declared with /kit, awaiting a decision."""
        return DeclaredList(kits=[_declared_out(v) for v in await account.declared()])

    async def _decide(public_id: str, body: DecisionIn, session: Session, confirm: bool) -> DecisionOut:
        by = session.operator.name
        try:
            kit = await account.decide(public_id, body.declared_on, confirm=confirm, by=by)
        except LookupError:
            raise HTTPException(404, "opticien introuvable") from None
        except KitConflictError:
            raise HTTPException(
                409, "cette date n'est plus en attente (décidée, retirée ou remplacée)"
            ) from None
        return DecisionOut(
            optician_id=public_id, decision="confirmed" if confirm else "refused", kit_expires_on=kit, by=by
        )

    @router.post("/kits/declared/{public_id}/confirm", responses={403: {}, 404: {}, 409: {}})
    async def confirm(public_id: PublicId, body: DecisionIn, session: AdminChanging) -> DecisionOut:
        """Admins: the declared date becomes the kit's (the reminders re-armed); the member is told."""
        return await _decide(public_id, body, session, True)

    @router.post("/kits/declared/{public_id}/refuse", responses={403: {}, 404: {}, 409: {}})
    async def refuse(public_id: PublicId, body: DecisionIn, session: AdminChanging) -> DecisionOut:
        """Admins: the declared date is dropped; the member is told."""
        return await _decide(public_id, body, session, False)

    return router
