"""The reports dialog in Chromium against `optibot run` (issue 15): it opens on the last 7 days, the
quick buttons and the period picker change the period, the department filter narrows it, the
figures, the charts (Chart.js, vendored) and every table show, a table's CSV downloads, and a bad
department is refused politely — all under the console's strict Content-Security-Policy (a
violation would be logged by the browser: none may be). A screenshot goes to test-output/console/.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import ConsoleMessage, async_playwright, expect

from tests.e2e.servers import service_process
from tests.e2e.test_console_browser import SCREENSHOTS, TIMEOUT_MS, Operator, add_operator
from tests.integration.test_reports import seed


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_reports_dialog_draws_the_figures_of_a_period(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await seed(database_url)  # the data set counted by hand (tests/integration/test_reports.py)
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("bob", "operator", database_url, tmp_path)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox"], headless=True
            )
            bob = await Operator.open(browser, base, "bob")
            page = bob.page
            console_errors: list[str] = []

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    console_errors.append(message.text)

            page.on("console", on_console)
            await bob.login()
            body = page.locator("#reports-body")

            # Opens on the last 7 days (Paris), charts drawn even with nothing to count.
            await bob.by("reports-open").click()
            await expect(body).to_have_attribute("data-charts", "drawn")
            today = datetime.now(ZoneInfo("Europe/Paris")).date()
            assert await page.input_value("#reports-to") == today.isoformat()
            assert await page.input_value("#reports-from") == (today - timedelta(days=6)).isoformat()
            await bob.by("reports-last-30").click()
            assert await page.input_value("#reports-from") == (today - timedelta(days=29)).isoformat()
            await expect(body).to_have_attribute("data-charts", "drawn")

            # The seeded week, everywhere: 14 cases, 9 of them mobilised workers' (R1 an ordinary
            # request).
            await page.fill("#reports-from", "2026-01-12")
            await page.fill("#reports-to", "2026-01-18")
            await bob.by("reports-show").click()
            await expect(bob.by("reports-heading")).to_have_text(
                "Du 12/01/2026 au 18/01/2026, toute la France"
            )
            await expect(body).to_have_attribute("data-charts", "drawn")
            cases_card = bob.by("card-cases")
            await expect(cases_card.locator(".reports-card-value")).to_have_text("14")
            await expect(cases_card).to_contain_text("9 mobilisés, 5 autres")
            await expect(bob.by("card-claim-mobilised").locator(".reports-card-value")).to_have_text("8 min")
            await expect(bob.by("card-claim-mobilised")).to_contain_text("90 % en 16 min")
            await expect(bob.by("card-claim-others").locator(".reports-card-value")).to_have_text("40 min")
            # The cards show the tables' tenths: the median acceptance is 15 min 30 s (930 s).
            acceptance_card = bob.by("card-acceptance")
            await expect(acceptance_card.locator(".reports-card-value")).to_have_text("15,5 min")
            await expect(acceptance_card).to_contain_text("5 acceptée(s)")
            summary = page.locator('[data-table="summary"] tbody tr', has_text="Acceptation")
            await expect(summary.locator("td").nth(1)).to_have_text("15,5")
            # Three charts drawn on their canvases.
            for canvas in ("reports-chart-days", "reports-chart-needs", "reports-chart-claim"):
                width = await page.evaluate(f"document.getElementById('{canvas}').width")
                assert width > 0, canvas
            assert await page.evaluate("Object.keys(window.Chart.instances).length") == 3
            needs = page.locator('[data-table="needs"] tbody tr')
            await expect(needs.first).to_have_text("Lunettes casséesbroken6")
            days = page.locator('[data-table="days"] tbody tr')
            await expect(days).to_have_count(7)
            await expect(days.first).to_have_text("2026-01-123300302")
            await expect(days.nth(4)).to_have_text("2026-01-162110201")  # C8, R1 (a request); W3
            # The per-day chart draws the ordinary requests too.
            requests = await page.evaluate(
                "Object.values(window.Chart.instances).find((c) => c.canvas.id === 'reports-chart-days')"
                ".data.datasets.find((d) => d.label === 'dont demandes ordinaires').data"
            )
            assert requests == [0, 0, 0, 0, 1, 1, 0]

            # One department: the 75.
            await page.fill("#reports-department", "75")
            await bob.by("reports-show").click()
            await expect(bob.by("reports-heading")).to_have_text(
                "Du 12/01/2026 au 18/01/2026, département 75 (Paris)"
            )
            await expect(body).to_have_attribute("data-charts", "drawn")
            await expect(cases_card.locator(".reports-card-value")).to_have_text("9")
            # The dialog is as tall as the window allows: a tall window shows it whole in the shot.
            await page.set_viewport_size({"width": 1400, "height": 2600})
            await bob.shot("console-reports.png")
            await page.set_viewport_size({"width": 1400, "height": 1000})

            # A table's CSV file, as downloaded.
            link = page.locator('[data-table="needs"] [data-testid="reports-csv"]')
            async with page.expect_download() as waiting:
                await link.click()
            download = await waiting.value
            assert download.suggested_filename == "optibot-needs-2026-01-12-2026-01-18-75.csv"
            saved = tmp_path / "needs.csv"
            await download.save_as(saved)
            assert saved.read_text(encoding="utf-8").splitlines()[:2] == [
                "besoin,code,dossiers",
                "Lunettes cassées,broken,4",
            ]

            # A department that does not exist: told why, the last report stays.
            await page.fill("#reports-department", "99")
            await bob.by("reports-show").click()
            await expect(bob.by("reports-error")).to_contain_text("Département inconnu")
            await page.click("#reports-close")

            assert bob.errors == [], bob.errors
            assert bob.dialogs == [], bob.dialogs
            refused = [e for e in console_errors if "Content Security Policy" in e]
            assert refused == [], refused
            await browser.close()
