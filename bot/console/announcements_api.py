"""The console's announcements to members (issue 16), under /api/console/announcements: preview,
send, the list, one announcement's progress with its deliveries member by member, cancel.
Documented in docs/CONSOLE.md. Staff of the ``network`` role and admins only (operators: 403).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field

from bot.console.guards import NetworkChanging, NetworkSignedIn
from bot.members.announcements import DeliveryRow, Preview, Progress

if TYPE_CHECKING:
    from bot.app import Services

PublicId = Annotated[str, Path(max_length=32)]
# What a request may carry; the service then checks the text (trimmed, 3,500 characters at most).
MAX_BODY_TEXT = 20_000


class AnnouncementIn(BaseModel):
    text: str = Field(max_length=MAX_BODY_TEXT)
    departments: list[Annotated[str, Field(max_length=3)]] | None = Field(default=None, max_length=120)


class PreviewOut(BaseModel):
    total: int
    channels: dict[str, int]  # telegram, whatsapp, unreachable
    message: str  # exactly as members will read it, header included
    departments: list[str] | None
    whatsapp_template: int  # of the WhatsApp members, those outside the 24-hour window (template)


class SentOut(BaseModel):
    public_id: str


class AnnouncementOut(BaseModel):
    public_id: str
    text: str
    departments: list[str] | None
    status: str  # running | done | cancelled
    total: int
    sent: int
    queued: int
    pending: int
    failed: int
    unreachable: int
    remaining: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class AnnouncementList(BaseModel):
    announcements: list[AnnouncementOut]


class DeliveryOut(BaseModel):
    name: str
    departments: list[str]
    channel: str | None
    status: str  # pending | queued | sent | failed | unreachable
    error: str | None
    at: datetime


class AnnouncementDetail(AnnouncementOut):
    deliveries: list[DeliveryOut]


def _out(progress: Progress) -> AnnouncementOut:
    return AnnouncementOut(
        public_id=progress.public_id,
        text=progress.text,
        departments=list(progress.departments) if progress.departments is not None else None,
        status=progress.status,
        total=progress.total,
        sent=progress.sent,
        queued=progress.queued,
        pending=progress.pending,
        failed=progress.failed,
        unreachable=progress.unreachable,
        remaining=progress.remaining,
        created_by=progress.created_by,
        created_at=progress.created_at,
        finished_at=progress.finished_at,
    )


def _delivery(row: DeliveryRow) -> DeliveryOut:
    return DeliveryOut(
        name=row.name,
        departments=list(row.departments),
        channel=row.channel,
        status=row.status,
        error=row.error,
        at=row.at,
    )


def _preview(found: Preview) -> PreviewOut:
    return PreviewOut(
        total=found.total,
        channels=found.channels,
        message=found.message,
        departments=list(found.departments) if found.departments is not None else None,
        whatsapp_template=found.whatsapp_template,
    )


def build_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/console/announcements", tags=["console"])
    announcements = services.members.announcements

    @router.post("/preview", responses={403: {}, 422: {}})
    async def preview(body: AnnouncementIn, session: NetworkChanging) -> PreviewOut:
        """How many members it would reach, by channel, and the message as they will read it."""
        return _preview(await announcements.preview(body.text, body.departments))

    @router.post("", responses={403: {}, 409: {}, 422: {}})
    async def send(body: AnnouncementIn, session: NetworkChanging) -> SentOut:
        """Send it (journaled): the running service hands it to the outbox; its public id."""
        public_id = await announcements.send(body.text, body.departments, by=session.operator.name)
        return SentOut(public_id=public_id)

    @router.get("", responses={403: {}})
    async def listing(session: NetworkSignedIn) -> AnnouncementList:
        """The newest announcements with their progress, newest first."""
        return AnnouncementList(announcements=[_out(p) for p in await announcements.recent()])

    @router.get("/{public_id}", responses={403: {}, 404: {}})
    async def one(public_id: PublicId, session: NetworkSignedIn) -> AnnouncementDetail:
        """Its progress and its deliveries, member by member (name, departments, channel, state)."""
        found = await announcements.progress(public_id)
        if found is None:
            raise HTTPException(404, "annonce introuvable")
        rows = await announcements.deliveries(public_id)
        return AnnouncementDetail(**_out(found).model_dump(), deliveries=[_delivery(r) for r in rows])

    @router.post("/{public_id}/cancel", responses={403: {}, 404: {}, 409: {}})
    async def cancel(public_id: PublicId, session: NetworkChanging) -> AnnouncementOut:
        """Stop a running announcement (journaled): what is not handed to the outbox is not sent."""
        if await announcements.progress(public_id) is None:
            raise HTTPException(404, "annonce introuvable")
        if not await announcements.cancel(public_id, by=session.operator.name):
            raise HTTPException(409, "annonce déjà terminée")
        found = await announcements.progress(public_id)
        assert found is not None
        return _out(found)

    return router
