"""The abuse scenarios: poison webhooks, and malformed bodies on every POST route (see
``bench/faults/http/__init__.py``)."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from bench.faults import Figures, Scale, scenario
from bench.faults.http.counting import settle
from bench.faults.http.serving import (
    JSON_TYPE,
    SECRET,
    SECRET_HEADER,
    SIGNATURE_HEADER,
    TELEGRAM_HEADERS,
    Json,
    Poster,
    add,
    each_database,
    serve_with_fakes,
    signed,
    telegram_text,
    whatsapp_hook,
)
from tests.fakes import whatsapp as wa

# --- poison-webhooks ---------------------------------------------------------------------------------

NUL, LONE = "\u0000", "\ud800"
DEPTH = 50_000


def nested(depth: int = DEPTH) -> bytes:
    return b'{"object":"whatsapp_business_account","entry":' + b"[" * depth + b"]" * depth + b"}"


def _message(user: str, text: str, *, wamid: str | None = None, name: str = "Client") -> Json:
    return {
        "contacts": [{"profile": {"name": name}, "wa_id": user}],
        "messages": [
            {
                "from": user,
                "id": wamid or wa.new_wamid(),
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }


def _status(wamid: str, status: str = "delivered", *, title: str | None = None) -> Json:
    item: Json = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": "33611"}
    if title is not None:
        error = {"code": 131026, "title": title, "message": title, "error_data": {"details": title}}
        item["errors"] = [error]
    return {"statuses": [item]}


def whatsapp_poisons() -> dict[str, Json]:
    """Each poison item of a WhatsApp webhook, by name (a good message is added to each)."""
    return {
        "nul_in_from": _message(f"33612{NUL}34", "bonjour"),
        "nul_in_message_id": _message("33612000101", "bonjour", wamid=f"wamid.{NUL}abc"),
        "nul_in_text": _message("33612000102", f"bon{NUL}jour"),
        "nul_in_status_id": _status(f"wamid.{NUL}status"),
        "nul_in_error_title": _status(wa.new_wamid(), "failed", title=f"Message{NUL}undeliverable"),
        "lone_surrogate_in_text": _message("33612000103", f"bonjour {LONE}"),
        "lone_surrogate_in_name": _message("33612000104", "bonjour", name=f"Jean {LONE}"),
        "lone_surrogate_in_id": _message("33612000105", "bonjour", wamid=f"wamid.{LONE}"),
    }


def _poison_hooks(whatsapp: wa.FakeWhatsApp, first: int) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """One round of poison requests: (name, path, body, headers); every WhatsApp one carries a
    good message from ``3361<first + index>``."""
    hooks = []
    for index, (name, poison) in enumerate(whatsapp_poisons().items()):
        item = whatsapp.text_message(f"3361{first + index:08d}", "bonjour")
        body, headers = whatsapp_hook([poison, {"contacts": [item.contact], "messages": [item.message]}])
        hooks.append((f"whatsapp {name}", "/webhooks/whatsapp", body, headers))
    deep = nested()
    hooks.append(("whatsapp nested", "/webhooks/whatsapp", deep, signed(deep)))
    telegram_deep = b'{"update_id":1,"message":' + deep + b"}"
    hooks.append(("telegram nested", "/webhooks/telegram", telegram_deep, TELEGRAM_HEADERS))
    for index, (name, text) in enumerate((("nul", f"bon{NUL}jour"), ("lone surrogate", f"bonjour {LONE}"))):
        update = json.dumps(telegram_text(first + index, text)).encode()
        hooks.append((f"telegram {name}", "/webhooks/telegram", update, TELEGRAM_HEADERS))
    return hooks


@scenario("poison-webhooks")
async def poison_webhooks(scale: Scale) -> Figures:
    """Poison webhooks, each sent twice, each beside a good message, on both databases."""
    rounds = scale.pick(1, 20)

    async def run(kind: str, url: str, folder: Path, figures: Figures) -> None:
        async with serve_with_fakes(url, folder) as (app, http, telegram, whatsapp):
            answers: dict[str, list[int]] = {}
            good_whatsapp: list[str] = []
            good_telegram: list[int] = []
            base = random.randrange(10**6, 10**8)
            for round_ in range(rounds):
                first = base + round_ * 100
                good_whatsapp += [f"3361{first + index:08d}" for index in range(len(whatsapp_poisons()))]
                for name, path, body, headers in _poison_hooks(whatsapp, first):
                    for _ in range(2):
                        response = await http.post(path, content=body, headers=headers)
                        answers.setdefault(name, []).append(response.status_code)
                for good_chat in (first + 50, first + 51):  # beside each poisoned Telegram update
                    good_telegram.append(good_chat)
                    update = json.dumps(telegram_text(good_chat, "bonjour")).encode()
                    await Poster(http).post("/webhooks/telegram", update, TELEGRAM_HEADERS)
            figures.sent += sum(len(a) for a in answers.values()) + len(good_whatsapp) + len(good_telegram)
            for name, statuses in answers.items():
                figures.server_errors += sum(1 for status in statuses if status >= 500)
                if len(set(statuses)) > 1:
                    add(figures, "answer_changed", 1)
                if statuses[0] >= 500:
                    add(figures, f"5xx {name}", 1)

            def answered() -> int:
                return sum(1 for user in good_whatsapp if whatsapp.messages_to(user)) + sum(
                    1 for chat in good_telegram if telegram.messages_to(chat)
                )

            with contextlib.suppress(TimeoutError):
                await whatsapp.wait_for(lambda: answered() == len(good_whatsapp) + len(good_telegram), 30)
            figures.lost += len(good_whatsapp) + len(good_telegram) - answered()
            await settle(app, 10)

    return await each_database("poison-webhooks", run)


# --- malformed-bodies --------------------------------------------------------------------------------

BIG_ANSWER = 4096  # an answer above this many bytes is reported as big
# At the short scale, bodies past BIG_BODY bytes go to these routes only (every route at the long).
BIG_BODY = 64 * 1024
BIG_BODY_ROUTES = frozenset(
    {
        "/api/chat/messages",
        "/api/chat/files",
        "/api/console/login",
        "/webhooks/telegram",
        "/webhooks/whatsapp",
    }
)
ID = b'"id":"abcdefgh12345678"'


def battery() -> dict[str, tuple[bytes, dict[str, str]]]:
    """Malformed bodies by name: (body, headers)."""
    deep = b"[" * DEPTH + b"]" * DEPTH
    bodies: dict[str, bytes] = {
        "invalid json": b'{"text": ',
        "empty": b"",
        "null": b"null",
        "array": b"[1, 2, 3]",
        "string": b'"bonjour"',
        "wrong types": b'{"id": 12, "text": ["a"], "name": {}, "password": false, "choice": 1.5}',
        "huge number": b"{" + ID + b',"text":1e999999}',
        "nan": b"{" + ID + b',"text":NaN,"name":NaN}',
        "lone surrogate": b"{" + ID + b',"text":"\\ud800","name":"\\udfff"}',
        "nul": b"{" + ID + b',"text":"a\\u0000b","name":"a\\u0000"}',
        "invalid utf-8": b"{" + ID + b',"text":"\xff\xfe"}',
        "deep nesting": deep,
        "deep in a field": b"{" + ID + b',"text":' + deep + b"}",
        "huge string": b"{" + ID + b',"text":"' + b"a" * 2_000_000 + b'"}',
        "huge array": b"[" + b"0," * 500_000 + b"0]",
        "many keys": b"{" + b",".join(b'"k%d":1' % i for i in range(100_000)) + b"}",
    }
    found = {name: (body, JSON_TYPE) for name, body in bodies.items()}
    found["text/plain"] = (b'{"id":"abcdefgh12345678","text":"x"}', {"Content-Type": "text/plain"})
    found["form"] = (b"id=abcdefgh12345678&text=x", {"Content-Type": "application/x-www-form-urlencoded"})
    found["broken multipart"] = (
        b"--x\r\nContent-Disposition: form-data\r\n\r\n",
        {"Content-Type": "multipart/form-data; boundary=x"},
    )
    found["multipart without boundary"] = (b"abc", {"Content-Type": "multipart/form-data"})
    found["no content type"] = (b'{"id":"abcdefgh12345678","text":"x"}', {})
    return found


async def _route_paths(http: httpx.AsyncClient) -> list[str]:
    """Every POST route of the app's OpenAPI schema, path parameters filled in, and the two
    webhooks (left out of the schema)."""
    schema = (await http.get("/openapi.json")).json()
    paths = ["/webhooks/telegram", "/webhooks/whatsapp"]
    for path, operations in schema["paths"].items():
        if "post" in operations:
            paths.append("/".join("1" if part.startswith("{") else part for part in path.split("/")))
    return sorted(set(paths))


def _credentials(path: str, body: bytes) -> dict[str, str]:
    if path == "/webhooks/telegram":
        return {SECRET_HEADER: SECRET}
    if path == "/webhooks/whatsapp":
        return {SIGNATURE_HEADER: wa.sign(body)}
    return {}


async def _chunks(size: int, piece: int = 256 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        yield b"a" * min(piece, size - sent)
        sent += piece


@scenario("malformed-bodies")
async def malformed_bodies(scale: Scale) -> Figures:
    """Every POST route × malformed bodies (and oversized ones, chunked too): no 5xx."""
    repeats = scale.pick(1, 3)

    async def run(kind: str, url: str, folder: Path, figures: Figures) -> None:
        async with serve_with_fakes(url, folder, pacing=True) as (app, http, _, _):
            paths = await _route_paths(http)
            statuses: Counter[int] = Counter()
            largest = (0, "")
            oversize = app.services.engine.files.max_bytes + 1024 * 1024

            async def send(name: str, path: str, content: Any, headers: dict[str, str]) -> None:
                nonlocal largest
                try:
                    response = await http.post(path, content=content, headers=headers)
                except httpx.TransportError:  # cut off while sending an oversized body: refused
                    statuses[0] += 1
                    return
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    figures.server_errors += 1
                    add(figures, f"5xx {path} {name}", 1)
                if len(response.content) > largest[0]:
                    largest = (len(response.content), f"{path} {name}")
                if len(response.content) > BIG_ANSWER:
                    add(figures, "answers_over_4kb", 1)

            for _ in range(repeats):
                for path in paths:
                    every = scale.name == "long" or path in BIG_BODY_ROUTES
                    for name, (body, headers) in battery().items():
                        if len(body) <= BIG_BODY or every:
                            await send(name, path, body, {**headers, **_credentials(path, body)})
                    if every:
                        big = b"a" * oversize
                        credentials = {**JSON_TYPE, **_credentials(path, big)}
                        await send("oversized", path, big, credentials)
                        await send("oversized chunked", path, _chunks(oversize), credentials)
            figures.sent += statuses.total()
            add(figures, "routes", len(paths))
            figures.extra["largest_answer_bytes"] = max(
                largest[0], int(figures.extra.get("largest_answer_bytes", 0))
            )
            figures.extra[f"{kind}_largest_answer"] = largest[1]
            figures.extra[f"{kind}_statuses"] = " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))

    return await each_database("malformed-bodies", run)
