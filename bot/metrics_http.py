"""``GET /metrics`` on a listener of its own (``METRICS_HOST``:``METRICS_PORT``), never on the public
app: a plain asyncio server in the service's event loop, one request per connection.

If the port is taken the service goes on serving its clients: an ERROR says so, and there are no
metrics until it is restarted with a free ``METRICS_PORT``.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.logs import describe
from bot.metrics import Metrics

log = logging.getLogger(__name__)

MAX_HEAD = 8192  # a request's line and headers; a scraper's are a few hundred bytes
READ_TIMEOUT = 10.0


async def start_metrics(metrics: Metrics, host: str, port: int | None) -> asyncio.Server | None:
    """Listen for scrapes; None when ``port`` is None (off) or cannot be bound (logged)."""
    if port is None:
        return None

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _answer(metrics, reader, writer)
        except Exception as error:  # a scraper that goes away mid-answer
            log.debug("metrics: request ended: %s", describe(error))
        finally:
            writer.close()

    try:
        server = await asyncio.start_server(serve, host, port, limit=MAX_HEAD)
    except OSError as error:
        log.error(
            "metrics: cannot listen on %s:%s (METRICS_PORT) — %s; serving clients without /metrics",
            host,
            port,
            type(error).__name__,
        )
        return None
    log.info("metrics on http://%s:%s/metrics", host, port)
    return server


async def _answer(metrics: Metrics, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async with asyncio.timeout(READ_TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
    method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
    path = rest.split(" ", 1)[0].split("?", 1)[0]
    if path != "/metrics":
        await _reply(writer, "404 Not Found", b"not found\n", "text/plain; charset=utf-8")
    elif method not in ("GET", "HEAD"):
        await _reply(writer, "405 Method Not Allowed", b"GET only\n", "text/plain; charset=utf-8")
    else:
        await metrics.refresh()
        body = generate_latest(metrics.registry)
        await _reply(writer, "200 OK", b"" if method == "HEAD" else body, CONTENT_TYPE_LATEST)


async def _reply(writer: asyncio.StreamWriter, status: str, body: bytes, content_type: str) -> None:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


async def stop_metrics(server: asyncio.Server | None) -> None:
    if server is not None:
        server.close()
        await server.wait_closed()
