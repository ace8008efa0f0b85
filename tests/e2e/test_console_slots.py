"""The video follow-ups' dialog and the declared kit dates in Chromium against `optibot run`
(issue 16): network staff publish two slots and cancel one; an admin confirms a member's kit date
in the opticians' dialog (the registry's date changes)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import async_playwright, expect

from storage.database import create_engine
from storage.tables import opticians, video_slots
from tests.e2e.servers import service_process
from tests.e2e.test_console_browser import SCREENSHOTS, TIMEOUT_MS, Operator, add_operator


async def _run(database_url: str, statement: sa.Executable) -> list[sa.Row[tuple[object, ...]]]:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(statement)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_network_staff_publish_and_cancel_slots_an_admin_confirms_a_kit_date(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    declared = date(now.year + 1, 6, 30)
    await _run(
        database_url,
        sa.insert(opticians).values(
            public_id="optKIT",
            name="Martine Kit",
            phone="06 11 22 33 44",
            departments=["75"],
            kit_expires_on=date(now.year + 1, 1, 31),
            kit_declared_on=declared,
            kit_declared_at=now,
            telegram_chat="4401",
            created_at=now,
            updated_at=now,
        ),
    )
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("nina", "network", database_url, tmp_path)
        add_operator("alice", "admin", database_url, tmp_path)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox"], headless=True
            )
            nina = await Operator.open(browser, base, "nina")
            await nina.login()
            await nina.by("slots-open").click()
            await expect(nina.by("slots-panel")).to_be_visible()
            await expect(nina.by("slots-empty")).to_be_visible()
            await nina.by("slots-times").fill("10:00 10h30")
            await nina.by("slots-submit").click()
            await expect(nina.by("slots-status")).to_have_text("2 créneau(x) publié(s).")
            rows = nina.by("slots-table").locator("tbody tr")
            await expect(rows).to_have_count(2)
            await expect(rows.first).to_contain_text("10:00")
            await expect(rows.first).to_contain_text("Libre")
            assert (await rows.first.locator("a").get_attribute("href") or "").startswith(
                "https://meet.jit.si/optibot-"
            )
            # A slot in the past is refused, said in French.
            await nina.by("slots-date").fill("2020-01-01")
            await nina.by("slots-times").fill("10:00")
            await nina.by("slots-submit").click()
            await expect(nina.by("slots-status")).to_contain_text("passé")
            # Cancel: a second click confirms.
            first = (
                await _run(database_url, sa.select(video_slots.c.public_id).order_by(video_slots.c.starts_at))
            )[0][0]
            await nina.by(f"slot-cancel-{first}").click()
            await nina.by(f"slot-cancel-{first}").click()
            await expect(nina.by("slots-status")).to_have_text("Créneau annulé.")
            await expect(nina.by(f"slot-{first}")).to_contain_text("Annulé")
            await nina.shot("console-slots.png")
            assert nina.errors == []

            alice = await Operator.open(browser, base, "alice")
            await alice.login()
            await alice.by("opticians-open").click()
            section = alice.by("declared-kits-section")
            await expect(section).to_be_visible()
            await expect(alice.by("declared-kits-count")).to_have_text("1")
            await expect(alice.by("declared-kit-optKIT")).to_contain_text(f"déclaré : 30/06/{declared.year}")
            await alice.by("declared-kit-confirm-optKIT").click()
            await expect(alice.by("declared-kits-status")).to_have_text(
                f"Date confirmée pour Martine Kit : 30/06/{declared.year}."
            )
            await expect(alice.by("declared-kits-count")).to_have_text("0")
            await alice.shot("console-declared-kits.png")
            assert alice.errors == []
            await browser.close()
    (row,) = await _run(database_url, sa.select(opticians.c.kit_expires_on, opticians.c.kit_declared_on))
    assert (row.kit_expires_on, row.kit_declared_on) == (declared, None)
