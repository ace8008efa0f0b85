"""A fake WhatsApp Cloud API (Graph API) server for tests, spoken to by our real httpx client.

It serves, on 127.0.0.1, what https://graph.facebook.com/<version> serves for one business phone number:
``POST /<version>/<phone_number_id>/messages`` (sends, and "mark as read" with the typing indicator),
``POST /<version>/<phone_number_id>/media`` (uploads), ``GET /<version>/<media_id>`` (media metadata) and
the lookaside download URL it points to, ``GET /<version>/<phone_number_id>`` (the number's node) and
``GET /<version>/<waba_id>/message_templates`` (the account's templates, ``template_statuses``).
Every call needs ``Authorization: Bearer <token>``; errors are Graph's ``{"error": {"message":
"(#<code>) <title>", "type": "OAuthException", "code", "error_data": {"messaging_product": "whatsapp",
"details"}, "fbtrace_id"}}`` with the HTTP status Meta uses for the code.
The test plays the WhatsApp users (``say``, ``press``, ``send_image``...): each builds a real-shaped
``messages`` webhook, signs it (``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body>``) and POSTs it
to ``webhook_url``, re-delivering after ``retry_delays`` on a non-2xx answer or a connection error. Every
accepted send is followed by ``statuses`` webhooks (``sent`` then ``delivered``).

Faithful: the limits of text, reply-button, list and template messages, with Meta's codes, and Meta's own
``details`` where they are known (131009 "Button title length invalid. Min length: 1, Max length: 20",
"Invalid buttons count...", 132018 "Param text cannot have new-line/tab characters..."; the others are
written in the same style); token errors (190) carry no ``error_data``, as Graph's; the customer-service
window (24 h after the user's last message, on the fake's own clock): a free-form message outside it is
accepted (200, a wamid) and then fails with a ``failed`` status carrying error 131047, as the Cloud API
does (a synchronous 400 is available with ``window_error="sync"``); business-scoped user ids (BSUID:
``contacts[].user_id``, ``messages[].from_user_id``, ``statuses[].recipient_user_id``, sends with
``recipient`` instead of ``to``, ``to`` winning when both are given); webhook bodies escaped like Meta's
(non-ASCII as ``\\uXXXX``, ``/`` as ``\\/``), so a signature checked on re-serialised JSON fails here too.

Deliberate simplifications: one business number and WABA; only ``button`` and ``list`` interactive
messages; template texts are not known, only their number of body parameters (per-parameter length
checked, not the hydrated text); media sends need a media id uploaded to (or registered in) the fake;
statuses arrive right after the send (no network delay, no ``delivered`` skipped for ``read``); pricing is
the per-message model (no ``conversation`` object); Meta's 7-day retry schedule is ``retry_delays``.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterable
from typing import Literal

from aiohttp import web

from tests.fakes.server import ClientGoneError, Faults, Json
from tests.fakes.whatsapp.api import (
    APP_SECRET,
    BSUID,
    DEFAULT_TEMPLATES,
    DELIVERY_STATUSES,
    DISPLAY_PHONE_NUMBER,
    PAIR_RATE_SECONDS,
    PHONE_DIGITS,
    PHONE_NUMBER_ID,
    TOKEN,
    VERSION,
    WABA_ID,
    GraphError,
    invalid,
    missing,
    new_wamid,
    unknown_object,
)
from tests.fakes.whatsapp.business import phone_number_node, template_page
from tests.fakes.whatsapp.checks import check_message
from tests.fakes.whatsapp.records import ApiCall, Fault, SentMessage
from tests.fakes.whatsapp.users import WhatsAppUsers


class FakeWhatsApp(WhatsAppUsers):
    """The Cloud API for one business phone number; see the module docstring."""

    def __init__(
        self,
        *,
        access_token: str = TOKEN,
        app_secret: str = APP_SECRET,
        phone_number_id: str = PHONE_NUMBER_ID,
        display_phone_number: str = DISPLAY_PHONE_NUMBER,
        version: str = VERSION,
        templates: dict[tuple[str, str], int] | None = None,
        waba_id: str = WABA_ID,
        webhook_url: str | None = None,
        retry_delays: Iterable[float] = (0.2, 0.5, 1.0, 2.0, 4.0),
        window_error: Literal["status", "sync"] = "status",
        webhook_timeout: float = 10.0,
        status_delay: float = 0.01,
        auto_statuses: tuple[str, ...] = DELIVERY_STATUSES,
        pair_rate_limit: int | None = None,
    ) -> None:
        """``auto_statuses``: the statuses pushed after an accepted send in the window;
        ``pair_rate_limit``: max messages to one user per 6 s of real time (beyond: 131056), None for
        no limit."""
        super().__init__(
            app_secret=app_secret,
            phone_number_id=phone_number_id,
            display_phone_number=display_phone_number,
            webhook_url=webhook_url,
            retry_delays=retry_delays,
            status_delay=status_delay,
            webhook_timeout=webhook_timeout,
        )
        self.access_token = access_token
        self.version = version
        self.templates = dict(DEFAULT_TEMPLATES if templates is None else templates)
        # (name, language) -> status in the account's listing (absent: APPROVED); sends ignore it
        self.template_statuses: dict[tuple[str, str], str] = {}
        self.waba_id = waba_id
        self.window_error = window_error
        self.auto_statuses = auto_statuses
        self.pair_rate_limit = pair_rate_limit
        self.base_url = ""
        self.requests: list[ApiCall] = []
        self.read_marks: list[str] = []
        self.typing: list[str] = []
        self.media_downloads = 0
        self._pair_sends: dict[str, deque[float]] = {}
        self._faults: Faults[Fault] = Faults()
        self._hangs: Faults[Fault] = Faults()
        self._failed_statuses: Faults[Fault] = Faults()
        self._media_faults: Faults[Fault] = Faults()
        self._upload_faults: Faults[Fault] = Faults()

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/media/{opaque}", self._handle_download)
        router.add_route("*", "/{path:.*}", self._handle_graph)

    async def _serving(self) -> None:
        self.base_url = f"{self.root_url}/{self.version}"

    # -- what the business did ---------------------------------------------------------------------------

    def calls(self, method: str = "POST", path_suffix: str = "/messages") -> list[ApiCall]:
        return [c for c in self.requests if c.method == method and c.path.endswith(path_suffix)]

    def describe(self) -> str:
        """A short account of the recent traffic, for failure messages."""
        lines = [f"webhook_url: {self.webhook_url}; fake clock offset: {self._offset:.0f} s"]
        lines += [
            f"  {c.method} {c.path} -> {c.status} {c.error_code or ''}".rstrip() for c in self.requests[-10:]
        ]
        lines += [
            f"  sent to {m.user} [{m.status}] {m.type}: {m.text[:70]!r} buttons={len(m.buttons)}"
            for m in self.sent[-6:]
        ]
        if self.webhook_attempts:
            lines.append(f"  webhook attempts: {self.webhook_attempts[-6:]}")
        return "\n".join(lines)

    # -- faults ------------------------------------------------------------------------------------------

    def fail_next(
        self,
        code: int,
        *,
        count: int = 1,
        status: int | None = None,
        details: str | None = None,
        after: int = 0,
    ) -> None:
        """The next ``count`` sends answer Graph error ``code`` (with Meta's HTTP status unless given);
        with ``after``, once that many sends went through first."""
        self._faults.add(Fault(count=count, code=code, status=status, details=details, skip=after))

    def hang_next(self, seconds: float, *, count: int = 1, deliver: bool = False) -> None:
        """The next ``count`` sends wait ``seconds`` before being handled.

        A client that gave up meanwhile gets nothing sent (recorded with status 499), unless ``deliver``:
        then the message goes out anyway, like a send whose answer was lost on the way back.
        """
        self._hangs.add(Fault(count=count, seconds=seconds, deliver=deliver))

    def fail_delivery_next(self, code: int = 131026, *, count: int = 1, details: str | None = None) -> None:
        """The next ``count`` accepted sends get a ``failed`` status with ``code``, not delivered."""
        self._failed_statuses.add(Fault(count=count, code=code, details=details))

    def fail_media_next(self, *, count: int = 1, status: int = 500) -> None:
        """The next ``count`` media downloads answer ``status``: 500 like a lookaside hiccup, 429
        when downloads come too fast."""
        self._media_faults.add(Fault(count=count, status=status))

    def fail_upload_next(self, code: int = 131053, *, count: int = 1, status: int | None = None) -> None:
        """The next ``count`` media uploads answer Graph error ``code`` (131053: media upload error)."""
        self._upload_faults.add(Fault(count=count, code=code, status=status))

    # -- HTTP ----------------------------------------------------------------------------------------------

    async def _handle_graph(self, request: web.Request) -> web.StreamResponse:
        body: Json | None = None
        if request.body_exists and request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                loaded = await request.json()
                body = loaded if isinstance(loaded, dict) else {"_": loaded}
        call = ApiCall(request.method, request.path, body, time.monotonic())
        self.requests.append(call)

        async def handle() -> Json:
            self._check_token(request)
            return await self._route(request, call)

        return await self._answer(call, handle)

    def _check_token(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        token = (
            header[7:].strip() if header.lower().startswith("bearer ") else request.query.get("access_token")
        )
        if not token:
            raise GraphError(
                190,
                message="An active access token must be used to query information about the current user.",
            )
        if token != self.access_token:
            raise GraphError(190)

    async def _route(self, request: web.Request, call: ApiCall) -> Json:
        parts = [part for part in request.path.split("/") if part]
        if len(parts) < 2 or parts[0] != self.version:
            raise GraphError(2500, message=f"Unknown path components: {request.path}")
        target, rest = parts[1], parts[2:]
        if request.method == "GET" and not rest and target == self.phone_number_id:
            return phone_number_node(target, self.display_phone_number, request.query.get("fields"))
        if request.method == "GET" and rest == ["message_templates"]:
            if target != self.waba_id:
                raise unknown_object(target, "get")
            return template_page(self.templates, self.template_statuses, dict(request.query))
        if request.method == "GET" and not rest:
            return self._media_info(target)
        if request.method == "POST" and rest in (["messages"], ["media"]):
            if target != self.phone_number_id:
                raise unknown_object(target, "post")
            if rest == ["media"]:
                return await self._upload(request)
            if call.json is None:
                raise GraphError(100, "Request body must be a JSON object.")
            if call.json.get("status") is not None:
                return self._mark_read(call.json)
            return await self._send(call.json, request)
        raise GraphError(2500, message=f"Unknown path components: /{'/'.join(rest) or target}")

    def _media_info(self, media_id: str) -> Json:
        media = self.media.get(media_id)
        if media is None:
            raise unknown_object(media_id, "get")
        extension = media.mime_type.split("/")[-1].split(";")[0]
        query = f"mid={media.media_id}&ext={extension}&hash={media.sha256[:24]}"
        return {
            "messaging_product": "whatsapp",
            "url": f"{self.root_url}/media/{media.opaque}?{query}",
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": len(media.content),
            "id": media.media_id,
        }

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        media = next((m for m in self.media.values() if m.opaque == request.match_info["opaque"]), None)
        header = request.headers.get("Authorization", "")
        call = ApiCall(request.method, request.path, None, time.monotonic())
        self.requests.append(call)
        if header != f"Bearer {self.access_token}":
            call.status = 401
            return web.Response(status=401, text="Unauthorized")
        if media is None or request.method != "GET":
            call.status = 404
            return web.Response(status=404, text="Not Found")
        fault = self._media_faults.take()
        if fault is not None:
            call.status = fault.status or 500
            return web.Response(status=call.status, text="Media download refused")
        self.media_downloads += 1
        call.status = 200
        return web.Response(body=media.content, headers={"Content-Type": media.mime_type})

    async def _upload(self, request: web.Request) -> Json:
        fault = self._upload_faults.take()
        if fault is not None:
            raise GraphError(fault.code, fault.details, status=fault.status)
        if request.content_type != "multipart/form-data":
            raise missing("file")
        form = await request.post()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp":
            raise missing("messaging_product")
        if not isinstance(upload, web.FileField):
            raise missing("file")
        mime_type = str(form.get("type") or upload.content_type)
        return {"id": self.add_media(upload.file.read(), mime_type, filename=upload.filename)}

    def _mark_read(self, body: Json) -> Json:
        if body.get("messaging_product") != "whatsapp":
            raise GraphError(100, "The parameter messaging_product is required.")
        if body.get("status") != "read":
            raise GraphError(100, "Param status must be one of {READ}")
        message_id = body.get("message_id")
        if not message_id:
            raise missing("message_id")
        if message_id not in self._inbound:
            raise GraphError(100, f"Invalid message_id: {message_id}")
        indicator = body.get("typing_indicator")
        if indicator is not None:
            if not isinstance(indicator, dict) or indicator.get("type") != "text":
                raise invalid("Param typing_indicator['type'] must be one of {TEXT}")
            self.typing.append(message_id)
        self.read_marks.append(message_id)
        return {"success": True}

    async def _send(self, body: Json, request: web.Request) -> Json:
        hang = self._hangs.take()
        if hang is not None:
            await self._hold(hang.seconds)
            if not hang.deliver and self._caller_left(request):
                raise ClientGoneError
        if (first := self._faults.first()) is not None and first.skip > 0:
            first.skip -= 1
        else:
            fault = self._faults.take()
            if fault is not None:
                raise GraphError(fault.code, fault.details, status=fault.status)
        user, wa_id, user_id, contact = self._recipient(body)
        kind = check_message(body, self.templates, self.media)
        template = body["template"]["name"] if kind == "template" else None
        person = wa_id or user
        if self.pair_rate_limit is not None:
            sends = self._pair_sends.setdefault(person, deque())
            moment = time.monotonic()
            while sends and sends[0] <= moment - PAIR_RATE_SECONDS:
                sends.popleft()
            if len(sends) >= self.pair_rate_limit:
                raise GraphError(131056)
            sends.append(moment)
        open_window = self.window_open(person)
        if kind != "template" and not open_window and self.window_error == "sync":
            raise GraphError(131047)
        message = SentMessage(
            user=user,
            type=kind,
            body=body,
            wamid=new_wamid(wa_id or ""),
            at=self.now(),
            template=template,
            wa_id=wa_id,
            user_id=user_id,
        )
        self.sent.append(message)
        statuses: list[tuple[str, GraphError | None]]
        if kind != "template" and not open_window:
            statuses = [("failed", GraphError(131047))]
        elif (failure := self._failed_statuses.take()) is not None:
            statuses = [("failed", GraphError(failure.code, failure.details))]
        else:
            statuses = [(status, None) for status in self.auto_statuses]
        self._spawn(self._push_statuses(message, statuses))
        answer: Json = {
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{"id": message.wamid}],
        }
        if kind == "template":
            answer["messages"][0]["message_status"] = "accepted"
        return answer

    # -- validation ----------------------------------------------------------------------------------------

    def _recipient(self, body: Json) -> tuple[str, str | None, str | None, Json]:
        """(user as given, wa_id, BSUID, the response's contact) of a send."""
        if body.get("messaging_product") is None:
            raise GraphError(100, "The parameter messaging_product is required.")
        if body["messaging_product"] != "whatsapp":
            raise GraphError(
                100,
                f'Param messaging_product must be one of {{WHATSAPP}} - got "{body["messaging_product"]}".',
            )
        if body.get("recipient_type", "individual") != "individual":
            raise GraphError(100, "Param recipient_type must be one of {INDIVIDUAL, GROUP}")
        to, recipient = body.get("to"), body.get("recipient")
        if to:
            if not isinstance(to, str) or not PHONE_DIGITS.fullmatch(to):
                raise invalid(f"Invalid phone number: {to}")
            wa_id = to.lstrip("+")
            return to, wa_id, self._bsuid_of.get(wa_id), {"input": to, "wa_id": wa_id}
        if recipient:
            if not isinstance(recipient, str) or not BSUID.fullmatch(recipient):
                raise invalid(f"Invalid recipient: {recipient}")
            return (
                recipient,
                self._phone_of.get(recipient),
                recipient,
                {"input": recipient, "user_id": recipient},
            )
        raise GraphError(100, "The parameter to is required.")
