"""``/metrics`` on its own listener: a scripted conversation (Telegram's webhook through the fake Bot
API, the web chat) moves the counters by what happened; the database gauges say what seeded rows
say; the public app has no ``/metrics``; a port already taken leaves the service serving."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from storage.database import create_engine
from storage.migrate import upgrade
from storage.tables import cases, messages
from tests.e2e.servers import free_port
from tests.fakes.telegram import FakeTelegram
from tests.harness import CHANNEL, harness
from tests.integration.serving import Service
from tests.integration.test_telegram import CHAT, Client, serve
from tests.seeding import insert_client

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(port: int) -> Samples:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


async def until(check: Any, within: float = 20.0) -> None:
    """Wait for a condition on the database (a definite signal), polling it."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def _outbound(service: Service, channel: str) -> list[Any]:
    return await service.rows(messages, messages.c.direction == "out", messages.c.channel == channel)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def test_a_scripted_conversation_moves_the_counters(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    port = free_port()
    client = Client(fake)
    async with serve(database_url, tmp_path, fake, mode="webhook", metrics_port=port) as service:
        await fake.wait_for(lambda: fake.webhook is not None)
        async with httpx.AsyncClient(base_url=service.base) as http:
            assert (await http.get("/metrics")).status_code == 404  # never on the public app
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/other")).status_code == 404
        pipeline = service.services.engine.pipeline
        batches_before = pipeline.batches
        before = await scrape(port)

        # Telegram: a greeting, then a button whose reply Telegram first refuses with a 429.
        await fake.say(CHAT, "Bonjour")
        await client.expect("Quelle est votre urgence")
        fake.fail_next("sendMessage", 429, retry_after=1, chat_id=CHAT)
        await fake.press_button(CHAT, "Lunettes cassées")
        await client.expect("urgen")
        # The web chat: two messages from one browser.
        async with httpx.AsyncClient(base_url=service.base) as browser:
            for text in ("Bonjour", "mes lunettes sont cassées"):
                posted = await browser.post("/api/chat/messages", json={"id": uuid.uuid4().hex, "text": text})
                assert posted.status_code == 202, posted.text

        async def all_sent() -> bool:
            rows = [*await _outbound(service, "telegram"), *await _outbound(service, "webchat")]
            webchat = [r for r in rows if r.channel == "webchat"]
            return len(webchat) >= 3 and all(r.sent_at is not None for r in rows)

        await until(all_sent)
        after = await scrape(port)
        batches = pipeline.batches - batches_before

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    answered = [uid for uid, outcome in fake.webhook_attempts if outcome == 200]
    assert len(answered) == 2
    assert moved("optibot_messages_received_total", channel="telegram") == 2
    assert moved("optibot_messages_received_total", channel="webchat") == 2
    assert moved("optibot_webhook_seconds_count", channel="telegram") == len(fake.webhook_attempts)
    assert moved("optibot_webhook_seconds_count", channel="webchat") == 2
    assert moved("optibot_webhook_seconds_sum", channel="webchat") > 0
    for channel in ("telegram", "webchat"):
        sent = [r for r in await _outbound(service, channel) if r.sent_at is not None]
        assert moved("optibot_messages_sent_total", channel=channel) == len(sent), channel
    assert moved("optibot_rate_refusals_total", channel="telegram", code="429") == 1
    assert moved("optibot_rate_refusals_total", channel="whatsapp", code="130429") == 0
    assert batches >= 4
    assert moved("optibot_engine_batch_size_count") == batches
    assert moved("optibot_engine_batch_size_sum") >= batches
    assert moved("optibot_engine_commit_seconds_count") == batches
    assert moved("optibot_engine_batch_seconds_sum") >= moved("optibot_engine_commit_seconds_sum") > 0
    # Read from the database at scrape time: everything was sent, nobody waits in the queue.
    assert value(after, "optibot_mobilised_waiting_seconds") == 0
    assert value(after, "optibot_outbox_backlog", channel="telegram") == 0


async def test_the_database_gauges_say_what_the_rows_say(database_url: str) -> None:
    database = create_engine(database_url, pool_size=2)
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    try:
        await upgrade(database)
        async with database.begin() as connection:
            client_id, conversation_id = await insert_client(
                connection, "telegram", f"gauges-{secrets.token_hex(3)}", now, owner="closed"
            )

            def out(channel: str, ago: int, **delivery: Any) -> dict[str, Any]:
                return {
                    "conversation_id": conversation_id,
                    "direction": "out",
                    "author": "bot",
                    "channel": channel,
                    "party": "p",
                    "text": "t",
                    "created_at": now - timedelta(seconds=ago),
                    "available_at": now,
                    "sent_at": None,
                    "failed_at": None,
                    **delivery,
                }  # fmt: skip  (one executemany: every row has the same keys)

            await connection.execute(
                sa.insert(messages),
                [
                    out("telegram", 120),
                    out("telegram", 40),
                    out("telegram", 10, available_at=now + timedelta(seconds=30)),  # backing off
                    out("telegram", 999, sent_at=now),  # sent: not in the backlog
                    out("whatsapp", 30),
                    out("whatsapp", 500, failed_at=now),  # given up: not in the backlog
                ],
            )

            def case(status: str, priority: str | None, rank: int, ago: int, **more: Any) -> dict[str, Any]:
                at = now - timedelta(seconds=ago)
                return {
                    "reference": f"OB-{secrets.token_hex(3).upper()}", "public_id": secrets.token_hex(8),
                    "client_id": client_id, "conversation_id": conversation_id, "kind": "emergency",
                    "status": status, "channel": "telegram", "language": "fr", "priority": priority,
                    "priority_rank": rank, "created_at": at, "updated_at": at, "mode": None,
                    "offered_at": None, "no_taker_at": None, **more,
                }  # fmt: skip

            await connection.execute(
                sa.insert(cases),
                [
                    case("queued", "health", 0, 600),
                    case("queued", "firefighter", 0, 60),
                    case("queued", None, 1, 5000),  # not mobilised: not the oldest mobilised
                    case("claimed", "health", 0, 9000),  # an operator has it: waits no more
                    case("dispatched", None, 1, 100, mode="visit", offered_at=now, no_taker_at=now),
                    case("dispatched", None, 1, 100, mode="visit", offered_at=now),  # still in time
                ],
            )

        metrics = Metrics(database, lambda: now)
        await metrics.refresh()
        samples = parse(generate_latest(metrics.registry).decode())
        assert value(samples, "optibot_outbox_backlog", channel="telegram") == 3
        assert value(samples, "optibot_outbox_oldest_seconds", channel="telegram") == 120
        assert value(samples, "optibot_outbox_backlog", channel="whatsapp") == 1
        assert value(samples, "optibot_outbox_oldest_seconds", channel="whatsapp") == 30
        assert value(samples, "optibot_queue_cases", priority="health") == 1
        assert value(samples, "optibot_queue_cases", priority="firefighter") == 1
        assert value(samples, "optibot_queue_cases", priority="none") == 1
        assert value(samples, "optibot_mobilised_waiting_seconds") == 600
        assert value(samples, "optibot_dispatch_untaken_visits") == 1
        assert value(samples, "optibot_metrics_read_errors_total") == 0

        # Scrapes in quick succession share one read: a new row shows only once the cache is old.
        async with database.begin() as connection:
            await connection.execute(sa.insert(messages), [out("whatsapp", 5)])
        await metrics.refresh()
        samples = parse(generate_latest(metrics.registry).decode())
        assert value(samples, "optibot_outbox_backlog", channel="whatsapp") == 1
        assert metrics.gauges is not None
        metrics.gauges.expire()
        await metrics.refresh()
        samples = parse(generate_latest(metrics.registry).decode())
        assert value(samples, "optibot_outbox_backlog", channel="whatsapp") == 2
    finally:
        await database.dispose()


async def test_a_taken_metrics_port_leaves_the_service_serving(
    database_url: str, tmp_path: Path, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        async with (
            serve(database_url, tmp_path, fake, mode="webhook", metrics_port=port) as service,
            httpx.AsyncClient(base_url=service.base) as http,
        ):
            assert (await http.get("/healthz")).status_code == 200
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert [m for m in errors if "METRICS_PORT" in m and str(port) in m], errors


async def test_messages_handled_at_once_are_counted_once(database_url: str, tmp_path: Path) -> None:
    """The terminal's and the scripts' path (``Engine.handle``): a re-delivery is not counted."""
    async with harness(database_url, tmp_path) as h:
        await h.send("counted", text="Bonjour", external_id="m-1")
        await h.send("counted", text="Bonjour", external_id="m-1")  # the same message again
        replies = await h.send("counted", text="mes lunettes sont cassées")
        assert replies
        samples = parse(generate_latest(h.services.metrics.registry).decode())
    assert value(samples, "optibot_messages_received_total", channel=CHANNEL) == 2
    assert value(samples, "optibot_messages_sent_total", channel=CHANNEL) == len(h.channel.delivered)
