"""The console's JSON API (``/api/console``) and live stream; documented in docs/CONSOLE.md.

Every route but login needs a session cookie (401 otherwise); every change needs the session's
CSRF token in ``X-CSRF-Token`` (403 otherwise).
"""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from bot.console.auth import (
    DEVICE_DAYS,
    Accounts,
    DeviceCookies,
    Operator,
    Role,
    ThrottledError,
)
from bot.console.canned import MAX_TITLE
from bot.console.checks import MAX_OPERATOR_TEXT
from bot.console.guards import Changing, SignedIn, StaffChanging, StaffSignedIn, require_admin
from bot.console.live import Wakeup as Wakeup  # the composition root builds it (bot/app.py)
from bot.console.live import live_events
from bot.console.queries import MAX_QUEUE_PAGE, QUEUE_PAGE
from bot.console.service import Console, QueueFilter
from bot.console.views import Canned, CaseDetail, CaseSummary, Journal
from bot.desk import LINK_PREFIX
from bot.dispatch import Dispatch, OpticianDetails
from bot.throttle import client_address, throttle_of
from flows.lifecycle import CASE_STATES, OPEN_STATES
from storage.files import MEDIA_TYPES

COOKIE = "optibot_console"
DEVICE_COOKIE = "optibot_device"  # the devices operators signed in from (bot/console/auth.py)
LOGIN_PATH = "/api/console/login"


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class OperatorOut(BaseModel):
    id: str
    name: str
    role: Role


class SessionOut(BaseModel):
    operator: OperatorOut
    csrf: str


class Queue(BaseModel):
    cases: list[CaseSummary]
    overdue_after_s: int
    next: str | None = Field(None, description="The next page: ?after=<this>; null at the end.")


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_OPERATOR_TEXT)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=MAX_OPERATOR_TEXT)


class TrackingIn(BaseModel):
    number: str = Field(min_length=1, max_length=40)


class TransferIn(BaseModel):
    operator: str = Field(min_length=1, max_length=64)


class CannedIn(BaseModel):
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    text: str = Field(min_length=1, max_length=MAX_OPERATOR_TEXT)


class CannedList(BaseModel):
    replies: list[Canned]


class Operators(BaseModel):
    operators: list[OperatorOut]


def _operator_out(operator: Operator) -> OperatorOut:
    return OperatorOut(id=operator.id, name=operator.name, role=operator.role)


class OpticianIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    phone: str = Field(min_length=1, max_length=40)
    departments: list[str] = Field(min_length=1, max_length=30)
    kit_expires_on: date | None = None
    active: bool = True
    available: bool = True
    # The WhatsApp number whose messages are this optician's (issue 16): any French or international
    # spelling, kept as digits with the country code; "" or null: none.
    whatsapp: str | None = Field(default=None, max_length=40)


class OpticianOut(BaseModel):
    id: str
    name: str
    phone: str
    departments: list[str]
    kit_expires_on: str | None
    kit_valid: bool
    active: bool
    available: bool
    linked: bool
    whatsapp: str | None  # WhatsApp's wa_id: digits with the country code ("33612345678")


class OpticianList(BaseModel):
    opticians: list[OpticianOut]


class KitOut(BaseModel):
    id: str
    name: str
    departments: list[str]
    kit_expires_on: str
    days_left: int  # negative once expired
    expired: bool
    active: bool
    linked: bool
    reminded: Literal["14_days", "3_days", "expired"] | None  # the last reminder for this date


class KitList(BaseModel):
    within: int
    kits: list[KitOut]


class LinkOut(BaseModel):
    link: str | None  # None until the bot's name is known (Telegram not configured or not reached)
    command: str  # what the optician can also type: /start optician_<code>
    qr: str | None  # the link as a QR code (an SVG data URI)
    expires_at: str


def build_router(
    accounts: Accounts,
    console: Console,
    wakeup: Wakeup,
    *,
    secure_cookie: bool,
    opticians: Dispatch | None = None,
    bot_username: Callable[[], str | None] = lambda: None,
) -> APIRouter:
    router = APIRouter(prefix="/api/console", tags=["console"])
    devices = DeviceCookies(console.files.derived_key("console-device"), console.clock)

    @router.post("/login", responses={401: {}, 429: {}})
    async def login(body: LoginIn, request: Request, response: Response) -> SessionOut:
        """Sign in; sets the session cookie and the device cookie. Wrong name or password: 401
        (the same for both). Too many failures (per name, address or device): 429."""
        throttle = throttle_of(request)
        device = devices.read(request.cookies.get(DEVICE_COOKIE))
        if device is not None:
            wait = await throttle.device_attempt(device.id)
            if wait is not None:
                raise _too_many(wait)
        try:
            found = await accounts.login(body.name, body.password, client_address(request), device)
        except ThrottledError as error:
            await throttle.refused("login")
            raise _too_many(error.retry_after) from None
        if found is None:
            raise HTTPException(401, "nom ou mot de passe incorrect")
        token, session = found
        if device is not None:
            await throttle.device_signed_in(device.id)
        secure = secure_cookie or request.url.scheme == "https"
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=secure,
            max_age=int(accounts.session_length.total_seconds()),
            path="/",
        )
        response.set_cookie(
            DEVICE_COOKIE,
            devices.issue(device, session.operator),
            httponly=True,
            samesite="strict",
            secure=secure,
            max_age=DEVICE_DAYS * 86400,
            path=LOGIN_PATH,
        )
        return SessionOut(operator=_operator_out(session.operator), csrf=session.csrf)

    @router.get("/me")
    async def me(session: StaffSignedIn) -> SessionOut:
        """Who is signed in, with their role: the page shows the client side, the members' desk
        (``network``), or both (``admin``)."""
        return SessionOut(operator=_operator_out(session.operator), csrf=session.csrf)

    @router.post("/logout", status_code=204)
    async def logout(session: StaffChanging, response: Response) -> None:
        await accounts.logout(session)
        response.delete_cookie(COOKIE, path="/")

    @router.get("/cases")
    async def queue(
        session: SignedIn,
        status: Annotated[list[str] | None, Query()] = None,
        mode: Literal["visit", "shipment"] | None = None,
        department: Annotated[str | None, Query(max_length=3)] = None,
        mine: bool = False,
        after: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_QUEUE_PAGE)] = QUEUE_PAGE,
    ) -> Queue:
        """Open cases (or those of the given statuses): mobilised workers first, then the oldest;
        ``limit`` of them, after the cursor ``after`` (the previous page's ``next``)."""
        statuses = [s for s in (status or OPEN_STATES) if s in CASE_STATES] or list(OPEN_STATES)
        wanted = QueueFilter(statuses, mode, department or None, mine)
        page = await console.queue_page(session.operator, wanted, after, limit)
        return Queue(
            cases=page.cases,
            overdue_after_s=int(console.overdue_after.total_seconds()),
            next=page.next,
        )

    @router.get("/cases/{case_id}")
    async def case(case_id: str, session: SignedIn) -> CaseDetail:
        """The case with its client's data: journaled (view_case, once per 10 minutes)."""
        return await console.case(session.operator, case_id, viewed=True)

    @router.post("/cases/{case_id}/claim", responses={409: {}})
    async def claim(case_id: str, session: Changing) -> CaseDetail:
        """Take a queued case: one conditional UPDATE, so of two operators only one wins."""
        return await console.claim(session.operator, case_id)

    @router.post("/cases/{case_id}/release")
    async def release(case_id: str, session: Changing) -> CaseDetail:
        return await console.release(session.operator, case_id)

    @router.post("/cases/{case_id}/transfer")
    async def transfer(case_id: str, body: TransferIn, session: Changing) -> CaseDetail:
        target = next((o for o in await accounts.active() if o.name == body.operator), None)
        if target is None:
            raise HTTPException(422, "conseiller inconnu")
        return await console.transfer(session.operator, case_id, target)

    @router.post("/cases/{case_id}/handback")
    async def handback(case_id: str, session: Changing) -> CaseDetail:
        return await console.handback(session.operator, case_id)

    @router.post("/cases/{case_id}/reply")
    async def reply(case_id: str, body: TextIn, session: Changing) -> CaseDetail:
        """A message to the client, on their channel (through the outbox)."""
        return await console.reply(session.operator, case_id, body.text)

    @router.post("/cases/{case_id}/notes")
    async def note(case_id: str, body: TextIn, session: Changing) -> CaseDetail:
        """An internal note: never sent to the client."""
        return await console.note(session.operator, case_id, body.text)

    @router.post("/cases/{case_id}/tracking")
    async def tracking(case_id: str, body: TrackingIn, session: Changing) -> CaseDetail:
        return await console.tracking(session.operator, case_id, body.number)

    @router.post("/cases/{case_id}/dispatch")
    async def dispatch(case_id: str, session: Changing) -> CaseDetail:
        return await console.dispatch(session.operator, case_id)

    @router.post("/cases/{case_id}/done")
    async def done(case_id: str, session: Changing) -> CaseDetail:
        return await console.done(session.operator, case_id)

    @router.post("/cases/{case_id}/cancel")
    async def cancel(case_id: str, body: ReasonIn, session: Changing) -> CaseDetail:
        return await console.cancel(session.operator, case_id, body.reason)

    @router.get("/cases/{case_id}/prescription", response_class=Response)
    async def prescription(case_id: str, session: SignedIn) -> Response:
        """The prescription file, for staff only, never rendered as a page of its own."""
        content, kind = await console.prescription(session.operator, case_id)
        return _case_file(content, kind, "prescription")

    @router.get("/cases/{case_id}/insurance-card", response_class=Response)
    async def insurance_card(case_id: str, session: SignedIn) -> Response:
        """The photo of the client's insurance card, for staff only, like the prescription."""
        content, kind = await console.insurance_card(session.operator, case_id)
        return _case_file(content, kind, "carte-mutuelle")

    @router.post("/cases/{case_id}/widen")
    async def widen(case_id: str, session: Changing) -> CaseDetail:
        """Nobody took the visit: offer it to the neighbouring departments too."""
        return await console.widen(session.operator, case_id)

    @router.post("/cases/{case_id}/to_shipment")
    async def to_shipment(case_id: str, session: Changing) -> CaseDetail:
        """With the client's agreement: the visit becomes a shipment (offers withdrawn)."""
        return await console.to_shipment(session.operator, case_id)

    @router.post("/cases/{case_id}/erase", responses={403: {}, 409: {}})
    async def erase(case_id: str, session: Changing) -> CaseDetail:
        """Admins: erase the case's client (a live case is cancelled); the anonymised case."""
        return await console.erase(session.operator, case_id)

    @router.get("/cases/{case_id}/export", response_class=Response, responses={403: {}})
    async def export(case_id: str, session: SignedIn) -> Response:
        """Admins: everything stored about the case's client, as a JSON download (journaled)."""
        content, filename = await console.export(session.operator, case_id)
        return Response(
            content,
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @router.get("/journal", responses={403: {}})
    async def journal(session: SignedIn, before: Annotated[int | None, Query(ge=1)] = None) -> Journal:
        """Admins: the access journal, newest first, a page at a time."""
        return await console.journal(session.operator, before)

    def registry() -> Dispatch:
        if opticians is None:
            raise HTTPException(404, "pas de visites à domicile")
        return opticians

    async def save(optician_id: str | None, body: OpticianIn, request: Request) -> OpticianOut:
        given = OpticianDetails(
            body.name,
            body.phone,
            body.departments,
            body.kit_expires_on,
            body.active,
            body.available,
            body.whatsapp,
        )
        saved = OpticianOut(**await registry().save(optician_id, given))
        # A WhatsApp number linked or changed: this process's members' desk reads the numbers again.
        request.app.state.services.members.forget("whatsapp")
        return saved

    @router.get("/opticians")
    async def list_opticians(session: SignedIn) -> OpticianList:
        return OpticianList(opticians=[OpticianOut(**o) for o in await registry().opticians()])

    @router.get("/opticians/kits", responses={403: {}})
    async def kits_to_renew(session: SignedIn, within: Annotated[int, Query(ge=0, le=366)] = 14) -> KitList:
        """Admins: the opticians whose kit expires within ``within`` days or has expired, soonest
        first, with the last reminder they were sent about it."""
        require_admin(session)
        found = await registry().kits.to_renew(within)
        return KitList(
            within=within, kits=[KitOut.model_validate(kit, from_attributes=True) for kit in found]
        )

    @router.post("/opticians", status_code=201, responses={409: {}, 422: {}})
    async def add_optician(body: OpticianIn, session: Changing, request: Request) -> OpticianOut:
        """Admins: a new optician. A WhatsApp number not a phone number: 422; another optician's: 409."""
        require_admin(session)
        return await save(None, body, request)

    @router.put("/opticians/{optician_id}", responses={409: {}, 422: {}})
    async def change_optician(
        optician_id: str, body: OpticianIn, session: Changing, request: Request
    ) -> OpticianOut:
        """Admins: change an optician (the whole record, ``whatsapp`` included: left out, it is unset)."""
        require_admin(session)
        return await save(optician_id, body, request)

    @router.post("/opticians/{optician_id}/link")
    async def link_optician(optician_id: str, session: Changing) -> LinkOut:
        """A one-time code linking the optician's Telegram (valid 24 h), as a link and a QR code."""
        require_admin(session)
        code, expires = await registry().new_link(optician_id, session.operator.name)
        username = bot_username()
        link = f"https://t.me/{username}?start={LINK_PREFIX}{code}" if username else None
        qr = segno.make(link, error="m").svg_data_uri(scale=4) if link else None
        return LinkOut(
            link=link, command=f"/start {LINK_PREFIX}{code}", qr=qr, expires_at=expires.isoformat()
        )

    @router.get("/operators")
    async def operators(session: SignedIn) -> Operators:
        return Operators(operators=[_operator_out(o) for o in await accounts.active()])

    @router.get("/canned")
    async def canned(session: SignedIn) -> CannedList:
        return CannedList(replies=await console.canned())

    @router.post("/canned", status_code=201)
    async def add_canned(body: CannedIn, session: Changing) -> Canned:
        return await console.add_canned(session.operator, body.title, body.text)

    @router.delete("/canned/{reply_id}", status_code=204)
    async def delete_canned(reply_id: str, session: Changing) -> None:
        await console.delete_canned(session.operator, reply_id)

    @router.get("/events", response_class=StreamingResponse)
    async def events(
        request: Request, session: StaffSignedIn, case: Annotated[str | None, Query(max_length=64)] = None
    ) -> StreamingResponse:
        """Server-Sent Events: ``ready`` once the stream's starting point is taken (anything after
        it is told); ``queue`` when cases may have changed; with ``case``, ``message`` for each new
        message of its conversation and ``case`` when the case changed. Network staff and admins
        also hear ``member_requests`` (the Réseau queue changed); network staff hear nothing of
        client cases, operators nothing of members' requests (bot/console/live.py)."""
        token = request.cookies.get(COOKIE)

        async def still_signed_in() -> bool:
            return await accounts.session(token) is not None

        return StreamingResponse(
            live_events(
                request,
                console,
                wakeup,
                case,
                still_signed_in,
                session.operator,
                throttle_of(request),
                members=request.app.state.services.members.requests.queries,
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


def _too_many(retry_after: int) -> HTTPException:
    return HTTPException(429, "trop de tentatives", headers={"Retry-After": str(retry_after)})


def _case_file(content: bytes, kind: str, name: str) -> Response:
    """A file the client sent (its type checked), never rendered as a page of its own."""
    media = MEDIA_TYPES[kind]
    disposition = "inline" if kind != ".pdf" else "attachment"
    return Response(
        content,
        media_type=media,
        headers={
            "Content-Disposition": f'{disposition}; filename="{name}{kind}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
