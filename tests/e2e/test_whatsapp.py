"""WhatsApp end to end: through `optibot run` against the fake Graph API, and in the operator console
in a real browser (headless Chromium), where the 24-hour window shows and decides how a reply goes out.

The fake signs every webhook it posts (and posts it again on a non-2xx answer, like Meta), keeps the
customer-service window on its own clock and makes a free-form message outside it fail with 131047.
Screenshots go to test-output/console/.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Locator, Page, async_playwright, expect

from bot.engine import utcnow
from storage.tables import cases, inbox
from tests.e2e.servers import free_port, service_env, service_process, wait_until_healthy
from tests.e2e.test_console_browser import SCREENSHOTS, TIMEOUT_MS, Operator
from tests.fakes.whatsapp import APP_SECRET, PHONE_NUMBER_ID, TOKEN, VERIFY_TOKEN, FakeWhatsApp
from tests.harness import RealClock
from tests.integration.serving import Service
from tests.integration.test_whatsapp import ALICE, Client, serve, shipment_with_prescription

CLOSED_CLASS = re.compile(r"(^|\s)closed(\s|$)")  # the banner's warning style
CLOSED_FOR = timedelta(hours=25)  # the client's last message, moved back: a day and an hour ago


def whatsapp_env(fake: FakeWhatsApp) -> dict[str, str]:
    """The WHATSAPP_* settings of `optibot run`, pointed at the fake."""
    return {
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_API_URL": fake.base_url,
    }


async def test_a_whatsapp_client_reaches_a_case_through_optibot_run(
    database_url: str, tmp_path: Path
) -> None:
    """Meta's subscription handshake, then the whole conversation (a list, buttons, free text, a
    prescription photo), every webhook answered 200; `optibot cases list` shows the WhatsApp case."""
    port = free_port()
    async with FakeWhatsApp() as fake:
        env = {**whatsapp_env(fake), "PUBLIC_URL": f"http://127.0.0.1:{port}"}
        with service_process(database_url, tmp_path, port=port, env=env, wait=False) as (base, process):
            # This event loop serves the fake while the service starts: wait from a thread.
            await asyncio.to_thread(wait_until_healthy, base, process, tmp_path / "server.log")
            fake.webhook_url = f"{base}/webhooks/whatsapp"

            challenge = str(secrets.randbelow(10**9))
            assert await fake.verify("subscribe", VERIFY_TOKEN, challenge) == (200, challenge)
            assert (await fake.verify("subscribe", "not-the-verify-token", challenge))[0] == 403

            reference = await shipment_with_prescription(Client(fake))
            await fake.settle()  # the sent/delivered statuses of the bot's messages, pushed too
            listed = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "bot.cli", "cases", "list", "--json"],
                cwd=tmp_path,
                env=service_env(database_url, tmp_path / "data"),
                capture_output=True,
                text=True,
                check=True,
            )
    (case,) = json.loads(listed.stdout)
    assert case["reference"] == reference
    assert case["channel"] == "whatsapp"
    assert (case["need"], case["mode"], case["postal_code"]) == ("unsuitable", "shipment", "20000")
    assert fake.media_downloads == 1  # the prescription photo, fetched with the bearer token
    kinds = {hook.kind for hook in fake.webhooks}
    assert kinds == {"messages", "statuses"}, kinds
    assert fake.webhook_attempts, "no webhook was posted"
    refused = [(label, status) for label, status in fake.webhook_attempts if status != 200]
    assert refused == [], refused


async def _move_inbound_back(service: Service, wa_id: str, by: timedelta) -> int:
    """Controlled time: every message of this client as if it had come ``by`` earlier (the window is
    read from the last one); returns how many were moved."""
    key = f"whatsapp:{wa_id}"
    async with service.services.database.begin() as connection:
        rows = (
            await connection.execute(
                sa.select(inbox.c.id, inbox.c.received_at).where(inbox.c.identity_key == key)
            )
        ).all()
        for row in rows:
            await connection.execute(
                sa.update(inbox).where(inbox.c.id == row.id).values(received_at=row.received_at - by)
            )
    return len(rows)


async def _open_case(alice: Operator, reference: str) -> None:
    row = alice.page.locator(f'[data-testid="queue-row"][data-reference="{reference}"]')
    await expect(row).to_be_visible()
    await row.click()
    await expect(alice.by("case-view")).to_be_visible()
    await expect(alice.by("case-reference")).to_have_text(reference)


def _operator_line(page: Page, text: str) -> Locator:
    """alice's reply ``text`` in the transcript."""
    return (
        page.get_by_test_id("transcript")
        .locator(
            '[data-testid="message"][data-direction="out"][data-author="operator"][data-operator="alice"]'
        )
        .filter(has_text=text)
    )


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
async def test_the_console_shows_the_whatsapp_window_and_a_reply_outside_it_goes_as_the_template(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    """alice, in Chromium, takes a WhatsApp case: the banner says the 24-hour window is open and her
    reply reaches the client as a text. A day and an hour later (the client's last message moved back
    in the database, Meta's clock moved on as much), the banner says it is closed, and her reply
    reaches the client as the approved template, which the transcript line says."""
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    clock = RealClock()  # moved on a day and an hour below; the operator's session outlives it
    async with FakeWhatsApp() as fake:
        client = Client(fake)
        async with serve(database_url, tmp_path, fake, clock=clock, console_session_hours=48) as service:
            reference = await shipment_with_prescription(client)
            (case,) = await service.rows(cases, cases.c.reference == reference)
            assert case.channel == "whatsapp"
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(chromium), args=["--no-sandbox"], headless=True
                )
                try:
                    alice = await Operator.open(browser, service.base, "alice")
                    await alice.login()
                    await _open_case(alice, reference)
                    await alice.by("claim").click()
                    await expect(alice.by("release")).to_be_visible()

                    # Inside the window: the banner says so, and the reply goes out as written.
                    banner = alice.by("reply-window")
                    await expect(banner).to_be_visible()
                    await expect(banner).to_contain_text("fenêtre de 24 h ouverte")
                    await expect(banner).not_to_have_class(CLOSED_CLASS)
                    window = (await alice.case_detail(case.public_id))["window"]
                    assert window["open"] is True, window
                    left = datetime.fromisoformat(window["closes_at"]) - utcnow()
                    assert timedelta(hours=23) < left <= timedelta(hours=24), window
                    inside = "Bonjour, ici Alice : votre envoi est en préparation."
                    await alice.by("reply-text").fill(inside)
                    await alice.by("reply-send").click()
                    (reply,) = await client.expect(inside)
                    assert (reply.type, reply.template, reply.text) == ("text", None, inside)
                    await fake.wait_for(lambda: reply.delivered)
                    line = _operator_line(alice.page, inside)
                    await expect(line).to_have_count(1)
                    await expect(line).to_have_attribute("data-delivery", "sent")
                    await expect(line).not_to_contain_text("modèle WhatsApp")
                    await alice.shot("whatsapp-window-open.png")

                    # A day and an hour later: the window is closed on both sides.
                    await fake.settle()
                    assert await _move_inbound_back(service, ALICE, CLOSED_FOR) > 0
                    fake.advance(CLOSED_FOR.total_seconds())
                    # The channel remembers the window's end it read (a window only ever grows, so
                    # history rewritten in the database is not read again): the service's clock
                    # moves on.
                    clock.shift = CLOSED_FOR
                    assert not fake.window_open(ALICE)
                    closed_since = fake.now()
                    await alice.page.reload()
                    await expect(alice.by("case-view")).to_be_visible()
                    await expect(alice.by("case-reference")).to_have_text(reference)
                    await expect(banner).to_be_visible()
                    await expect(banner).to_contain_text("fenêtre de 24 h fermée")
                    await expect(banner).to_have_class(CLOSED_CLASS)
                    window = (await alice.case_detail(case.public_id))["window"]
                    assert window["open"] is False, window
                    assert datetime.fromisoformat(window["closes_at"]) < utcnow(), window

                    outside = "Votre colis part demain matin par Chronopost."
                    await alice.by("reply-text").fill(outside)
                    await alice.by("reply-send").click()
                    (late,) = await client.expect(outside)
                    assert (late.type, late.template, late.text) == ("template", "optibot_suivi", outside)
                    await fake.wait_for(lambda: late.delivered)
                    line = _operator_line(alice.page, outside)
                    await expect(line).to_have_count(1)
                    await expect(line).to_have_attribute("data-delivery", "sent")
                    await expect(line).to_contain_text("modèle WhatsApp")
                    await alice.shot("whatsapp-window-closed.png")

                    # Nothing free-form was even tried once the window was closed.
                    since = [m for m in fake.messages_to(ALICE) if m.at >= closed_since]
                    assert since == [late], [(m.type, m.status, m.text) for m in since]
                    # Meta refuses the template (its name is wrong): the failure says what to check.
                    fake.fail_next(132001)
                    refused = "Et votre facture suit par courrier."
                    await alice.by("reply-text").fill(refused)
                    await alice.by("reply-send").click()
                    line = _operator_line(alice.page, refused)
                    await expect(line).to_have_attribute("data-delivery", "failed")
                    await expect(line).to_contain_text("Meta refuse le modèle de message")
                    await expect(line).to_contain_text("132001")

                    # The client answers: the banner says the window is open again, with no reload.
                    await client.say("Merci beaucoup !")
                    await expect(banner).to_contain_text("fenêtre de 24 h ouverte")
                    await expect(banner).not_to_have_class(CLOSED_CLASS)
                    assert alice.dialogs == [], alice.dialogs
                    assert alice.errors == [], alice.errors
                    await alice.context.close()
                finally:
                    await browser.close()
