"""Times the answers the platforms wait for (webhooks) and the web chat's posts, for ``/metrics``.

A pure ASGI middleware, outermost, so the time includes the guard's reading of the body: what the
caller feels. Other requests pass through with one dict lookup.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from bot.metrics import Metrics


class AnswerTimer:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.routes = metrics.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        timed = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if timed is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            timed.observe(time.perf_counter() - started)
