"""A document attached to a bot message (the client's data export), delivered by every channel.

The row is written as the export will write it (an outbound ``messages`` row whose payload names an
encrypted file of the data folder); the real outbox sender delivers it to the fake Telegram and
Graph servers, and the web chat serves it to the browser it was sent to, for a few minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.channels.webchat import COOKIE, user_of
from bot.engine import utcnow
from bot.replies import reply_row
from flows.types import Reply
from storage import conversations as store
from storage.outbound import Recipient
from storage.tables import conversations, messages
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.harness import RealClock
from tests.integration import test_telegram as telegram_tests
from tests.integration import test_whatsapp as whatsapp_tests
from tests.integration.serving import Service, serve_app

# A file name with an accent and a space: what the client sees must be exactly it.
FILENAME = "optibot-données 2026-12-02.json"
EXPORT = json.dumps({"cas": [{"référence": "OB-7KQ2XM"}], "consentements": []}, ensure_ascii=False).encode()
SUMMARY = "Voici vos données : 1 demande, 1 consentement. Le fichier joint les contient toutes."
CHAT = telegram_tests.CHAT
ALICE = whatsapp_tests.ALICE


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def whatsapp() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp() as server:
        yield server


async def _send_export(
    service: Service, channel: str, party: str, path: str, conversation_id: int | None = None
) -> int:
    """Write the export's outbound row and wake the sender; returns the row's id."""
    document = {"path": path, "filename": FILENAME, "mime": "application/json"}
    reply = Reply("my_data.header", SUMMARY, document=document)
    row = reply_row(Recipient(channel, party, conversation_id, "fr"), reply, utcnow())
    async with service.services.database.begin() as connection:
        await store.insert_message(connection, row)
    service.services.sender.wake()
    (stored,) = await service.rows(messages, messages.c.payload.is_not(None), messages.c.text == SUMMARY)
    return int(stored.id)


async def _row(service: Service, row_id: int) -> Any:
    (row,) = await service.rows(messages, messages.c.id == row_id)
    return row


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _sent(service: Service, row_id: int) -> None:
    async def done() -> bool:
        return (await _row(service, row_id)).sent_at is not None

    await _eventually(done)


# --- Telegram ---------------------------------------------------------------------------------------


async def test_telegram_sends_the_text_then_the_file_with_its_name(
    database_url: str, tmp_path: Path, telegram: FakeTelegram
) -> None:
    async with telegram_tests.serve(database_url, tmp_path, telegram) as service:
        path = service.services.files.save_document(EXPORT, ".json")
        row_id = await _send_export(service, "telegram", str(CHAT), path)
        await _sent(service, row_id)
        row = await _row(service, row_id)
    sent = telegram.messages_to(CHAT)
    assert [m.method for m in sent] == ["sendMessage", "sendDocument"]
    assert sent[0].text == SUMMARY
    assert telegram.documents_to(CHAT) == [(FILENAME, EXPORT)]
    assert row.external_id == str(sent[0].message_id)  # the text's: an edit would target it
    assert row.payload["document"]["path"] == path
    assert telegram.too_many == 0


async def test_telegram_a_document_that_fails_is_sent_again_without_the_text(
    database_url: str, tmp_path: Path, telegram: FakeTelegram
) -> None:
    async with telegram_tests.serve(database_url, tmp_path, telegram) as service:
        telegram.fail_next("sendDocument", 500)
        path = service.services.files.save_document(EXPORT, ".json")
        row_id = await _send_export(service, "telegram", str(CHAT), path)
        await _sent(service, row_id)
        row = await _row(service, row_id)
    assert [c.status for c in telegram.calls("sendDocument")] == [500, 200]
    assert [m.text for m in telegram.messages_to(CHAT) if m.method == "sendMessage"] == [SUMMARY]
    assert telegram.documents_to(CHAT) == [(FILENAME, EXPORT)]
    assert (row.attempts, row.failed_at) == (2, None)


async def test_telegram_a_file_gone_still_sends_the_text_and_says_so(
    database_url: str, tmp_path: Path, telegram: FakeTelegram
) -> None:
    async with telegram_tests.serve(database_url, tmp_path, telegram) as service:
        files = service.services.files
        gone = files.save_document(EXPORT, ".json")
        files.delete(gone)
        row_id = await _send_export(service, "telegram", str(CHAT), gone)
        await _sent(service, row_id)
        row = await _row(service, row_id)
    assert [m.text for m in telegram.messages_to(CHAT)] == [SUMMARY]
    assert telegram.calls("sendDocument") == []
    assert (row.payload["document"], row.failed_at) == ("missing", None)


# --- WhatsApp ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _whatsapp_in_window(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> AsyncIterator[tuple[Service, whatsapp_tests.Client]]:
    """The app, and a client who just wrote (the 24-hour window is open) and got the bot's answer."""
    client = whatsapp_tests.Client(fake)
    async with whatsapp_tests.serve(database_url, tmp_path, fake) as service:
        await client.say("Bonjour")
        await client.expect("Quelle est votre urgence")
        yield service, client


async def test_whatsapp_uploads_the_file_and_sends_it_after_the_text(
    database_url: str, tmp_path: Path, whatsapp: FakeWhatsApp
) -> None:
    async with _whatsapp_in_window(database_url, tmp_path, whatsapp) as (service, _):
        before = len(whatsapp.messages_to(ALICE))
        path = service.services.files.save_document(EXPORT, ".json")
        row_id = await _send_export(service, "whatsapp", ALICE, path)
        await _sent(service, row_id)
        new = whatsapp.messages_to(ALICE)[before:]
        row = await _row(service, row_id)
    assert [(m.type, m.text) for m in new] == [("text", SUMMARY), ("document", "")]
    assert whatsapp.documents_to(ALICE) == [(FILENAME, EXPORT, "application/json")]
    assert row.external_id == new[-1].wamid  # its receipts say whether the file arrived
    assert row.payload["document"]["path"] == path


async def test_whatsapp_a_failed_upload_then_send_repeat_neither_the_text_nor_the_file(
    database_url: str, tmp_path: Path, whatsapp: FakeWhatsApp
) -> None:
    async with _whatsapp_in_window(database_url, tmp_path, whatsapp) as (service, _):
        whatsapp.fail_upload_next(131016)  # first try: the text goes, the upload is refused
        whatsapp.fail_next(131000, after=1)  # second try: uploaded, the document's send refused
        before = len(whatsapp.messages_to(ALICE))
        path = service.services.files.save_document(EXPORT, ".json")
        row_id = await _send_export(service, "whatsapp", ALICE, path)
        await _sent(service, row_id)
        new = whatsapp.messages_to(ALICE)[before:]
        row = await _row(service, row_id)
    assert [(m.type, m.text) for m in new] == [("text", SUMMARY), ("document", "")]
    assert whatsapp.documents_to(ALICE) == [(FILENAME, EXPORT, "application/json")]
    uploads = whatsapp.calls(path_suffix="/media")
    assert len(uploads) == 3
    assert (row.attempts, row.failed_at) == (3, None)


async def test_whatsapp_a_file_gone_still_sends_the_text_and_says_so(
    database_url: str, tmp_path: Path, whatsapp: FakeWhatsApp
) -> None:
    async with _whatsapp_in_window(database_url, tmp_path, whatsapp) as (service, client):
        row_id = await _send_export(service, "whatsapp", ALICE, "exports/" + "0" * 32 + ".json.enc")
        (text,) = await client.expect(SUMMARY)
        await _sent(service, row_id)  # recorded once its channel returned: all of it went out
        row = await _row(service, row_id)
        assert whatsapp.messages_to(ALICE)[client.seen :] == []
    assert text.type == "text"
    assert whatsapp.calls(path_suffix="/media") == []
    assert (row.payload["document"], row.failed_at) == ("missing", None)


async def test_whatsapp_outside_the_window_the_text_goes_as_the_template_without_the_file(
    database_url: str, tmp_path: Path, whatsapp: FakeWhatsApp
) -> None:
    async with whatsapp_tests.serve(database_url, tmp_path, whatsapp) as service:
        path = service.services.files.save_document(EXPORT, ".json")
        row_id = await _send_export(service, "whatsapp", ALICE, path)  # ALICE never wrote
        await _sent(service, row_id)
        row = await _row(service, row_id)
    (sent,) = whatsapp.messages_to(ALICE)
    assert (sent.template, sent.text) == ("optibot_suivi", SUMMARY)
    assert whatsapp.calls(path_suffix="/media") == []
    assert (row.payload["via"], row.payload["document"]) == ("template", "window_closed")


# --- web chat ---------------------------------------------------------------------------------------


async def _browser(service: Service) -> tuple[httpx.AsyncClient, str]:
    """A browser with its cookie, and the user the database knows it as."""
    http = httpx.AsyncClient(base_url=service.base, timeout=10)
    assert (await http.get("/api/chat/history")).status_code == 200
    return http, user_of(http.cookies[COOKIE])


async def _first_event(http: httpx.AsyncClient, after: int) -> dict[str, Any]:
    async with http.stream("GET", f"/api/chat/events?after={after}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                event: dict[str, Any] = json.loads(line[6:])
                return event
    raise AssertionError("the stream ended")


async def test_web_chat_the_recipient_downloads_the_file_for_a_few_minutes_only(
    database_url: str, tmp_path: Path
) -> None:
    clock = RealClock()
    async with serve_app(database_url, tmp_path, export_link_minutes=15, clock=clock) as service:
        owner, user = await _browser(service)
        other, _ = await _browser(service)
        try:
            said = await owner.post("/api/chat/messages", json={"id": uuid.uuid4().hex, "text": "Bonjour"})
            assert said.status_code == 202
            await _first_event(owner, 0)
            (convo,) = await service.rows(conversations)
            cursor = (await owner.get("/api/chat/history")).json()["cursor"]
            path = service.services.files.save_document(EXPORT, ".json")
            row_id = await _send_export(service, "webchat", user, path, convo.id)

            # The stream and the history show the message with its link.
            event = await _first_event(owner, cursor)
            assert (event["id"], event["text"]) == (row_id, SUMMARY)
            link = event["document"]
            assert (link["url"], link["filename"]) == (f"/api/chat/documents/{row_id}", FILENAME)
            history = (await owner.get("/api/chat/history")).json()["messages"]
            assert history[-1]["document"] == link
            assert all(m["document"] is None for m in history[:-1])

            # The browser it was sent to gets the exact bytes, as an attachment, never cached.
            got = await owner.get(link["url"])
            assert got.status_code == 200
            assert got.content == EXPORT
            assert got.headers["content-type"].startswith("application/json")
            assert got.headers["cache-control"] == "no-store"
            disposition = got.headers["content-disposition"]
            assert disposition.startswith("attachment;")
            assert "filename*=UTF-8''optibot-donn%C3%A9es%202026-12-02.json" in disposition

            # Anyone else, or no cookie, or another message: not found.
            async with httpx.AsyncClient(base_url=service.base) as anonymous:
                without_cookie = await anonymous.get(link["url"])
            for response in (
                await other.get(link["url"]),
                without_cookie,
                await owner.get(f"/api/chat/documents/{row_id - 1}"),
                await owner.get(f"/api/chat/documents/{row_id + 1000}"),
            ):
                assert response.status_code == 404
                assert response.json() == {"detail": "Document introuvable."}
                assert EXPORT not in response.content

            # Past EXPORT_LINK_MINUTES, gone for its owner too.
            clock.shift = timedelta(minutes=15, seconds=1)
            expired = await owner.get(link["url"])
            clock.shift = timedelta(0)
            assert expired.status_code == 410
            assert "expiré" in expired.json()["detail"]
            assert expired.content != EXPORT
        finally:
            await owner.aclose()
            await other.aclose()
