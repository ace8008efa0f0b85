"""The console's waitlist routes (issue 15), under /api/console; documented in docs/CONSOLE.md.

Operators read the entries (how a client can be reached shows as "e-mail" / "téléphone", never the
contact) and the broadcasts' progress; admins preview and start a broadcast ("Prévenir") and read
the phone numbers to call back. The CSV export and the phone numbers are journaled.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from bot.broadcasts import BroadcastError
from bot.console.guards import Changing, SignedIn, require_admin
from flows.departments import DEPARTMENTS
from storage import broadcasts as broadcast_store
from storage import waitlist as waitlist_store
from storage.broadcasts import Progress
from storage.privacy.journal import record_access
from storage.waitlist import Entry, WaitlistFilter

if TYPE_CHECKING:
    from bot.app import Services

MAX_ENTRIES = 2000  # entries listed at once (the count says how many there are)
Channel = Literal["telegram", "whatsapp", "webchat", "terminal"]
Told = Literal["waiting", "told", "all"]


class EntryOut(BaseModel):
    reason: str
    department: str | None
    channel: str
    language: str
    since: datetime
    told_at: datetime | None
    contact: list[Literal["e-mail", "téléphone"]]
    served: bool  # a case of theirs since the entry: no longer waiting (never told by a broadcast)


class WaitlistOut(BaseModel):
    count: int
    entries: list[EntryOut]


class FilterIn(BaseModel):
    department: str | None = Field(default=None, max_length=3)  # checked as the list's filter
    reason: str | None = Field(default=None, max_length=32)
    channel: Channel | None = None
    again: bool = False  # tell again clients told by an earlier broadcast
    level: Literal["normal", "crisis"] | None = None  # the level announced (None: the one in force)


class BroadcastIn(FilterIn):
    level: Literal["normal", "crisis"] | None = Field(...)


class PreviewOut(BaseModel):
    total: int
    routes: dict[str, int]


class StartedOut(BaseModel):
    public_id: str | None  # None: nobody to tell


class BroadcastOut(BaseModel):
    public_id: str
    trigger: str
    level: str
    department: str | None
    status: str
    total: int
    sent: int
    failed: int
    callback: int
    remaining: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class BroadcastList(BaseModel):
    broadcasts: list[BroadcastOut]


class CallbackOut(BaseModel):
    phone: str
    department: str | None
    language: str
    reason: str
    since: datetime


class CallbackList(BaseModel):
    callbacks: list[CallbackOut]


def _contact(entry: Entry) -> list[Literal["e-mail", "téléphone"]]:
    kinds: list[Literal["e-mail", "téléphone"]] = []
    if entry.has_email:
        kinds.append("e-mail")
    if entry.has_phone:
        kinds.append("téléphone")
    return kinds


def _entry_out(entry: Entry) -> EntryOut:
    return EntryOut(
        reason=entry.reason,
        department=entry.department,
        channel=entry.channel,
        language=entry.language,
        since=entry.since,
        told_at=entry.notified_at,
        contact=_contact(entry),
        served=entry.served,
    )


def _broadcast_out(progress: Progress) -> BroadcastOut:
    return BroadcastOut(
        public_id=progress.public_id,
        trigger=progress.trigger,
        level=progress.level,
        department=progress.department,
        status=progress.status,
        total=progress.total,
        sent=progress.sent,
        failed=progress.failed,
        callback=progress.callback,
        remaining=progress.remaining,
        created_by=progress.created_by,
        created_at=progress.created_at,
        finished_at=progress.finished_at,
    )


def _department(department: str | None) -> str | None:
    """A department as the filters take it (``2a`` is ``2A``); 422 in French when unknown."""
    if not department:
        return None
    if department.strip().upper() not in DEPARTMENTS:
        raise HTTPException(422, "département inconnu")
    return department.strip().upper()


def _filter(department: str | None, reason: str | None, channel: str | None, told: Told) -> WaitlistFilter:
    return WaitlistFilter(
        _department(department),
        reason or None,
        channel or None,
        None if told == "all" else told == "told",
    )


def build_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/console", tags=["console"])
    database = services.database
    broadcasts = services.broadcasts

    @router.get("/waitlist")
    async def waitlist(
        session: SignedIn,
        department: Annotated[str | None, Query(max_length=3)] = None,
        reason: Annotated[str | None, Query(max_length=32)] = None,
        channel: Channel | None = None,
        told: Told = "waiting",
    ) -> WaitlistOut:
        """The entries matching the filter, oldest first (at most 2000), and how many match."""
        chosen = _filter(department, reason, channel, told)
        async with database.connect() as connection:
            found = await waitlist_store.entries(connection, chosen, MAX_ENTRIES)
            total = await waitlist_store.count(connection, chosen)
        return WaitlistOut(count=total, entries=[_entry_out(e) for e in found])

    @router.get("/waitlist.csv", response_class=Response)
    async def waitlist_csv(
        session: SignedIn,
        department: Annotated[str | None, Query(max_length=3)] = None,
        reason: Annotated[str | None, Query(max_length=32)] = None,
        channel: Channel | None = None,
        told: Told = "all",
    ) -> Response:
        """The entries as CSV (no contact, only its kind); journaled."""
        chosen = _filter(department, reason, channel, told)
        now = services.engine.clock()
        async with database.begin() as connection:
            found = await waitlist_store.entries(connection, chosen, 1_000_000)
            detail = f"{department or '*'} {reason or '*'} {channel or '*'} {told} {len(found)}"
            await record_access(connection, now, session.operator.name, "waitlist_export", detail=detail)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["since", "reason", "department", "channel", "language", "told_at", "contact"])
        for entry in found:
            writer.writerow(
                [
                    entry.since.isoformat(),
                    entry.reason,
                    entry.department or "",
                    entry.channel,
                    entry.language,
                    entry.notified_at.isoformat() if entry.notified_at else "",
                    " ".join(_contact(entry)),
                ]
            )
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="liste-attente-{now.date().isoformat()}.csv"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.get("/waitlist/callbacks", responses={403: {}})
    async def callbacks(session: SignedIn) -> CallbackList:
        """Admins: the web chat clients to call back, with their phone numbers; journaled."""
        require_admin(session)
        async with database.begin() as connection:
            found = await broadcast_store.callbacks(connection)
            await record_access(
                connection,
                services.engine.clock(),
                session.operator.name,
                "waitlist_phones",
                detail=str(len(found)),
            )
        return CallbackList(callbacks=[CallbackOut(**row) for row in found])

    @router.post("/waitlist/preview", responses={403: {}})
    async def preview(body: FilterIn, session: Changing) -> PreviewOut:
        """Admins: how many clients a broadcast with this filter would tell, by route."""
        require_admin(session)
        found = await broadcasts.preview(
            department=_department(body.department),
            reason=body.reason,
            channel=body.channel,
            again=body.again,
            level=body.level,
        )
        return PreviewOut(total=found.total, routes=found.routes)

    @router.post("/broadcasts", responses={403: {}, 422: {}})
    async def start(body: BroadcastIn, session: Changing) -> StartedOut:
        """Admins: tell the waiting clients matching the filter (journaled); its public id."""
        require_admin(session)
        department = _department(body.department)
        if body.level is None:
            raise HTTPException(422, "niveau annoncé manquant (normal ou crisis)")
        try:
            public_id = await broadcasts.start(
                by=session.operator.name,
                trigger="manual",
                level=body.level,
                department=department,
                reason=body.reason,
                channel=body.channel,
                again=body.again,
            )
        except BroadcastError as error:
            raise HTTPException(422, str(error)) from None
        return StartedOut(public_id=public_id)

    @router.post("/broadcasts/{public_id}/cancel", responses={403: {}, 404: {}, 409: {}})
    async def cancel(public_id: Annotated[str, Field(max_length=32)], session: Changing) -> BroadcastOut:
        """Admins: stop a running broadcast (journaled); what is already sent stays sent."""
        require_admin(session)
        if await broadcasts.progress(public_id) is None:
            raise HTTPException(404, "diffusion introuvable")
        if not await broadcasts.cancel(public_id, by=session.operator.name):
            raise HTTPException(409, "diffusion déjà terminée")
        found = await broadcasts.progress(public_id)
        assert found is not None
        return _broadcast_out(found)

    @router.get("/broadcasts")
    async def listing(session: SignedIn) -> BroadcastList:
        """The newest broadcasts with their progress (sent, failed, to call back, remaining)."""
        return BroadcastList(broadcasts=[_broadcast_out(p) for p in await broadcasts.list()])

    @router.get("/broadcasts/{public_id}", responses={404: {}})
    async def one(public_id: Annotated[str, Field(max_length=32)], session: SignedIn) -> BroadcastOut:
        found = await broadcasts.progress(public_id)
        if found is None:
            raise HTTPException(404, "diffusion introuvable")
        return _broadcast_out(found)

    return router
