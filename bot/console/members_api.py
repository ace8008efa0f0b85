"""The console's members' desk routes (issue 16), under /api/console/members:
the Réseau queue: members' requests (list, read, document, claim, release, take-over, reply, notes,
status, outcome). Documented in docs/CONSOLE.md. Staff of the ``network`` role and admins only
(operators: 403; anonymous: 401); every change needs the CSRF token. The rules are
bot/members/requests.py's; refusals are polite 404/409/422 in French.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from bot.console.checks import MAX_OPERATOR_TEXT
from bot.console.guards import NetworkChanging, NetworkSignedIn
from bot.members.request_queries import RequestDetail, RequestList
from flows.member_table import KINDS
from storage.files import MEDIA_TYPES

if TYPE_CHECKING:
    from bot.app import Services

PREFIX = "/members/requests"


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_OPERATOR_TEXT)


class TakeOverIn(BaseModel):
    # The holder the page showed: the take-over applies only if they still hold it (409 otherwise).
    from_: str | None = Field(default=None, alias="from", max_length=64)


class StatusIn(BaseModel):
    status: Literal["in_progress", "answered", "closed"]


class OutcomeIn(BaseModel):
    outcome: Literal["granted", "refused", "redirected"]
    # In euros (two decimals at most); stored in cents. Only for a granted advance on commissions.
    amount_euros: Decimal | None = Field(default=None, gt=0, le=10_000_000, decimal_places=2)
    months: int | None = Field(default=None, ge=1, le=36)  # only for a granted deferral of royalties
    message: str | None = Field(default=None, max_length=MAX_OPERATOR_TEXT)


def build_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/console", tags=["console"])
    requests = services.members.requests
    queries = requests.queries

    @router.get(PREFIX, responses={403: {}})
    async def queue(
        session: NetworkSignedIn,
        status: Annotated[list[Literal["new", "in_progress", "answered", "closed"]] | None, Query()] = None,
        kind: Annotated[str | None, Query(max_length=24)] = None,
        department: Annotated[str | None, Query(pattern=r"^(\d{2,3}|2[AaBb])$")] = None,
        mine: bool = False,
        claimed_by: Annotated[str | None, Query(max_length=64)] = None,
        unclaimed: bool = False,
        after: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 100,
    ) -> RequestList:
        """Members' requests (open ones unless ``status`` is given): new first, then by age.
        ``mine``: those I hold; ``claimed_by``: a staff's; ``unclaimed``: nobody's; ``after``:
        the ``next`` of the previous page."""
        if kind is not None and kind not in KINDS:
            kind = "?"  # refused politely by the service (422)
        return await queries.queue(
            statuses=status or (),
            kind=kind,
            department=department.upper() if department else None,
            claimed_by=session.operator.name if mine else claimed_by,
            unclaimed=unclaimed,
            after=after,
            limit=limit,
        )

    @router.get(PREFIX + "/{request_id}", responses={403: {}, 404: {}})
    async def detail(request_id: str, session: NetworkSignedIn) -> RequestDetail:
        """A request with its member's card and its thread."""
        return await queries.detail(session.operator, request_id)

    @router.get(PREFIX + "/{request_id}/document", response_class=Response, responses={403: {}, 404: {}})
    async def document(request_id: str, session: NetworkSignedIn) -> Response:
        """The member's document, decrypted, never rendered as a page of its own (journaled:
        ``member_document``)."""
        content, kind = await queries.document(session.operator, request_id)
        disposition = "inline" if kind != ".pdf" else "attachment"
        return Response(
            content,
            media_type=MEDIA_TYPES[kind],
            headers={
                "Content-Disposition": f'{disposition}; filename="document{kind}"',
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, no-store",
            },
        )

    @router.post(PREFIX + "/{request_id}/claim", responses={403: {}, 404: {}, 409: {}})
    async def claim(request_id: str, session: NetworkChanging) -> RequestDetail:
        """Take a request nobody holds: of two staff at once, one wins (409 for the other)."""
        return await requests.claim(session.operator, request_id)

    @router.post(PREFIX + "/{request_id}/release", responses={403: {}, 404: {}, 409: {}})
    async def release(request_id: str, session: NetworkChanging) -> RequestDetail:
        return await requests.release(session.operator, request_id)

    @router.post(PREFIX + "/{request_id}/takeover", responses={403: {}, 404: {}, 409: {}})
    async def take_over(request_id: str, body: TakeOverIn, session: NetworkChanging) -> RequestDetail:
        """Hold a request another staff holds (``from``: only if they still do)."""
        return await requests.take_over(session.operator, request_id, body.from_)

    @router.post(PREFIX + "/{request_id}/reply", responses={403: {}, 404: {}, 409: {}})
    async def reply(request_id: str, body: TextIn, session: NetworkChanging) -> RequestDetail:
        """A message to the member's chat (only by the holder)."""
        return await requests.reply(session.operator, request_id, body.text)

    @router.post(PREFIX + "/{request_id}/notes", responses={403: {}, 404: {}})
    async def note(request_id: str, body: TextIn, session: NetworkChanging) -> RequestDetail:
        """An internal note, never sent to the member."""
        return await requests.note(session.operator, request_id, body.text)

    @router.post(PREFIX + "/{request_id}/status", responses={403: {}, 404: {}, 409: {}})
    async def status(request_id: str, body: StatusIn, session: NetworkChanging) -> RequestDetail:
        """in_progress ⇄ answered, or closed (without an outcome); the member is told."""
        return await requests.status(session.operator, request_id, body.status)

    @router.post(PREFIX + "/{request_id}/outcome", responses={403: {}, 404: {}, 409: {}})
    async def outcome(request_id: str, body: OutcomeIn, session: NetworkChanging) -> RequestDetail:
        """Close with an outcome; the member is told (with the amount or months, and the message)."""
        cents = None if body.amount_euros is None else int(body.amount_euros * 100)
        return await requests.outcome(
            session.operator,
            request_id,
            body.outcome,
            amount_cents=cents,
            months=body.months,
            message=body.message,
        )

    return router
