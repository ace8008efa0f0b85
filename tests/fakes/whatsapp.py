"""A fake WhatsApp Cloud API (Graph API) server for tests, spoken to by our real httpx client.

It serves, on 127.0.0.1, what https://graph.facebook.com/<version> serves for one business phone number:
``POST /<version>/<phone_number_id>/messages`` (sends, and "mark as read" with the typing indicator),
``POST /<version>/<phone_number_id>/media`` (uploads), ``GET /<version>/<media_id>`` (media metadata) and
the lookaside download URL it points to. Every call needs ``Authorization: Bearer <token>``; errors are
Graph's ``{"error": {"message": "(#<code>) <title>", "type": "OAuthException", "code", "error_data":
{"messaging_product": "whatsapp", "details"}, "fbtrace_id"}}`` with the HTTP status Meta uses for the code.
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

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import string
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import ClientError, ClientSession, ClientTimeout, web

Json = dict[str, Any]

TOKEN = "EAAJfakeTOKENforTESTS0ptibotWhatsAppCloudApiZZ0123456789abcdefABCDEF"
APP_SECRET = "5f0c2e8a9b7d4c3e1f2a6b8c0d9e7f1a"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
VERIFY_TOKEN = "optibot-verify-token-7c1e"
DISPLAY_PHONE_NUMBER = "33100000000"
VERSION = "v25.0"
DEFAULT_TEMPLATES: dict[tuple[str, str], int] = {("optibot_suivi", "fr"): 1, ("optibot_follow_up", "en"): 1}

WINDOW_SECONDS = 24 * 3600
PAIR_RATE_SECONDS = 6.0
ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

MAX_TEXT = 4096
MAX_BUTTON_BODY = 1024
MAX_LIST_BODY = 4096
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_BUTTONS = 3
MAX_BUTTON_ID = 256
MAX_BUTTON_TITLE = 20
MAX_LIST_BUTTON = 20
MAX_SECTIONS = 10
MAX_SECTION_TITLE = 24
MAX_ROWS = 10
MAX_ROW_ID = 200
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_CAPTION = 1024
MAX_TEMPLATE_PARAM = 1024

#: Meta's title and HTTP status for each error code (the title goes into ``message``: "(#code) title")
ERRORS: dict[int, tuple[str, int]] = {
    100: ("Invalid parameter", 400),
    190: ("Invalid OAuth access token - Cannot parse access token", 401),
    130429: ("Rate limit hit", 429),
    131000: ("Something went wrong", 500),
    131005: ("Access denied", 403),
    131008: ("Required parameter is missing", 400),
    131009: ("Parameter value is not valid", 400),
    131016: ("Service unavailable", 503),
    131026: ("Message undeliverable", 400),
    131047: ("Re-engagement message", 400),
    131053: ("Media upload error", 400),
    131056: ("(Business Account, Consumer Account) pair rate limit hit", 400),
    132000: ("Number of parameters does not match the expected number of params", 400),
    132001: ("Template name does not exist in the translation", 404),
    132005: ("Template Hydrated Text Too Long", 400),
    132012: ("Parameter format does not match format in the created template", 400),
    132018: ("There was an issue with the parameters in your template.", 400),
}
#: the ``details`` Meta gives when nothing more precise is known
DEFAULT_DETAILS: dict[int, str] = {
    130429: "Cloud API message throughput has been reached.",
    131000: "Message failed to send due to an unknown error.",
    131016: "A service is temporarily unavailable.",
    131026: "Message Undeliverable.",
    131047: (
        "Message failed to send because more than 24 hours have passed since the customer last replied "
        "to this number."
    ),
    131056: (
        "Message failed to send because there were too many messages sent from this phone number to the "
        "same phone number in a short period of time."
    ),
}
#: Graph's own errors, which carry no WhatsApp ``error_data``
GRAPH_ONLY_CODES = frozenset({190, 2500})
PARAM_FORMAT = "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "sticker"})
SEND_TYPES = frozenset({"text", "interactive", "template", "reaction", "location", *MEDIA_TYPES})

_DIGITS = re.compile(r"\+?\d{6,15}")
_BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
_TRACE_ALPHABET = string.ascii_letters + string.digits + "_-"


class GraphError(Exception):
    """An error answer of the Graph API (``payload()`` is the JSON body, ``status`` the HTTP status)."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        status: int | None = None,
        message: str | None = None,
        error_type: str = "OAuthException",
        subcode: int | None = None,
    ) -> None:
        title, default_status = ERRORS.get(code, ("Unknown error", 400))
        self.code = code
        self.title = title
        self.details = details if details is not None else DEFAULT_DETAILS.get(code, title)
        self.status = status or default_status
        self.message = message or (title if code == 190 else f"(#{code}) {title}")
        self.error_type = error_type
        self.subcode = subcode
        super().__init__(f"{self.message}: {self.details}")

    def payload(self) -> Json:
        error: Json = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.error_type == "OAuthException" and self.code not in GRAPH_ONLY_CODES:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(23))
        return {"error": error}

    def webhook_error(self) -> Json:
        """The same error as it appears in a ``failed`` status webhook."""
        return {
            "code": self.code,
            "title": self.title,
            "message": self.title,
            "error_data": {"details": self.details},
            "href": ERROR_CODES_URL,
        }


def missing(parameter: str) -> GraphError:
    return GraphError(131008, f"The parameter {parameter} is required.")


def invalid(details: str) -> GraphError:
    return GraphError(131009, details)


def length_error(what: str, low: int, high: int) -> GraphError:
    return invalid(f"{what} length invalid. Min length: {low}, Max length: {high}")


def unknown_object(object_id: str, verb: str) -> GraphError:
    """Graph's answer for an id it does not know (or may not reach)."""
    return GraphError(
        100,
        message=(
            f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be loaded due "
            "to missing permissions, or does not support this operation. Please read the Graph API "
            "documentation at https://developers.facebook.com/docs/graph-api"
        ),
        error_type="GraphMethodException",
        subcode=33,
    )


def _fits(value: Any, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value) <= high


def new_wamid(phone: str = "") -> str:
    """A message id shaped like Meta's (``wamid.`` + base64 of an opaque binary key)."""
    key = phone.encode() or secrets.token_hex(6).encode()
    raw = bytes([0x18, len(key)]) + key + b"\x15\x02\x00\x12\x18\x14" + secrets.token_hex(10).upper().encode()
    return "wamid." + base64.b64encode(raw + b"\x00").decode()


def encode_body(payload: Json) -> bytes:
    """The bytes Meta would send: compact JSON, non-ASCII as ``\\uXXXX`` and ``/`` as ``\\/``."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class ApiCall:
    """One API call our client made: ``status`` is the HTTP status answered (499: the client left)."""

    method: str
    path: str
    json: Json | None
    at: float
    status: int = 0
    error_code: int | None = None


@dataclass
class SentMessage:
    """A message the business sent, accepted by the API (``status``: what WhatsApp made of it since)."""

    user: str  # the ``to`` or ``recipient`` value, as given
    type: str
    body: Json
    wamid: str
    at: float  # on the fake's clock
    template: str | None = None
    wa_id: str | None = None
    user_id: str | None = None
    status: str = "accepted"  # then sent, delivered, read, or failed
    errors: list[Json] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def delivered(self) -> bool:
        return self.status in ("delivered", "read")

    @property
    def interactive_type(self) -> str | None:
        return self.body["interactive"].get("type") if self.type == "interactive" else None

    @property
    def text(self) -> str:
        """The text body, the interactive body text, or the template parameters (one a line)."""
        if self.type == "text":
            return str(self.body["text"]["body"])
        if self.type == "interactive":
            return str(self.body["interactive"]["body"]["text"])
        if self.type == "template":
            return "\n".join(
                str(parameter.get("text", ""))
                for component in self.body["template"].get("components") or []
                for parameter in component.get("parameters") or []
            )
        if self.type in MEDIA_TYPES:
            return str(self.body[self.type].get("caption", ""))
        return ""

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(id, title) of the reply buttons, or of the list rows."""
        return [(row["id"], row["title"]) for row in self._choices()]

    def _choices(self) -> list[Json]:
        if self.type != "interactive":
            return []
        action = self.body["interactive"].get("action") or {}
        if self.interactive_type == "button":
            return [button["reply"] for button in action.get("buttons") or []]
        if self.interactive_type == "list":
            return [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        return []


@dataclass
class Inbound:
    """A client message built but not sent yet: the ``contacts`` entry and the ``messages`` entry."""

    contact: Json
    message: Json

    @property
    def wamid(self) -> str:
        return str(self.message["id"])


@dataclass
class Webhook:
    """One webhook POST body (``kind``: "messages" or "statuses") and what became of its attempts."""

    kind: str
    label: str
    payload: Json
    body: bytes
    outcomes: list[int | str] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return any(isinstance(outcome, int) and 200 <= outcome < 300 for outcome in self.outcomes)


@dataclass
class Media:
    media_id: str
    content: bytes
    mime_type: str
    opaque: str
    filename: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class _Fault:
    count: int
    code: int = 0
    status: int | None = None
    details: str | None = None
    seconds: float = 0.0
    deliver: bool = False
    skip: int = 0  # sends let through before the fault applies


class WebhookDeliveryError(AssertionError):
    """The app never answered 2xx to a webhook, retries included."""


class _ClientGoneError(Exception):
    """The caller went away while its call was held by ``hang_next``."""


class FakeWhatsApp:
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
        webhook_url: str | None = None,
        retry_delays: Iterable[float] = (0.2, 0.5, 1.0, 2.0, 4.0),
        window_error: Literal["status", "sync"] = "status",
        webhook_timeout: float = 10.0,
        status_delay: float = 0.01,
    ) -> None:
        self.access_token = access_token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.version = version
        self.templates = dict(DEFAULT_TEMPLATES if templates is None else templates)
        self.webhook_url = webhook_url
        self.retry_delays = tuple(retry_delays)
        self.window_error = window_error
        self.webhook_timeout = webhook_timeout
        self.status_delay = status_delay
        #: the statuses pushed after an accepted send in the window
        self.auto_statuses: tuple[str, ...] = ("sent", "delivered")
        #: max messages to one user per 6 s of real time (beyond: 131056), None for no limit
        self.pair_rate_limit: int | None = None
        self.base_url = ""
        self.root_url = ""

        self.sent: list[SentMessage] = []
        self.requests: list[ApiCall] = []
        self.read_marks: list[str] = []
        self.typing: list[str] = []
        self.webhooks: list[Webhook] = []
        self.webhook_attempts: list[tuple[str, int | str]] = []
        self.media: dict[str, Media] = {}
        self.media_downloads = 0

        self._offset = 0.0
        self._last_inbound: dict[str, float] = {}
        self._inbound: dict[str, str] = {}  # wamid of a client message -> wa_id
        self._phone_of: dict[str, str] = {}  # BSUID -> wa_id
        self._bsuid_of: dict[str, str] = {}  # wa_id -> BSUID
        self._pair_sends: dict[str, deque[float]] = {}
        self._faults: list[_Fault] = []
        self._hangs: list[_Fault] = []
        self._failed_statuses: list[_Fault] = []
        self._media_faults: list[_Fault] = []
        self._upload_faults: list[_Fault] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._client: ClientSession | None = None

    # -- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1, on a free port (the same one again after ``stop``: an outage)."""
        self._stopped.clear()
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_route("*", "/media/{opaque}", self._handle_download)
        app.router.add_route("*", "/{path:.*}", self._handle_graph)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()
        host, self._port = self._runner.addresses[0][:2]
        self.root_url = f"http://{host}:{self._port}"
        self.base_url = f"{self.root_url}/{self.version}"
        if self._client is None:
            self._client = ClientSession()

    async def stop(self) -> None:
        """Stop serving and pushing webhooks (pending deliveries are abandoned)."""
        self._stopped.set()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> FakeWhatsApp:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- the clock and the window ------------------------------------------------------------------------

    def now(self) -> float:
        """The fake's clock: real time plus what ``advance`` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def window_open(self, user: str) -> bool:
        """Whether the customer-service window with ``user`` (wa_id or BSUID) is open now."""
        wa_id = self._phone_of.get(user, user)
        last = self._last_inbound.get(wa_id)
        return last is not None and self.now() - last <= WINDOW_SECONDS

    # -- what the business did ---------------------------------------------------------------------------

    def _identities(self, user: str) -> set[str]:
        wa_id = self._phone_of.get(user, user)
        found = {user, wa_id}
        if wa_id in self._bsuid_of:
            found.add(self._bsuid_of[wa_id])
        return found

    def messages_to(self, user: str) -> list[SentMessage]:
        """The accepted sends to ``user`` (by wa_id or BSUID), failed ones included."""
        names = self._identities(user)
        return [m for m in self.sent if names & {m.user, m.wa_id, m.user_id}]

    def last_to(self, user: str) -> SentMessage | None:
        messages = self.messages_to(user)
        return messages[-1] if messages else None

    def delivered_to(self, user: str) -> list[SentMessage]:
        """What ``user`` actually received (delivered or read)."""
        return [m for m in self.messages_to(user) if m.delivered]

    def documents_to(self, user: str) -> list[tuple[str, bytes, str]]:
        """(file name, bytes, MIME type) of every document message accepted for ``user``, in order:
        the uploaded media its id names."""
        found = []
        for message in self.messages_to(user):
            if message.type == "document":
                media = self.media[message.body["document"]["id"]]
                found.append(
                    (str(message.body["document"].get("filename", "")), media.content, media.mime_type)
                )
        return found

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

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds, polling every 10 ms."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__qualname__", repr(predicate))
                raise TimeoutError(f"{name} still false after {timeout} s\n{self.describe()}")
            await asyncio.sleep(0.01)

    async def settle(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until every webhook being pushed in the background is delivered or given up."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

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
        self._faults.append(_Fault(count=count, code=code, status=status, details=details, skip=after))

    def hang_next(self, seconds: float, *, count: int = 1, deliver: bool = False) -> None:
        """The next ``count`` sends wait ``seconds`` before being handled.

        A client that gave up meanwhile gets nothing sent (recorded with status 499), unless ``deliver``:
        then the message goes out anyway, like a send whose answer was lost on the way back.
        """
        self._hangs.append(_Fault(count=count, seconds=seconds, deliver=deliver))

    def fail_delivery_next(self, code: int = 131026, *, count: int = 1, details: str | None = None) -> None:
        """The next ``count`` accepted sends get a ``failed`` status with ``code``, not delivered."""
        self._failed_statuses.append(_Fault(count=count, code=code, details=details))

    def fail_media_next(self, *, count: int = 1, status: int = 500) -> None:
        """The next ``count`` media downloads answer ``status``: 500 like a lookaside hiccup, 429
        when downloads come too fast."""
        self._media_faults.append(_Fault(count=count, status=status))

    def fail_upload_next(self, code: int = 131053, *, count: int = 1, status: int | None = None) -> None:
        """The next ``count`` media uploads answer Graph error ``code`` (131053: media upload error)."""
        self._upload_faults.append(_Fault(count=count, code=code, status=status))

    @staticmethod
    def _take(faults: list[_Fault]) -> _Fault | None:
        if not faults:
            return None
        fault = faults[0]
        fault.count -= 1
        if fault.count <= 0:
            faults.pop(0)
        return fault

    # -- media -------------------------------------------------------------------------------------------

    def add_media(self, content: bytes, mime_type: str, *, filename: str | None = None) -> str:
        """Store ``content`` as WhatsApp media (as if a user had sent it); returns its media id."""
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))
        self.media[media_id] = Media(media_id, content, mime_type, secrets.token_urlsafe(24), filename)
        return media_id

    # -- the client's side: building messages ------------------------------------------------------------

    def _register(self, wa_id: str, user_id: str | None) -> None:
        if not wa_id.isdigit():
            raise ValueError(f"a wa_id is digits only, got {wa_id!r}")
        if user_id is not None:
            if not _BSUID.fullmatch(user_id):
                raise ValueError(f"not a business-scoped user id: {user_id!r}")
            self._phone_of[user_id] = wa_id
            self._bsuid_of[wa_id] = user_id

    def _inbound_message(
        self,
        wa_id: str,
        kind: str,
        content: Json,
        *,
        user_id: str | None,
        name: str,
        context: Json | None = None,
    ) -> Inbound:
        self._register(wa_id, user_id)
        user_id = user_id or self._bsuid_of.get(wa_id)
        now = self.now()
        self._last_inbound[wa_id] = now
        wamid = new_wamid(wa_id)
        self._inbound[wamid] = wa_id
        message: Json = {}
        if context is not None:
            message["context"] = context
        message["from"] = wa_id
        if user_id:
            message["from_user_id"] = user_id
        message.update({"id": wamid, "timestamp": str(int(now)), "type": kind, kind: content})
        contact: Json = {"profile": {"name": name}, "wa_id": wa_id}
        if user_id:
            contact["user_id"] = user_id
        return Inbound(contact, message)

    def text_message(
        self, wa_id: str, text: str, *, user_id: str | None = None, name: str = "Client"
    ) -> Inbound:
        return self._inbound_message(wa_id, "text", {"body": text}, user_id=user_id, name=name)

    def reply_message(
        self, wa_id: str, title_or_id: str, *, user_id: str | None = None, name: str = "Client"
    ) -> Inbound:
        """A tap on a reply button or a list row of the last interactive message sent to ``wa_id``."""
        candidates = [m for m in self.messages_to(wa_id) if m.type == "interactive" and not m.failed]
        if not candidates:
            raise AssertionError(f"no interactive message was sent to {wa_id}\n{self.describe()}")
        sent = candidates[-1]
        choices = sent._choices()
        choice = (
            next((c for c in choices if c["id"] == title_or_id), None)
            or next((c for c in choices if c["title"] == title_or_id), None)
            or next((c for c in choices if c["title"].casefold() == title_or_id.casefold()), None)
        )
        if choice is None:
            raise AssertionError(f"no button or row {title_or_id!r} sent to {wa_id}; choices: {sent.buttons}")
        if sent.interactive_type == "button":
            content: Json = {
                "type": "button_reply",
                "button_reply": {"id": choice["id"], "title": choice["title"]},
            }
        else:
            reply = {"id": choice["id"], "title": choice["title"]}
            if choice.get("description"):
                reply["description"] = choice["description"]
            content = {"type": "list_reply", "list_reply": reply}
        context = {"from": self.display_phone_number, "id": sent.wamid}
        return self._inbound_message(
            wa_id, "interactive", content, user_id=user_id, name=name, context=context
        )

    def _media_content(
        self, content: bytes, mime_type: str, *, filename: str | None = None, caption: str | None = None
    ) -> Json:
        media = self.media[self.add_media(content, mime_type, filename=filename)]
        body: Json = {}
        if caption is not None:
            body["caption"] = caption
        if filename is not None:
            body["filename"] = filename
        body.update({"mime_type": mime_type, "sha256": media.sha256, "id": media.media_id})
        return body

    def image_message(
        self,
        wa_id: str,
        content: bytes,
        *,
        mime_type: str = "image/jpeg",
        caption: str | None = None,
        user_id: str | None = None,
        name: str = "Client",
    ) -> Inbound:
        body = self._media_content(content, mime_type, caption=caption)
        return self._inbound_message(wa_id, "image", body, user_id=user_id, name=name)

    def document_message(
        self,
        wa_id: str,
        content: bytes,
        filename: str,
        mime_type: str,
        *,
        caption: str | None = None,
        user_id: str | None = None,
        name: str = "Client",
    ) -> Inbound:
        body = self._media_content(content, mime_type, filename=filename, caption=caption)
        return self._inbound_message(wa_id, "document", body, user_id=user_id, name=name)

    def sticker_message(self, wa_id: str, *, user_id: str | None = None, name: str = "Client") -> Inbound:
        body = self._media_content(b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00", "image/webp")
        body["animated"] = False
        return self._inbound_message(wa_id, "sticker", body, user_id=user_id, name=name)

    def audio_message(
        self,
        wa_id: str,
        content: bytes = b"OggS" + bytes(60),
        *,
        user_id: str | None = None,
        name: str = "Client",
    ) -> Inbound:
        body = self._media_content(content, "audio/ogg; codecs=opus")
        body["voice"] = True
        return self._inbound_message(wa_id, "audio", body, user_id=user_id, name=name)

    def location_message(
        self,
        wa_id: str,
        *,
        latitude: float = 48.8566,
        longitude: float = 2.3522,
        name_of_place: str | None = None,
        address: str | None = None,
        user_id: str | None = None,
        name: str = "Client",
    ) -> Inbound:
        body: Json = {"latitude": latitude, "longitude": longitude}
        if name_of_place is not None:
            body["name"] = name_of_place
        if address is not None:
            body["address"] = address
        return self._inbound_message(wa_id, "location", body, user_id=user_id, name=name)

    def reaction_message(
        self, wa_id: str, message_wamid: str, emoji: str, *, user_id: str | None = None, name: str = "Client"
    ) -> Inbound:
        """A reaction (``emoji=""`` removes one) to a message the business sent."""
        body = {"message_id": message_wamid, "emoji": emoji}
        return self._inbound_message(wa_id, "reaction", body, user_id=user_id, name=name)

    # -- the client's side: sending ----------------------------------------------------------------------

    async def say(
        self, wa_id: str, text: str, *, user_id: str | None = None, name: str = "Client", deliver: bool = True
    ) -> Json:
        """The user writes ``text``; returns the message (its ``id`` is the wamid)."""
        return await self._send_one(self.text_message(wa_id, text, user_id=user_id, name=name), deliver)

    async def press(
        self, wa_id: str, title_or_id: str, *, user_id: str | None = None, deliver: bool = True
    ) -> Json:
        """The user taps a reply button or list row (by title or id) of the last interactive message."""
        return await self._send_one(self.reply_message(wa_id, title_or_id, user_id=user_id), deliver)

    async def send_image(
        self,
        wa_id: str,
        content: bytes,
        *,
        mime_type: str = "image/jpeg",
        caption: str | None = None,
        user_id: str | None = None,
        deliver: bool = True,
    ) -> Json:
        inbound = self.image_message(wa_id, content, mime_type=mime_type, caption=caption, user_id=user_id)
        return await self._send_one(inbound, deliver)

    async def send_document(
        self,
        wa_id: str,
        content: bytes,
        filename: str,
        mime_type: str,
        *,
        caption: str | None = None,
        user_id: str | None = None,
        deliver: bool = True,
    ) -> Json:
        inbound = self.document_message(wa_id, content, filename, mime_type, caption=caption, user_id=user_id)
        return await self._send_one(inbound, deliver)

    async def send_sticker(self, wa_id: str, *, user_id: str | None = None, deliver: bool = True) -> Json:
        return await self._send_one(self.sticker_message(wa_id, user_id=user_id), deliver)

    async def send_audio(
        self,
        wa_id: str,
        content: bytes = b"OggS" + bytes(60),
        *,
        user_id: str | None = None,
        deliver: bool = True,
    ) -> Json:
        """A voice note."""
        return await self._send_one(self.audio_message(wa_id, content, user_id=user_id), deliver)

    async def send_location(
        self,
        wa_id: str,
        *,
        latitude: float = 48.8566,
        longitude: float = 2.3522,
        user_id: str | None = None,
        deliver: bool = True,
    ) -> Json:
        inbound = self.location_message(wa_id, latitude=latitude, longitude=longitude, user_id=user_id)
        return await self._send_one(inbound, deliver)

    async def react(
        self, wa_id: str, message_wamid: str, emoji: str, *, user_id: str | None = None, deliver: bool = True
    ) -> Json:
        return await self._send_one(
            self.reaction_message(wa_id, message_wamid, emoji, user_id=user_id), deliver
        )

    async def batch(
        self, items: Iterable[Inbound], *, entries: int | None = None, deliver: bool = True
    ) -> Webhook:
        """Several client messages in ONE webhook POST, as Meta batches them.

        The messages of each user make one ``changes`` item (their contact, their messages in order); the
        changes are spread over ``entries`` entries (by default one entry per user).
        """
        groups: dict[str, tuple[Json, list[Json]]] = {}
        for item in items:
            groups.setdefault(item.contact["wa_id"], (item.contact, []))[1].append(item.message)
        changes = [
            self._change({"contacts": [contact], "messages": messages})
            for contact, messages in groups.values()
        ]
        count = max(1, min(entries or len(changes), len(changes)))
        spread: list[list[Json]] = [[] for _ in range(count)]
        for index, change in enumerate(changes):
            spread[index % count].append(change)
        first = next(iter(groups.values()))[1][0]["id"] if groups else "empty"
        hook = self._webhook("messages", f"messages:{first}+batch", spread)
        await self._push(hook, deliver)
        return hook

    async def _send_one(self, inbound: Inbound, deliver: bool) -> Json:
        change = self._change({"contacts": [inbound.contact], "messages": [inbound.message]})
        hook = self._webhook("messages", f"messages:{inbound.wamid}", [[change]])
        await self._push(hook, deliver)
        return inbound.message

    async def read(self, user: str, *, deliver: bool = True) -> list[SentMessage]:
        """The user opens the chat: a ``read`` status for every message delivered to them and not read yet."""
        unread = [m for m in self.messages_to(user) if m.status == "delivered"]
        for message in unread:
            await self._push(self._status_webhook(message, "read"), deliver)
        return unread

    async def push_status(
        self, message: SentMessage, status: str, *, error: GraphError | None = None
    ) -> Webhook:
        """Push one status webhook for ``message`` (e.g. a late ``failed`` with ``error``)."""
        hook = self._status_webhook(message, status, error)
        await self._push(hook, True)
        return hook

    # -- the client's side: raw webhook traffic ----------------------------------------------------------

    async def redeliver(self, what: Webhook | Json) -> int | str:
        """POST a webhook body again, byte for byte (Meta re-delivering); ``what`` is the Webhook, its
        payload or one of its messages. Returns the HTTP status (or the connection error's name)."""
        hook = self._find_webhook(what)
        outcome = await self._post(hook.body, sign(hook.body, self.app_secret))
        hook.outcomes.append(outcome)
        self.webhook_attempts.append((hook.label + " (again)", outcome))
        return outcome

    def _find_webhook(self, what: Webhook | Json) -> Webhook:
        if isinstance(what, Webhook):
            return what
        for hook in reversed(self.webhooks):
            if hook.payload is what or hook.payload == what:
                return hook
            for entry in hook.payload["entry"]:
                for change in entry["changes"]:
                    items = change["value"].get("messages", []) + change["value"].get("statuses", [])
                    if any(item.get("id") == what.get("id") for item in items):
                        return hook
        raise AssertionError(f"no webhook was made for {what!r}")

    async def post_raw(self, body: bytes, signature: str | None) -> int:
        """POST ``body`` to the webhook with ``signature`` as ``X-Hub-Signature-256`` (None: no header)."""
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        assert self._client is not None, "start the fake first"
        assert self.webhook_url, "set webhook_url first"
        async with self._client.post(self.webhook_url, data=body, headers=headers) as response:
            await response.read()
            self.webhook_attempts.append(("raw", response.status))
            return response.status

    async def verify(self, mode: str, token: str, challenge: str) -> tuple[int, str]:
        """Meta's subscription handshake: GET ``webhook_url?hub.mode&hub.verify_token&hub.challenge``."""
        assert self._client is not None, "start the fake first"
        assert self.webhook_url, "set webhook_url first"
        params = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}
        async with self._client.get(self.webhook_url, params=params) as response:
            return response.status, await response.text()

    # -- webhooks ----------------------------------------------------------------------------------------

    def _metadata(self) -> Json:
        return {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}

    def _change(self, value: Json) -> Json:
        return {
            "value": {"messaging_product": "whatsapp", "metadata": self._metadata(), **value},
            "field": "messages",
        }

    def _webhook(self, kind: str, label: str, entries: list[list[Json]]) -> Webhook:
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": changes} for changes in entries],
        }
        hook = Webhook(kind, label, payload, encode_body(payload))
        self.webhooks.append(hook)
        return hook

    def _status_webhook(self, message: SentMessage, status: str, error: GraphError | None = None) -> Webhook:
        message.status = status
        if error is not None:
            message.errors.append(error.webhook_error())
        wa_id = message.wa_id
        user_id = message.user_id
        item: Json = {"id": message.wamid, "status": status, "timestamp": str(int(self.now()))}
        if wa_id:
            item["recipient_id"] = wa_id
        # a failed message sent to a phone number does not name the BSUID
        if user_id and not (status == "failed" and message.user == wa_id):
            item["recipient_user_id"] = user_id
        if status in ("sent", "delivered"):
            item["pricing"] = self._pricing(message)
        if error is not None:
            item["errors"] = [error.webhook_error()]
        value: Json = {}
        if user_id and status != "failed":
            contact: Json = {"wa_id": wa_id} if wa_id else {}
            contact["user_id"] = user_id
            value["contacts"] = [contact]
        value["statuses"] = [item]
        return self._webhook("statuses", f"statuses:{message.wamid}:{status}", [[self._change(value)]])

    def _pricing(self, message: SentMessage) -> Json:
        if message.template is None or self._window_open_at(message, message.at):
            return {
                "billable": False,
                "pricing_model": "PMP",
                "category": "service" if message.template is None else "utility",
                "type": "free_customer_service",
            }
        return {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}

    def _window_open_at(self, message: SentMessage, at: float) -> bool:
        last = self._last_inbound.get(message.wa_id or "")
        return last is not None and at - last <= WINDOW_SECONDS

    async def _push(self, hook: Webhook, wait: bool) -> None:
        if wait:
            if not await self._deliver(hook):
                raise WebhookDeliveryError(
                    f"webhook {hook.label} never got a 2xx: {hook.outcomes}\n{self.describe()}"
                )
            return
        self._spawn(self._deliver(hook))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: Webhook) -> bool:
        """POST ``hook``, then again after each of ``retry_delays`` until a 2xx."""
        signature = sign(hook.body, self.app_secret)
        for delay in (0.0, *self.retry_delays):
            if delay:
                await asyncio.sleep(delay)
            outcome = await self._post(hook.body, signature)
            hook.outcomes.append(outcome)
            self.webhook_attempts.append((hook.label, outcome))
            if isinstance(outcome, int) and 200 <= outcome < 300:
                return True
        return False

    async def _post(self, body: bytes, signature: str) -> int | str:
        if not self.webhook_url:
            return "no webhook_url"
        if self._client is None:
            return "stopped"
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        try:
            async with self._client.post(
                self.webhook_url,
                data=body,
                headers=headers,
                timeout=ClientTimeout(total=self.webhook_timeout),
            ) as response:
                await response.read()
                return response.status
        except (ClientError, TimeoutError, OSError) as error:
            return type(error).__name__

    async def _push_statuses(
        self, message: SentMessage, statuses: Iterable[tuple[str, GraphError | None]]
    ) -> None:
        await asyncio.sleep(self.status_delay)
        for status, error in statuses:
            await self._deliver(self._status_webhook(message, status, error))

    # -- HTTP ----------------------------------------------------------------------------------------------

    async def _handle_graph(self, request: web.Request) -> web.StreamResponse:
        body: Json | None = None
        if request.body_exists and request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                loaded = await request.json()
                body = loaded if isinstance(loaded, dict) else {"_": loaded}
        call = ApiCall(request.method, request.path, body, time.monotonic())
        self.requests.append(call)
        try:
            self._check_token(request)
            result = await self._route(request, call)
        except GraphError as error:
            call.status, call.error_code = error.status, error.code
            return web.json_response(error.payload(), status=error.status)
        except _ClientGoneError:
            call.status = 499
            return web.Response(status=499)
        call.status = 200
        return web.json_response(result)

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
        fault = self._take(self._media_faults)
        if fault is not None:
            call.status = fault.status or 500
            return web.Response(status=call.status, text="Media download refused")
        self.media_downloads += 1
        call.status = 200
        return web.Response(body=media.content, headers={"Content-Type": media.mime_type})

    async def _upload(self, request: web.Request) -> Json:
        fault = self._take(self._upload_faults)
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
        hang = self._take(self._hangs)
        if hang is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), hang.seconds)
            transport = request.transport
            if not hang.deliver and (transport is None or transport.is_closing()):
                raise _ClientGoneError
        if self._faults and self._faults[0].skip > 0:
            self._faults[0].skip -= 1
        else:
            fault = self._take(self._faults)
            if fault is not None:
                raise GraphError(fault.code, fault.details, status=fault.status)
        user, wa_id, user_id, contact = self._recipient(body)
        kind = self._check_message(body)
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
        elif (failure := self._take(self._failed_statuses)) is not None:
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
            if not isinstance(to, str) or not _DIGITS.fullmatch(to):
                raise invalid(f"Invalid phone number: {to}")
            wa_id = to.lstrip("+")
            return to, wa_id, self._bsuid_of.get(wa_id), {"input": to, "wa_id": wa_id}
        if recipient:
            if not isinstance(recipient, str) or not _BSUID.fullmatch(recipient):
                raise invalid(f"Invalid recipient: {recipient}")
            return (
                recipient,
                self._phone_of.get(recipient),
                recipient,
                {"input": recipient, "user_id": recipient},
            )
        raise GraphError(100, "The parameter to is required.")

    def _check_message(self, body: Json) -> str:
        kind = str(body.get("type", "text"))
        if kind not in SEND_TYPES:
            raise GraphError(
                100,
                f'Param type must be one of {{{", ".join(sorted(SEND_TYPES)).upper()}}} - got "{kind}".',
            )
        content = body.get(kind)
        if not isinstance(content, dict):
            raise missing(kind)
        if kind == "text":
            self._check_text(content)
        elif kind == "interactive":
            self._check_interactive(content)
        elif kind == "template":
            self._check_template(content)
        elif kind in MEDIA_TYPES:
            self._check_media(kind, content)
        elif kind == "reaction":
            if not content.get("message_id"):
                raise missing("reaction['message_id']")
            if "emoji" not in content:
                raise missing("reaction['emoji']")
        elif kind == "location" and ("latitude" not in content or "longitude" not in content):
            raise missing("location['latitude']")
        return kind

    @staticmethod
    def _check_text(content: Json) -> None:
        text = content.get("body")
        if text is None:
            raise missing("text['body']")
        if not _fits(text, 1, MAX_TEXT):
            raise (
                length_error("Text body", 1, MAX_TEXT)
                if isinstance(text, str)
                else invalid("Param text['body'] must be a string.")
            )
        if "preview_url" in content and not isinstance(content["preview_url"], bool):
            raise GraphError(100, "Param text['preview_url'] must be a boolean.")

    def _check_interactive(self, content: Json) -> None:
        kind = content.get("type")
        if kind is None:
            raise missing("interactive['type']")
        if kind not in ("button", "list"):
            raise GraphError(100, f"Unsupported interactive type in this fake: {kind!r}")
        body = content.get("body")
        if not isinstance(body, dict) or "text" not in body:
            raise missing("interactive['body']['text']")
        body_limit = MAX_BUTTON_BODY if kind == "button" else MAX_LIST_BODY
        if not _fits(body["text"], 1, body_limit):
            raise length_error("Body text", 1, body_limit)
        header = content.get("header")
        if header is not None:
            if not isinstance(header, dict) or "type" not in header:
                raise missing("interactive['header']['type']")
            if header["type"] == "text":
                if not _fits(header.get("text"), 1, MAX_HEADER):
                    raise length_error("Header text", 1, MAX_HEADER)
            elif kind == "list" or header["type"] not in ("image", "video", "document"):
                raise invalid(f"Header type {header['type']!r} is not supported for {kind} messages")
        footer = content.get("footer")
        if footer is not None and (
            not isinstance(footer, dict) or not _fits(footer.get("text"), 1, MAX_FOOTER)
        ):
            raise length_error("Footer text", 1, MAX_FOOTER)
        action = content.get("action")
        if not isinstance(action, dict):
            raise missing("interactive['action']")
        if kind == "button":
            self._check_buttons(action)
        else:
            self._check_list(action)

    @staticmethod
    def _check_buttons(action: Json) -> None:
        buttons = action.get("buttons")
        if buttons is None:
            raise missing("interactive['action']['buttons']")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
            raise invalid(
                f"Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: {MAX_BUTTONS}"
            )
        ids: set[str] = set()
        titles: set[str] = set()
        for button in buttons:
            if not isinstance(button, dict) or button.get("type") != "reply":
                raise invalid("Button type must be reply")
            reply = button.get("reply")
            if not isinstance(reply, dict):
                raise missing("interactive['action']['buttons'][]['reply']")
            if not _fits(reply.get("id"), 1, MAX_BUTTON_ID):
                raise length_error("Button id", 1, MAX_BUTTON_ID)
            if not _fits(reply.get("title"), 1, MAX_BUTTON_TITLE):
                raise length_error("Button title", 1, MAX_BUTTON_TITLE)
            if reply["id"] in ids:
                raise invalid(f"Duplicate button id: {reply['id']}")
            if reply["title"] in titles:
                raise invalid(f"Duplicate button title: {reply['title']}")
            ids.add(reply["id"])
            titles.add(reply["title"])

    @staticmethod
    def _check_list(action: Json) -> None:
        if "button" not in action:
            raise missing("interactive['action']['button']")
        if not _fits(action["button"], 1, MAX_LIST_BUTTON):
            raise length_error("Button text", 1, MAX_LIST_BUTTON)
        sections = action.get("sections")
        if sections is None:
            raise missing("interactive['action']['sections']")
        if not isinstance(sections, list) or not 1 <= len(sections) <= MAX_SECTIONS:
            raise invalid(
                f"Invalid sections count. Min allowed sections: 1, Max allowed sections: {MAX_SECTIONS}"
            )
        total = 0
        ids: set[str] = set()
        for section in sections:
            if not isinstance(section, dict):
                raise missing("interactive['action']['sections'][]['rows']")
            title = section.get("title")
            if title is None and len(sections) > 1:
                raise missing("interactive['action']['sections'][]['title']")
            if title is not None and not _fits(title, 1, MAX_SECTION_TITLE):
                raise length_error("Section title", 1, MAX_SECTION_TITLE)
            rows = section.get("rows")
            if not isinstance(rows, list) or not rows:
                raise missing("interactive['action']['sections'][]['rows']")
            total += len(rows)
            if total > MAX_ROWS:
                raise invalid(f"Total row count exceed max allowed count: {MAX_ROWS}")
            for row in rows:
                if not isinstance(row, dict) or not _fits(row.get("id"), 1, MAX_ROW_ID):
                    raise length_error("Row id", 1, MAX_ROW_ID)
                if not _fits(row.get("title"), 1, MAX_ROW_TITLE):
                    raise length_error("Row title", 1, MAX_ROW_TITLE)
                if "description" in row and not _fits(row["description"], 0, MAX_ROW_DESCRIPTION):
                    raise length_error("Row description", 0, MAX_ROW_DESCRIPTION)
                if row["id"] in ids:
                    raise invalid(f"Duplicate row id: {row['id']}")
                ids.add(row["id"])

    def _check_template(self, content: Json) -> None:
        name = content.get("name")
        if not name:
            raise missing("template['name']")
        language = content.get("language")
        if not isinstance(language, dict) or not language.get("code"):
            raise missing("template['language']['code']")
        code = language["code"]
        expected = self.templates.get((name, code))
        if expected is None:
            raise GraphError(132001, f"template name ({name}) does not exist in {code}")
        parameters: list[Any] = []
        for component in content.get("components") or []:
            if not isinstance(component, dict) or component.get("type") not in ("header", "body", "button"):
                raise invalid("Component type must be one of {HEADER, BODY, BUTTON}")
            if component["type"] != "body":
                raise GraphError(
                    132000,
                    f"{component['type']}: number of localizable_params (1) does not match the expected "
                    "number of params (0)",
                )
            parameters += component.get("parameters") or []
        if len(parameters) != expected:
            raise GraphError(
                132000,
                f"body: number of localizable_params ({len(parameters)}) does not match the expected number "
                f"of params ({expected})",
            )
        for parameter in parameters:
            if not isinstance(parameter, dict) or parameter.get("type") != "text":
                kind = parameter.get("type") if isinstance(parameter, dict) else None
                raise GraphError(
                    132012, f"body: Format mismatch, expected TEXT, received {str(kind).upper()}"
                )
            text = parameter.get("text")
            if not isinstance(text, str) or not text.strip():
                raise GraphError(131008, "Parameter of type text is missing text value")
            if "\n" in text or "\t" in text or "     " in text:
                raise GraphError(132018, PARAM_FORMAT)
            if len(text) > MAX_TEMPLATE_PARAM:
                raise GraphError(132005, "Translated text too long")

    def _check_media(self, kind: str, content: Json) -> None:
        media_id, link = content.get("id"), content.get("link")
        if not media_id and not link:
            raise missing(f"{kind}['id']")
        if media_id and media_id not in self.media:
            raise invalid(f"Invalid media id: {media_id}")
        caption = content.get("caption")
        if caption is not None and (kind in ("audio", "sticker") or not _fits(caption, 0, MAX_CAPTION)):
            raise invalid(f"Param {kind}['caption'] is not valid")
