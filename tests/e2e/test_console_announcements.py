"""Announcements to members in Chromium against `optibot run` and the fake Bot API (issue 16):
network staff compose a message for some departments, preview it (members by channel, the text as
members read it), send it, follow it to "terminé" and read each member's delivery; the message
reaches the members' Telegram chats once; an operator has no announcements."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from storage.database import create_engine
from tests.e2e.servers import free_port, service_process, wait_until_healthy
from tests.e2e.test_console_browser import SCREENSHOTS, TIMEOUT_MS, Operator, add_operator
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.integration.test_announcements import add_member

PARIS = (5101, 5102, 5103)
ELSEWHERE = 5201


async def seed(database_url: str) -> None:
    database = create_engine(database_url)
    try:
        for i, chat in enumerate(PARIS):
            await add_member(database, f"Opticien Paris {i}", ["75"], telegram=str(chat))
        await add_member(database, "Opticien sans lien", ["75", "92"])
        await add_member(database, "Opticien Lyon", ["69"], telegram=str(ELSEWHERE))
    finally:
        await database.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_network_staff_compose_preview_send_and_follow_an_announcement(
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
            for name, role in (("nina", "network"), ("bob", "operator")):
                await asyncio.to_thread(add_operator, name, role, database_url, tmp_path)
            await seed(database_url)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(chromium), args=["--no-sandbox"], headless=True
                )
                nina = await Operator.open(browser, base, "nina")
                await nina.login()
                await nina.by("announcements-open").click()
                await expect(nina.by("announcements-panel")).to_be_visible()
                await expect(nina.by("announcements-list").locator("li")).to_have_count(0)

                # An empty message is refused politely; then composed for the 75 only.
                await nina.by("announcements-preview").click()
                await expect(nina.page.locator("#announcements-error")).to_contain_text("le message est vide")
                await nina.by("announcements-text").fill("Livraison de kits lundi.\nPensez à confirmer.")
                await nina.by("announcements-some").check()
                await nina.by("announcements-departments").fill("75")
                await nina.by("announcements-preview").click()
                await expect(nina.by("announcements-preview-counts")).to_have_text(
                    "4 membres (départements 75) : Telegram 3, WhatsApp 0, injoignables 1."
                )
                await expect(nina.by("announcements-preview-message")).to_have_text(
                    "📣 Message de la fédération\n\nLivraison de kits lundi.\nPensez à confirmer."
                )
                assert not fake.messages_to(PARIS[0])  # a preview sends nothing

                await nina.by("announcements-send").click()
                item = nina.by("announcements-item")
                await expect(item).to_have_count(1)
                await expect(item.locator(".announcements-state")).to_have_text("terminé")
                await expect(item.get_by_test_id("announcements-counts")).to_have_text(
                    "envoyés 3, en file 0, échecs 0, injoignables 1, restants 0 sur 4"
                )
                rows = nina.by("announcements-delivery")
                await expect(rows).to_have_count(4)
                await expect(rows.filter(has_text="envoyé")).to_have_count(3)
                await expect(rows.filter(has_text="Opticien sans lien")).to_contain_text(
                    "injoignable (sans lien)"
                )
                assert "+33" not in await nina.by("announcements-deliveries").inner_text()
                await nina.shot("console-announcements.png")
                for chat in PARIS:
                    (sent,) = fake.messages_to(chat)
                    assert (
                        sent.text
                        == "📣 Message de la fédération\n\nLivraison de kits lundi.\nPensez à confirmer."
                    )
                assert fake.messages_to(ELSEWHERE) == []
                assert nina.errors == []

                # An operator has no announcements.
                bob = await Operator.open(browser, base, "bob")
                await bob.login()
                await expect(bob.by("announcements-open")).to_be_hidden()
                assert bob.errors == []
                await browser.close()
