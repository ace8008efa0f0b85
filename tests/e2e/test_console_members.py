"""The Réseau view in Chromium against `optibot run` and the fake Bot API (issue 16): network staff
land on the members' requests (never the client cases), a new request appears live without a
reload, they claim it and reply, and the reply reaches the member's Telegram chat; an admin
switches between the two views; an operator's console has no Réseau."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import async_playwright, expect
from sqlalchemy.ext.asyncio import create_async_engine

from storage.tables import member_requests, opticians
from tests.e2e.servers import free_port, service_process, wait_until_healthy
from tests.e2e.test_console_browser import SCREENSHOTS, TIMEOUT_MS, Operator, add_operator
from tests.fakes.telegram import TOKEN, FakeTelegram

MEMBER_CHAT = 4242


async def seed_member(database_url: str) -> int:
    """A member (an optician whose Telegram chat is linked); their row id."""
    engine = create_async_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            found = await connection.execute(
                sa.insert(opticians)
                .values(
                    public_id=secrets.token_hex(8),
                    name="Anne Martin",
                    phone="+33611223344",
                    departments=["75"],
                    telegram_chat=str(MEMBER_CHAT),
                    created_at=now,
                    updated_at=now,
                )
                .returning(opticians.c.id)
            )
            return int(found.scalar_one())
    finally:
        await engine.dispose()


async def file_request(database_url: str, optician_id: int, reference: str) -> None:
    """A request as the members' desk files it (another process: the console sees it by its poll)."""
    engine = create_async_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.insert(member_requests).values(
                    public_id=secrets.token_hex(8),
                    reference=reference,
                    optician_id=optician_id,
                    channel="telegram",
                    chat=str(MEMBER_CHAT),
                    kind="commission_advance",
                    amount_cents=300000,
                    details="Avance demandée pour tenir jusqu'à la reprise.",
                    status="new",
                    created_at=now,
                    updated_at=now,
                )
            )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_network_staff_claim_and_answer_a_member_live(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "polling", "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    async with FakeTelegram() as fake:
        env["TELEGRAM_API_URL"] = fake.base_url
        with service_process(database_url, tmp_path, port=port, env=env, wait=False) as (base, process):
            await asyncio.to_thread(wait_until_healthy, base, process, tmp_path / "server.log")
            for name, role in (("nina", "network"), ("alice", "admin"), ("bob", "operator")):
                await asyncio.to_thread(add_operator, name, role, database_url, tmp_path)
            member = await seed_member(database_url)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(chromium), args=["--no-sandbox"], headless=True
                )
                nina = await Operator.open(browser, base, "nina")
                refused: list[str] = []  # what the page asked that the server refused network staff
                nina.page.on("response", lambda r: refused.append(r.url) if r.status == 403 else None)
                await nina.login()
                # Network staff land on Réseau: no client queue, no switch, no client buttons.
                await expect(nina.by("network-view")).to_be_visible()
                await expect(nina.page.locator("#queue-pane")).to_be_hidden()
                await expect(nina.by("view-switch")).to_be_hidden()
                await expect(nina.by("opticians-open")).to_be_hidden()
                await expect(nina.by("slots-open")).to_be_visible()
                await expect(nina.by("announcements-open")).to_be_visible()
                rows = nina.by("members-row")
                await expect(rows).to_have_count(0)

                # A member's request arrives: it appears without a reload.
                await file_request(database_url, member, "A-TEST23")
                await expect(rows).to_have_count(1)
                await expect(rows.first).to_contain_text("A-TEST23")
                await expect(rows.first).to_contain_text("Anne Martin")
                await expect(rows.first).to_contain_text("Nouvelle")
                await rows.first.click()
                await expect(nina.by("members-reference")).to_have_text("A-TEST23")
                await expect(nina.by("members-card")).to_contain_text("+33611223344")
                await expect(nina.by("members-asked")).to_contain_text("3 000")
                await expect(nina.by("members-reply-form")).to_be_hidden()

                await nina.by("members-claim").click()
                await expect(nina.by("members-holder")).to_have_text("Tenue par nina")
                await expect(nina.by("members-status")).to_have_text("En cours")
                await fake.wait_for(
                    lambda: any("prise en charge" in m.text for m in fake.messages_to(MEMBER_CHAT)), 15
                )
                await nina.by("members-reply-text").fill(
                    "Bonjour Anne, pouvez-vous nous envoyer votre bilan ?"
                )
                await nina.by("members-reply-send").click()
                await expect(nina.by("members-line").filter(has_text="votre bilan")).to_have_count(1)
                await fake.wait_for(
                    lambda: any("votre bilan" in m.text for m in fake.messages_to(MEMBER_CHAT)), 15
                )
                await expect(rows.first).to_contain_text("nina")
                await nina.shot("console-members.png")
                assert nina.errors == []
                # The page only asks network staff for what they may read (no client queue, no
                # canned replies, no operators' list), also when the tab comes back.
                await nina.page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
                await expect(rows).to_have_count(1)
                assert refused == []

                # An admin switches between the two views.
                alice = await Operator.open(browser, base, "alice")
                await alice.login()
                await expect(alice.by("view-switch")).to_be_visible()
                await expect(alice.page.locator("#queue-pane")).to_be_visible()
                await expect(alice.by("network-view")).to_be_hidden()
                await alice.by("view-network").click()
                await expect(alice.by("network-view")).to_be_visible()
                await expect(alice.by("members-row")).to_have_count(1)
                await alice.by("view-clients").click()
                await expect(alice.page.locator("#queue-pane")).to_be_visible()
                assert alice.errors == []

                # An operator's console has no Réseau.
                bob = await Operator.open(browser, base, "bob")
                await bob.login()
                await expect(bob.page.locator("#queue-pane")).to_be_visible()
                await expect(bob.by("view-switch")).to_be_hidden()
                await expect(bob.by("network-view")).to_be_hidden()
                await expect(bob.by("slots-open")).to_be_hidden()
                assert bob.errors == []
                await browser.close()
