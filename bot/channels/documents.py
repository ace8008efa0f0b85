"""A document attached to a bot message (the client's data export), as every channel reads it.

An outbound row may carry ``payload["document"] = {"path", "filename", "mime"}``: ``path`` is a
data-folder path of an encrypted file written by :meth:`storage.files.FileStore.save_document`.
The channels send the text first, then the document; a file gone or unreadable never stops the
text (the row notes ``document: missing``). The file name is the service's own, but it is still
kept out of the logs and cleaned before it goes into a header or an upload.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.logs import describe
from bot.outbox import DeliveryError
from storage.files import FileStore, RejectedFileError

log = logging.getLogger(__name__)

# The notes a channel leaves on the row (merged into its payload) when the document did not go.
MISSING = "missing"
WINDOW_CLOSED = "window_closed"

MAX_FILENAME = 120
DEFAULT_MIME = "application/octet-stream"
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')


@dataclass(frozen=True, slots=True)
class Document:
    path: str
    filename: str
    mime: str


def document_of(payload: Mapping[str, Any] | None) -> Document | None:
    """The document a message carries, or None; a malformed one is treated as a file gone."""
    found = (payload or {}).get("document")
    if found is None:
        return None
    if not isinstance(found, dict) or not isinstance(found.get("path"), str):
        return Document("", "document", DEFAULT_MIME)
    return Document(found["path"], clean_filename(found.get("filename")), clean_mime(found.get("mime")))


def clean_filename(name: Any) -> str:
    """A file name safe in a header and an upload: no path, quotes or control characters."""
    text = unicodedata.normalize("NFC", name) if isinstance(name, str) else ""
    text = _UNSAFE.sub("_", text).strip(" ._")[:MAX_FILENAME]
    return text or "document"


def clean_mime(mime: Any) -> str:
    value = mime.strip().lower() if isinstance(mime, str) else ""
    return value if _MIME.fullmatch(value) else DEFAULT_MIME


async def read_document(files: FileStore, document: Document) -> bytes | None:
    """The decrypted bytes, or None when the file is gone or cannot be decrypted (logged without
    its name). Any other failure to read (a storage hiccup) raises: the send is tried again."""
    if not document.path:
        log.warning("document: the message's document is malformed; sending the text without it")
        return None
    try:
        return await asyncio.to_thread(files.read, document.path)
    except (FileNotFoundError, RejectedFileError) as error:
        log.warning("document: file unavailable (%s); sending the text without it", type(error).__name__)
        return None


async def read_for_delivery(files: FileStore, document: Document, channel: str) -> bytes | None:
    """:func:`read_document` for a channel about to send: a file that cannot be read *now* (any
    other ``OSError``) makes the send fail for the outbox to try again."""
    try:
        return await read_document(files, document)
    except OSError as error:
        log.warning("%s: document not readable now, retrying: %s", channel, describe(error))
        raise DeliveryError("document unreadable") from None


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact one (RFC 6266 / 5987)."""
    ascii_name = (
        unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode().replace(" ", "_")
        or "document"
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
