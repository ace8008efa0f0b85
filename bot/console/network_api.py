"""The console's network routes (issue 15), under /api/console; documented in docs/CONSOLE.md.

The map (demand against coverage, "où recruter") and the candidates who asked to join: every
signed-in staff member reads them; only admins change a candidate (status, note, registration).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Literal

import segno
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from bot.console.guards import Changing, SignedIn, require_admin
from bot.desk import LINK_PREFIX
from bot.recruitment import MAX_NOTE, CandidateView, CoverageView

if TYPE_CHECKING:
    from bot.app import Services


class CandidateList(BaseModel):
    candidates: list[CandidateView]


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
    ) -> CandidateList:
        found = await recruitment.candidates(status or (), department.upper() if department else None)
        return CandidateList(candidates=found)

    @router.get("/candidates/{candidate_id}")
    async def candidate(candidate_id: str, session: SignedIn) -> CandidateView:
        return await recruitment.candidate(candidate_id)

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
