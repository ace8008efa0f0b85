"""The map and recruitment in Chromium (issue 15): an optician applies on the public page
/rejoindre (a wrong field said next to it, then the thank-you); the console's map shows the
departments coloured by demand against coverage, the overseas tiles and "où recruter" with the
candidate counted (screenshot kept); the candidate appears in the candidates dialog, where an
admin opens the details and takes them to "registered" and gets the Telegram link (screenshot
kept); an operator sees the candidate's name and departments but no contact details."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import async_playwright, expect

from bot.dispatch.notices import service_day
from flows.types import SERVICE_TIME_ZONE
from storage.database import create_engine
from storage.tables import opticians
from tests.e2e.servers import service_process
from tests.e2e.test_console_browser import SCREENSHOTS, TIMEOUT_MS, Operator, add_operator
from tests.integration.test_recruitment import seed_cases


async def _seed(database_url: str) -> None:
    """Four cases in 13 (nobody covers it), two in 75 (one optician covers it), this week."""
    database = create_engine(database_url)
    now = datetime.now(SERVICE_TIME_ZONE)
    try:
        await seed_cases(database, [("13", now - timedelta(days=d)) for d in range(4)] + [("75", now)] * 2)
        async with database.begin() as connection:
            await connection.execute(
                sa.insert(opticians).values(
                    public_id=secrets.token_hex(8),
                    name="Anne Martin",
                    phone="+33611223344",
                    departments=["75"],
                    kit_expires_on=service_day(now) + timedelta(days=60),
                    active=True,
                    available=True,
                    telegram_chat="501",
                    created_at=now,
                    updated_at=now,
                )
            )
    finally:
        await database.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_map_shows_where_to_recruit_and_a_candidate_goes_from_the_public_page_to_the_registry(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await _seed(database_url)
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("alice", "admin", database_url, tmp_path)
        add_operator("bob", "operator", database_url, tmp_path)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox"], headless=True
            )
            # 1. The public page: a wrong phone is said next to its field, then the thank-you.
            public = await browser.new_page(base_url=base)
            errors: list[str] = []
            public.on("pageerror", lambda error: errors.append(str(error)))
            await public.goto("/rejoindre")
            await expect(public.locator("#join-departments option")).to_have_count(102)
            await public.click("#join-lang")  # English and back
            await expect(public.locator("#join-title")).to_have_text("Join the network")
            await public.click("#join-lang")
            await expect(public.locator("#join-title")).to_have_text("Rejoindre le réseau")
            await public.fill("#join-name", "Camille Verrier")
            await public.fill("#join-phone", "06 12")
            await public.fill("#join-email", "camille@example.fr")
            await public.select_option("#join-departments", ["13", "971"])
            await public.fill("#join-registration", "10003245676")
            await public.check('input[name="has_kit"][value="yes"]')
            await public.click("#join-send")
            await expect(public.locator("#join-phone-error")).to_contain_text("téléphone n'est pas valable")
            assert await public.get_attribute("#join-phone", "aria-invalid") == "true"
            await public.fill("#join-phone", "06 71 23 45 67")
            await public.click("#join-send")
            await expect(public.get_by_test_id("join-thanks")).to_be_visible()
            await expect(public.locator("#join-thanks-text")).to_contain_text("Merci")
            await public.screenshot(path=str(SCREENSHOTS / "join-thanks.png"), full_page=True)
            assert errors == []

            # 2. The map: coloured departments, overseas tiles, "où recruter" with the candidate.
            alice = await Operator.open(browser, base, "alice")
            page = alice.page
            await alice.login()
            await alice.by("map-open").click()
            await expect(page.locator("#map-panel[data-loaded=true]")).to_have_count(1)
            svg = alice.by("map-svg")
            await expect(svg.locator("path.dept")).to_have_count(96)
            await expect(svg.locator('path[data-code="13"]')).to_have_class("dept shade-gap")
            await expect(svg.locator('path[data-code="75"]')).to_have_class("dept shade-covered")
            await expect(svg.locator('path[data-code="01"]')).to_have_class("dept shade-idle")
            await expect(alice.by("map-overseas").locator("button.dept-tile")).to_have_count(6)
            await expect(alice.by("map-inset").locator('path[data-code="75"]')).to_have_class(
                "dept shade-covered"
            )
            recruit = alice.by("map-recruit").locator("li")
            await expect(recruit).to_have_count(1)
            await expect(recruit.first).to_contain_text("13 Bouches-du-Rhône")
            await expect(recruit.first).to_contain_text("4 visites sans opticien")
            await expect(recruit.first).to_contain_text("1 candidat en cours")
            await expect(alice.by("map-table").locator('tr[data-code="971"]')).to_contain_text(
                "971 Guadeloupe"
            )
            # Keyboard: a department focused shows its figures.
            await svg.locator('path[data-code="13"]').focus()
            await expect(alice.by("map-details")).to_contain_text("13 Bouches-du-Rhône")
            await expect(alice.by("map-details")).to_contain_text("4 demandes")
            await page.set_viewport_size({"width": 1400, "height": 1800})  # the whole dialog in the shot
            await alice.shot("map.png")
            await page.set_viewport_size({"width": 1400, "height": 1000})
            await page.click("#map-close")

            # 3. The candidate in the console: contacted, accepted, registered with the link.
            await alice.by("candidates-open").click()
            rows = alice.by("candidates-table").locator("tbody tr")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text("Camille Verrier")
            await rows.first.get_by_role("button").click()
            detail = alice.by("candidate-detail")
            await expect(detail).to_contain_text("+33671234567")
            await expect(detail).to_contain_text("RPPS")
            await detail.locator('button[data-action="contacted"]').click()
            await expect(page.locator("#candidate-name")).to_contain_text("Contactée")
            await page.fill("#candidate-note", "Disponible le soir")
            await page.click("#candidate-note-form button[type=submit]")
            await detail.locator('button[data-action="accepted"]').click()
            await expect(page.locator("#candidate-name")).to_contain_text("Acceptée")
            await detail.locator('button[data-action="registered"]').click()
            await expect(alice.by("candidate-link")).to_be_visible()
            await expect(page.locator("#candidate-link-command")).to_contain_text("/start optician_")
            await expect(page.locator("#candidate-name")).to_contain_text("Inscrite")
            await alice.shot("candidates.png")
            assert alice.errors == []
            assert alice.dialogs == []

            # 4. An operator sees the candidate's name and departments, never the contact details.
            bob = await Operator.open(browser, base, "bob")
            await bob.login()
            await bob.by("candidates-open").click()
            rows = bob.by("candidates-table").locator("tbody tr")
            await expect(rows.first).to_contain_text("Camille Verrier")
            await rows.first.get_by_role("button").click()
            detail = bob.by("candidate-detail")
            await expect(detail).to_contain_text("13, 971")
            await expect(bob.page.locator("#candidate-readonly")).to_be_visible()
            assert "+33671234567" not in await detail.inner_text()
            assert "RPPS" not in await detail.inner_text()
            assert bob.errors == []
            await browser.close()
