"""The web chat's doors under a flood: per browser, per address and per new conversation, with a
polite 429 the page shows, and the console told how much was refused."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio

from flows.catalog import Catalog
from storage.tables import cases, messages
from tests.integration.serving import Service
from tests.integration.throttled import serve_throttled

ADVISOR = "je veux parler à un conseiller"
PASSWORD = "correct horse battery staple"
REDIS_URL = os.environ.get("OPTIBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"
CONVERSATION = [
    "bonjour",
    "j'ai perdu mes lunettes",
    "oui",
    "non",
    "par la poste",
    "8 avenue Jean Jaurès 69007 Lyon",
    "Jean Dupont",
    "06 98 76 54 32",
    "je ne sais pas",  # the insurance
    "oui",
]
NAMES = ["Jean Dupont", "Marie Curie", "Paul Martin", "Lucie Bernard", "Hugo Petit"]
TEXTS = Catalog.load()


def _post(base: str, text: str, **kwargs: Any) -> Callable[[], Awaitable[httpx.Response]]:
    async def post() -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, timeout=15, **kwargs) as client:  # no cookie kept
            return await client.post("/api/chat/messages", json={"id": uuid.uuid4().hex, "text": text})

    return post


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 20) -> None:
    """Wait for a definite state of the database (not for time to pass)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.05)


async def _cases_reach(app: Service, count: int) -> None:
    async def reached() -> bool:
        return len(await app.rows(cases)) >= count

    await _eventually(reached, f"{count} cases")


def _refused_politely(response: httpx.Response, language: str = "fr") -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {"detail": TEXTS.text(language, "web.too_fast")}
    assert 1 <= int(response.headers["retry-after"]) <= 3600
    assert "set-cookie" not in response.headers  # a refused newcomer gets no conversation


async def _flood_opens_at_most_the_limit(app: Service) -> None:
    answers = await asyncio.gather(*(_post(app.base, ADVISOR)() for _ in range(30)))
    accepted = [a for a in answers if a.status_code == 202]
    assert len(accepted) == 5  # WEB_CHAT_NEW_CHATS_PER_ADDRESS: 5 a minute
    for refused in (a for a in answers if a.status_code != 202):
        _refused_politely(refused)
    await _cases_reach(app, 5)
    assert len(await app.rows(messages, messages.c.direction == "in")) == 5  # the others never stored
    assert len(await app.rows(cases)) == 5


async def _signed_in_staff(app: Service) -> httpx.AsyncClient:
    await app.services.accounts.add("alice", PASSWORD, "operator")
    staff = httpx.AsyncClient(base_url=app.base, timeout=15)
    response = await staff.post("/api/console/login", json={"name": "alice", "password": PASSWORD})
    assert response.status_code == 200
    return staff


async def _traffic_event(staff: httpx.AsyncClient, started: asyncio.Event, webchat: int) -> dict[str, Any]:
    """The console's live stream's ``traffic`` event that counts ``webchat`` refusals."""
    async with staff.stream("GET", "/api/console/events") as stream:
        event = ""
        async for line in stream.aiter_lines():
            if line.startswith("retry:"):
                started.set()
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "traffic":
                found: dict[str, Any] = json.loads(line[6:])
                if found["refused"]["webchat"] >= webchat:
                    return found
    raise AssertionError("the stream ended")


async def test_a_cookieless_flood_opens_only_a_few_cases_and_the_console_is_told(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_throttled(database_url, tmp_path) as app:
        staff = await _signed_in_staff(app)
        started = asyncio.Event()
        listener = asyncio.create_task(_traffic_event(staff, started, 25))
        await asyncio.wait_for(started.wait(), 10)
        await _flood_opens_at_most_the_limit(app)
        traffic = await asyncio.wait_for(listener, 15)
        assert traffic["refused"]["webchat"] == 25
        assert traffic["refused"]["login"] == 0
        await staff.aclose()


async def test_invented_cookies_are_new_conversations_too(database_url: str, tmp_path: Path) -> None:
    async with serve_throttled(database_url, tmp_path) as app:

        async def invented() -> httpx.Response:
            return await _post(app.base, ADVISOR, cookies={"optibot_chat": secrets.token_urlsafe(24)})()

        answers = await asyncio.gather(*(invented() for _ in range(12)))
        assert [a.status_code for a in answers].count(202) == 5
        english = await _post(app.base, ADVISOR)()  # and without a cookie: the same count
        assert english.status_code == 429


async def test_clients_behind_one_address_chat_at_their_pace_unrefused(
    database_url: str, tmp_path: Path
) -> None:
    """Five clients of one hospital (one address) open the page and walk through a whole request
    as fast as the replies come; then one of them writes on, up to 20 messages in the minute:
    none is refused. Its 21st message within the minute is, in English for an English page."""
    async with serve_throttled(database_url, tmp_path) as app:

        async def client(number: int) -> httpx.AsyncClient:
            browser = httpx.AsyncClient(base_url=app.base, timeout=15)
            assert (await browser.get("/api/chat/history")).status_code == 200  # the cookie
            for step, text in enumerate(CONVERSATION):
                said = NAMES[number] if text == "Jean Dupont" else text
                response = await browser.post(
                    "/api/chat/messages", json={"id": f"client{number}-{step:04}", "text": said}
                )
                assert response.status_code == 202, response.text

                async def answered(step: int = step) -> bool:
                    history = (await browser.get("/api/chat/history")).json()["messages"]
                    return (
                        sum(m["direction"] == "in" for m in history) > step
                        and history[-1]["direction"] == "out"
                    )

                await _eventually(answered, f"the reply to step {step}")
            return browser

        browsers = await asyncio.gather(*(client(n) for n in range(5)))
        await _cases_reach(app, 5)
        chatty = browsers[0]
        for n in range(20 - len(CONVERSATION)):  # 20 in the minute: WEB_CHAT_MESSAGES_PER_BROWSER
            body = {"id": f"burst-{n:04}", "text": "encore une question", "lang": "en"}
            assert (await chatty.post("/api/chat/messages", json=body)).status_code == 202
        body = {"id": "burst-9999", "text": "encore une question", "lang": "en"}
        response = await chatty.post("/api/chat/messages", json=body)
        assert response.status_code == 429
        assert response.json() == {"detail": TEXTS.text("en", "web.too_fast")}
        for browser in browsers:
            await browser.aclose()


async def test_uploads_are_limited_per_browser(database_url: str, tmp_path: Path) -> None:
    async with (
        serve_throttled(database_url, tmp_path) as app,
        httpx.AsyncClient(base_url=app.base, timeout=15) as browser,
    ):
        await browser.get("/api/chat/history")
        codes = []
        for n in range(6):
            files = {"file": ("photo.jpg", b"\xff\xd8\xff\xe0 not much of a photo", "image/jpeg")}
            response = await browser.post("/api/chat/files", data={"id": f"upload-{n:04}"}, files=files)
            codes.append(response.status_code)
        assert codes == [202] * 5 + [429]


async def _redis_reason() -> str | None:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as error:
        return f"{type(error).__name__}: {error}"
    finally:
        await client.aclose()
    return None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_two_processes_share_their_counts_in_redis(database_url: str, tmp_path: Path) -> None:
    """Two apps on one database and one Redis: together they admit one limit's worth."""
    reason = await _redis_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"Redis is required under CI=true and is unreachable: {reason}")
        pytest.skip(reason)
    namespace = f"test-{secrets.token_hex(6)}"
    shared = {"rate_limit_storage": REDIS_URL, "namespace": namespace}
    async with (
        serve_throttled(database_url, tmp_path / "one", **shared) as one,
        serve_throttled(database_url, tmp_path / "two", **shared) as two,
    ):
        answers = await asyncio.gather(*(_post(app.base, ADVISOR)() for _ in range(15) for app in (one, two)))
        assert [a.status_code for a in answers].count(202) == 5
        assert [a.status_code for a in answers].count(429) == 25
        await _cases_reach(one, 5)
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"*{namespace}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
