"""A thin client of the WhatsApp Cloud API (Meta's Graph API) on httpx: send, mark read, media
(fetch a client's, upload ours).

Ours rather than an SDK's: the host and version come from the settings (a fake server in tests),
and errors keep Graph's own code, which decides what the outbox does about them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx

from bot.channels.whatsapp.transport import AiohttpTransport
from bot.channels.whatsapp.wire import Message

SEND_TIMEOUT = 15.0  # seconds before a call is given up (then retried by the outbox)
MEDIA_TIMEOUT = 60.0
# Enough for Meta's 80 messages a second at ~300 ms each; idle ones kept alive a while (reopening
# costs a TLS handshake).
MAX_CONNECTIONS = 32


class GraphError(Exception):
    """Graph answered an error: ``code`` is Meta's (131047, 130429...), ``status`` the HTTP one."""

    def __init__(self, status: int, code: int | None, title: str, details: str = "") -> None:
        super().__init__(f"graph {status} #{code}: {title}")
        self.status = status
        self.code = code
        self.title = title
        self.details = details


class MediaTooLargeError(Exception):
    """The client's file is larger than the service takes."""


@dataclass(frozen=True, slots=True)
class Media:
    content: bytes
    mime_type: str


class GraphClient:
    """One business phone number on the Cloud API. ``transport``: by default aiohttp's pool
    (:mod:`.transport`); a test's ``httpx.MockTransport`` answers in Graph's place."""

    def __init__(
        self,
        base_url: str,
        token: str,
        phone_number_id: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.phone_number_id = phone_number_id
        self._base = base_url.rstrip("/") + "/"
        self._transport = transport or AiohttpTransport(MAX_CONNECTIONS)
        # Sends, read marks and media lookups go straight to the transport (see :meth:`_call`);
        # the client serves uploads and downloads, on the same connections.
        self._http = httpx.AsyncClient(
            base_url=self._base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=SEND_TIMEOUT,
            transport=self._transport,
            trust_env=False,  # the transport reads the proxy settings itself
        )
        self._auth = {"Authorization": f"Bearer {token}"}
        self._json = {**self._auth, "Content-Type": "application/json"}
        self._timeout = httpx.Timeout(SEND_TIMEOUT).as_dict()
        self._messages = httpx.URL(f"{self._base}{phone_number_id}/messages")

    async def close(self) -> None:
        await self._http.aclose()

    async def send(self, recipient: str, message: Message) -> str:
        """Send one message (``message`` has its ``type`` and content); returns its wamid."""
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **address(recipient),
            **message,
        }
        answer = await self._call("POST", self._messages, body)
        try:
            return str(answer["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise GraphError(200, None, "no message id in the answer") from None

    async def mark_read(self, wamid: str) -> None:
        """Blue ticks on the client's message, and the typing indicator while the bot answers."""
        await self._call(
            "POST",
            self._messages,
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": wamid,
                "typing_indicator": {"type": "text"},
            },
        )

    async def upload(self, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file the business sends (``POST /{phone-number-id}/media``); returns its media id."""
        response = await self._http.post(
            f"{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
            timeout=MEDIA_TIMEOUT,
        )
        answer = _answer(response.status_code, response.content)
        media_id = answer.get("id")
        if not isinstance(media_id, str | int) or not str(media_id):
            raise GraphError(200, None, "no media id in the answer")
        return str(media_id)

    async def media(self, media_id: str, limit: int) -> Media:
        """The bytes of a client's file: its id gives a short-lived URL, fetched with the token."""
        info = await self._call("GET", httpx.URL(self._base + media_id))
        url, size = info.get("url"), info.get("file_size")
        if not isinstance(url, str):
            raise GraphError(200, None, "no media url")
        if isinstance(size, str) and size.isdigit():  # Graph has sent it as a string
            size = int(size)
        if isinstance(size, int) and size > limit:
            raise MediaTooLargeError
        chunks: list[bytes] = []
        received = 0
        async with self._http.stream("GET", url, timeout=MEDIA_TIMEOUT) as response:
            if response.status_code != 200:
                raise GraphError(response.status_code, None, "media download refused")
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > limit:
                    raise MediaTooLargeError
                chunks.append(chunk)
        content = b"".join(chunks)
        if not _checksum_matches(content, info.get("sha256")):
            raise GraphError(200, None, "media checksum mismatch")
        mime = info.get("mime_type") or response.headers.get("content-type", "")
        return Media(content, str(mime))

    async def _call(self, method: str, url: httpx.URL, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One JSON call, handed to the transport without httpx's client around it (redirects,
        cookies, auth flows, hooks: none of which Graph needs), a sixth of the event loop on the
        WhatsApp bench. Network errors are httpx's, as through the client."""
        if body is None:
            request = httpx.Request(method, url, headers=self._auth, extensions={"timeout": self._timeout})
        else:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            request = httpx.Request(
                method, url, headers=self._json, content=content, extensions={"timeout": self._timeout}
            )
        response = await self._transport.handle_async_request(request)
        try:
            raw = await response.aread()
        finally:
            await response.aclose()
        return _answer(response.status_code, raw)


def _answer(status: int, raw: bytes) -> dict[str, Any]:
    """Graph's JSON object, or the :class:`GraphError` it (or whatever answered) means."""
    try:
        answer = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        answer = None
    if status >= 400 or not isinstance(answer, dict):
        raise _error(status, answer)
    return answer


def _checksum_matches(content: bytes, expected: Any) -> bool:
    """Whether ``content`` has the SHA-256 Graph gave, in hex or in base64 (both are seen); no
    checksum given passes."""
    if not isinstance(expected, str) or not expected:
        return True
    digest = hashlib.sha256(content).digest()
    if expected.lower() == digest.hex():
        return True
    padded = expected + "=" * (-len(expected) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_" if "-" in padded or "_" in padded else None) == digest
    except (binascii.Error, ValueError):
        return False


def address(recipient: str) -> dict[str, str]:
    """A phone number (wa_id, digits) goes in ``to``; a business-scoped user id in ``recipient``."""
    return {"to": recipient} if recipient.isdigit() else {"recipient": recipient}


def _error(status: int, answer: Any) -> GraphError:
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):  # a proxy's page, a body that is not Graph's
        return GraphError(status, None, "unexpected answer")
    code = error.get("code")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else ""
    return GraphError(
        status,
        code if isinstance(code, int) else None,
        str(error.get("message") or error.get("type") or "error")[:200],
        str(details or "")[:500],
    )
