"""The ``flood`` scenario: the web chat and the console's sign-in flooded (see
``bench/faults/http/__init__.py``)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.faults import Figures, Scale, scenario
from bench.faults.http.counting import settle
from bench.faults.http.serving import App, add, each_database, serve

ADVISOR = "je veux parler à un conseiller"
OPERATOR, PASSWORD = "camille.flood", "correct-horse-battery-42"
LOGIN = "/api/console/login"


def _new_chat_limit(settings: Any) -> int:
    """The fewest new conversations one address may open in its shortest window."""
    from limits import parse_many

    value = getattr(settings, "web_chat_new_chats_per_address", "")
    return min((item.amount for item in parse_many(value)), default=0) if value.strip() else 0


async def _web_chat(app: App, posts: int, kind: str, figures: Figures) -> None:
    """``posts`` cookie-less posts asking for an advisor, all at once."""
    from storage.tables import cases

    limit = _new_chat_limit(app.services.settings)

    async def stranger(index: int) -> int:
        body = {"id": f"flood{index:04d}{secrets.token_hex(6)}", "text": ADVISOR}
        async with httpx.AsyncClient(base_url=app.base, timeout=30) as fresh:
            return (await fresh.post("/api/chat/messages", json=body)).status_code

    started = time.monotonic()
    statuses = Counter(await asyncio.gather(*map(stranger, range(posts))))
    add(figures, "flood_seconds_x100", round((time.monotonic() - started) * 100))
    await settle(app)
    (made,), *_ = await app.rows(sa.select(sa.func.count()).select_from(cases))
    figures.sent += posts
    figures.server_errors += sum(n for status, n in statuses.items() if status >= 500)
    figures.extra["new_chat_limit"] = limit
    add(figures, "new_cases", made)
    add(figures, "cases_over_limit", max(0, made - limit))
    add(figures, "flood_not_refused_with_429", posts - statuses[202] - statuses[429])
    figures.extra[f"{kind}_flood_statuses"] = " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))


async def _fail(client: httpx.AsyncClient, index: int, figures: Figures, headers: dict[str, str]) -> int:
    wrong = {"name": OPERATOR, "password": f"wrong-{index}"}
    status = (await client.post(LOGIN, json=wrong, headers=headers)).status_code
    figures.sent += 1
    figures.server_errors += status >= 500
    return status


async def _logins(app: App, failures: int, spread: bool, figures: Figures) -> None:
    """The rightful operator signs in from their device; ``failures`` wrong passwords for their
    name from this one address with a new ``X-Forwarded-For`` each (not a trusted proxy: one
    address, locked after ``MAX_FAILURES_PER_NAME``); with ``spread``, strangers from as many real
    addresses as it takes to lock the name itself (``MAX_FAILURES_PER_ACCOUNT``). The device
    signs in again after each."""
    from bot.console.auth import MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_NAME

    await app.services.accounts.add(OPERATOR, PASSWORD, "operator")
    credentials = {"name": OPERATOR, "password": PASSWORD}
    async with httpx.AsyncClient(base_url=app.base, timeout=30) as device:

        async def rightful() -> None:
            figures.sent += 1
            response = await device.post(LOGIN, json=credentials)
            add(figures, "rightful_login_refused", int(response.status_code != 200))

        await rightful()
        attempts: Counter[int] = Counter()
        async with httpx.AsyncClient(base_url=app.base, timeout=30) as attacker:
            for index in range(failures):
                forwarded = {"X-Forwarded-For": f"198.51.{index // 250}.{index % 250 + 1}"}
                attempts[await _fail(attacker, index, figures, forwarded)] += 1
        await rightful()
        add(figures, "failed_logins_answered_401", attempts[401])
        add(figures, "failed_logins_answered_429", attempts[429])
        # Past this many failures for the name from the one real address, a 429 is due: more
        # 401s mean the rotating X-Forwarded-For was believed.
        add(figures, "escaped_address_throttle", max(0, attempts[401] - MAX_FAILURES_PER_NAME))
        if not spread:
            return
        # Each stranger address fails as often as it may; the name's failures from everywhere
        # reach the account's limit and pass it by a margin.
        strangers: Counter[int] = Counter()
        addresses = (MAX_FAILURES_PER_ACCOUNT + 10) // MAX_FAILURES_PER_NAME + 1
        for number in range(addresses):
            local = httpx.AsyncHTTPTransport(local_address=f"127.0.{number // 250 + 1}.{number % 250 + 1}")
            async with httpx.AsyncClient(base_url=app.base, timeout=30, transport=local) as stranger:
                for index in range(MAX_FAILURES_PER_NAME):
                    strangers[await _fail(stranger, index, figures, {})] += 1
        elsewhere = httpx.AsyncHTTPTransport(local_address="127.0.200.1")
        async with httpx.AsyncClient(base_url=app.base, timeout=30, transport=elsewhere) as browser:
            figures.sent += 1
            locked = (await browser.post(LOGIN, json=credentials)).status_code == 429
        add(figures, "name_locked_for_other_browsers", int(locked))
        await rightful()
        add(figures, "stranger_logins_answered_401", strangers[401])
        add(figures, "stranger_logins_answered_429", strangers[429])


@scenario("flood")
async def flood(scale: Scale) -> Figures:
    """Cookie-less web-chat posts asking for an advisor at once; failed logins from rotating
    forwarded addresses (and, at the long scale, from many real ones), then the rightful operator
    from their device."""
    posts, failures = scale.pick(30, 300), scale.pick(20, 500)

    async def run(kind: str, url: str, folder: Path, figures: Figures) -> None:
        async with serve(url, folder) as app:
            await _web_chat(app, posts, kind, figures)
            await _logins(app, failures, scale.name == "long", figures)

    return await each_database("flood", run)
