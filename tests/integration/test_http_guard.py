"""Every door of the web app: a body cap that holds for chunked bodies, bounded JSON, no 5xx on
malformed input, short answers, and the security headers (issue 12, points 3, 4 and 7).

The real app under uvicorn on a free port, httpx as the client, both databases.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.routing import APIRoute

from bot.settings import Settings
from bot.web.app import create_app
from bot.web.guard import WEBHOOK_BYTES, json_depth_exceeds
from tests.fakes.whatsapp import VERIFY_TOKEN, FakeWhatsApp, sign
from tests.integration.serving import Service, serve_app
from tests.integration.test_console import PASSWORD
from tests.integration.test_whatsapp import serve as serve_whatsapp

MB = 1024 * 1024
UPLOAD_LIMIT = 2 * MB  # MAX_UPLOAD_BYTES for these tests
SHORT = 4096  # no answer to a malformed request is longer than this


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with serve_app(database_url, tmp_path, max_upload_bytes=UPLOAD_LIMIT) as service:
        await service.services.accounts.add("alice", PASSWORD, "admin")
        yield service


class Stream:
    """A body of ``total`` bytes sent in chunks as the server reads them; counts what was taken."""

    def __init__(self, total: int, chunk: int = 256 * 1024, head: bytes = b"") -> None:
        self.total = total
        self.chunk = chunk
        self.head = head
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            self.sent += len(self.head)
            yield self.head
        while self.sent < self.total:
            piece = b"x" * min(self.chunk, self.total - self.sent)
            self.sent += len(piece)
            yield piece


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


async def _post(service: Service, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=service.base, timeout=60) as http:
        try:
            return await http.post(path, **kwargs)
        except httpx.WriteError:  # pragma: no cover - httpcore reads the answer after a cut upload
            raise AssertionError("the server cut the upload without answering") from None


MULTIPART_HEAD = (
    b'--b0undary\r\nContent-Disposition: form-data; name="id"\r\n\r\nabcdefgh12345678\r\n'
    b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
    b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
)


async def test_a_300_mb_upload_sent_chunked_is_refused_before_it_reaches_the_disk(
    app: Service, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    before = _files(data)
    body = Stream(300 * MB, head=MULTIPART_HEAD)
    response = await _post(
        app,
        "/api/chat/files",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=b0undary"},  # no length: chunked
    )
    assert response.status_code == 413
    assert len(response.content) < SHORT
    assert _files(data) == before  # nothing saved


async def test_a_body_declared_too_long_is_refused_before_the_app_reads_it(app: Service) -> None:
    body = Stream(300 * MB, head=MULTIPART_HEAD)
    response = await _post(
        app,
        "/api/chat/files",
        content=body,
        headers={
            "Content-Type": "multipart/form-data; boundary=b0undary",
            "Content-Length": str(300 * MB),
        },
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("path", "size"),
    [
        ("/api/chat/messages", 2 * MB),
        ("/api/console/login", 2 * MB),
    ],
)
async def test_every_route_caps_its_body_chunked_or_not(app: Service, path: str, size: int) -> None:
    chunked = await _post(app, path, content=Stream(size), headers={"Content-Type": "application/json"})
    declared = await _post(app, path, content=b"x" * size, headers={"Content-Type": "application/json"})
    assert (chunked.status_code, declared.status_code) == (413, 413)


async def test_a_signed_webhook_under_its_cap_is_read(database_url: str, tmp_path: Path) -> None:
    """The webhooks' cap is larger than the default: a 2 MB batch gets through, over 3 MB not."""
    async with FakeWhatsApp() as fake, serve_whatsapp(database_url, tmp_path, fake) as service:
        padding = "x" * (2 * MB)
        body = json.dumps({"object": "whatsapp_business_account", "entry": [], "pad": padding}).encode()
        response = await _post(
            service, "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": sign(body)}
        )
        assert response.status_code == 200
        too_big = b"{" + b" " * WEBHOOK_BYTES + b"}"
        refused = await _post(
            service,
            "/webhooks/whatsapp",
            content=Stream(len(too_big), head=b"{"),
            headers={"X-Hub-Signature-256": sign(too_big)},
        )
        assert refused.status_code == 413


def test_json_depth_is_measured_without_recursion() -> None:
    assert not json_depth_exceeds(b'{"a": [[1, {"b": "[[[[[["}]]}', limit=4)
    assert json_depth_exceeds(b'{"a": [[1, {"b": 2}]]}', limit=3)  # 4 levels
    assert json_depth_exceeds(b"[" * 50_000 + b"]" * 50_000)
    assert json_depth_exceeds(b"[}")  # unbalanced
    assert not json_depth_exceeds(b'"\\"[[[[" ' * 100, limit=1)  # brackets inside strings


# --- malformed input: 4xx, short, never 5xx -------------------------------------------------------

DEEP = b'{"id": "abcdefgh12345678", "text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
MALFORMED: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "application/json"),
    "not json": (b"{not json", "application/json"),
    "truncated": (b'{"id": "abc', "application/json"),
    "huge number": (b'{"id":"abcdefgh12345678","text":1e999999,"name":1e999999}', "application/json"),
    "NaN": (b'{"id": NaN, "text": Infinity, "name": -Infinity}', "application/json"),
    "lone surrogate": (
        b'{"id":"\\ud800\\ud800aaaaaa","text":"\\udfff","name":"\\ud800"}',
        "application/json",
    ),
    "NUL": (b'{"id":"abcdefgh\\u000012345","text":"a\\u0000b","name":"x\\u0000"}', "application/json"),
    "raw NUL": (b'{"text":"a\x00b"}', "application/json"),
    "invalid utf-8": (b'{"text":"\xff\xfe\xc3"}', "application/json"),
    "deep": (DEEP, "application/json"),
    "huge string": (b'{"id":"' + b"a" * 900_000 + b'","text":"' + b"b" * 60_000 + b'"}', "application/json"),
    "array": (b'[1, 2, {"id": "abcdefgh12345678"}]', "application/json"),
    "string": (b'"just a string"', "application/json"),
    "wrong types": (
        b'{"id": 12, "text": {"a": 1}, "name": [1], "password": null, "lang": 5}',
        "application/json",
    ),
    "form": (b"id=abc&text=hello&name=x%00", "application/x-www-form-urlencoded"),
    "text": (b"hello", "text/plain"),
    "multipart junk": (b"--x\r\nnonsense", "multipart/form-data; boundary=x"),
    "multipart no boundary": (b"whatever", "multipart/form-data"),
}


def _write_routes(database_url: str, tmp_path: Path) -> list[tuple[str, str]]:
    """Every POST, PUT and PATCH route of the app (walked, not listed: a new one is covered)."""
    settings = Settings(_env_file=None, database_url=database_url, optibot_data_dir=tmp_path / "routes")  # type: ignore[call-arg]
    routes = []

    def walk(found: list[Any]) -> None:
        for route in found:
            included = getattr(route, "original_router", None)  # FastAPI keeps included routers
            if included is not None:
                walk(included.routes)
            elif isinstance(route, APIRoute):
                for method in sorted(route.methods & {"POST", "PUT", "PATCH"}):
                    routes.append((method, re.sub(r"\{[^}]+\}", "1", route.path)))

    walk(create_app(settings).routes)
    return routes


@pytest.fixture
async def signed_in(app: Service) -> AsyncIterator[httpx.AsyncClient]:
    """One browser holding a console admin's session and a web-chat cookie."""
    async with httpx.AsyncClient(base_url=app.base, timeout=30) as http:
        login = await http.post("/api/console/login", json={"name": "alice", "password": PASSWORD})
        assert login.status_code == 200
        http.headers["X-CSRF-Token"] = login.json()["csrf"]
        said = await http.post("/api/chat/messages", json={"id": uuid.uuid4().hex, "text": "Bonjour"})
        assert said.status_code == 202
        yield http


async def test_no_malformed_body_on_any_write_route_gets_a_5xx_or_a_long_answer(
    app: Service, signed_in: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    routes = _write_routes(database_url, tmp_path)
    assert ("POST", "/api/chat/messages") in routes
    assert ("POST", "/api/console/cases/1/reply") in routes
    assert len(routes) >= 20
    failures = []
    for method, path in routes:
        if path == "/api/console/logout":
            continue  # would end the session the battery needs
        for name, (body, content_type) in MALFORMED.items():
            response = await signed_in.request(
                method, path, content=body, headers={"Content-Type": content_type}
            )
            if response.status_code >= 500 or len(response.content) > SHORT:
                failures.append((method, path, name, response.status_code, len(response.content)))
    assert failures == []


async def test_the_reviewer_s_bodies_get_short_4xx_answers(app: Service) -> None:
    async with httpx.AsyncClient(base_url=app.base, timeout=30) as http:
        infinite = await http.post(
            "/api/chat/messages",
            content=b'{"id":"abcdefgh12345678","text":1e999999}',
            headers={"Content-Type": "application/json"},
        )
        surrogate = await http.post(
            "/api/chat/messages",
            content=b'{"id":"abcdefgh\\ud800","text":"x"}',
            headers={"Content-Type": "application/json"},
        )
        big = await http.post("/api/chat/messages", json={"id": "a" * 900_000, "text": "x"})
        deep = await http.post(
            "/api/chat/messages", content=DEEP, headers={"Content-Type": "application/json"}
        )
        stored = await http.post(
            "/api/chat/messages",
            content=b'{"id":"abcdefgh12345679","text":"Bon\\u0000jour \\ud800"}',
            headers={"Content-Type": "application/json"},
        )
    assert infinite.status_code == 422
    assert surrogate.status_code == 422
    assert big.status_code == 422
    assert len(big.content) < 1024  # 900 KB in, not echoed
    assert "input" not in big.json()["detail"][0]
    assert deep.status_code == 400
    assert stored.status_code == 202  # cleaned and stored


# --- headers --------------------------------------------------------------------------------------


async def test_pages_are_not_framed_and_load_nothing_from_elsewhere(app: Service) -> None:
    async with httpx.AsyncClient(base_url=app.base) as http:
        for path in ("/", "/console", "/static/chat.js", "/healthz"):
            response = await http.get(path)
            assert response.status_code == 200, path
            csp = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp, path
            assert "script-src 'self'" in csp, path
            assert "unsafe-inline" not in csp, path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["referrer-policy"] == "same-origin", path
            assert "strict-transport-security" not in response.headers  # not in development
        page = (await http.get("/")).text
    assert "<script>" not in page
    assert "<style" not in page
    assert " style=" not in page


async def test_answers_holding_personal_data_are_never_stored_by_a_cache(
    app: Service, signed_in: httpx.AsyncClient
) -> None:
    for path in ("/api/chat/history", "/api/console/me", "/api/console/cases", "/api/console/journal"):
        response = await signed_in.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
    refused = await signed_in.post(
        "/api/chat/messages", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert refused.headers["cache-control"] == "no-store"


async def test_the_whatsapp_challenge_is_plain_text_never_sniffed(database_url: str, tmp_path: Path) -> None:
    async with (
        FakeWhatsApp() as fake,
        serve_whatsapp(database_url, tmp_path, fake) as service,
        httpx.AsyncClient(base_url=service.base) as http,
    ):
        params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "<b>1</b>"}
        response = await http.get("/webhooks/whatsapp", params=params)
    assert response.status_code == 200
    assert response.text == "<b>1</b>"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_production_answers_carry_hsts(database_url: str, tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    async with (
        serve_app(database_url, tmp_path, optibot_env="production", optibot_file_key=key) as service,
        httpx.AsyncClient(base_url=service.base) as http,
    ):
        for path in ("/", "/healthz", "/api/chat/texts"):
            response = await http.get(path)
            assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
