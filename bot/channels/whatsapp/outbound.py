"""Replies out to WhatsApp, one at a time per client, as the outbox hands them over.

Inside the 24-hour window a reply goes out as text and interactive messages, then its document if
it has one; outside it (or when Meta reports 131047 for it) as the approved template, without the
document (a template cannot carry one). A retry resumes after what a previous attempt sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot import windows
from bot.channels import documents
from bot.channels.whatsapp import render
from bot.channels.whatsapp.messenger import WINDOW_CLOSED, Messenger, WindowClosedError
from bot.channels.whatsapp.updates import CHANNEL
from bot.channels.whatsapp.wire import Part
from bot.outbox import Delivered, DeliveryError
from flows.catalog import Catalog
from storage.database import Database
from storage.files import FileStore
from storage.payloads import DeliveryNote, OutboundPayload, SendProgress
from storage.privacy import Pseudonyms

log = logging.getLogger(__name__)

WINDOW_MARGIN = timedelta(minutes=5)  # a window ending sooner than this is read again before a send
MAX_WINDOWS_KEPT = 10_000  # windows kept in memory: the oldest is forgotten past this


class ClientWindows:
    """When each client's window closes, read from the inbox; a window only ever grows (a new
    message pushes its end), so an end read earlier that is still well ahead needs no query."""

    def __init__(self, database: Database, pseudonyms: Pseudonyms, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.pseudonyms = pseudonyms
        self.clock = clock
        self._ends: dict[str, datetime] = {}  # when each client's window closes, as last read

    async def is_open(self, recipient: str) -> bool:
        """Whether the client wrote within 24 hours."""
        now = self.clock()
        known = self._ends.get(recipient)
        if known is not None and now + WINDOW_MARGIN < known:
            return True
        async with self.database.connect() as connection:
            closes = await windows.closes_at(connection, CHANNEL, recipient, self.pseudonyms)
        if closes is not None:
            if len(self._ends) >= MAX_WINDOWS_KEPT:  # bounded: forget the oldest
                del self._ends[next(iter(self._ends))]
            self._ends.pop(recipient, None)
            self._ends[recipient] = closes
        return windows.is_open(closes, now)


class Outbound:
    """Delivers one reply: its parts, its document, or the templates that stand in for them."""

    def __init__(
        self,
        messenger: Messenger,
        windows: ClientWindows,
        catalog: Catalog,
        files: FileStore,
        template_for: Callable[[str], tuple[str, str]],
    ) -> None:
        self.messenger = messenger
        self.windows = windows
        self.catalog = catalog
        self.files = files
        self.template_for = template_for  # the approved template's name and language code

    async def deliver(self, recipient: str, payload: OutboundPayload) -> str | Delivered | None:
        """Send one reply (see the module's description); raises :class:`DeliveryError`."""
        paused = self.messenger.limiter.paused_for(recipient)
        if paused > 1.0:  # Meta asked to slow down: the row waits in the outbox
            raise DeliveryError("whatsapp paused", retry_after=paused)
        parts = render.messages(payload, self.catalog)
        document = documents.document_of(payload)
        if payload.get("resent_after") == WINDOW_CLOSED:  # Meta refused it after accepting it
            return _without(document, await self._send_templates(recipient, payload, parts, 0))
        first = int(payload.get("sent_parts") or 0)
        if "template_parts" in payload or not await self.windows.is_open(recipient):
            if first >= len(parts):  # the text went out in the window; only the document was left
                return Delivered(payload.get("text_wamid"), {"document": documents.WINDOW_CLOSED})
            return _without(document, await self._send_templates(recipient, payload, parts[first:], first))
        # Read before anything is sent: a storage hiccup then costs a retry, never a repeat.
        content = (
            None if document is None else await documents.read_for_delivery(self.files, document, "whatsapp")
        )
        sent_id: str | None = payload.get("text_wamid")
        for index in range(first, len(parts)):
            try:
                sent_id = await self.messenger.send(recipient, parts[index])
            except WindowClosedError:  # the window closed between two parts: the rest as templates
                rest = await self._send_templates(recipient, payload, parts[index:], index)
                return _without(document, rest)
            except DeliveryError as error:
                raise _retry(error, {"sent_parts": index} if index else None) from None
        if document is None:
            return sent_id
        if content is None:
            return Delivered(sent_id, {"document": documents.MISSING})
        try:
            return await self._send_document(recipient, document, content)
        except WindowClosedError:  # closed right after the text: the text stays, the file is noted
            return Delivered(sent_id, {"document": documents.WINDOW_CLOSED})
        except DeliveryError as error:  # the retry sends the document only
            raise _retry(error, {"sent_parts": len(parts), "text_wamid": sent_id}) from None

    async def _send_document(self, recipient: str, document: documents.Document, content: bytes) -> str:
        """Upload the file, then send it as a document message (paced like any message)."""
        media_id = await self.messenger.upload(recipient, content, document.mime, document.filename)
        return await self.messenger.send(recipient, render.document(media_id, document.filename))

    async def _send_templates(
        self, recipient: str, payload: OutboundPayload, parts: list[Part], sent_parts: int
    ) -> Delivered:
        """``parts`` (what was not sent yet) as approved templates, as many as their text takes."""
        name, code = self.template_for(render.language_of(payload))
        sent_id: str | None = None
        templates = render.templates(parts, name, code)
        for index in range(int(payload.get("template_parts") or 0), len(templates)):
            try:
                sent_id = await self.messenger.send(recipient, templates[index])
            except WindowClosedError:  # never for a template; if Graph says so, it is not ours to fix
                raise DeliveryError("whatsapp 131047 for a template", permanent=True) from None
            except DeliveryError as error:
                # Nothing sent yet: no progress, so the next try looks at the window again.
                progress: SendProgress = {"sent_parts": sent_parts, "template_parts": index}
                raise _retry(error, progress if sent_parts or index else None) from None
        return Delivered(sent_id, {"via": "template", "template": name})


def _without(document: documents.Document | None, delivered: Delivered) -> Delivered:
    """A message sent as templates: its document, if any, was not sent (a template cannot carry
    one); the row says so."""
    if document is None:
        return delivered
    note: DeliveryNote = {**delivered.note, "document": documents.WINDOW_CLOSED}
    return Delivered(delivered.external_id, note)


def _retry(error: DeliveryError, progress: SendProgress | None) -> DeliveryError:
    """The outbox's retry of a message partly sent: what went out is kept in ``progress``."""
    return DeliveryError(
        error.reason,
        permanent=error.permanent,
        retry_after=error.retry_after,
        unreachable=error.unreachable,
        progress=progress,
    )
