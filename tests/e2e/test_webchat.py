"""The web chat through `optibot run`: the real server process, a real HTTP client, live SSE replies."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.servers import running_service, service_process
from tests.integration.test_conversations import tiny_png
from tests.integration.test_telegram import INSURANCE_CARD


class Browser:
    """What the chat page does: history, posts with fresh ids, and the event stream."""

    def __init__(self, base: str) -> None:
        self.client = httpx.AsyncClient(base_url=base, timeout=10)
        self.cursor = 0
        self.last: list[dict[str, Any]] = []

    async def open(self) -> dict[str, Any]:
        response = await self.client.get("/api/chat/history")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        self.cursor = body["cursor"]
        return body

    async def replies(self, count: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        async with self.client.stream("GET", f"/api/chat/events?after={self.cursor}") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    message = json.loads(line[6:])
                    got.append(message)
                    self.cursor = message["id"]
                    if len(got) == count:
                        break
        self.last = got
        return got

    async def say(self, text: str, replies: int = 1, message_id: str | None = None) -> list[str]:
        body = {"id": message_id or uuid.uuid4().hex, "text": text}
        response = await self.client.post("/api/chat/messages", json=body)
        assert response.status_code == 202, response.text
        return [m["text"] for m in await self.replies(replies)] if replies else []

    async def press(self, value: str, replies: int = 1) -> list[str]:
        step = next(m["step"] for m in reversed(self.last) if m["choices"])
        assert value in [c["value"] for c in self.last[-1]["choices"]]
        body = {"id": uuid.uuid4().hex, "choice": value, "step": step}
        response = await self.client.post("/api/chat/messages", json=body)
        assert response.status_code == 202, response.text
        return [m["text"] for m in await self.replies(replies)]

    async def close(self) -> None:
        await self.client.aclose()


async def test_page_health_and_schema(database_url: str, tmp_path: Path) -> None:
    with running_service(database_url, tmp_path) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            page = await client.get("/")
            assert page.status_code == 200
            assert "text/html" in page.headers["content-type"]
            health = (await client.get("/healthz")).json()
            assert health["status"] == "ok"
            assert (health["set_aside"], health["outbox_maybe_duplicates"]) == (0, 0)
            schema = (await client.get("/openapi.json")).json()
            assert {"/api/chat/messages", "/api/chat/history", "/api/chat/files", "/healthz"} <= set(
                schema["paths"]
            )
            texts = (await client.get("/api/chat/texts?lang=en")).json()
            assert texts["send"] == "Send"


async def test_a_whole_conversation_in_the_web_chat(database_url: str, tmp_path: Path) -> None:
    with running_service(database_url, tmp_path) as base:
        browser = Browser(base)
        assert (await browser.open())["messages"] == []
        first = await browser.say("Ma monture est cassée, vraiment", replies=2)
        assert "Opticiens Mobiles" in first[0]
        await browser.press("yes")
        await browser.press("health")
        await browser.say("envoi par la poste")
        await browser.say("5 rue des Lilas 33000 Bordeaux")
        await browser.say("Camille Durand")
        insurance = await browser.say("06 12 34 56 78")
        assert "avez-vous une mutuelle" in insurance[0]
        assert [c["value"] for c in browser.last[-1]["choices"]] == ["none", "skip"]
        # The card's photo straight away, sent like a prescription: the name is on it.
        upload = await browser.client.post(
            "/api/chat/files",
            data={"id": "f-card-01"},
            files={"file": ("carte.jpg", INSURANCE_CARD, "image/jpeg")},
        )
        assert upload.status_code == 202
        received, summary = [m["text"] for m in await browser.replies(2)]
        assert received == "Carte de mutuelle bien reçue, merci."
        assert "Camille Durand" in summary
        assert "33000 Bordeaux" in summary
        assert "• Mutuelle : voir la carte (carte reçue)" in summary
        done = await browser.press("confirm")
        assert "OB-" in done[0]
        history = await browser.open()
        assert [m["direction"] for m in history["messages"]][:3] == ["in", "out", "out"]
        await browser.close()


async def test_duplicate_post_and_prescription_upload(database_url: str, tmp_path: Path) -> None:
    with running_service(database_url, tmp_path) as base:
        browser = Browser(base)
        await browser.open()
        await browser.say(
            "elles ne me conviennent plus, nouvelle ordonnance", replies=2, message_id="m-000001"
        )
        again = await browser.client.post("/api/chat/messages", json={"id": "m-000001", "text": "x"})
        assert again.json() == {"status": "duplicate"}
        upload = await browser.client.post(
            "/api/chat/files",
            data={"id": "f-000001"},
            files={"file": ("ordonnance.png", tiny_png(), "image/png")},
        )
        assert upload.status_code == 202
        texts = [m["text"] for m in await browser.replies(2)]
        assert texts[0] == "Ordonnance bien reçue, merci."
        forged = await browser.client.post(
            "/api/chat/files",
            data={"id": "f-000002"},
            files={"file": ("evil.svg", b"<svg onload=alert(1)>", "image/svg+xml")},
        )
        assert forged.status_code == 202
        refused = [m["text"] for m in await browser.replies(2)]
        assert "photo" in refused[0]
        assert "PDF" in refused[0]
        await browser.close()


async def test_service_restart_mid_conversation(database_url: str, tmp_path: Path) -> None:
    browser_cookies: Any = None
    with running_service(database_url, tmp_path) as base:
        browser = Browser(base)
        await browser.open()
        await browser.say("j'ai perdu mes lunettes", replies=2)
        browser_cookies = browser.client.cookies
        await browser.close()
    with running_service(database_url, tmp_path) as base:
        browser = Browser(base)
        browser.client.cookies = browser_cookies
        history = await browser.open()
        assert len(history["messages"]) == 3
        assert "Faites-vous partie" in (await browser.say("oui"))[0]
        await browser.close()


@pytest.mark.parametrize(
    "body",
    [
        {"id": "short", "text": "x"},
        {"id": "has spaces in it", "text": "x"},
        {"id": "abcdefgh2"},
        {"id": "abcdefgh3", "text": "x" * 70_000},
        "not json",
    ],
)
async def test_bad_requests_are_refused_politely(body: Any, database_url: str, tmp_path: Path) -> None:
    with running_service(database_url, tmp_path) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            if isinstance(body, str):
                response = await client.post(
                    "/api/chat/messages", content=body, headers={"content-type": "application/json"}
                )
            else:
                response = await client.post("/api/chat/messages", json=body)
            assert response.status_code == 422
            assert (await client.get("/healthz")).status_code == 200


def test_stop_does_not_wait_for_open_chat_pages(database_url: str, tmp_path: Path) -> None:
    """An operator stopping the service is not held up by a browser left open on the chat."""
    with (
        service_process(database_url, tmp_path) as (base, process),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        client.get("/api/chat/history")
        with client.stream("GET", "/api/chat/events?after=0") as stream:
            assert next(stream.iter_lines()).startswith("retry:")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
            assert time.monotonic() - started < 10


async def test_two_browsers_may_use_the_same_message_id(database_url: str, tmp_path: Path) -> None:
    with running_service(database_url, tmp_path) as base:
        one, two = Browser(base), Browser(base)
        await one.open()
        await two.open()
        assert "Opticiens Mobiles" in (await one.say("perdu", replies=2, message_id="same-id-1"))[0]
        assert "Opticiens Mobiles" in (await two.say("cassées", replies=2, message_id="same-id-1"))[0]
        await one.close()
        await two.close()
