"""The console's panels that the other browser tests do not drive, in Chromium: canned replies, a
note, the cancel / transfer / tracking forms and their refusals, a kept draft, the queue's filters
(saved in the browser), the opticians' registry (add, edit, link) and signing out. The console's
script is ES modules loaded as they are: a panel whose module failed to load or to wire its
buttons fails here, with the page's errors listed."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import async_playwright, expect

from tests.e2e.servers import service_process
from tests.e2e.test_console_browser import (
    REFERENCE,
    SCREENSHOTS,
    SHIPMENT,
    TIMEOUT_MS,
    ChatClient,
    Operator,
    add_operator,
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_console_panel_works_in_the_browser(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("alice", "admin", database_url, tmp_path)
        add_operator("bob", "operator", database_url, tmp_path)
        client = ChatClient(base)
        for text in SHIPMENT[:-1]:
            await client.say(text)
        found = REFERENCE.search(" ".join(await client.say(SHIPMENT[-1])))
        assert found is not None
        reference = found.group()
        await client.close()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox"], headless=True
            )
            alice = await Operator.open(browser, base, "alice")
            page = alice.page
            await alice.login()
            await expect(page.locator("#queue .queue-row")).to_have_count(1)
            # canned replies: add, shown in the select, picked into the reply box, deleted
            await page.click("#canned-admin-open")
            await page.fill("#canned-title", "Bonjour")
            await page.fill("#canned-text", "Bonjour, ici le conseiller.")
            await page.click("#canned-add")
            await expect(alice.by("canned-item")).to_have_count(1)
            await page.click("#canned-admin-close")
            # open the case, claim, transfer list, canned pick, draft kept
            await page.locator(f'[data-reference="{reference}"]').click()
            await alice.by("claim").click()
            await expect(alice.by("release")).to_be_visible()
            options = await page.locator("#transfer-operator option").all_text_contents()
            assert options == ["Choisir un conseiller…", "bob"], options
            await page.select_option("#canned-select", label="Bonjour")
            assert await page.input_value("#reply-text") == "Bonjour, ici le conseiller."
            assert await page.input_value("#canned-select") == ""
            # a note
            await page.fill("#note-text", "note interne")
            await page.click("#note-add")
            await expect(alice.by("note")).to_have_count(1)
            # cancel form opens with aria-expanded, empty reason refused
            await page.click("#act-cancel-open")
            assert await page.get_attribute("#act-cancel-open", "aria-expanded") == "true"
            await page.click("#cancel-confirm")
            await expect(page.locator("#action-error")).to_have_text("Indiquez le motif de l'annulation.")
            await page.click("#cancel-abort")
            await expect(page.locator("#action-error")).to_be_hidden()
            # transfer with no choice refused
            await page.click("#act-transfer")
            await expect(page.locator("#action-error")).to_have_text("Choisissez un conseiller.")
            await page.select_option("#transfer-operator", "bob")
            await expect(page.locator("#action-error")).to_be_hidden()
            # tracking
            await page.fill("#tracking-input", "XY123456789FR")
            await page.click("#tracking-submit")
            await expect(page.locator("#c-tracking-row")).to_be_visible()
            # close the case, draft kept on reopening
            await page.click("#case-close")
            await expect(page.locator("#case-placeholder")).to_be_visible()
            await page.locator(f'[data-reference="{reference}"]').click()
            assert await page.input_value("#reply-text") == "Bonjour, ici le conseiller."
            # filters: tick "done" only → empty queue, saved in localStorage
            for box in await page.locator('#filters input[name="status"]').all():
                await box.set_checked(await box.get_attribute("value") == "done")
            await expect(page.locator("#queue-empty")).to_be_visible()
            assert "done" in (await page.evaluate("localStorage.getItem('optibot.console.filters')"))
            # opticians: add, edit, link
            await page.click("#opticians-open")
            await page.fill("#optician-name", "Optique Test")
            await page.fill("#optician-phone", "0612345678")
            await page.fill("#optician-departments", "69, 2a;69")
            await page.fill("#optician-kit", "2099-01-31")
            await page.click("#optician-save")
            await expect(alice.by("optician-row")).to_have_count(1)
            await expect(page.locator("#optician-saved")).to_contain_text("ajouté(e) au registre")
            assert await page.locator('[data-field="departments"] .dept').all_text_contents() == ["2A", "69"]
            await expect(page.locator("#kits-empty")).to_be_visible()  # a kit valid until 2099
            await alice.by("optician-edit").click()
            assert await page.input_value("#optician-departments") == "2A, 69"
            await page.fill("#optician-name", "Optique Test 2")
            soon = datetime.now(ZoneInfo("Europe/Paris")).date() + timedelta(days=5)
            await page.fill("#optician-kit", soon.isoformat())
            await page.click("#optician-save")
            await expect(page.locator("#optician-saved")).to_contain_text("modifications enregistrées")
            # The kit now expires within 14 days: listed among the kits to renew, days left shown.
            kit = alice.by("kit-item").filter(has_text="Optique Test 2")
            await expect(kit).to_have_count(1)
            await expect(kit.get_by_test_id("kit-days-left")).to_contain_text("jours")
            await expect(page.locator("#kits-empty")).to_be_hidden()
            await alice.by("optician-link").click()
            await expect(alice.by("link-expiry")).to_be_visible()
            await alice.shot("console-opticians.png")
            await page.click("#opticians-close")
            # sign out
            await page.click("#logout")
            await expect(page.locator("#login-notice")).to_have_text("Vous êtes déconnecté(e).")
            assert alice.errors == [], alice.errors
            assert alice.dialogs == [], alice.dialogs
            await browser.close()
