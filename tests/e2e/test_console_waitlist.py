"""The waitlist dialog in Chromium against `optibot run` and a real SMTP server: the entries (how
each client can be reached, never the contact), an admin's "Prévenir" (count, confirm) and the
broadcast's progress up to "terminé"; an operator reads only."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from tests.e2e.servers import service_process
from tests.e2e.test_console_browser import SCREENSHOTS, TIMEOUT_MS, Operator, add_operator
from tests.integration.test_broadcasts import seed, smtp_server, smtp_settings


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_waitlist_dialog_lists_tells_and_shows_the_progress(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Suspended clients, crisis service in force: what a crisis announcement tells.
    crowd = await seed(
        database_url,
        telegram=0,
        whatsapp_open=0,
        whatsapp_closed=0,
        emails=3,
        phones=1,
        unreachable=1,
        level="crisis",
        reason="suspended",
    )
    with smtp_server() as (mailbox, port):
        env = {key.upper(): str(value) for key, value in smtp_settings(port).items()}
        env["SMTP_STARTTLS"] = "false"
        with service_process(database_url, tmp_path, env=env) as (base, _):
            add_operator("alice", "admin", database_url, tmp_path)
            add_operator("bob", "operator", database_url, tmp_path)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(chromium), args=["--no-sandbox"], headless=True
                )
                alice = await Operator.open(browser, base, "alice")
                page = alice.page
                await alice.login()
                await alice.by("waitlist-open").click()
                await expect(alice.by("waitlist-panel")).to_be_visible()
                rows = alice.by("waitlist-list").locator("tr")
                await expect(rows).to_have_count(5)
                await expect(alice.by("waitlist-count")).to_have_text("5 clients")
                await expect(rows.filter(has_text="e-mail")).to_have_count(3)
                await expect(rows.filter(has_text="téléphone")).to_have_count(1)
                assert "@" not in await alice.by("waitlist-list").inner_text()
                # Filters: nobody waits in the 13.
                await alice.by("waitlist-department").fill("13")
                await expect(rows).to_have_count(0)
                await alice.by("waitlist-department").fill("")
                await expect(rows).to_have_count(5)

                # "Prévenir": the count by route, then confirmed.
                await page.select_option("#waitlist-level", "crisis")
                await alice.by("waitlist-preview").click()
                await expect(alice.by("waitlist-preview-text")).to_contain_text("5 clients seront prévenus")
                await expect(alice.by("waitlist-preview-text")).to_contain_text("e-mail 3")
                await alice.by("waitlist-send").click()
                broadcast = alice.by("waitlist-broadcasts").locator("li")
                await expect(broadcast).to_have_count(1)
                await expect(broadcast.locator(".waitlist-broadcast-state")).to_have_text("terminé")
                await expect(broadcast).to_contain_text("envoyés 3, échecs 1, à rappeler 1, restants 0 sur 5")
                # The told clients leave the list of those waiting.
                await expect(rows).to_have_count(2)
                assert sorted(rcpt for _, rcpt, _ in mailbox.received) == sorted(crowd.emails)
                # The phone to call back, for admins.
                await alice.by("waitlist-callbacks-show").click()
                await expect(alice.by("waitlist-callbacks")).to_contain_text(crowd.phones[0])
                await alice.shot("console-waitlist.png")
                assert alice.errors == []

                # An operator reads, does not act.
                bob = await Operator.open(browser, base, "bob")
                await bob.login()
                await bob.by("waitlist-open").click()
                await expect(bob.by("waitlist-list").locator("tr")).to_have_count(2)
                await expect(bob.by("waitlist-preview")).to_be_hidden()
                await expect(bob.by("waitlist-callbacks-show")).to_be_hidden()
                await expect(bob.by("waitlist-broadcasts").locator("li")).to_contain_text("terminé")
                assert bob.errors == []

                # An admin stops a running broadcast (the SMTP server now slow: it runs a while).
                mailbox.delay = 2.0
                await page.check("#waitlist-again")
                await alice.by("waitlist-preview").click()
                await alice.by("waitlist-send").click()
                await expect(broadcast).to_have_count(2)
                newest = broadcast.first
                await expect(newest.locator(".waitlist-broadcast-state")).to_have_text("en cours")
                await expect(bob.by("waitlist-broadcast-cancel")).to_have_count(0)  # operators cannot
                await newest.get_by_test_id("waitlist-broadcast-cancel").click()
                await expect(newest.locator(".waitlist-broadcast-state")).to_have_text("arrêtée")
                await expect(newest.get_by_test_id("waitlist-broadcast-cancel")).to_have_count(0)
                assert alice.errors == []
                await browser.close()
