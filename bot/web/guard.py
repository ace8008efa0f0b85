"""The web app's doors: a body-size cap per route, bounded JSON, and security headers.

Pure ASGI, around the whole app, so it holds for every route (chunked bodies included) before
FastAPI, the multipart parser or a channel reads a byte:

* a body declared longer than its route's cap is refused (413) without calling the app; one that
  streams past the cap (chunked, or a lying ``Content-Length``) is refused as soon as it does, and
  the app reads no more of it (it sees the client gone);
* a JSON body nested deeper than :data:`MAX_JSON_DEPTH` is refused (400) before it is parsed, except
  on the webhooks, whose channels check it after authenticating it (a signed webhook is set aside,
  not refused, so the platform stops sending it);
* every response carries the security headers (CSP, no framing, nosniff, a referrer policy), the API's
  ``no-store`` (its answers hold personal data), and HSTS in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage.text import clean_json

MAX_JSON_DEPTH = 64
# Meta batches up to 1,000 changes in one webhook: a few MB of JSON at most; Telegram's updates are
# far smaller. 3 MB leaves room for the biggest batch and still bounds memory per request.
WEBHOOK_BYTES = 3 * 1024 * 1024
# The longest legitimate body elsewhere: a chat message of 60,000 characters, JSON-escaped.
DEFAULT_BYTES = 1024 * 1024
UPLOAD_OVERHEAD = 64 * 1024  # multipart boundaries and fields around an uploaded file
LINGER_SECONDS = 10.0  # how long the rest of a refused body is read (and dropped) before closing

# The pages load scripts and styles from this origin only, nothing inline; no one may frame them.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# FastAPI's own documentation pages load Swagger UI and ReDoc from a CDN, with an inline script.
DOCS_CSP = "frame-ancestors 'none'; base-uri 'none'"
DOCS_PATHS = ("/docs", "/redoc")
HSTS = "max-age=31536000; includeSubDomains"

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]++")
_INNERMOST = re.compile(rb"\[\]|\{\}")


class BadJSONError(ValueError):
    """A body that is not JSON, or nested too deep to parse safely."""


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body``'s brackets nest deeper than ``limit`` (unbalanced ones count as deep).

    Linear passes in C: strings are taken out, then each pass removes the innermost pairs, one
    level a pass; no recursion, so 50,000 levels cost no more than a few milliseconds.
    """
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    for _ in range(limit):
        if not brackets:
            return False
        shorter = _INNERMOST.sub(b"", brackets)
        if len(shorter) == len(brackets):
            return True  # unbalanced: not JSON anyway
        brackets = shorter
    return bool(brackets)


def loads_bounded(body: bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for bodies from outside: at most ``limit`` levels, no NaN or infinity."""
    if json_depth_exceeds(body, limit):
        raise BadJSONError("nested too deep")
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise BadJSONError(type(error).__name__) from None


def _refuse_constant(name: str) -> Any:
    raise BadJSONError(f"{name} is not JSON")


@dataclass(frozen=True, slots=True)
class Door:
    """Requests whose path starts with ``prefix``: their body cap, and whether their JSON is
    checked here (webhooks check theirs after authentication)."""

    prefix: str
    max_bytes: int
    check_json: bool = True


class Guard:
    """The ASGI middleware: see the module's docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        doors: Sequence[Door] = (),
        default_bytes: int = DEFAULT_BYTES,
        max_json_depth: int = MAX_JSON_DEPTH,
        hsts: bool = False,
    ) -> None:
        self.app = app
        self.doors = sorted(doors, key=lambda d: len(d.prefix), reverse=True)  # the longest match
        self.default = Door("", default_bytes)
        self.max_json_depth = max_json_depth
        self.hsts = hsts

    def door(self, path: str) -> Door:
        return next((d for d in self.doors if path.startswith(d.prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        send = self._with_headers(path, send)
        door = self.door(path)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "invalid Content-Length")
                return
            if int(declared) > door.max_bytes:
                await _answer(send, 413, "body too large")
                await _linger(receive)
                return
        if door.check_json and _is_json(headers.get(b"content-type")) and scope["method"] != "GET":
            body = await _read_all(receive, door.max_bytes)
            if body is None:
                await _answer(send, 413, "body too large")
                await _linger(receive)
                return
            if json_depth_exceeds(body, self.max_json_depth):
                await _answer(send, 400, "JSON nested too deep")
                return
            receive = _replay(_cleaned(body), receive)
        await self._capped(door.max_bytes, scope, receive, send)

    async def _capped(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, counting the body as it streams; past ``limit``: 413, and the app is told
        the client left (it reads no more, and whatever it answers is dropped)."""
        received = 0
        refused = False
        started = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _answer(send, 413, "body too large")
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted, sending)
        if refused:
            await _linger(receive)

    def _with_headers(self, path: str, send: Send) -> Send:
        extra = list(_security_headers(path, hsts=self.hsts))
        private = path.startswith("/api/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                if private and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return sending


def _security_headers(path: str, *, hsts: bool) -> Iterable[tuple[bytes, bytes]]:
    docs = path.startswith(DOCS_PATHS)
    yield b"content-security-policy", (DOCS_CSP if docs else CSP).encode()
    yield b"x-frame-options", b"DENY"
    yield b"x-content-type-options", b"nosniff"
    yield b"referrer-policy", b"same-origin"
    if hsts:
        yield b"strict-transport-security", HSTS.encode()


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return True  # FastAPI reads no body without a type; checking costs little
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or kind.endswith(b"+json")


async def _read_all(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it is longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client left: the app will see an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _cleaned(body: bytes) -> bytes:
    """The body with the strings no database stores (an escaped NUL, a lone surrogate) cleaned,
    so that no route can fail on them; any other body as it came (FastAPI judges it)."""
    if b"\\u" not in body:  # both can only come escaped: raw, the body is not JSON or not UTF-8
        return body
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return body
    clean = clean_json(value)
    if clean == value:
        return body
    return json.dumps(clean, ensure_ascii=False).encode()


async def _linger(receive: Receive) -> None:
    """Read and drop what the client still sends, for a while, after a 413: closing with unread
    data makes the kernel reset the connection, and the client never reads the answer (nginx's
    ``lingering_close`` does the same). Nothing is kept; past :data:`LINGER_SECONDS` the
    connection is closed anyway."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then what the client sends."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
