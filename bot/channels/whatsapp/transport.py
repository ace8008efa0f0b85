"""httpx's transport for the Graph API, on aiohttp's connection pool.

Why: httpcore checks every idle connection of its pool on each request (a readability probe, a
system call each), and with its anyio and h11 layers it took ~60 % of the event loop on the
WhatsApp bench. aiohttp's pool hears of a connection closed by the server when it happens and
hands out an idle one without probing (aiohttp is installed anyway: aiogram's transport).

The client stays httpx's (:class:`GraphClient`'s code, its errors and the tests' ``MockTransport``
unchanged): this transport only moves bytes, and turns aiohttp's errors into httpx's.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp
import certifi
import httpx
import yarl
from aiohttp.helpers import get_env_proxy_for_url

CHUNK = 64 * 1024
# Idle connections are dropped after this long: before a server's own idle timeout closes one
# under a request (uvicorn's is 5 s; Meta's is longer), and reopening is one TLS handshake.
KEEPALIVE_SECONDS = 4.0
_SET_BY_AIOHTTP = frozenset({"host", "content-length"})  # from the URL and the body


class AiohttpTransport(httpx.AsyncBaseTransport):
    """At most ``max_connections`` connections, kept alive ``keepalive`` seconds when idle. The
    session is opened on the first request (inside the running loop); proxies from the
    environment (``HTTPS_PROXY``, ``NO_PROXY``) are honoured as httpx does, with certifi's roots."""

    def __init__(self, max_connections: int, keepalive: float = KEEPALIVE_SECONDS) -> None:
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], tuple[yarl.URL | None, aiohttp.BasicAuth | None]] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=self._keepalive,
            ssl=ssl.create_default_context(cafile=certifi.where()),
        )
        # httpx decodes the body itself (Content-Encoding), and sets every header it sends.
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            trust_env=False,  # with it, aiohttp reads ~/.netrc on every request: proxies are ours
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        limits = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=limits.get("pool"),
            sock_connect=limits.get("connect"),
            sock_read=limits.get("read"),
        )
        body = await request.aread()
        proxy, proxy_auth = self._proxy(request.url)
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _SET_BY_AIOHTTP]
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=body or None,
                timeout=timeout,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
            )
        except Exception as error:
            raise _translated(error, request, connecting=True) from error
        return httpx.Response(
            response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            stream=_Body(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    def _proxy(self, url: httpx.URL) -> tuple[yarl.URL | None, aiohttp.BasicAuth | None]:
        """The proxy the environment names for this host (``HTTPS_PROXY``, ``NO_PROXY``...), read
        once per host."""
        key = (url.scheme, url.host)
        if key not in self._proxies:
            try:
                self._proxies[key] = get_env_proxy_for_url(yarl.URL(str(url)))
            except LookupError:
                self._proxies[key] = (None, None)
        return self._proxies[key]

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


class _Body(httpx.AsyncByteStream):
    """The response's body as aiohttp reads it; the connection goes back to the pool once read
    (or closed, when given up)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK):
                yield chunk
        except Exception as error:
            raise _translated(error, self._request, connecting=False) from error

    async def aclose(self) -> None:
        self._response.release()


def _translated(error: Exception, request: httpx.Request, *, connecting: bool) -> Exception:
    """aiohttp's error as httpx's, which the channel already knows what to do with."""
    if isinstance(error, aiohttp.ClientConnectorError | aiohttp.ClientProxyConnectionError):
        return httpx.ConnectError(str(error) or type(error).__name__, request=request)
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout("connect timed out", request=request)
    if isinstance(error, aiohttp.SocketTimeoutError | asyncio.TimeoutError):
        return httpx.ReadTimeout("read timed out", request=request)
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(str(error) or type(error).__name__, request=request)
    if isinstance(error, aiohttp.ClientResponseError):  # an answer aiohttp could not parse
        return httpx.RemoteProtocolError(error.message or "bad answer", request=request)
    if isinstance(error, aiohttp.ClientError | OSError):
        kind = httpx.ConnectError if connecting else httpx.ReadError
        return kind(str(error) or type(error).__name__, request=request)
    return error  # not the network's: as it is
