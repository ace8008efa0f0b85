"""The staff's reminder of a video follow-up in Chromium against `optibot run` (issue 16, point 3):
network staff see, for a taken slot they hold (or published for a name that is no account)
starting within the reminder's delay, a reminder with the meeting's link that stays until closed
and does not come back once closed; nobody else's slot, no open slot, no slot hours away; an
operator gets none (the console never even asks for the slots)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Request, async_playwright, expect

from storage.tables import opticians, video_slots
from tests.e2e.servers import service_process
from tests.e2e.test_console_browser import SCREENSHOTS, TIMEOUT_MS, Operator, add_operator
from tests.e2e.test_console_slots import _run

JITSI = "https://meet.jit.si/optibot-"


async def _member(database_url: str, public_id: str, name: str, chat: str, now: datetime) -> int:
    (row,) = await _run(
        database_url,
        sa.insert(opticians)
        .values(
            public_id=public_id,
            name=name,
            phone="06 11 22 33 44",
            departments=["75"],
            telegram_chat=chat,
            created_at=now,
            updated_at=now,
        )
        .returning(opticians.c.id),
    )
    return int(row[0])


async def _slot(
    database_url: str,
    public_id: str,
    now: datetime,
    minutes_ahead: int,
    staff: str,
    by: str,
    member: int | None,
) -> None:
    await _run(
        database_url,
        sa.insert(video_slots).values(
            public_id=public_id,
            starts_at=now + timedelta(minutes=minutes_ahead),
            minutes=30,
            room=f"optibot-{public_id}",
            staff=staff,
            status="open" if member is None else "taken",
            optician_id=member,
            channel=None if member is None else "telegram",
            taken_at=None if member is None else now,
            created_by=by,
            created_at=now,
        ),
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_network_staff_are_reminded_of_their_slot_an_operator_is_not(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    anne = await _member(database_url, "optANNE", "Anne Martin", "4501", now)
    paul = await _member(database_url, "optPAUL", "Paul Durand", "4502", now)
    lise = await _member(database_url, "optLISE", "Lise Roy", "4503", now)
    await _slot(database_url, "aaaaaaaaa1", now, 20, "nina", "claire", anne)  # nina holds it
    await _slot(database_url, "aaaaaaaaa2", now, 40, "Dr Roux", "nina", paul)  # nina published it
    await _slot(database_url, "aaaaaaaaa3", now, 10, "claire", "claire", lise)  # someone else's
    await _slot(database_url, "aaaaaaaaa4", now, 15, "nina", "nina", None)  # open
    await _slot(database_url, "aaaaaaaaa5", now, 240, "nina", "nina", lise)  # hours away
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("nina", "network", database_url, tmp_path)
        add_operator("oscar", "operator", database_url, tmp_path)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox"], headless=True
            )
            nina = await Operator.open(browser, base, "nina")
            await nina.login()
            reminders = nina.by("slot-reminder")
            await expect(reminders).to_have_count(2)
            held = nina.page.locator('[data-testid="slot-reminder"][data-slot="aaaaaaaaa1"]')
            await expect(held).to_contain_text("Visio avec Anne Martin à ")
            await expect(held).to_contain_text("— Rejoindre")
            join = held.get_by_test_id("slot-reminder-join")
            await expect(join).to_have_attribute("href", f"{JITSI}aaaaaaaaa1")
            await expect(join).to_have_attribute("target", "_blank")
            await expect(join).to_have_attribute("rel", "noopener noreferrer")
            published = nina.page.locator('[data-testid="slot-reminder"][data-slot="aaaaaaaaa2"]')
            await expect(published).to_contain_text("Visio avec Paul Durand à ")
            await expect(published).to_contain_text("tenue par Dr Roux")
            await expect(nina.by("slot-reminders")).to_have_attribute("aria-live", "polite")
            await nina.shot("console-slot-reminders.png")
            # Closed, it does not come back (the other one, shown by the same read, says it was read).
            await held.get_by_test_id("slot-reminder-close").click()
            await expect(reminders).to_have_count(1)
            await nina.page.reload()
            await expect(published).to_be_visible()
            await expect(reminders).to_have_count(1)
            assert nina.errors == []

            oscar = await Operator.open(browser, base, "oscar")
            asked: list[str] = []

            def record(request: Request) -> None:
                asked.append(request.url)

            oscar.page.on("request", record)
            # Signed in, the console reads its queue: a reminder module that ran for an operator
            # would have asked for the slots in the same task, before the queue's answer.
            async with oscar.page.expect_response(lambda r: "/api/console/cases" in r.url):
                await oscar.login()
            assert any("/api/console/cases" in url for url in asked), asked
            assert not [url for url in asked if "/api/console/slots" in url]
            await expect(oscar.by("slot-reminder")).to_have_count(0)
            assert oscar.errors == []
            await browser.close()
