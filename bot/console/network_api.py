"""The console's network routes (issue 15), under /api/console; documented in docs/CONSOLE.md.

The map (demand against coverage, "où recruter") and the list of the candidates who asked to join
(name, departments, status: no contact details) are for every signed-in staff member; a
candidate's details (phone, e-mail, registration number, note) are for admins, each read journaled
(``view_candidate``); only admins change a candidate (status, note, registration).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Literal

import segno
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from bot.console.guards import Changing, SignedIn, require_admin
from bot.desk import LINK_PREFIX
from bot.recruitment import MAX_NOTE, MAX_PAGE, PAGE, CandidateSummary, CandidateView, CoverageView, summary

if TYPE_CHECKING:
    from bot.app import Services


class CandidateList(BaseModel):
    candidates: list[CandidateSummary]
    total: int  # how many match the filters in all
    offset: int
    more: int  # how many come after this page


class StatusIn(BaseModel):
    status: Literal["contacted", "accepted", "declined"]


class NoteIn(BaseModel):
    text: str = Field(max_length=MAX_NOTE)


class Registered(BaseModel):
    candidate: CandidateView
    link: str | None  # None until the bot's name is known (Telegram not configured or not reached)
    command: str  # what the optician can also type: /start optician_<code>
    qr: str | None
    expires_at: str


def build_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/console", tags=["console"])
    recruitment = services.recruitment

    @router.get("/coverage")
    async def coverage(
        session: SignedIn,
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
    ) -> CoverageView:
        """Demand (cases per department from ``from`` to ``to``, Paris days, by default the last 30)
        against coverage today, and where to recruit."""
        return await recruitment.coverage(start, end)

    @router.get("/candidates")
    async def candidates(
        session: SignedIn,
        status: Annotated[list[str] | None, Query(max_length=5)] = None,
        department: Annotated[str | None, Query(max_length=3)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> CandidateList:
        """One page of candidates, newest first (name, departments, status: no contact details)."""
        found, total = await recruitment.candidates(status or (), department, limit=limit, offset=offset)
        return CandidateList(
            candidates=[summary(c) for c in found],
            total=total,
            offset=offset,
            more=max(0, total - offset - len(found)),
        )

    @router.get("/candidates/{candidate_id}", responses={403: {}, 404: {}})
    async def candidate(candidate_id: str, session: SignedIn) -> CandidateView:
        """A candidate's details: admins only, each read journaled (``view_candidate``)."""
        require_admin(session)
        return await recruitment.candidate(candidate_id, session.operator.name)

    @router.post("/candidates/{candidate_id}/status", responses={403: {}, 409: {}})
    async def move(candidate_id: str, body: StatusIn, session: Changing) -> CandidateView:
        require_admin(session)
        return await recruitment.move(candidate_id, body.status, session.operator.name)

    @router.post("/candidates/{candidate_id}/note", responses={403: {}})
    async def note(candidate_id: str, body: NoteIn, session: Changing) -> CandidateView:
        require_admin(session)
        return await recruitment.note(candidate_id, body.text, session.operator.name)

    @router.post("/candidates/{candidate_id}/register", responses={403: {}, 409: {}})
    async def register(candidate_id: str, session: Changing) -> Registered:
        """accepted → registered: the optician's entry and a one-time Telegram link (valid 24 h)."""
        require_admin(session)
        found, code, expires = await recruitment.register(candidate_id, session.operator.name)
        username = services.telegram.username if services.telegram else None
        link = f"https://t.me/{username}?start={LINK_PREFIX}{code}" if username else None
        qr = segno.make(link, error="m").svg_data_uri(scale=4) if link else None
        return Registered(
            candidate=found,
            link=link,
            command=f"/start {LINK_PREFIX}{code}",
            qr=qr,
            expires_at=expires.isoformat(),
        )

    return router
