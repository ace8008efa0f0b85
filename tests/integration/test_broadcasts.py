"""Waitlist broadcasts in the real app (uvicorn, engine, outbox, channels) against the fake Bot API,
the fake Graph API and a real SMTP server (``aiosmtpd``) on a free port: 300 waiting clients told
once each, on their own channel, at the channels' rate limits; a broadcast survives a SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.engine import utcnow
from storage.database import create_engine
from storage.tables import (
    access_journal,
    broadcast_deliveries,
    broadcasts,
    clients,
    conversations,
    identities,
    inbox,
    messages,
    waitlist,
)
from tests.e2e.servers import free_port
from tests.fakes.telegram import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import APP_SECRET, PHONE_NUMBER_ID, TOKEN, VERIFY_TOKEN, FakeWhatsApp
from tests.integration.serving import Service, serve_app

EMAILS_PER_SECOND = 20.0


# --- a real SMTP server ---------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server took: (monotonic time, recipient, message); ``refuse``: the next
    messages answered 451 (a temporary failure)."""

    received: list[tuple[float, str, str]] = field(default_factory=list)
    refuse: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                self.refused += 1
                return "451 4.3.0 try again later"
            content = envelope.content
            text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
            for rcpt in envelope.rcpt_tos:
                self.received.append((time.monotonic(), rcpt, text))
        return "250 OK"

    def to(self, address: str) -> list[str]:
        with self.lock:
            return [text for _, rcpt, text in self.received if rcpt == address]

    def times(self) -> list[float]:
        with self.lock:
            return sorted(at for at, _, _ in self.received)


@contextlib.contextmanager
def smtp_server() -> Any:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


def smtp_settings(port: int) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_from": "Opticiens Mobiles <contact@opticiens.example>",
        "smtp_starttls": False,
        "smtp_timeout": 5.0,
        "broadcast_emails_per_second": EMAILS_PER_SECOND,
    }


# --- the waiting clients --------------------------------------------------------------------------


@dataclass
class Crowd:
    telegram: list[int] = field(default_factory=list)
    whatsapp_open: list[str] = field(default_factory=list)
    whatsapp_closed: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    unreachable: int = 0

    @property
    def total(self) -> int:
        return (
            len(self.telegram)
            + len(self.whatsapp_open)
            + len(self.whatsapp_closed)
            + len(self.emails)
            + len(self.phones)
            + self.unreachable
        )


async def _waiting(
    connection: Any,
    channel: str,
    user: str,
    now: datetime,
    *,
    department: str = "75",
    email: str | None = None,
    phone: str | None = None,
    language: str = "fr",
    reason: str = "renewal",
) -> None:
    client_id = (
        await connection.execute(
            sa.insert(clients).values(language=language, created_at=now).returning(clients.c.id)
        )
    ).scalar_one()
    identity_id = (
        await connection.execute(
            sa.insert(identities)
            .values(
                client_id=client_id,
                channel=channel,
                external_id=user,
                key=f"{channel}:{user}",
                created_at=now,
            )
            .returning(identities.c.id)
        )
    ).scalar_one()
    conversation_id = (
        await connection.execute(
            sa.insert(conversations)
            .values(
                public_id=secrets.token_hex(8),
                client_id=client_id,
                identity_id=identity_id,
                channel=channel,
                state="done",
                language=language,
                answers={},
                created_at=now,
                updated_at=now,
            )
            .returning(conversations.c.id)
        )
    ).scalar_one()
    await connection.execute(
        sa.insert(waitlist).values(
            client_id=client_id,
            conversation_id=conversation_id,
            channel=channel,
            language=language,
            reason=reason,
            created_at=now - timedelta(days=3),
            department=department,
            contact_email=email,
            contact_phone=phone,
        )
    )


async def seed(
    database_url: str,
    *,
    telegram: int,
    whatsapp_open: int,
    whatsapp_closed: int,
    emails: int,
    phones: int,
    unreachable: int,
    whatsapp: FakeWhatsApp | None = None,
) -> Crowd:
    """Waiting clients on every channel; WhatsApp ones in the window wrote an hour ago."""
    crowd = Crowd()
    now = utcnow()
    database = create_engine(database_url)
    try:
        async with database.begin() as connection:
            for i in range(telegram):
                crowd.telegram.append(7000 + i)
                await _waiting(
                    connection, "telegram", str(7000 + i), now, language="en" if i % 5 == 0 else "fr"
                )
            for i in range(whatsapp_open + whatsapp_closed):
                wa_id = f"3361{i:07d}"
                await _waiting(connection, "whatsapp", wa_id, now, department="13")
                if i < whatsapp_open:
                    crowd.whatsapp_open.append(wa_id)
                    await connection.execute(
                        sa.insert(inbox).values(
                            channel="whatsapp",
                            external_id=f"wamid.seed{i}",
                            identity_key=f"whatsapp:{wa_id}",
                            payload={},
                            received_at=now - timedelta(hours=1),
                            processed_at=now - timedelta(hours=1),
                        )
                    )
                else:
                    crowd.whatsapp_closed.append(wa_id)
            for i in range(emails):
                crowd.emails.append(f"client{i}@mail.example")
                await _waiting(connection, "webchat", f"web-e{i}", now, email=f"client{i}@mail.example")
            for i in range(phones):
                crowd.phones.append(f"+3360000{i:04d}")
                await _waiting(connection, "webchat", f"web-p{i}", now, phone=f"+3360000{i:04d}")
            for i in range(unreachable):
                await _waiting(connection, "webchat", f"web-n{i}", now)
            crowd.unreachable = unreachable
    finally:
        await database.dispose()
    if whatsapp is not None:
        whatsapp.clients_wrote({}, windows=crowd.whatsapp_open)
    return crowd


# --- the app --------------------------------------------------------------------------------------


def channel_settings(telegram: FakeTelegram, whatsapp: FakeWhatsApp) -> dict[str, Any]:
    return {
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_api_url": telegram.base_url,
        "telegram_mode": "polling",
        "whatsapp_access_token": TOKEN,
        "whatsapp_phone_number_id": PHONE_NUMBER_ID,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_api_url": whatsapp.base_url,
    }


@contextlib.asynccontextmanager
async def serve(
    database_url: str, tmp_path: Path, telegram: FakeTelegram, whatsapp: FakeWhatsApp, **overrides: Any
) -> AsyncIterator[Service]:
    async with serve_app(
        database_url, tmp_path, **{**channel_settings(telegram, whatsapp), **overrides}
    ) as service:
        whatsapp.webhook_url = f"{service.base}/webhooks/whatsapp"
        try:
            yield service
        finally:
            await whatsapp.settle()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def whatsapp() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp() as server:
        yield server


async def until(check: Callable[[], Any], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def assert_paced(times: list[float], per_second: float) -> None:
    """No more than the rate in any stretch of the sends (slack of three: the server thread lags)."""
    for i in range(len(times)):
        for j in range(i + 1, len(times)):
            span = times[j] - times[i]
            assert j - i <= per_second * span + 3, (i, j, span)


# --- the tests ------------------------------------------------------------------------------------


async def test_a_broadcast_to_300_clients_tells_each_once_on_their_channel_at_the_rate_limits(
    database_url: str, tmp_path: Path, telegram: FakeTelegram, whatsapp: FakeWhatsApp
) -> None:
    crowd = await seed(
        database_url,
        telegram=120,
        whatsapp_open=60,
        whatsapp_closed=60,
        emails=40,
        phones=10,
        unreachable=10,
        whatsapp=whatsapp,
    )
    assert crowd.total == 300
    with smtp_server() as (mailbox, port):
        mailbox.refuse = 2  # two temporary failures: retried, not lost nor doubled
        async with serve(database_url, tmp_path, telegram, whatsapp, **smtp_settings(port)) as service:
            started = time.monotonic()
            preview = await service.services.broadcasts.preview()
            assert preview.total == 300
            assert preview.routes == {
                "telegram": 120,
                "whatsapp": 60,
                "whatsapp_template": 60,
                "email": 40,
                "callback": 10,
                "unreachable": 10,
            }
            public_id = await service.services.broadcasts.start(by="admin", trigger="manual", level="normal")
            assert public_id is not None

            async def done() -> bool:
                progress = await service.services.broadcasts.progress(public_id)
                return progress is not None and progress.status == "done"

            await until(done, 60, "the broadcast to finish")
            elapsed = time.monotonic() - started
            progress = await service.services.broadcasts.progress(public_id)
            assert progress is not None
            assert (
                progress.total,
                progress.sent,
                progress.failed,
                progress.callback,
                progress.remaining,
            ) == (
                300,
                280,
                10,
                10,
                0,
            )

            # Each client once, on their own channel.
            for chat in crowd.telegram:
                sent = telegram.messages_to(chat)
                assert len(sent) == 1, (chat, [m.text for m in sent])
                english = chat % 5 == 0
                assert ("Good news" if english else "Bonne nouvelle") in sent[0].text
            assert telegram.too_many == 0
            assert telegram.flood_rejected == 0
            for wa_id in crowd.whatsapp_open:
                (sent_wa,) = whatsapp.messages_to(wa_id)
                assert sent_wa.type != "template"
            for wa_id in crowd.whatsapp_closed:
                (sent_wa,) = whatsapp.messages_to(wa_id)
                assert sent_wa.type == "template"
            assert not [c.error_code for c in whatsapp.calls() if c.error_code]
            for address in crowd.emails:
                (mail,) = mailbox.to(address)
                assert "Bonjour," in mail
                assert "reprennent leur service normal" in mail
            assert mailbox.refused == 2
            # At the rate limits: Telegram's 30 a second (the fake refuses more), e-mails at theirs.
            assert_paced(mailbox.times(), EMAILS_PER_SECOND)
            assert len(mailbox.times()) == 40
            assert elapsed < 60

            # Told clients are marked; those to call back and those unreachable still wait.
            rows = await service.rows(waitlist)
            told = [r for r in rows if r.notified_at is not None]
            assert len(told) == 280
            assert {r.contact_phone for r in rows if r.notified_at is None} == {*crowd.phones, None}
            (line,) = await service.rows(access_journal, access_journal.c.action == "broadcast")
            assert line.actor == "admin"
            assert line.detail.startswith(public_id)
            assert "@" not in line.detail

            # A second broadcast tells only those not told yet (the 20 of the web chat): no chat
            # message, no e-mail again.
            again = await service.services.broadcasts.start(by="admin", trigger="manual", level="crisis")
            assert again is not None
            await until(lambda: _status(service, again), 20, "the second broadcast")
            assert sum(len(telegram.messages_to(c)) for c in crowd.telegram) == 120
            assert len(mailbox.times()) == 40
            deliveries = await service.rows(broadcast_deliveries)
            assert len(deliveries) == 320
            outbound = await service.rows(messages, messages.c.direction == "out")
            assert len(outbound) == 240


async def _status(service: Service, public_id: str) -> bool:
    (row,) = await service.rows(broadcasts, broadcasts.c.public_id == public_id)
    return bool(row.status == "done")
