"""A thin client of the WhatsApp Cloud API (Meta's Graph API) on httpx: send, mark read, media
(fetch a client's, upload ours).

Ours rather than an SDK's: the host and version come from the settings (a fake server in tests),
and errors keep Graph's own code, which decides what the outbox does about them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import httpx

from bot.channels.whatsapp.wire import Message

SEND_TIMEOUT = 15.0  # seconds before a call is given up (then retried by the outbox)
MEDIA_TIMEOUT = 60.0
# Enough for Meta's 80 messages a second at ~300 ms each; every connection kept alive (reopening
# costs a TLS handshake), and no more of them: httpcore scans its whole pool for every request.
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
    """One business phone number on the Cloud API. ``transport``: httpx's own (a test's
    ``httpx.MockTransport`` answers in Graph's place)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        phone_number_id: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.phone_number_id = phone_number_id
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=SEND_TIMEOUT,
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
            transport=transport,
        )

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
        answer = await self._call("POST", f"{self.phone_number_id}/messages", json=body)
        try:
            return str(answer["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise GraphError(200, None, "no message id in the answer") from None

    async def mark_read(self, wamid: str) -> None:
        """Blue ticks on the client's message, and the typing indicator while the bot answers."""
        await self._call(
            "POST",
            f"{self.phone_number_id}/messages",
            json={
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": wamid,
                "typing_indicator": {"type": "text"},
            },
        )

    async def upload(self, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file the business sends (``POST /{phone-number-id}/media``); returns its media id."""
        answer = await self._call(
            "POST",
            f"{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
            timeout=MEDIA_TIMEOUT,
        )
        media_id = answer.get("id")
        if not isinstance(media_id, str | int) or not str(media_id):
            raise GraphError(200, None, "no media id in the answer")
        return str(media_id)

    async def media(self, media_id: str, limit: int) -> Media:
        """The bytes of a client's file: its id gives a short-lived URL, fetched with the token."""
        info = await self._call("GET", media_id)
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

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._http.request(method, path, **kwargs)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400 or not isinstance(answer, dict):
            raise _error(response.status_code, answer)
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
