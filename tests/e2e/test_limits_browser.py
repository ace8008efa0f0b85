"""The web chat's limits as a client and an operator see them, in a real browser (headless Chromium)
against `optibot run`.

The service lets in 3 messages a minute per browser and 1 new conversation a minute per address.
A client types faster than that: the 4th message is refused (429); the page says why in the status
line (the catalogue's ``web.too_fast``), marks that bubble failed with a ↻, and does not send it
again on its own; ↻ inside the window is refused again. The database holds the 3 messages let in
and no other. A second visitor from the same address is refused while the page loads: the page says
why for as long as it waits. An admin signs in to the console: the discreet line under its banner
counts the 3 refusals. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from flows.catalog import Catalog
from storage.tables import inbox, messages
from tests.e2e.servers import service_process
from tests.e2e.test_console_browser import TIMEOUT_MS, Operator, add_operator

LIMIT = 3
LIMITS = {"WEB_CHAT_MESSAGES_PER_BROWSER": f"{LIMIT}/minute", "WEB_CHAT_NEW_CHATS_PER_ADDRESS": "1/minute"}
LET_IN = ["bonjour", "j'ai perdu mes lunettes", "oui"]
REFUSED = "non"
PHONE = ViewportSize(width=390, height=760)
TEXTS = Catalog.load()
TOO_FAST = TEXTS.text("fr", "web.too_fast")


async def _inbound(database: AsyncEngine) -> tuple[int, list[str]]:
    """Web-chat messages accepted (inbox rows) and the clients' words in the transcript, in order."""
    async with database.connect() as connection:
        accepted = (
            await connection.execute(sa.select(sa.func.count()).where(inbox.c.channel == "webchat"))
        ).scalar_one()
        said = await connection.execute(
            sa.select(messages.c.text)
            .where(messages.c.channel == "webchat", messages.c.direction == "in")
            .order_by(messages.c.id)
        )
        return int(accepted), list(said.scalars())


async def _transcript_reaches(database: AsyncEngine, count: int) -> None:
    """Wait until ``count`` client messages are in the transcript (a row, not time passing)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while len((await _inbound(database))[1]) < count:
        assert time.monotonic() < deadline, f"fewer than {count} client messages stored"
        await asyncio.sleep(0.05)


async def _type(page: Page, text: str) -> None:
    await page.locator("#text").fill(text)
    await page.locator("#text").press("Enter")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_client_typing_too_fast_is_told_politely_and_the_console_counts_the_refusals(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    database = create_async_engine(database_url)
    try:
        with service_process(database_url, tmp_path, env=LIMITS) as (base, _):
            add_operator("alice", "admin", database_url, tmp_path)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(chromium), args=["--no-sandbox"], headless=True
                )
                try:
                    await _flood(browser, base, database, tmp_path)
                    await _refused_on_arrival(browser, base, tmp_path)
                    await _console_counts(browser, base, tmp_path)
                finally:
                    await browser.close()
    finally:
        await database.dispose()


async def _flood(browser: Browser, base: str, database: AsyncEngine, shots: Path) -> None:
    """A client on a phone types faster than the limit allows."""
    context = await browser.new_context(base_url=base, viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        chat = await context.new_page()
        errors: list[str] = []
        chat.on("pageerror", lambda error: errors.append(str(error)))
        await chat.goto("/")
        await expect(chat.locator("#intro")).to_be_visible()  # texts and history loaded
        bubbles, status = chat.locator(".msg.client"), chat.locator("#status")
        for number, text in enumerate(LET_IN):
            await _type(chat, text)
            await expect(bubbles.nth(number)).to_have_text(text)
            await expect(bubbles.nth(number)).to_have_class("msg client")  # neither pending nor failed
        await expect(status).to_have_text("")

        # One more is refused: the page says why, the bubble is failed and offers ↻.
        await _type(chat, REFUSED)
        refused = bubbles.nth(LIMIT)
        await expect(refused).to_have_text(REFUSED)
        await expect(refused).to_have_class(re.compile(r"\bfailed\b"))
        await expect(status).to_have_text(TOO_FAST)
        await expect(status).to_have_class(re.compile(r"\berror\b"))
        retry = chat.locator(".retry")
        await expect(retry).to_have_count(1)
        await expect(chat.locator("#typing")).to_be_hidden()
        await _transcript_reaches(database, LIMIT)
        await chat.screenshot(path=str(shots / "chat-too-fast.png"))

        # ↻ within the window: refused again, still failed, still said politely.
        await retry.click()
        await expect(retry).to_have_count(1)  # removed on click, back only after a refusal
        await expect(refused).to_have_class(re.compile(r"\bfailed\b"))
        await expect(status).to_have_text(TOO_FAST)
        accepted, said = await _inbound(database)
        assert (accepted, said) == (LIMIT, LET_IN), "more than the limit reached the database"
        assert errors == [], f"chat page errors: {errors}"
    finally:
        await context.close()


async def _refused_on_arrival(browser: Browser, base: str, shots: Path) -> None:
    """A second new conversation from the same address is refused while the page loads: its words
    are there, and it says why for the whole wait (past a transient notice's 10 s)."""
    context = await browser.new_context(base_url=base, viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.clock.install()  # the page's own timers, run forward below
        async with page.expect_response(
            lambda response: response.url.endswith("/api/chat/history") and response.status == 429
        ) as answer:
            await page.goto("/")
        wait = int((await answer.value).headers["retry-after"])
        assert wait > 15, wait
        status = page.locator("#status")
        await expect(status).to_have_text(TOO_FAST)
        await expect(page.locator("#title")).to_have_text(TEXTS.text("fr", "web.title"))
        await expect(page.locator("#lang")).to_be_disabled()  # until the history is in
        await page.clock.run_for(15_000)
        await expect(status).to_have_text(TOO_FAST)
        await expect(page.locator("#intro")).to_have_count(0)
        await page.screenshot(path=str(shots / "chat-new-refused.png"))
        assert errors == [], f"chat page errors: {errors}"
    finally:
        await context.close()


async def _console_counts(browser: Browser, base: str, shots: Path) -> None:
    """An admin's console counts the 3 refusals under its banner."""
    alice = await Operator.open(browser, base, "alice")
    try:
        await alice.login()
        await expect(alice.by("queue")).to_be_visible()
        traffic = alice.by("traffic")
        await expect(traffic).to_be_visible()
        await expect(traffic).to_have_text("Trafic refusé : 3 requêtes (web chat) depuis 1 h")
        await alice.page.screenshot(path=str(shots / "console-traffic.png"))
        assert alice.dialogs == [], alice.dialogs
        assert alice.errors == [], alice.errors
    finally:
        await alice.context.close()
