"""The WhatsApp channel: Meta's signed webhooks in, our Graph client out through the outbox.

In: ``POST /webhooks/whatsapp`` is checked with ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body
with the app secret) before anything is parsed; every message of the (possibly batched) webhook is
stored, its file fetched first, and its receipts recorded, before Meta gets its 200. Anything that
could not be stored answers 503, and Meta delivers the webhook again; a message stored already
(same wamid) changes nothing.

Out: :meth:`WhatsAppChannel.deliver` is called by the outbox sender, one message at a time per
client. Inside the 24-hour window a reply goes out as text and interactive messages; outside it (or
when Meta reports 131047 for it) as the approved template. Graph's error codes become the outbox's
retry, back-off or visible failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.requests import ClientDisconnect

from bot import windows
from bot.channels import documents
from bot.channels.whatsapp import render
from bot.channels.whatsapp.graph import GraphClient, GraphError, MediaTooLargeError
from bot.channels.whatsapp.updates import CHANNEL, SIGNATURE_HEADER, Incoming, MediaRef, parse, signed
from bot.engine import Engine, utcnow
from bot.logs import describe
from bot.messages import Inbound
from bot.outbox import Delivered, DeliveryError
from bot.pipeline import is_poison, reason_of
from bot.ratelimit import RateLimiter, WaitTooLongError, Window
from bot.settings import Settings
from bot.web.guard import BadJSONError, loads_bounded
from flows.catalog import Catalog
from flows.types import ClientInput
from storage import set_aside
from storage.files import FileStore, RejectedFileError
from storage.receipts import Receipt, apply_receipts, insert_receipts

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
MAX_WEBHOOK_BYTES = 3 * 1024 * 1024
FILE_ATTEMPTS = 5  # a file that cannot be fetched after this many deliveries is refused politely
MAX_REMEMBERED = 10_000  # files whose fetch failed, counted until they succeed or are refused
WINDOW_CLOSED = 131047  # re-engagement: more than 24 hours since the client's last message
THROUGHPUT = 130429  # the number's messages per second
PAIR_RATE = 131056  # too many messages to one client in a short time
UNDELIVERABLE = 131026  # not on WhatsApp, old app, terms not accepted...
APP_RATE = (4, 80007)  # the app's or account's call rate
# The access token expired, was revoked or lacks a permission; the account has a payment issue:
# the federation must fix it at Meta, and the message waits meanwhile.
TOKEN_CODES = (190, 10, 200, 131042)
TRANSIENT_CODES = (1, 2, 131000, 131016, 133004)  # Meta's side is unavailable: try again
MEDIA_GONE = (400, 404, 410)  # Graph does not know the media id (any more): fetching again will not help
RECONCILE_SECONDS = 30.0  # receipts that came before their message's id was recorded
PAIR_WAIT = 6.0  # Meta allows about one message every 6 seconds to a client, after a burst
WINDOW_MARGIN = timedelta(minutes=5)  # a window ending sooner than this is read again before a send
MAX_WAIT = 10.0  # longer than this before a part may leave: the row goes back to the outbox


class _SetAsideError(Exception):
    """Part of a webhook that the database refuses for good (see :func:`bot.pipeline.is_poison`)."""

    def __init__(self, kind: str, error: BaseException) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error


class _WindowClosedError(Exception):
    """Graph refused a free-form message: the 24-hour window is closed."""


class WhatsAppChannel:
    """One business phone number. Built by the composition root; :meth:`start` once the engine runs."""

    name = CHANNEL

    def __init__(self, settings: Settings, catalog: Catalog, files: FileStore) -> None:
        self.settings = settings
        self.catalog = catalog
        self.files = files
        self.phone_number_id = settings.whatsapp_phone_number_id
        self.graph = GraphClient(
            settings.whatsapp_api_url, settings.whatsapp_access_token.get_secret_value(), self.phone_number_id
        )
        # The number's throughput per second; a burst to one client, then about one per 6 s.
        # Counted over 1.04 s, like Telegram's: a send that leaves late never makes one too many in
        # Meta's second (measured in bench/: no 130429 at 95 % of the rate).
        self.limiter = RateLimiter(Window(20, PAIR_WAIT), Window(settings.whatsapp_max_per_second, 1.04))
        self.clock: Callable[[], datetime] = utcnow
        self.engine: Engine | None = None
        self._secret = settings.whatsapp_app_secret.get_secret_value().encode()
        self._file_failures: dict[str, int] = {}
        self._window_ends: dict[str, datetime] = {}  # when each client's window closes, as last read
        self._reconcile = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, engine: Engine) -> None:
        self.engine = engine
        task = asyncio.create_task(self._reconcile_loop(), name="whatsapp-receipts")
        self._tasks.append(task)
        log.info("whatsapp: number %s, webhook at %s", self.phone_number_id, WEBHOOK_PATH)

    async def stop(self) -> None:
        for task in [*self._tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        self._tasks.clear()
        await self.graph.close()

    def recorded(self) -> None:
        """The outbox recorded sends: receipts that were waiting for their message may apply now."""
        self._reconcile.set()

    # --- in --------------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        """``GET`` answers Meta's verification handshake; ``POST`` takes signed webhooks."""
        router = APIRouter(tags=["whatsapp"])
        verify_token = self.settings.whatsapp_verify_token.get_secret_value().encode()

        @router.get(WEBHOOK_PATH, include_in_schema=False)
        async def verify(
            mode: str = Query("", alias="hub.mode"),
            token: str = Query("", alias="hub.verify_token"),
            challenge: str = Query("", alias="hub.challenge", max_length=256),
        ) -> PlainTextResponse:
            if mode != "subscribe" or not hmac.compare_digest(token.encode(), verify_token):
                raise HTTPException(403, "verification refused")
            return PlainTextResponse(challenge)

        @router.post(WEBHOOK_PATH, include_in_schema=False)
        async def webhook(request: Request) -> Response:
            if not request.headers.get(SIGNATURE_HEADER):  # refused before reading a byte of it
                log.warning("whatsapp webhook refused: no signature")
                raise HTTPException(401, "invalid signature")
            try:
                body = await _read_body(request)
            except ClientDisconnect:  # gone, or cut off past the body cap: no one to answer
                return Response(status_code=400)
            if not signed(body, request.headers.get(SIGNATURE_HEADER), self._secret):
                log.warning("whatsapp webhook refused: missing or wrong signature")
                raise HTTPException(401, "invalid signature")
            try:
                payload = loads_bounded(body)
            except BadJSONError as error:  # signed by Meta yet unreadable: sending it again won't help
                return await self._set_aside(body, "webhook", error)
            try:
                await self.receive(payload)
            except _SetAsideError as poison:
                return await self._set_aside(body, poison.kind, poison.error)
            except Exception as error:
                log.warning("whatsapp webhook not stored, Meta will send it again: %s", describe(error))
                return Response(status_code=503)
            return Response(status_code=200)

        return router

    async def receive(self, payload: Any) -> None:
        """Store everything a webhook carries for our number; raises if anything could not be."""
        engine = self._engine()
        batch = parse(payload, self.phone_number_id)
        by_user: dict[str, list[Incoming]] = {}
        for incoming in batch.messages:
            by_user.setdefault(incoming.inbound.user, []).append(incoming)

        refused: list[tuple[str, BaseException]] = []

        async def store(queue: list[Incoming]) -> None:
            newest: str | None = None
            try:
                for incoming in queue:  # one client's messages in their order
                    try:
                        if await self._store(engine, incoming):
                            newest = incoming.inbound.external_id
                    except Exception as error:
                        if not is_poison(error):
                            raise
                        refused.append(("message", error))  # the client's next messages go on
            finally:
                if newest is not None:  # read up to their newest message: one call, not one each
                    self._spawn(self._quietly(self.graph.mark_read(newest)))

        results = await asyncio.gather(*(store(q) for q in by_user.values()), return_exceptions=True)
        if batch.receipts:
            refused += [("status", error) for error in await self._store_receipts(engine, batch.receipts)]
            self._reconcile.set()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if refused:
            raise _SetAsideError(*refused[0])

    async def _store_receipts(self, engine: Engine, receipts: list[Receipt]) -> list[BaseException]:
        """Store the receipts together, or one by one if the database refuses one of them: what
        it refused (set aside) is returned; any other failure raises (Meta sends them again)."""
        try:
            async with engine.database.begin() as connection:
                await insert_receipts(connection, receipts, self.clock())
            return []
        except Exception as error:
            if not is_poison(error):
                raise
            if len(receipts) == 1:
                return [error]
        refused: list[BaseException] = []
        for receipt in receipts:
            refused += await self._store_receipts(engine, [receipt])
        return refused

    async def _set_aside(self, body: bytes, kind: str, error: BaseException) -> Response:
        """A signed webhook no database will take: answered 200 (Meta stops sending it), counted."""
        engine = self._engine()
        reason = reason_of(error)
        try:
            async with engine.database.begin() as connection:
                await set_aside.record(
                    connection,
                    channel=CHANNEL,
                    kind=kind,
                    reason=reason,
                    digest=hashlib.sha256(body).hexdigest(),
                    size=len(body),
                    now=self.clock(),
                )
        except Exception as failure:
            log.warning("whatsapp webhook not set aside, Meta will send it again: %s", describe(failure))
            return Response(status_code=503)
        log.warning("whatsapp %s set aside (answered 200): %s", kind, reason)
        return Response(status_code=200)

    async def _store(self, engine: Engine, incoming: Incoming) -> bool:
        """Store one client message (its file fetched first); whether it is new."""
        inbound = incoming.inbound
        if incoming.media is not None:
            if await engine.is_stored(CHANNEL, inbound.external_id):
                return False  # a re-delivery: the file was fetched the first time
            said = await self._fetch(incoming.media, inbound.external_id)
            inbound = dataclasses.replace(inbound, said=said)
        try:
            accepted = await engine.submit(inbound)
        except BaseException as error:
            if inbound.said.media is not None:  # not stored: the re-delivery fetches it again
                await self._discard_unless_stored(engine, inbound, error)
            raise
        if accepted.duplicate:  # stored meanwhile by a concurrent delivery of the same webhook
            self._discard(inbound.said.media)
        return not accepted.duplicate

    async def _fetch(self, ref: MediaRef, wamid: str) -> ClientInput:
        """The file, saved encrypted in the data folder; a file we cannot take is refused politely."""
        limit = self.files.max_bytes
        try:
            media = await self.graph.media(ref.media_id, limit)
        except MediaTooLargeError:
            return ClientInput(unsupported="file", media_name=ref.name)
        except GraphError as error:
            if error.status in MEDIA_GONE and error.code not in (*TRANSIENT_CODES, *TOKEN_CODES, *APP_RATE):
                return ClientInput(unsupported="file", media_name=ref.name)  # the id is unknown, or expired
            return self._fetch_failed(ref, wamid, error)  # a hiccup, a rate limit, a token to fix...
        except (httpx.HTTPError, TimeoutError) as error:
            return self._fetch_failed(ref, wamid, error)
        self._file_failures.pop(wamid, None)
        try:
            path = await asyncio.to_thread(self.files.save, media.content)
        except RejectedFileError:
            return ClientInput(unsupported="file", media_name=ref.name)
        return ClientInput(media=path, media_name=ref.name)

    def _fetch_failed(self, ref: MediaRef, wamid: str, error: Exception) -> ClientInput:
        """Raise (Meta sends the webhook again) until the file failed too often: then refuse it."""
        failures = self._file_failures.get(wamid, 0) + 1
        if failures >= FILE_ATTEMPTS:
            self._file_failures.pop(wamid, None)
            log.warning("whatsapp media could not be fetched after %d attempts", failures)
            return ClientInput(unsupported="file", media_name=ref.name)
        if len(self._file_failures) >= MAX_REMEMBERED:  # bounded: forget the oldest
            del self._file_failures[next(iter(self._file_failures))]
        self._file_failures[wamid] = failures
        raise error

    async def _reconcile_loop(self) -> None:
        """Apply receipts once their message is known; send again as a template what Meta
        refused for the closed window."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconcile.wait(), RECONCILE_SECONDS)
            self._reconcile.clear()
            try:
                engine = self._engine()
                async with engine.database.begin() as connection:
                    resent = await apply_receipts(
                        connection,
                        self.clock(),
                        resend_codes=frozenset({WINDOW_CLOSED}),
                        unreachable_codes=frozenset({UNDELIVERABLE}),
                    )
                if resent:
                    log.info("whatsapp: %d message(s) sent again as a template (window closed)", len(resent))
                engine.notify()
            except Exception as error:
                log.warning("whatsapp receipts not applied yet: %s", describe(error))

    # --- out -------------------------------------------------------------------------------------

    def recently_sent(self, recipient: str, ages: Sequence[float]) -> None:
        """The outbox's word on the client's last sends (seconds ago), by any process: its window
        counts them, so a client moving between processes is not sent too much at once."""
        self.limiter.seed(recipient, ages)

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> str | Delivered | None:
        """Send one reply: inside the window as text and interactive messages, then its document if
        it has one; outside it as the approved template, without the document (a template cannot
        carry it). A retry resumes after what a previous attempt sent."""
        paused = self.limiter.paused_for(recipient)
        if paused > 1.0:  # Meta asked to slow down: the row waits in the outbox
            raise DeliveryError("whatsapp paused", retry_after=paused)
        parts = render.messages(payload, self.catalog)
        document = documents.document_of(payload)
        if payload.get("resent_after") == WINDOW_CLOSED:  # Meta refused it after accepting it
            return _without(document, await self._send_templates(recipient, payload, parts, 0))
        first = int(payload.get("sent_parts") or 0)
        if "template_parts" in payload or not await self._window_open(recipient):
            if first >= len(parts):  # the text went out in the window; only the document was left
                return Delivered(payload.get("text_wamid"), {"document": documents.WINDOW_CLOSED})
            return _without(document, await self._send_templates(recipient, payload, parts[first:], first))
        # Read before anything is sent: a storage hiccup then costs a retry, never a repeat.
        content = None if document is None else await self._read(document)
        sent_id: str | None = payload.get("text_wamid")
        for index in range(first, len(parts)):
            try:
                await self.limiter.acquire(recipient, within=MAX_WAIT)
                sent_id = await self._send(recipient, parts[index])
            except _WindowClosedError:  # the window closed between two parts: the rest as templates
                rest = await self._send_templates(recipient, payload, parts[index:], index)
                return _without(document, rest)
            except (DeliveryError, WaitTooLongError) as error:
                raise _retry(error, {"sent_parts": index} if index else None) from None
        if document is None:
            return sent_id
        if content is None:
            return Delivered(sent_id, {"document": documents.MISSING})
        try:
            return await self._send_document(recipient, document, content)
        except _WindowClosedError:  # closed right after the text: the text stays, the file is noted
            return Delivered(sent_id, {"document": documents.WINDOW_CLOSED})
        except (DeliveryError, WaitTooLongError) as error:  # the retry sends the document only
            raise _retry(error, {"sent_parts": len(parts), "text_wamid": sent_id}) from None

    async def _send_document(self, recipient: str, document: documents.Document, content: bytes) -> str:
        """Upload the file, then send it as a document message (paced like any message)."""
        try:
            media_id = await self.graph.upload(content, document.mime, document.filename)
        except GraphError as error:
            refusal = self._refusal(recipient, error)
            if isinstance(refusal, _WindowClosedError):  # not a send: not the window's doing
                refusal = DeliveryError(f"whatsapp {WINDOW_CLOSED} on upload", permanent=True)
            raise refusal from None
        except (httpx.HTTPError, TimeoutError) as error:
            raise DeliveryError(f"whatsapp upload {type(error).__name__}") from None
        await self.limiter.acquire(recipient, within=MAX_WAIT)
        return await self._send(recipient, render.document(media_id, document.filename))

    async def _read(self, document: documents.Document) -> bytes | None:
        try:
            return await documents.read_document(self.files, document)
        except OSError as error:
            log.warning("whatsapp: document not readable now, retrying: %s", describe(error))
            raise DeliveryError("document unreadable") from None

    async def _send_templates(
        self, recipient: str, payload: dict[str, Any], parts: list[render.Message], sent_parts: int
    ) -> Delivered:
        """``parts`` (what was not sent yet) as approved templates, as many as their text takes."""
        name, code = self.settings.whatsapp_template(render.language_of(payload))
        sent_id: str | None = None
        templates = render.templates(parts, name, code)
        for index in range(int(payload.get("template_parts") or 0), len(templates)):
            try:
                await self.limiter.acquire(recipient, within=MAX_WAIT)
                sent_id = await self._send(recipient, templates[index])
            except _WindowClosedError:  # never for a template; if Graph says so, it is not ours to fix
                raise DeliveryError("whatsapp 131047 for a template", permanent=True) from None
            except (DeliveryError, WaitTooLongError) as error:
                # Nothing sent yet: no progress, so the next try looks at the window again.
                progress = {"sent_parts": sent_parts, "template_parts": index}
                raise _retry(error, progress if sent_parts or index else None) from None
        return Delivered(sent_id, {"via": "template", "template": name})

    async def _window_open(self, recipient: str) -> bool:
        """Whether the client wrote within 24 hours. A window only ever grows (a new message
        pushes its end), so an end read earlier that is still well ahead needs no query."""
        now = self.clock()
        known = self._window_ends.get(recipient)
        if known is not None and now + WINDOW_MARGIN < known:
            return True
        async with self._engine().database.connect() as connection:
            closes = await windows.closes_at(connection, CHANNEL, recipient, self._engine().pseudonyms)
        if closes is not None:
            if len(self._window_ends) >= MAX_REMEMBERED:  # bounded: forget the oldest
                del self._window_ends[next(iter(self._window_ends))]
            self._window_ends.pop(recipient, None)
            self._window_ends[recipient] = closes
        return windows.is_open(closes, now)

    async def _send(self, recipient: str, message: dict[str, Any]) -> str:
        """One Graph call, its refusals mapped to what the outbox does about them."""
        try:
            return await self.graph.send(recipient, message)
        except GraphError as error:
            raise self._refusal(recipient, error) from None
        except (httpx.HTTPError, TimeoutError) as error:
            raise DeliveryError(f"whatsapp {type(error).__name__}") from None

    def _refusal(self, recipient: str, error: GraphError) -> Exception:
        code = error.code
        reason = f"whatsapp {code or error.status}: {error.title}"[:255]
        if code == WINDOW_CLOSED:
            return _WindowClosedError()
        if code == THROUGHPUT:
            self.limiter.pause_all(2.0)
            return DeliveryError(reason, retry_after=2.0)
        if code == PAIR_RATE:
            self.limiter.pause(recipient, PAIR_WAIT, flood=False)  # this client's limit, not the number's
            return DeliveryError(reason, retry_after=PAIR_WAIT)
        if code in APP_RATE:
            self.limiter.pause_all(60.0)
            return DeliveryError(reason, retry_after=60.0)
        if code == UNDELIVERABLE:
            return DeliveryError(reason, permanent=True, unreachable=True)
        if error.status >= 500 or code in TRANSIENT_CODES or code is None:
            return DeliveryError(reason)
        if code in TOKEN_CODES or error.status in (401, 403):
            log.error(
                "WhatsApp refuses to send (code %s): check WHATSAPP_ACCESS_TOKEN, its permissions and "
                "the account's payment method",
                code,
            )
            return DeliveryError(reason)
        log.error("whatsapp refused a message: code %s", code)  # Meta's wording may quote the client
        return DeliveryError(reason, permanent=True)

    # --- helpers ---------------------------------------------------------------------------------

    async def _discard_unless_stored(self, engine: Engine, inbound: Inbound, error: BaseException) -> None:
        """Storing failed: delete the file unless the write may still go through. A wait given up
        (timeout, cancellation) may have left a commit in flight, whose message is then the
        file's: kept when in doubt, as a stray file is better than a prescription lost."""
        if isinstance(error, (TimeoutError, asyncio.CancelledError)):
            return
        with contextlib.suppress(Exception):
            if not await engine.is_stored(CHANNEL, inbound.external_id):
                self._discard(inbound.said.media)

    def _discard(self, path: str | None) -> None:
        """Delete a file saved for a message that was not stored, so no copy is left behind."""
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                self.files.delete(path)

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("the WhatsApp channel is not started")
        return self.engine

    def _spawn(self, job: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _quietly(job: Awaitable[Any]) -> None:
        with contextlib.suppress(GraphError, httpx.HTTPError, TimeoutError):
            await job


def _without(document: documents.Document | None, delivered: Delivered) -> Delivered:
    """A message sent as templates: its document, if any, was not sent (a template cannot carry
    one); the row says so."""
    if document is None:
        return delivered
    return Delivered(delivered.external_id, {**delivered.note, "document": documents.WINDOW_CLOSED})


def _retry(error: DeliveryError | WaitTooLongError, progress: dict[str, Any] | None) -> DeliveryError:
    """The outbox's retry of a message partly sent: what went out is kept in ``progress``."""
    if isinstance(error, WaitTooLongError):  # a long pause: the row waits in the outbox, not here
        error = DeliveryError("whatsapp paused", retry_after=error.seconds)
    error.progress = progress
    return error


async def _read_body(request: Request) -> bytes:
    """The raw body, refused past the limit without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise HTTPException(413, "webhook too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            raise HTTPException(413, "webhook too large")
        chunks.append(chunk)
    return b"".join(chunks)
