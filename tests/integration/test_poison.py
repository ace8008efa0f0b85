"""Poison input is stored or set aside, never retried forever (issue 12, point 2).

Real app (uvicorn) on SQLite and PostgreSQL, signed webhooks posted with httpx. A database that
refuses a message for good is a real refusal: a trigger on the inbox raises for one marked text.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine import Engine
from bot.messages import Inbound
from flows.types import ClientInput
from storage.tables import delivery_receipts, inbox, set_aside
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import PHONE_NUMBER_ID, FakeWhatsApp, sign
from tests.integration import test_telegram
from tests.integration.serving import Service
from tests.integration.test_whatsapp import serve

POISON = "POISON-PILL"


@pytest.fixture
async def fake() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp() as server:
        yield server


def _text(sender: str, wamid: str, text: str) -> dict[str, Any]:
    return {"from": sender, "id": wamid, "timestamp": "1767225600", "type": "text", "text": {"body": text}}


def _webhook(messages: list[dict[str, Any]] = (), statuses: list[dict[str, Any]] = ()) -> bytes:  # type: ignore[assignment]
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "33100000000", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["messages"] = list(messages)
        value["contacts"] = [{"wa_id": m["from"], "profile": {"name": "Zoé\x00"}} for m in messages]
    if statuses:
        value["statuses"] = list(statuses)
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload, ensure_ascii=True).encode()  # NUL as \u0000, a lone surrogate as \ud800


async def _post(service: Service, body: bytes, *, signed: bool = True) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signed:
        headers["X-Hub-Signature-256"] = sign(body)
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{service.base}/webhooks/whatsapp", content=body, headers=headers)


async def _count(service: Service, table: sa.Table) -> int:
    return len(await service.rows(table))


async def _poison_trigger(database: AsyncEngine) -> None:
    """The database refuses the inbox row of one marked message, for good (a data error)."""
    async with database.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                sa.text(
                    "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.payload->'said'->>'text' = '{POISON}' THEN "
                    "RAISE EXCEPTION 'refused' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            await connection.execute(
                sa.text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON inbox FOR EACH ROW "
                    "EXECUTE FUNCTION refuse_poison()"
                )
            )
        else:
            await connection.execute(
                sa.text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON inbox "
                    f"WHEN json_extract(NEW.payload, '$.said.text') = '{POISON}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )


POISONED_WEBHOOKS = {
    "NUL in from": _webhook([_text("336\x0011111111", "wamid.A1", "Bonjour")]),
    "NUL in the message id": _webhook([_text("33622222222", "wamid.\x00B2", "Bonjour")]),
    "lone surrogate in the text": _webhook([_text("33633333333", "wamid.C3", "Bon\ud800jour")]),
    "lone surrogate in from": _webhook([_text("336\udc0044444444", "wamid.D4", "Bonjour")]),
    "NUL in a status id and an error title": _webhook(
        statuses=[
            {
                "id": "wamid.\x00S1",
                "status": "failed",
                "timestamp": "1767225600",
                "recipient_id": "33655555555",
                "errors": [{"code": 131026, "title": "Message\x00 undeliverable \udfff"}],
            }
        ]
    ),
    "lone surrogate in a status id, a code out of range": _webhook(
        statuses=[
            {
                "id": "wamid.\ud800S2",
                "status": "failed",
                "timestamp": "1767225600",
                "errors": [{"code": 2**40, "title": "Nope"}],
            }
        ]
    ),
}


async def test_whatsapp_webhooks_with_text_the_database_refuses_are_cleaned_and_stored(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        for name, body in POISONED_WEBHOOKS.items():
            response = await _post(service, body)
            assert response.status_code == 200, name
        assert await _count(service, inbox) == 4  # every message stored (the 200 came after)
        receipts = await service.rows(delivery_receipts, delivery_receipts.c.external_id.like("%S_"))
        assert sorted(r.external_id for r in receipts) == ["wamid.S1", "wamid.\ufffdS2"]
        assert {(r.error_code, r.error) for r in receipts} == {
            (131026, "whatsapp 131026: Message undeliverable \ufffd"),
            (None, f"whatsapp {2**40}: Nope"),  # a code out of the column's range is dropped
        }
        assert await _count(service, set_aside) == 0  # cleaned, not set aside


async def test_a_webhook_the_database_refuses_for_good_is_set_aside_and_answered_200(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        await _poison_trigger(service.services.database)
        body = _webhook(
            [
                _text("33611111111", "wamid.P1", "Bonjour"),
                _text("33622222222", "wamid.P2", POISON),
                _text("33622222222", "wamid.P3", "Bonjour encore"),
                _text("33633333333", "wamid.P4", "Bonsoir"),
            ]
        )
        response = await _post(service, body)
        assert response.status_code == 200
        assert await _count(service, inbox) == 3  # the others, the poisoned client's next one too
        [aside] = await service.rows(set_aside)
        assert (aside.channel, aside.kind) == ("whatsapp", "message")
        assert aside.digest == hashlib.sha256(body).hexdigest()
        assert aside.size == len(body)
        assert (
            ("22023" in aside.reason) if "postgresql" in database_url else ("IntegrityError" in aside.reason)
        )
        again = await _post(service, body)  # Meta would not send it again; if it did, nothing doubles
        assert again.status_code == 200
        assert await _count(service, inbox) == 3
        async with httpx.AsyncClient() as http:
            health = (await http.get(f"{service.base}/healthz")).json()
        assert health["set_aside"] == 2
    warnings = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert warnings
    assert not any(POISON in w or "3362222" in w for w in warnings)


async def test_signed_webhooks_that_are_not_json_or_too_deep_are_set_aside_unsigned_ones_refused(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    deep = b'{"object":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    async with serve(database_url, tmp_path, fake) as service:
        assert (await _post(service, deep, signed=False)).status_code == 401
        for body in (deep, b"{not json", b'{"object": NaN}', b"\xff\xfe"):
            response = await _post(service, body)
            assert response.status_code == 200, body[:20]
        kinds = [(r.kind, r.reason) for r in await service.rows(set_aside)]
        assert kinds == [("webhook", "BadJSONError")] * 4


@pytest.mark.postgres
async def test_a_database_failing_for_a_while_still_answers_503(
    postgres_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    """Invariant 1: an outage is not poison; the platform must send the webhook again. (A trigger
    raising a transient SQLSTATE needs PostgreSQL.)"""
    async with serve(postgres_url, tmp_path, fake, engine_accept_timeout=1.0) as service:
        async with service.services.database.begin() as connection:
            await connection.execute(
                sa.text(
                    "CREATE FUNCTION busy() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'busy' USING ERRCODE = '40001'; END $$ LANGUAGE plpgsql"
                )
            )
            await connection.execute(
                sa.text("CREATE TRIGGER busy BEFORE INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION busy()")
            )
        response = await _post(service, _webhook([_text("33611111111", "wamid.T1", "Bonjour")]))
        assert response.status_code == 503
        assert await _count(service, set_aside) == 0


async def test_one_refused_message_does_not_fail_its_group_commit_for_the_others(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    """Many accepts in one batch, one the database refuses: the others commit."""
    async with serve(database_url, tmp_path, fake) as service:
        engine: Engine = service.services.engine
        await _poison_trigger(engine.database)
        before = engine.pipeline.batches
        texts = [f"message {i}" for i in range(12)]
        texts[5] = POISON
        inbounds = [
            Inbound("webchat", f"user{i}", f"ext{i}", ClientInput(text=t)) for i, t in enumerate(texts)
        ]
        results = await asyncio.gather(*(engine.accept(i) for i in inbounds), return_exceptions=True)
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(refused) == 1
        assert results[5] is refused[0]
        assert all(r.inbox_id is not None for r in results if not isinstance(r, BaseException))
        assert await _count(service, inbox) == 11
        # The whole batch failed once, then its items went alone: the poison failed once alone.
        assert engine.pipeline.batches - before == 11


async def test_telegram_updates_with_nul_are_stored_and_unreadable_ones_set_aside(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        FakeTelegram() as fake,
        test_telegram.serve(database_url, tmp_path, fake, mode="webhook") as service,
    ):
        url = f"{service.base}/webhooks/telegram"
        headers = {
            "X-Telegram-Bot-Api-Secret-Token": test_telegram.SECRET,
            "Content-Type": "application/json",
        }
        update = {
            "update_id": 41,
            "message": {
                "message_id": 1,
                "date": 1767225600,
                "chat": {"id": 7001, "type": "private", "first_name": "Zo\x00é"},
                "from": {"id": 7001, "is_bot": False, "first_name": "Zo\ud800é", "language_code": "fr"},
                "text": "Bon\x00jour \udfff",
            },
        }
        deep = b'{"update_id": 42, "message": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
        async with httpx.AsyncClient(timeout=30) as http:
            stored = await http.post(url, content=json.dumps(update).encode(), headers=headers)
            unreadable = await http.post(url, content=deep, headers=headers)
            not_an_update = await http.post(url, content=b'{"update_id": "x"}', headers=headers)
            forged = await http.post(url, content=deep, headers={"Content-Type": "application/json"})
        assert (stored.status_code, unreadable.status_code, not_an_update.status_code) == (200, 200, 200)
        assert forged.status_code == 401
        [row] = await service.rows(inbox)
        assert row.payload["said"]["text"] == "Bonjour \ufffd"
        assert [(r.kind, r.reason) for r in await service.rows(set_aside)] == [
            ("webhook", "BadJSONError"),
            ("webhook", "ValidationError"),
        ]
