"""The console's JSON API (``/api/console``) and live stream; documented in docs/CONSOLE.md.

Every route but login needs a session cookie (401 otherwise); every change needs the session's
CSRF token in ``X-CSRF-Token`` (403 otherwise).
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, Cookie, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from bot.console.auth import (
    DEVICE_DAYS,
    Accounts,
    DeviceCookies,
    Operator,
    Session,
    ThrottledError,
    csrf_matches,
)
from bot.console.service import Console, QueueFilter
from bot.dispatch import LINK_PREFIX, Dispatch
from bot.dispatch import OpticianIn as DispatchOpticianIn
from bot.throttle import KINDS, Throttle, client_address, throttle_of
from flows.lifecycle import CASE_STATES, OPEN_STATES

COOKIE = "optibot_console"
DEVICE_COOKIE = "optibot_device"  # the devices operators signed in from (bot/console/auth.py)
LOGIN_PATH = "/api/console/login"
KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 2.0  # changes made by another process are seen this often at worst
SESSION_CHECK_SECONDS = 5.0  # a stream ends this soon after its session does
TRAFFIC_SECONDS = 2.0  # the refused traffic is looked at this often at most
TRAFFIC_WINDOW = timedelta(hours=1)


class Wakeup:
    """Wakes the live streams after a commit (engine or console)."""

    def __init__(self) -> None:
        self._events: set[asyncio.Event] = set()

    def notify(self) -> None:
        for event in self._events:
            event.set()

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._events.add(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._events.discard(event)


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class OperatorOut(BaseModel):
    id: str
    name: str
    role: Literal["operator", "admin"]


class SessionOut(BaseModel):
    operator: OperatorOut
    csrf: str


class CaseSummary(BaseModel):
    id: str
    reference: str
    status: str
    kind: str
    need: str | None
    urgent: bool | None
    mode: str | None
    priority: str | None
    mobilised: bool
    department: str | None
    channel: str
    created_at: str
    waiting_s: int
    claimed_by: str | None
    overdue: bool
    reachable: bool
    no_taker: bool
    client_wrote_at: str | None = Field(description="The client wrote and no operator has answered yet.")
    reopened_at: str | None = Field(description="The client's message reopened the case (done or cancelled).")
    anonymised: bool = Field(description="The client's data was erased: an anonymous statistic remains.")


class Queue(BaseModel):
    cases: list[CaseSummary]
    overdue_after_s: int


class MessageOut(BaseModel):
    id: int
    direction: Literal["in", "out"]
    author: str
    operator: str | None
    text: str
    created_at: str
    sent_at: str | None
    failed_at: str | None
    error: str | None
    delivered_at: str | None = Field(description="WhatsApp: the client's phone received it.")
    read_at: str | None = Field(description="WhatsApp: the client opened it.")
    via: Literal["template"] | None = Field(
        description="template: sent as the approved template, outside WhatsApp's 24-hour window."
    )


class Consent(BaseModel):
    purpose: str
    wording_version: str
    given_at: str


class Prescription(BaseModel):
    url: str
    kind: Literal["image", "pdf"]


class Note(BaseModel):
    author: str
    text: str
    created_at: str


class ConversationOut(BaseModel):
    owner: str
    operator: str | None


class ReplyWindow(BaseModel):
    """WhatsApp's 24-hour customer-service window: inside it replies go out as they are written,
    outside it as the approved template (the client's answer opens it again)."""

    open: bool
    closes_at: str | None


class OpticianBrief(BaseModel):
    name: str
    phone: str


class Offer(BaseModel):
    optician: str
    status: Literal["offered", "accepted", "declined", "taken", "withdrawn", "failed"]
    round: int


class CaseDetail(CaseSummary):
    contact_name: str | None
    contact_phone: str | None
    address: str | None
    postal_code: str | None
    slot: str | None
    consent: Consent | None
    prescription: Prescription | None
    tracking_number: str | None
    tracking_url: str | None
    cancel_reason: str | None
    first_response_at: str | None
    done_at: str | None
    conversation: ConversationOut
    notes: list[Note]
    messages: list[MessageOut]
    mine: bool
    optician: OpticianBrief | None
    offers: list[Offer]
    window: ReplyWindow | None = Field(description="WhatsApp cases only.")


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class TrackingIn(BaseModel):
    number: str = Field(min_length=1, max_length=40)


class TransferIn(BaseModel):
    operator: str = Field(min_length=1, max_length=64)


class CannedIn(BaseModel):
    title: str = Field(min_length=1, max_length=80)
    text: str = Field(min_length=1, max_length=4000)


class Canned(BaseModel):
    id: str
    title: str
    text: str


class CannedList(BaseModel):
    replies: list[Canned]


class Operators(BaseModel):
    operators: list[OperatorOut]


class JournalLine(BaseModel):
    """Who did what to whose personal data, and when; never the data itself."""

    id: int
    at: str
    actor: str
    action: str
    detail: str | None
    case: str | None = Field(description="The case's reference, while it keeps its data.")
    case_id: str | None
    client_of: str | None = Field(description="A line about a client: their newest case kept.")
    anonymised: bool


class Journal(BaseModel):
    lines: list[JournalLine]
    before: int | None = Field(description="The next (older) page: ?before=<this>; null at the end.")


def _operator_out(operator: Operator) -> OperatorOut:
    return OperatorOut(id=operator.id, name=operator.name, role=operator.role)


class OpticianIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    phone: str = Field(min_length=1, max_length=40)
    departments: list[str] = Field(min_length=1, max_length=30)
    kit_expires_on: date | None = None
    active: bool = True
    available: bool = True


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


class OpticianList(BaseModel):
    opticians: list[OpticianOut]


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
    visits: Dispatch | None = None,
    bot_username: Callable[[], str | None] = lambda: None,
) -> APIRouter:
    router = APIRouter(prefix="/api/console", tags=["console"])
    devices = DeviceCookies(console.files.derived_key("console-device"), console.clock)

    async def signed_in(optibot_console: Annotated[str | None, Cookie()] = None) -> Session:
        session = await accounts.session(optibot_console)
        if session is None:
            raise HTTPException(401, "connectez-vous")
        return session

    async def changing(
        session: Annotated[Session, Depends(signed_in)],
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Session:
        if not csrf_matches(session, x_csrf_token):
            raise HTTPException(403, "jeton CSRF absent ou faux")
        return session

    SignedIn = Annotated[Session, Depends(signed_in)]  # noqa: N806 (a type alias)
    Changing = Annotated[Session, Depends(changing)]  # noqa: N806

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
    async def me(session: SignedIn) -> SessionOut:
        return SessionOut(operator=_operator_out(session.operator), csrf=session.csrf)

    @router.post("/logout", status_code=204)
    async def logout(session: Changing, response: Response) -> None:
        await accounts.logout(session)
        response.delete_cookie(COOKIE, path="/")

    @router.get("/cases")
    async def queue(
        session: SignedIn,
        status: Annotated[list[str] | None, Query()] = None,
        mode: Literal["visit", "shipment"] | None = None,
        department: Annotated[str | None, Query(max_length=3)] = None,
        mine: bool = False,
    ) -> Queue:
        """Open cases (or those of the given statuses): mobilised workers first, then the oldest."""
        statuses = [s for s in (status or OPEN_STATES) if s in CASE_STATES] or list(OPEN_STATES)
        wanted = QueueFilter(statuses, mode, department or None, mine)
        found = await console.queue(session.operator, wanted)
        return Queue(
            cases=[CaseSummary(**c) for c in found],
            overdue_after_s=int(console.overdue_after.total_seconds()),
        )

    @router.get("/cases/{case_id}")
    async def case(case_id: str, session: SignedIn) -> CaseDetail:
        """The case with its client's data: journaled (view_case, once per 10 minutes)."""
        return CaseDetail(**await console.case(session.operator, case_id, viewed=True))

    @router.post("/cases/{case_id}/claim", responses={409: {}})
    async def claim(case_id: str, session: Changing) -> CaseDetail:
        """Take a queued case: one conditional UPDATE, so of two operators only one wins."""
        return CaseDetail(**await console.claim(session.operator, case_id))

    @router.post("/cases/{case_id}/release")
    async def release(case_id: str, session: Changing) -> CaseDetail:
        return CaseDetail(**await console.release(session.operator, case_id))

    @router.post("/cases/{case_id}/transfer")
    async def transfer(case_id: str, body: TransferIn, session: Changing) -> CaseDetail:
        target = next((o for o in await accounts.active() if o.name == body.operator), None)
        if target is None:
            raise HTTPException(422, "conseiller inconnu")
        return CaseDetail(**await console.transfer(session.operator, case_id, target))

    @router.post("/cases/{case_id}/handback")
    async def handback(case_id: str, session: Changing) -> CaseDetail:
        return CaseDetail(**await console.handback(session.operator, case_id))

    @router.post("/cases/{case_id}/reply")
    async def reply(case_id: str, body: TextIn, session: Changing) -> CaseDetail:
        """A message to the client, on their channel (through the outbox)."""
        return CaseDetail(**await console.reply(session.operator, case_id, body.text))

    @router.post("/cases/{case_id}/notes")
    async def note(case_id: str, body: TextIn, session: Changing) -> CaseDetail:
        """An internal note: never sent to the client."""
        return CaseDetail(**await console.note(session.operator, case_id, body.text))

    @router.post("/cases/{case_id}/tracking")
    async def tracking(case_id: str, body: TrackingIn, session: Changing) -> CaseDetail:
        return CaseDetail(**await console.tracking(session.operator, case_id, body.number))

    @router.post("/cases/{case_id}/dispatch")
    async def dispatch(case_id: str, session: Changing) -> CaseDetail:
        return CaseDetail(**await console.dispatch(session.operator, case_id))

    @router.post("/cases/{case_id}/done")
    async def done(case_id: str, session: Changing) -> CaseDetail:
        return CaseDetail(**await console.done(session.operator, case_id))

    @router.post("/cases/{case_id}/cancel")
    async def cancel(case_id: str, body: ReasonIn, session: Changing) -> CaseDetail:
        return CaseDetail(**await console.cancel(session.operator, case_id, body.reason))

    @router.get("/cases/{case_id}/prescription", response_class=Response)
    async def prescription(case_id: str, session: SignedIn) -> Response:
        """The prescription file, for staff only, never rendered as a page of its own."""
        content, kind = await console.prescription(session.operator, case_id)
        media = {".jpg": "image/jpeg", ".png": "image/png", ".pdf": "application/pdf"}[kind]
        disposition = "inline" if kind != ".pdf" else "attachment"
        return Response(
            content,
            media_type=media,
            headers={
                "Content-Disposition": f'{disposition}; filename="prescription{kind}"',
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, no-store",
            },
        )

    @router.post("/cases/{case_id}/widen")
    async def widen(case_id: str, session: Changing) -> CaseDetail:
        """Nobody took the visit: offer it to the neighbouring departments too."""
        return CaseDetail(**await console.widen(session.operator, case_id))

    @router.post("/cases/{case_id}/to_shipment")
    async def to_shipment(case_id: str, session: Changing) -> CaseDetail:
        """With the client's agreement: the visit becomes a shipment (offers withdrawn)."""
        return CaseDetail(**await console.to_shipment(session.operator, case_id))

    @router.post("/cases/{case_id}/erase", responses={403: {}, 409: {}})
    async def erase(case_id: str, session: Changing) -> CaseDetail:
        """Admins: erase the case's client (a live case is cancelled); the anonymised case."""
        return CaseDetail(**await console.erase(session.operator, case_id))

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
        return Journal(**await console.journal(session.operator, before))

    def registry() -> Dispatch:
        if visits is None:
            raise HTTPException(404, "pas de visites à domicile")
        return visits

    def admin(session: Session) -> None:
        if not session.operator.admin:
            raise HTTPException(403, "réservé aux administrateurs")

    async def save(optician_id: str | None, body: OpticianIn) -> OpticianOut:
        given = DispatchOpticianIn(
            body.name, body.phone, body.departments, body.kit_expires_on, body.active, body.available
        )
        return OpticianOut(**await registry().save(optician_id, given))

    @router.get("/opticians")
    async def list_opticians(session: SignedIn) -> OpticianList:
        return OpticianList(opticians=[OpticianOut(**o) for o in await registry().opticians()])

    @router.post("/opticians", status_code=201)
    async def add_optician(body: OpticianIn, session: Changing) -> OpticianOut:
        admin(session)
        return await save(None, body)

    @router.put("/opticians/{optician_id}")
    async def change_optician(optician_id: str, body: OpticianIn, session: Changing) -> OpticianOut:
        admin(session)
        return await save(optician_id, body)

    @router.post("/opticians/{optician_id}/link")
    async def link_optician(optician_id: str, session: Changing) -> LinkOut:
        """A one-time code linking the optician's Telegram (valid 24 h), as a link and a QR code."""
        admin(session)
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
        return CannedList(replies=[Canned(**c) for c in await console.canned()])

    @router.post("/canned", status_code=201)
    async def add_canned(body: CannedIn, session: Changing) -> Canned:
        return Canned(**await console.add_canned(session.operator, body.title, body.text))

    @router.delete("/canned/{reply_id}", status_code=204)
    async def delete_canned(reply_id: str, session: Changing) -> None:
        await console.delete_canned(session.operator, reply_id)

    @router.get("/events", response_class=StreamingResponse)
    async def events(
        request: Request, session: SignedIn, case: Annotated[str | None, Query(max_length=64)] = None
    ) -> StreamingResponse:
        """Server-Sent Events: ``ready`` once the stream's starting point is taken (anything after
        it is told); ``queue`` when cases may have changed; with ``case``, ``message`` for each new
        message of its conversation and ``case`` when the case changed."""
        token = request.cookies.get(COOKIE)

        async def still_signed_in() -> bool:
            return await accounts.session(token) is not None

        return StreamingResponse(
            _stream(request, console, wakeup, case, still_signed_in, session.operator, throttle_of(request)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


async def _stream(
    request: Request,
    console: Console,
    wakeup: Wakeup,
    case: str | None,
    still_signed_in: Callable[[], Awaitable[bool]],
    me: Operator,
    throttle: Throttle,
) -> AsyncIterator[str]:
    """Until the browser goes, or its session ends (logout, expiry, account disabled).

    ``traffic`` tells what was refused in the last hour (when some was, then when it changes)."""
    wake = wakeup.subscribe()
    try:
        yield "retry: 2000\n\n"
        traffic: dict[str, object] = {"refused": dict.fromkeys(KINDS, 0), "set_aside": 0}
        traffic_at = -TRAFFIC_SECONDS
        version = await console.version(case)
        written = console.clock()  # the holder hears of what clients write from now on
        cursor = 0
        if case is not None:
            existing = await console.messages_after(case, 0)
            cursor = existing[-1]["id"] if existing else 0
        # From here on, every change is told: what came before is in what the browser fetches.
        yield "event: ready\ndata: {}\n\n"
        idle = 0.0
        checked = time.monotonic()
        while not await request.is_disconnected():
            try:
                await asyncio.wait_for(wake.wait(), POLL_SECONDS)
            except TimeoutError:
                idle += POLL_SECONDS
            wake.clear()
            if time.monotonic() - checked >= SESSION_CHECK_SECONDS:
                checked = time.monotonic()
                if not await still_signed_in():
                    yield "event: signed_out\ndata: {}\n\n"
                    return
            now = await console.version(case)
            if case is not None:
                for message in await console.messages_after(case, cursor):
                    cursor = message["id"]
                    yield f"event: message\ndata: {json.dumps(message, ensure_ascii=False)}\n\n"
            if now[0] != version[0]:
                yield "event: queue\ndata: {}\n\n"
                # A client writing touches their case: its holder (or last holder) is told.
                for news in await console.written_since(me, written):
                    written = news["at"]
                    data = {"id": news["id"], "reference": news["reference"]}
                    yield f"event: client_wrote\ndata: {json.dumps(data)}\n\n"
            if now[1] != version[1]:
                yield "event: case\ndata: {}\n\n"
            if time.monotonic() - traffic_at >= TRAFFIC_SECONDS:
                traffic_at = time.monotonic()
                seen = {
                    "refused": await throttle.refused_last_hour(),
                    "set_aside": await console.set_aside_since(console.clock() - TRAFFIC_WINDOW),
                }
                if seen != traffic:
                    traffic = seen
                    yield f"event: traffic\ndata: {json.dumps(seen)}\n\n"
            if now != version:
                idle = 0.0
                version = now
            elif idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keepalive\n\n"
    finally:
        wakeup.unsubscribe(wake)


def _too_many(retry_after: int) -> HTTPException:
    return HTTPException(429, "trop de tentatives", headers={"Retry-After": str(retry_after)})
