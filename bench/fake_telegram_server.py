"""The fake Telegram Bot API of the tests, served from its own process for the Telegram benchmarks.

Run as ``python -m bench.fake_telegram_server [--enforce-limits]``: it serves the Bot API on one
loopback port and a small control API on another, prints ``{"api": URL, "control": URL}`` as its
first line, and runs until ``POST /stop`` (or SIGTERM). A separate process keeps the fake's own
work off the event loop being measured.

Control API (JSON): ``GET /state`` (counts, the times sends were accepted), ``GET /chat/{id}`` (the
messages sent to a chat, as Telegram's ``Message`` objects), ``POST /queries`` (callback query ids
the client side is about to use: the fake answers ``answerCallbackQuery`` only for ids it issued),
``POST /stop``.

:class:`FakeTelegramProcess` starts the process and speaks the control API from the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from typing import Any

from aiohttp import web

from bench.fake_process import FakeProcess, serve_fake
from tests.fakes.telegram import TOKEN, FakeTelegram

Json = dict[str, Any]


def control_routes(fake: FakeTelegram, router: web.UrlDispatcher) -> None:
    async def state(request: web.Request) -> web.Response:
        statuses = Counter(f"{r.method} {r.status}" for r in fake.requests)
        return web.json_response(
            {
                "sent": len(fake.sent),
                "sent_at": [m.at for m in fake.sent],
                "too_many": fake.too_many,
                "too_many_at": [r.at for r in fake.requests if r.status == 429],
                "flood_rejected": fake.flood_rejected,
                "requests": len(fake.requests),
                "statuses": dict(statuses),
                "callback_answers": len(fake.callback_answers),
                "webhook": fake.webhook and fake.webhook.get("url"),
            }
        )

    async def chat(request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat"])
        return web.json_response([fake.message_json(m) for m in fake.messages_to(chat_id)])

    async def queries(request: web.Request) -> web.Response:
        ids = await request.json()
        # The fake only accepts answers to queries it created itself: these are created by the bench.
        fake.allow_queries(str(i) for i in ids)
        return web.json_response({"ok": True})

    router.add_get("/state", state)
    router.add_get("/chat/{chat}", chat)
    router.add_post("/queries", queries)


async def serve(enforce_limits: bool) -> None:
    fake = FakeTelegram(TOKEN, enforce_limits=enforce_limits)
    await serve_fake(fake, lambda router: control_routes(fake, router))


class FakeTelegramProcess(FakeProcess):
    """The fake in a child process: ``async with FakeTelegramProcess(enforce_limits=True) as fake: ...``."""

    def __init__(self, *, enforce_limits: bool) -> None:
        super().__init__("bench.fake_telegram_server", ["--enforce-limits"] if enforce_limits else [])

    async def messages_to(self, chat_id: int) -> list[Json]:
        return list(await self._get(f"/chat/{chat_id}"))

    async def allow_queries(self, ids: list[str]) -> None:
        await self._post("/queries", ids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--enforce-limits", action="store_true", help="Telegram's rate limits, with 429s")
    args = parser.parse_args()
    asyncio.run(serve(args.enforce_limits))


if __name__ == "__main__":
    main()
