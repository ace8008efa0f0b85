"""The canary: a client with distinctive values on every channel, then erasure; afterwards no
canary is left anywhere — a full dump of the database (SQLite: the file and its WAL; PostgreSQL:
pg_dump), nor any file of the data folder (raw, and decrypted).

The client goes through Telegram (a home visit accepted by an optician, an operator's note, a
photo, a data export, then "supprimer mes données"), WhatsApp (a prescription, a shipment, a note;
erased by an admin while the case is open) and the web chat (an advisor case, then erased by the
client). The app runs for real (uvicorn, engine, outbox, aiogram, httpx) against the fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from sqlalchemy.engine import make_url

from bot.console.auth import Operator
from flows.lifecycle import OPEN_STATES
from storage import privacy
from storage.tables import access_journal, cases, identities, messages
from tests.fakes.telegram import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import APP_SECRET, PHONE_NUMBER_ID, TOKEN, VERIFY_TOKEN, FakeWhatsApp
from tests.integration.serving import Service, serve_app
from tests.integration.test_console import PASSWORD, Staff, WebClient, _open_clients
from tests.integration.test_dispatch import _optician
from tests.integration.test_telegram import SECRET, Client
from tests.integration.test_whatsapp import Client as WhatsAppClient

NAME = "Zephyrine Quarkwell"
PHONE = "06 47 11 92 38"
ADDRESS = "17 rue Canaryhill 75011 Paris"
INSURER = "Mutuelle Plumocanard"  # not in the shipped list: kept as typed
WORDS = "est-ce que c'est parti ? Pistachiox"
NOTE = "Zephyrine préfère être appelée le soir (Quarkwell)"
TELEGRAM_CHAT = 739184265
WHATSAPP = "33647119238"
PIXELS = b"CANARYPIXELS-9f3c"
# Everything that must be gone: the name, the phone in every spelling, the street, what the client
# wrote, the operator's note, the chat id, the WhatsApp number, the insurer, the prescription's and
# the insurance card's bytes.
CANARIES = [
    "Zephyrine",
    "Quarkwell",
    "647119238",
    "47 11 92 38",
    "Canaryhill",
    "Pistachiox",
    "739184265",
    "Plumocanard",
]
ADMIN = Operator(0, "a", "alice", "admin")


def canary_png() -> bytes:
    """A valid 1×1 PNG carrying a distinctive text chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    text = chunk(b"tEXt", b"Comment\x00" + PIXELS)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + text + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeWhatsApp]]:
    async with FakeTelegram(chat_limit=(40, 1.0)) as telegram, FakeWhatsApp() as whatsapp:
        yield telegram, whatsapp


async def _until(predicate: Any, what: str, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.05)


async def _telegram_client(service: Service, telegram: FakeTelegram) -> str:
    """A home visit accepted by an optician (who gets the insurance card's photo), a note, a photo
    after hand-off, an export, erased."""
    client = Client(telegram, TELEGRAM_CHAT)
    said = [
        "mes lunettes sont cassées",
        "oui",
        "je suis infirmière",
        "à domicile",
        "oui",
        ADDRESS,
        "dès que possible",  # any day of the week (the real clock: "demain" may be a Sunday)
        NAME,
        PHONE,
        INSURER,
    ]
    for text in said:
        await telegram.say(TELEGRAM_CHAT, text)
        await client.expect(within=15)
    await telegram.send_photo(TELEGRAM_CHAT, canary_png())  # the insurance card
    await client.expect("Tout est correct", within=15)
    await telegram.say(TELEGRAM_CHAT, "oui")
    if not any("référence" in m.text for m in telegram.messages_to(TELEGRAM_CHAT)):
        await client.expect("référence", within=15)
    (case,) = await service.rows(cases, cases.c.channel == "telegram")
    console = service.services.console
    await console.claim(ADMIN, case.public_id)
    await console.note(ADMIN, case.public_id, NOTE)
    await console.dispatch(ADMIN, case.public_id)
    optician = Client(telegram, 501)
    await optician.expect("Nouvelle visite", within=15)
    await telegram.press_button(501, "J'accepte")
    await optician.expect("Quarkwell", within=15)  # the brief: name, phone, address
    # ... and a copy of the insurance card, which erasure must reach too.
    await telegram.wait_for(lambda: any(PIXELS in content for _, content in telegram.documents_to(501)), 15)
    await client.expect(within=15)  # "who comes and when"
    await telegram.say(TELEGRAM_CHAT, WORDS)
    await telegram.send_photo(TELEGRAM_CHAT, canary_png())
    await telegram.say(TELEGRAM_CHAT, "mes données")
    await telegram.wait_for(lambda: bool(telegram.documents_to(TELEGRAM_CHAT)), 15)
    _, exported = telegram.documents_to(TELEGRAM_CHAT)[0]
    assert b"Canaryhill" in exported
    assert b"Pistachiox" in exported
    assert b"Plumocanard" in exported
    await telegram.say(TELEGRAM_CHAT, "supprimer mes données")
    await client.expect("effacer", within=15)
    await telegram.press_button(TELEGRAM_CHAT, "Oui, tout effacer")
    await client.expect("effacées", within=15)
    return str(case.public_id)


async def _whatsapp_client(service: Service, whatsapp: FakeWhatsApp) -> str:
    """A prescription and a shipment, a note; an admin erases the client while the case is open."""
    client = WhatsAppClient(whatsapp, WHATSAPP)
    await client.say("mes lunettes ne me conviennent plus")
    await client.expect("ordonnance")
    await whatsapp.send_image(WHATSAPP, canary_png(), mime_type="image/png")
    for text in (
        "oui",
        "je suis livreur",
        "par envoi",
        ADDRESS,
        NAME,
        PHONE,
        f"c'est la {INSURER}",
        "passer",
        "oui",
    ):
        await client.expect(within=15)
        await client.say(text)
    await client.expect("référence", within=15)
    (case,) = await service.rows(cases, cases.c.channel == "whatsapp")
    await service.services.console.note(ADMIN, case.public_id, NOTE)
    await client.say(WORDS)
    await client.expect(within=15)  # the notice: an advisor answers
    # An admin erases the client from the console while the case is open.
    await service.services.accounts.add(ADMIN.name, PASSWORD, "admin")
    admin = Staff(service.base)
    assert (await admin.login(ADMIN.name)).status_code == 200
    erased = await admin.post(f"/cases/{case.public_id}/erase")
    assert erased.status_code == 200, erased.text
    (after,) = await service.rows(cases, cases.c.id == case.id)
    assert after.status == "cancelled"
    assert after.anonymised_at is not None
    return str(case.public_id)


async def _web_client(service: Service) -> str:
    """An advisor case from the web chat, then erased by the client; returns their chat id."""
    web = WebClient(service.base)
    for text in ("mes lunettes sont cassées", "oui", "conseiller", WORDS, f"je suis {NAME}, {PHONE}"):
        await web.say(text)
    await _until(lambda: _count(service, cases, cases.c.channel == "webchat"), "no web chat case")
    (identity,) = await service.rows(identities, identities.c.channel == "webchat")
    await web.say("supprimer mes données")
    await _until(lambda: _asked(web, "effacer toutes vos données"), "the erasure was not asked", within=15)
    await web.say("oui")
    # The goodbye goes to the browser (its stream reads by party), outside any conversation.
    goodbye = sa.and_(messages.c.party == identity.external_id, messages.c.text.contains("effacées"))
    await _until(lambda: _count(service, messages, goodbye), "the erasure was not confirmed", within=15)
    return str(identity.external_id)


async def _asked(web: WebClient, fragment: str) -> bool:
    return any(fragment in text for text in await web.replies())


async def _count(service: Service, table: sa.Table, *where: Any) -> int:
    return len(await service.rows(table, *where))


async def _all_delivered(service: Service) -> bool:
    pending = await service.rows(
        messages, messages.c.direction == "out", messages.c.sent_at.is_(None), messages.c.failed_at.is_(None)
    )
    return not pending


def _dump(database_url: str) -> bytes:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        parts = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
        return b"".join(p.read_bytes() for p in parts if p.exists())
    command = ["pg_dump", "--no-owner", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    command += ["-U", url.username or "postgres", url.database or ""]
    done = subprocess.run(command, capture_output=True, check=True, timeout=60)
    return done.stdout


def _folder(root: Path, files: Any) -> list[tuple[str, bytes]]:
    """Every file of the data folder, raw and (for our encrypted files) decrypted."""
    found: list[tuple[str, bytes]] = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        found.append((str(path), raw))
        if path.name.endswith(".enc"):
            with contextlib.suppress(InvalidToken, ValueError):
                found.append((f"{path} (decrypted)", files.read(str(path.relative_to(root)))))
    return found


async def test_erasure_leaves_no_canary_anywhere(
    database_url: str, tmp_path: Path, fakes: tuple[FakeTelegram, FakeWhatsApp]
) -> None:
    telegram, whatsapp = fakes
    settings: dict[str, Any] = {
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_api_url": telegram.base_url,
        "telegram_webhook_secret": SECRET,
        "telegram_chat_burst": 20,
        "whatsapp_access_token": TOKEN,
        "whatsapp_phone_number_id": PHONE_NUMBER_ID,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_api_url": whatsapp.base_url,
    }
    async with serve_app(database_url, tmp_path, **settings) as service:
        try:
            await _erase_everywhere(service, database_url, tmp_path, telegram, whatsapp)
        finally:
            await _open_clients()  # the console's and web chat's HTTP clients, in this event loop


async def _erase_everywhere(
    service: Service, database_url: str, tmp_path: Path, telegram: FakeTelegram, whatsapp: FakeWhatsApp
) -> None:
    whatsapp.webhook_url = f"{service.base}/webhooks/whatsapp"
    await _optician(telegram, service, 501, "Opticienne Martin", ["75"])
    await _telegram_client(service, telegram)
    await _whatsapp_client(service, whatsapp)
    web_user = await _web_client(service)
    canaries = [*CANARIES, web_user]
    # Before erasure they were there (the test can see them): the canaries are real.
    assert web_user not in ("", "erased")

    await _until(lambda: _all_delivered(service), "messages still waiting to be sent", within=30)
    await whatsapp.settle()
    desk = service.services.engine.privacy
    await desk.settled()
    # The goodbyes, kept a few minutes for the web page, go with the next sweep.
    async with service.services.database.begin() as connection:
        later = desk.clock() + timedelta(minutes=10)
        await privacy.purge(connection, later, desk.policy, desk.pseudonyms, open_statuses=OPEN_STATES)
    await desk.after_erasure([])

    journal = await service.rows(access_journal, access_journal.c.action == "erase")
    assert sorted(line.actor for line in journal) == sorted(["client", "client", ADMIN.name])
    dump = _dump(database_url)
    assert len(dump) > 10_000  # a real dump of a real database
    leaks = [c for c in canaries if c.encode() in dump]
    assert not leaks, f"found in the database: {leaks}"
    files = _folder(tmp_path / "data", service.services.files)
    leaked_files = [
        (name, c) for name, content in files for c in [*canaries, PIXELS.decode()] if c.encode() in content
    ]
    assert not leaked_files, leaked_files
    assert not [name for name, _ in files if "prescriptions" in name or "exports" in name]
