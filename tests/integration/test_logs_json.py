"""OPTIBOT_LOG_FORMAT=json: one JSON object per line (time, level, logger, message, the extra fields),
exceptions as ``describe`` says them, uvicorn's lines too, and still no personal data."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.logs import JsonFormatter, configure_logging
from tests.e2e.servers import free_port, service_process
from tests.harness import harness
from tests.integration.test_logs import ADDRESS, INSURER, NAME, PHONE, leaks, restore_loggers, said

__all__ = ["restore_loggers"]  # the fixture, used by name

FIELDS = {"time", "level", "logger", "message"}


def json_lines(text: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries
    for entry in entries:
        assert isinstance(entry, dict)
        assert set(entry) >= FIELDS, entry
    return entries


async def _to_summary(h: Any, user: str) -> None:
    """A client sent to the summary, saying their name, phone, address and insurer on the way."""
    await said(h, user, ["greeting", "urgency.question"], text="mes lunettes sont cassées")
    await said(h, user, ["priority.question"], text="oui")
    await said(h, user, ["mode.question"], text="non")
    await said(h, user, ["shipping_address.question"], text="envoi")
    await said(h, user, ["contact_name.question"], text=ADDRESS)
    await said(h, user, ["contact_phone.question"], text=NAME)
    await said(h, user, ["insurance.question"], text=PHONE)
    await said(h, user, ["insurance_card.question"], text=f"ma mutuelle c'est la {INSURER}")
    await said(h, user, ["summary.question"], text="je n'ai pas la carte")


async def test_json_lines_carry_fields_and_errors_but_no_personal_data(
    database_url: str, tmp_path: Path, restore_loggers: None
) -> None:
    configure_logging("DEBUG", "json")  # its handler is pytest's here; the libraries' levels are ours
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        # Every reference the same: the second hand-off collides and fails for real (logged).
        async with harness(database_url, tmp_path, references=lambda: "OB-CANARY") as h:
            await _to_summary(h, "json-first")
            await said(h, "json-first", ["handoff.done"], text="oui")
            await _to_summary(h, "json-second")
            with pytest.raises(sa.exc.IntegrityError):
                await h.send("json-second", text="oui")
        module = logging.getLogger("bot.engine")
        module.info("batch of %d", 3, extra={"channel": "telegram", "took_ms": 12.5})
        try:
            raise ValueError(f"cannot read {NAME}, {PHONE}")  # an error whose text quotes a client
        except ValueError:
            module.exception("reading failed")
    finally:
        root.removeHandler(handler)

    text = stream.getvalue()
    entries = json_lines(text)
    assert leaks(text) == []
    failed = [e for e in entries if e["logger"] == "bot.pipeline" and e["level"] == "ERROR"]
    assert failed
    assert all("IntegrityError" in e["message"] for e in failed), failed
    (extra,) = [e for e in entries if e["message"] == "batch of 3"]
    assert (extra["logger"], extra["level"], extra["channel"], extra["took_ms"]) == (
        "bot.engine", "INFO", "telegram", 12.5,
    )  # fmt: skip
    (error,) = [e for e in entries if e["message"] == "reading failed"]
    assert error["level"] == "ERROR"
    assert error["error"].startswith("ValueError(ValueError) at test_logs_json.py:")
    assert error["time"].endswith("+00:00")


def test_optibot_run_logs_json_and_serves_metrics_apart(database_url: str, tmp_path: Path) -> None:
    """The real `optibot run`: uvicorn's lines in JSON too; /metrics on METRICS_PORT, not public."""
    metrics_port = free_port()
    env = {"OPTIBOT_LOG_FORMAT": "json", "OPTIBOT_LOG_LEVEL": "DEBUG", "METRICS_PORT": str(metrics_port)}
    with service_process(database_url, tmp_path, env=env) as (base, _):
        with httpx.Client(base_url=base) as browser:
            assert browser.get("/metrics").status_code == 404
            for text in ("Bonjour", f"{NAME} {PHONE} {ADDRESS}"):
                posted = browser.post("/api/chat/messages", json={"id": uuid.uuid4().hex, "text": text})
                assert posted.status_code == 202, posted.text
        deadline = time.monotonic() + 30
        while True:  # the two messages are counted once stored
            scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            if 'optibot_messages_received_total{channel="webchat"} 2.0' in scraped:
                break
            assert time.monotonic() < deadline, scraped
            time.sleep(0.1)
    text = (tmp_path / "server.log").read_text(encoding="utf-8")
    entries = json_lines(text)
    assert leaks(text) == []
    loggers = {e["logger"] for e in entries}
    assert {"uvicorn.error", "bot.metrics_http"} <= loggers, loggers
    assert any(e["message"] == "Application startup complete." for e in entries)
