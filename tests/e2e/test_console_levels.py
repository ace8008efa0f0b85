"""The service level in the console, in Chromium (issue 15): the topbar's badge; an admin switches
the national level through the dialog's confirm step and the badge changes, sets and removes a
department's own level; an operator reads it only; a web chat client is greeted as the level says."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from tests.e2e.servers import service_process
from tests.e2e.test_console_browser import SCREENSHOTS, TIMEOUT_MS, ChatClient, Operator, add_operator


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_admin_switches_the_level_and_the_badge_follows(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("alice", "admin", database_url, tmp_path)
        add_operator("bob", "operator", database_url, tmp_path)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox"], headless=True
            )
            alice = await Operator.open(browser, base, "alice")
            page = alice.page
            await alice.login()
            await expect(alice.by("levels-badge")).to_have_text("Crise (urgences)")

            await alice.by("levels-open").click()
            await expect(alice.by("levels-panel")).to_be_visible()
            national = page.locator('[data-scope="national"]')
            await expect(national).to_contain_text("par défaut")
            # Switch to normal: nothing happens before the confirm step.
            await alice.by("levels-level").select_option("normal")
            await alice.by("levels-notify").set_checked(False)
            await alice.by("levels-submit").click()
            await expect(alice.by("levels-question")).to_contain_text("« Crise (urgences) » à « Normal »")
            await expect(alice.by("levels-badge")).to_have_text("Crise (urgences)")
            await alice.by("levels-confirm").click()
            await expect(alice.by("levels-status")).to_have_text("C'est fait.")
            await expect(alice.by("levels-badge")).to_have_text("Normal")
            await expect(national).to_contain_text("alice")

            # A department's lockdown, then removed (confirm step each time).
            await alice.by("levels-scope").fill("29")
            await alice.by("levels-level").select_option("suspended")
            await alice.by("levels-submit").click()
            await alice.by("levels-confirm").click()
            await expect(page.locator('[data-scope="29"]')).to_contain_text("Suspendu")
            await alice.shot("levels-dialog.png")
            await alice.by("levels-remove-29").click()
            await expect(alice.by("levels-question")).to_contain_text("Il suivra le niveau national")
            await alice.by("levels-confirm").click()
            await expect(page.locator('[data-scope="29"]')).to_have_count(0)
            await expect(alice.by("levels-badge")).to_have_text("Normal")

            # The bot follows at once: a web chat client is greeted in normal service.
            client = ChatClient(base)
            replies = await client.say("bonjour")
            await client.close()
            assert any("Le service fonctionne normalement" in text for text in replies), replies

            # An operator reads the level, cannot switch it.
            bob = await Operator.open(browser, base, "bob")
            await bob.login()
            await expect(bob.by("levels-badge")).to_have_text("Normal")
            await bob.by("levels-open").click()
            await expect(bob.by("levels-readonly")).to_be_visible()
            await expect(bob.by("levels-form")).to_have_count(0)
            assert (alice.errors, bob.errors) == ([], [])
            assert (alice.dialogs, bob.dialogs) == ([], [])
            await browser.close()
