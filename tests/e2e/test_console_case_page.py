"""The console's case page in a real browser: a home visit's insurance and its appointment, followed
live as the appointment moves (no reload).

A web-chat client makes a visit case naming the MGEN; the appointment an optician would book through
Telegram is written in the database as dispatch writes it (the row, and the case's ``updated_at``
moved), which is what the console follows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import async_playwright, expect

from storage.database import create_engine
from storage.tables import appointments, cases, opticians
from tests.e2e.servers import service_process
from tests.e2e.test_console_browser import (
    REFERENCE,
    SCREENSHOTS,
    TIMEOUT_MS,
    ChatClient,
    Operator,
    add_operator,
)

VISIT = [
    "bonjour",
    "mes lunettes sont cassées",
    "oui",
    "non",
    "à domicile",
    "j'accepte",
    "12 rue Oberkampf 75011 Paris",
    "dès que possible",
    "Marie Curie",
    "06 12 34 56 78",
    "oui la MGEN",
    "passer",
    "oui",
]


async def _book(database_url: str, reference: str, status: str, hour: int) -> None:
    """The appointment as dispatch writes it: its row, and the case's ``updated_at`` moved."""
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            case = (
                await connection.execute(
                    sa.select(cases.c.id, cases.c.slot_date).where(cases.c.reference == reference)
                )
            ).one()
            optician = await connection.scalar(sa.select(opticians.c.id))
            if optician is None:
                optician = await connection.scalar(
                    opticians.insert()
                    .values(
                        public_id="o-e2e",
                        name="Anne Martin",
                        phone="+33611223344",
                        departments=["75"],
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(opticians.c.id)
                )
            values = {"status": status, "day": case.slot_date, "hour": hour, "updated_at": now}
            changed = await connection.execute(
                appointments.update().where(appointments.c.case_id == case.id).values(**values)
            )
            if changed.rowcount == 0:
                await connection.execute(
                    appointments.insert().values(
                        case_id=case.id, optician_id=optician, proposal=1, created_at=now, **values
                    )
                )
            await connection.execute(cases.update().where(cases.c.id == case.id).values(updated_at=now))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_case_page_shows_the_insurance_and_follows_the_appointment_live(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("alice", "admin", database_url, tmp_path)
        client = ChatClient(base)
        try:
            for text in VISIT[:-1]:
                await client.say(text)
            found = REFERENCE.search(" ".join(await client.say(VISIT[-1])))
            assert found
            reference = found.group()
        finally:
            await client.close()

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox"], headless=True
            )
            try:
                alice = await Operator.open(browser, base, "alice")
                await alice.login()
                row = alice.page.locator(f'[data-testid="queue-row"][data-reference="{reference}"]')
                await row.click()
                await expect(alice.by("case-reference")).to_have_text(reference)

                # The insurance, as the shipped list writes it and what it is.
                insurance = alice.by("c-insurance")
                await expect(insurance).to_contain_text("MGEN")
                await expect(insurance).to_contain_text("mutuelle")
                await expect(alice.by("visit-appointment")).to_contain_text("pas encore de rendez-vous")

                # The optician proposes 9 h, the client confirms, the optician sets out: live.
                await alice.page.evaluate("window.__marker = 1")
                appointment = alice.by("visit-appointment")
                for status, shown in (
                    ("proposed", "proposé, en attente du client"),
                    ("confirmed", "confirmé par le client"),
                    ("en_route", "opticien en route"),
                ):
                    await _book(database_url, reference, status, 9)
                    await expect(appointment).to_have_attribute("data-status", status)
                    await expect(appointment).to_contain_text(shown)
                    await expect(appointment).to_contain_text("9h–10h")
                assert await alice.page.evaluate("window.__marker") == 1, "the page was reloaded"
                await alice.shot("appointment.png")
                assert alice.errors == [], alice.errors
                assert alice.dialogs == [], alice.dialogs
            finally:
                await browser.close()
