"""The fake Graph API of the tests, served from its own process for the WhatsApp benchmarks.

Run as ``python -m bench.fake_whatsapp_server [--max-per-second N] [--statuses]``: it serves the
Cloud API (``tests/fakes/whatsapp``) on one loopback port and a small control API on another,
prints ``{"api": URL, "control": URL}`` as its first line, and runs until ``POST /stop`` (or
SIGTERM). A separate process keeps the fake's own work off the event loop being measured.

What this wrapper adds to the test fake: the number's **throughput** (``--max-per-second``: at most
N sends accepted in any 1-second interval, counted at arrival; beyond, Graph's error 130429, HTTP
429), which the test fake does not enforce, and Meta's **pair rate** (``--pair-limit``, the test
fake's own ``pair_rate_limit``: N sends to one client in 6 s, then 131056). Without
``--statuses`` no ``sent``/``delivered`` webhooks are pushed back (there is no app to push them to
in the outbound scenario).

Control API (JSON): ``GET /state`` (counts, the times sends were accepted, the errors answered),
``GET /chat/{wa_id}`` (the messages sent to a client: type, text, buttons, wamid), ``POST /clients``
(``{"messages": {wamid: wa_id}, "windows": [wa_id]}``: client messages built by the benchmark, so
that marking them read is accepted and the 24-hour window is open), ``POST /webhook``
(``{"url": ...}``: where status webhooks go), ``POST /stop``.

:class:`FakeWhatsAppProcess` starts the process and speaks the control API from the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter, deque
from typing import Any

from aiohttp import web

from bench.fake_process import FakeProcess, serve_fake
from tests.fakes.whatsapp import DELIVERY_STATUSES, FakeWhatsApp, GraphError, SentMessage

Json = dict[str, Any]
THROUGHPUT = 130429
PAIR_RATE = 131056


class ThrottledWhatsApp(FakeWhatsApp):
    """The test fake, plus the number's throughput limit, counted when a send arrives."""

    def __init__(self, *, max_per_second: int | None, window: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_per_second = max_per_second
        self.window = window
        self.accepted_at: list[float] = []  # monotonic, every send accepted
        self.arrived_at: list[float] = []  # monotonic, every send (accepted or not)
        self.too_many = 0  # 130429 answered
        self._recent: deque[float] = deque()

    async def _send(self, body: Json, request: web.Request) -> Json:
        now = time.monotonic()
        self.arrived_at.append(now)
        if self.max_per_second is not None:
            recent = self._recent
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if len(recent) >= self.max_per_second:
                self.too_many += 1
                raise GraphError(THROUGHPUT)
        answer = await super()._send(body, request)  # may refuse too (131056, window, checks)
        self._recent.append(now)
        self.accepted_at.append(now)
        return answer


def sent_json(message: SentMessage) -> Json:
    return {
        "type": message.type,
        "interactive_type": message.interactive_type,
        "text": message.text,
        "buttons": [
            {"id": row["id"], "title": row["title"], "description": row.get("description", "")}
            for row in message.choices()
        ],
        "wamid": message.wamid,
        "status": message.status,
    }


def control_routes(fake: ThrottledWhatsApp, router: web.UrlDispatcher) -> None:
    async def state(request: web.Request) -> web.Response:
        calls = Counter(
            f"{'read' if (c.json or {}).get('status') == 'read' else c.path.rsplit('/', 1)[-1]}"
            f" {c.status}{' #' + str(c.error_code) if c.error_code else ''}"
            for c in fake.requests
        )
        return web.json_response(
            {
                "sent": len(fake.sent),
                "sent_at": fake.accepted_at,
                "arrived_at": fake.arrived_at,
                "too_many": fake.too_many,
                "pair_rate": sum(1 for c in fake.requests if c.error_code == PAIR_RATE),
                "errors": sum(1 for c in fake.requests if c.status >= 400),
                "read_marks": len(fake.read_marks),
                "requests": len(fake.requests),
                "calls": dict(calls),
                "webhooks": len(fake.webhook_attempts),
                "webhooks_failed": sum(
                    1
                    for _, outcome in fake.webhook_attempts
                    if not (isinstance(outcome, int) and outcome < 300)
                ),
            }
        )

    async def chat(request: web.Request) -> web.Response:
        return web.json_response([sent_json(m) for m in fake.messages_to(request.match_info["wa_id"])])

    async def clients(request: web.Request) -> web.Response:
        body = await request.json()
        # Client messages the benchmark built itself: known to the fake as if it had sent them.
        fake.clients_wrote(body.get("messages") or {}, body.get("windows") or ())
        return web.json_response({"ok": True})

    async def webhook(request: web.Request) -> web.Response:
        fake.webhook_url = (await request.json()).get("url")
        return web.json_response({"ok": True})

    router.add_get("/state", state)
    router.add_get("/chat/{wa_id}", chat)
    router.add_post("/clients", clients)
    router.add_post("/webhook", webhook)


async def serve(max_per_second: int | None, pair_limit: int | None, statuses: bool) -> None:
    fake = ThrottledWhatsApp(
        max_per_second=max_per_second,
        retry_delays=(),
        status_delay=0.0,
        pair_rate_limit=pair_limit,
        auto_statuses=DELIVERY_STATUSES if statuses else (),
    )
    await serve_fake(fake, lambda router: control_routes(fake, router))


class FakeWhatsAppProcess(FakeProcess):
    """The fake in a child process: ``async with FakeWhatsAppProcess(max_per_second=80) as fake: ...``."""

    def __init__(
        self, *, max_per_second: int | None = None, pair_limit: int | None = None, statuses: bool = False
    ) -> None:
        arguments = []
        if max_per_second is not None:
            arguments.append(f"--max-per-second={max_per_second}")
        if pair_limit is not None:
            arguments.append(f"--pair-limit={pair_limit}")
        if statuses:
            arguments.append("--statuses")
        super().__init__("bench.fake_whatsapp_server", arguments)

    async def messages_to(self, wa_id: str) -> list[Json]:
        return list(await self._get(f"/chat/{wa_id}"))

    async def clients(self, messages: dict[str, str] | None = None, windows: list[str] | None = None) -> None:
        await self._post("/clients", {"messages": messages or {}, "windows": windows or []})

    async def set_webhook(self, url: str | None) -> None:
        await self._post("/webhook", {"url": url})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-per-second", type=int, help="the number's throughput, with 130429 beyond")
    parser.add_argument("--pair-limit", type=int, help="sends to one client in 6 s, with 131056 beyond")
    parser.add_argument("--statuses", action="store_true", help="push sent/delivered webhooks back")
    args = parser.parse_args()
    asyncio.run(serve(args.max_per_second, args.pair_limit, args.statuses))


if __name__ == "__main__":
    main()
