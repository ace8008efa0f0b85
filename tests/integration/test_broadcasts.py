"""Waitlist broadcasts in the real app (uvicorn, engine, outbox, channels) against the fake Bot API,
the fake Graph API and a real SMTP server (``aiosmtpd``) on a free port: 300 waiting clients told
once each, on their own channel, at the channels' rate limits; a broadcast survives a SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.fernet import Fernet

from bot.app import build, opened
from bot.engine import utcnow
from bot.settings import Settings
from storage.database import create_engine
from storage.tables import (
    access_journal,
    broadcast_deliveries,
    broadcasts,
    inbox,
    messages,
    service_levels,
    waitlist,
)
from tests.e2e.servers import free_port, service_env
from tests.fakes.telegram import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import APP_SECRET, PHONE_NUMBER_ID, TOKEN, VERIFY_TOKEN, FakeWhatsApp
from tests.integration.serving import Service, serve_app
from tests.seeding import insert_client

EMAILS_PER_SECOND = 20.0
TELEGRAM_PER_SECOND = 25


# --- a real SMTP server ---------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server took: (monotonic time, recipient, message); ``refuse``: the next
    messages answered 451 (a temporary failure)."""

    received: list[tuple[float, str, str]] = field(default_factory=list)
    refuse: int = 0
    refused: int = 0
    delay: float = 0.0  # seconds before the answer to a message taken (a kill then finds one in flight)
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
        if self.delay:  # taken, its answer late: a sender killed meanwhile does not know it went
            await asyncio.sleep(self.delay)
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
    reason: str = "not_urgent",
) -> None:
    client_id, conversation_id = await insert_client(connection, channel, user, now, language=language)
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
    level: str = "normal",
    reason: str = "not_urgent",
) -> Crowd:
    """Waiting clients on every channel; WhatsApp ones in the window wrote an hour ago. The
    national level is ``level`` (normal: the service resumed, what a broadcast announces; a
    broadcast may not announce a level looser than the one in force)."""
    crowd = Crowd()
    now = utcnow()
    database = create_engine(database_url)
    try:
        async with database.begin() as connection:
            await connection.execute(
                sa.insert(service_levels).values(scope="national", level=level, set_by="seed", set_at=now)
            )
            for i in range(telegram):
                crowd.telegram.append(7000 + i)
                await _waiting(
                    connection,
                    "telegram",
                    str(7000 + i),
                    now,
                    language="en" if i % 5 == 0 else "fr",
                    reason=reason,
                )
            for i in range(whatsapp_open + whatsapp_closed):
                wa_id = f"3361{i:07d}"
                await _waiting(connection, "whatsapp", wa_id, now, department="13", reason=reason)
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
                await _waiting(
                    connection, "webchat", f"web-e{i}", now, email=f"client{i}@mail.example", reason=reason
                )
            for i in range(phones):
                crowd.phones.append(f"+3360000{i:04d}")
                await _waiting(
                    connection, "webchat", f"web-p{i}", now, phone=f"+3360000{i:04d}", reason=reason
                )
            for i in range(unreachable):
                await _waiting(connection, "webchat", f"web-n{i}", now, reason=reason)
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
        # Below the Bot API's 30 a second, as a deployment sets it: at exactly 30 the two clocks'
        # jitter now and then makes the fake refuse one (a 429 the outbox then waits out).
        "telegram_max_per_second": TELEGRAM_PER_SECOND,
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
            assert_paced(
                sorted(m.at for c in crowd.telegram for m in telegram.messages_to(c)), TELEGRAM_PER_SECOND
            )
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
            again = await service.services.broadcasts.start(by="admin", trigger="manual", level="normal")
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


# --- a SIGKILL mid-way ----------------------------------------------------------------------------

REPEATS_PER_KILL = 5  # chat messages a killed process had sent and not recorded: the outbox sends them again


class Process:
    """``optibot run`` on a fixed port, killed with SIGKILL and started again there."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log = (self.workdir / "service.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            "--port",
            str(self.port),
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 60
            while True:
                assert self.process.returncode is None, (self.workdir / "service.log").read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.base}/healthz", timeout=1)).status_code == 200:
                        return
                assert time.monotonic() < deadline, "the service did not start"
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def test_a_broadcast_killed_mid_way_resumes_in_a_new_process_without_telling_anyone_twice(
    database_url: str, tmp_path: Path, telegram: FakeTelegram, whatsapp: FakeWhatsApp
) -> None:
    crowd = await seed(
        database_url,
        telegram=150,
        whatsapp_open=30,
        whatsapp_closed=30,
        emails=60,
        phones=0,
        unreachable=0,
        whatsapp=whatsapp,
    )
    with smtp_server() as (mailbox, port):
        values = {**channel_settings(telegram, whatsapp), **smtp_settings(port)}
        values["broadcast_emails_per_second"] = 10.0
        values["broadcast_sending_timeout"] = 2
        mailbox.delay = 0.08
        env = service_env(
            database_url,
            tmp_path / "data",
            **{key.upper(): str(value) for key, value in values.items()},
            OPTIBOT_FILE_KEY=Fernet.generate_key().decode(),
        )
        env["SMTP_STARTTLS"] = "false"
        # The broadcast is started from another process (as the CLI or the console would).
        settings = Settings(_env_file=None, database_url=database_url, **values)  # type: ignore[call-arg]
        async with opened(build(settings)) as services:
            public_id = await services.broadcasts.start(by="admin", trigger="manual", level="normal")
        assert public_id is not None

        service = Process(tmp_path, env)
        whatsapp.webhook_url = f"{service.base}/webhooks/whatsapp"
        database = create_engine(database_url)
        try:
            await service.start()
            # Killed while e-mails and Telegram messages are going out.
            await until(lambda: len(mailbox.times()) >= 15, 60, "e-mails under way")
            assert sum(len(telegram.messages_to(c)) for c in crowd.telegram) < 150
            await service.kill()
            killed_at = len(mailbox.times())
            assert killed_at < 60
            await service.start()

            async def done() -> bool:
                async with database.connect() as connection:
                    status = await connection.scalar(
                        sa.select(broadcasts.c.status).where(broadcasts.c.public_id == public_id)
                    )
                return status == "done"

            await until(done, 90, "the broadcast to finish after the restart")
            await whatsapp.settle()
        finally:
            await service.stop()
        async with database.connect() as connection:
            outbound = (
                await connection.execute(sa.select(messages).where(messages.c.direction == "out"))
            ).all()
            deliveries = (await connection.execute(sa.select(broadcast_deliveries))).all()
        await database.dispose()

    # One outbound row per chat client, whatever the kill interrupted.
    parties = sorted(row.party for row in outbound)
    expected = sorted([str(c) for c in crowd.telegram] + crowd.whatsapp_open + crowd.whatsapp_closed)
    assert parties == expected
    # Each told: the outbox repeats at most the few sends the killed process had not recorded.
    counts = [len(telegram.messages_to(c)) for c in crowd.telegram]
    counts += [len(whatsapp.messages_to(w)) for w in crowd.whatsapp_open + crowd.whatsapp_closed]
    assert min(counts) == 1
    assert sum(counts) - len(counts) <= REPEATS_PER_KILL
    assert telegram.too_many == 0
    # E-mails: at most once each; one in flight at the kill may be given up, never sent twice.
    interrupted = [d for d in deliveries if d.error == "interrupted"]
    assert len(interrupted) <= 1
    per_address = {address: len(mailbox.to(address)) for address in crowd.emails}
    assert max(per_address.values()) == 1
    assert sum(per_address.values()) >= 60 - len(interrupted)
    assert {d.status for d in deliveries} <= {"sent", "failed"}
    assert len([d for d in deliveries if d.status == "failed"]) == len(interrupted)


async def test_a_client_erased_while_a_broadcast_waits_is_not_told_and_the_broadcast_still_ends(
    database_url: str, tmp_path: Path
) -> None:
    crowd = await seed(
        database_url, telegram=0, whatsapp_open=0, whatsapp_closed=0, emails=4, phones=1, unreachable=0
    )
    with smtp_server() as (mailbox, port):
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=database_url,
            optibot_data_dir=tmp_path / "data",
            **smtp_settings(port),
        )
        # Started while no service runs; the client then asks for their data to be erased.
        async with opened(build(settings)) as services:
            public_id = await services.broadcasts.start(by="admin", trigger="manual", level="normal")
            assert public_id is not None
            async with services.database.connect() as connection:
                erased = await connection.scalar(
                    sa.select(waitlist.c.client_id).where(waitlist.c.contact_email == crowd.emails[0])
                )
            await services.engine.privacy.erase(erased, actor="admin", detail="test")
        async with serve_app(database_url, tmp_path, **smtp_settings(port)) as service:
            await until(lambda: _status(service, public_id), 20, "the broadcast to finish")
            progress = await service.services.broadcasts.progress(public_id)
            assert progress is not None
            assert (
                progress.total,
                progress.sent,
                progress.failed,
                progress.callback,
                progress.remaining,
            ) == (
                5,
                3,
                0,
                1,
                0,
            )
        assert mailbox.to(crowd.emails[0]) == []
        assert sorted(rcpt for _, rcpt, _ in mailbox.received) == sorted(crowd.emails[1:])


async def test_two_processes_share_a_broadcast_and_tell_each_client_once(
    postgres_url: str, tmp_path: Path, telegram: FakeTelegram, whatsapp: FakeWhatsApp
) -> None:
    """Several processes are a PostgreSQL deployment: each claims deliveries the other did not.
    The first sends on Telegram (a broadcast keeps only a share of the outbox unsent: its
    messages must go for the rest to be handed over); both hand deliveries to the outbox."""
    crowd = await seed(
        postgres_url, telegram=200, whatsapp_open=0, whatsapp_closed=0, emails=40, phones=0, unreachable=0
    )
    with smtp_server() as (mailbox, port):
        async with (
            serve(postgres_url, tmp_path / "a", telegram, whatsapp, **smtp_settings(port)) as first,
            serve_app(postgres_url, tmp_path / "b", **smtp_settings(port)) as second,
        ):
            public_id = await first.services.broadcasts.start(by="admin", trigger="manual", level="normal")
            assert public_id is not None
            second.services.broadcasts.wake()  # both at once

            async def handed_over() -> bool:
                rows = await second.rows(broadcast_deliveries)
                return all(r.status in ("sent", "failed") for r in rows)

            await until(handed_over, 30, "every delivery made")
            await until(
                lambda: all(telegram.messages_to(c) for c in crowd.telegram), 30, "every message sent"
            )
            outbound = await first.rows(messages, messages.c.direction == "out")
        # One outbound row per client, one message each.
        assert sorted(int(r.party) for r in outbound) == crowd.telegram
        assert all(len(telegram.messages_to(chat)) == 1 for chat in crowd.telegram)
        assert sorted(rcpt for _, rcpt, _ in mailbox.received) == sorted(crowd.emails)
