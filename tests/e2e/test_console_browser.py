"""The operator console in a real browser (headless Chromium) against `optibot run`.

A web-chat client makes a case over HTTP; alice and bob sign in through the login form, both open
the case and click "claim" at the same moment: exactly one wins. The winner reads the transcript
(the client's markup shows as text, never runs), answers, and the client's answer arrives live.
Screenshots go to test-output/console/.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Dialog,
    Locator,
    Page,
    Request,
    Route,
    async_playwright,
    expect,
)

from tests.e2e.servers import ROOT, service_env, service_process

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
TIMEOUT_MS = 10_000  # every wait in the page: generous for a loaded 2-core CI machine
CHAT_WAIT_S = 20.0  # a web-chat message stored and answered
SCREENSHOTS = ROOT / "test-output" / "console"
PASSWORD = "correct horse battery staple"
SHIPMENT = [
    "bonjour",
    "j'ai perdu mes lunettes",
    "oui",
    "non",
    "par la poste",
    "8 avenue Jean Jaurès 69007 Lyon",
    "Jean Dupont",
    "06 98 76 54 32",
    "Malakoff Humanis",  # the insurer
    "passer",  # no photo of the card
    "oui",
]
XSS = '<img src=x onerror="window.__xss=1">'
REFERENCE = re.compile(r"\bOB-[0-9A-Z]{6}\b")


class ChatClient:
    """A web-chat client: posts with fresh ids, reads replies from the history."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=10)

    async def history(self) -> list[dict[str, Any]]:
        response = await self.http.get("/api/chat/history")
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    async def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], what: str) -> list[dict[str, Any]]:
        """Poll the history until ``done`` holds for it."""
        deadline = time.monotonic() + CHAT_WAIT_S
        while True:
            messages = await self.history()
            if done(messages):
                return messages
            if time.monotonic() > deadline:
                raise AssertionError(f"web chat: no {what} within {CHAT_WAIT_S} s; history: {messages}")
            await asyncio.sleep(0.05)

    async def say(self, text: str, *, answered: bool = True) -> list[str]:
        """Send ``text``; wait until it is stored (and, if ``answered``, replied to): the replies."""
        before = len(await self.history())
        response = await self.http.post("/api/chat/messages", json={"id": uuid.uuid4().hex, "text": text})
        assert response.status_code == 202, response.text

        def handled(messages: list[dict[str, Any]]) -> bool:
            new = messages[before:]
            stored = any(m["direction"] == "in" and m["text"] == text for m in new)
            return stored and (not answered or new[-1]["direction"] == "out")

        new = (await self.wait_for(handled, f"reply to {text!r}"))[before:]
        return [m["text"] for m in new if m["direction"] == "out"]

    async def close(self) -> None:
        await self.http.aclose()


def add_operator(name: str, role: str, database_url: str, workdir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "operators", "add", name, "--role", role],
        cwd=workdir,
        env=service_env(database_url, workdir / "data"),
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"operator {name} ({role}) added" in done.stdout


class Operator:
    """One operator's browser context and page, with what the page did that it should not."""

    def __init__(self, name: str, context: BrowserContext, page: Page) -> None:
        self.name = name
        self.context = context
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    @classmethod
    async def open(cls, browser: Browser, base: str, name: str) -> Operator:
        context = await browser.new_context(base_url=base, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        await page.goto("/console")
        return cls(name, context, page)

    def by(self, test_id: str) -> Locator:
        return self.page.get_by_test_id(test_id)

    async def login(self, password: str = PASSWORD) -> None:
        await self.by("login-name").fill(self.name)
        await self.by("login-password").fill(password)
        await self.by("login-submit").click()

    async def case_detail(self, case_id: str) -> dict[str, Any]:
        """The case as the API tells this operator (the context's session cookie)."""
        response = await self.context.request.get(f"/api/console/cases/{case_id}")
        assert response.ok, await response.text()
        detail: dict[str, Any] = await response.json()
        return detail

    async def shot(self, name: str) -> Path:
        path = SCREENSHOTS / name
        await self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


async def outcome(operator: Operator) -> str:
    """Once the claim is answered: "won" if the page shows the release button, "lost" if a claim
    error — read in one look at the page, so that the two cannot be seen at different moments."""
    judged = await operator.page.wait_for_function(
        """() => {
          const shown = (id) => {
            const node = document.querySelector(`[data-testid="${id}"]`);
            return Boolean(node && !node.hidden && node.offsetParent !== null && node.textContent.trim());
          };
          if (shown("claim-error")) return "lost";
          if (shown("release")) return "won";
          return null;
        }""",
        timeout=TIMEOUT_MS,
    )
    result = await judged.json_value()
    assert result in ("won", "lost"), result
    return str(result)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_two_operators_race_for_a_case_and_the_winner_talks_with_the_client(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("alice", "admin", database_url, tmp_path)
        add_operator("bob", "operator", database_url, tmp_path)

        # 1. A client makes a shipment case in the web chat, then writes markup after the hand-off.
        client = ChatClient(base)
        try:
            for text in SHIPMENT[:-1]:
                await client.say(text)
            confirmed = await client.say(SHIPMENT[-1])
            found = REFERENCE.search(" ".join(confirmed))
            assert found, confirmed
            reference = found.group()
            await client.say(XSS, answered=False)

            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(chromium), args=["--no-sandbox"], headless=True
                )
                try:
                    await _console_scenario(browser, base, client, reference)
                finally:
                    await browser.close()
        finally:
            await client.close()


async def _console_scenario(browser: Browser, base: str, client: ChatClient, reference: str) -> None:
    alice = await Operator.open(browser, base, "alice")
    bob = await Operator.open(browser, base, "bob")
    both = (alice, bob)
    try:
        # 2. A wrong password is refused on the form; the right one opens the console.
        await alice.login("not the password")
        await expect(alice.by("login-error")).to_be_visible()
        await expect(alice.by("login-error")).to_contain_text("incorrect")
        await expect(alice.by("queue")).to_be_hidden()
        await asyncio.gather(alice.login(), bob.login())

        # 3. Both see the case in the queue and open it.
        rows = {}
        for operator in both:
            row = operator.page.locator(f'[data-testid="queue-row"][data-reference="{reference}"]')
            await expect(row).to_be_visible()
            await expect(row).to_have_attribute("data-status", "queued")
            rows[operator.name] = row
        case_id = await rows["alice"].get_attribute("data-case-id")
        assert case_id
        assert await rows["bob"].get_attribute("data-case-id") == case_id
        await alice.shot("queue.png")
        for operator in both:
            await rows[operator.name].click()
            await expect(operator.by("case-view")).to_be_visible()
            await expect(operator.by("case-reference")).to_have_text(reference)
            await expect(operator.by("claim")).to_be_visible()
            await expect(operator.by("claim")).to_be_enabled()
            await expect(operator.by("release")).to_be_hidden()

        # 4. Both claim at the same moment: exactly one wins, the other is told who did.
        await asyncio.gather(alice.by("claim").click(), bob.by("claim").click())
        results = dict(zip(("alice", "bob"), await asyncio.gather(outcome(alice), outcome(bob)), strict=True))
        assert sorted(results.values()) == ["lost", "won"], f"claim outcomes: {results}"
        winner = alice if results["alice"] == "won" else bob
        loser = bob if winner is alice else alice
        await expect(winner.by("claim-error")).to_be_hidden()
        await expect(loser.by("claim-error")).to_contain_text(winner.name)
        await expect(loser.by("release")).to_be_hidden()
        await expect(loser.by("reply-text")).to_be_hidden()  # only the owner may write to the client
        for operator in both:
            detail = await operator.case_detail(case_id)
            assert (detail["status"], detail["claimed_by"]) == ("claimed", winner.name)
            assert detail["conversation"] == {"owner": "operator", "operator": winner.name}
            assert detail["mine"] is (operator is winner)
            insurance = detail["insurance"]
            assert (insurance["status"], insurance["insurer"]) == ("insured", "Malakoff Humanis")
        await loser.shot("loser.png")

        # 5. The winner reads the transcript: the client's words, and their markup as plain text.
        transcript = winner.by("transcript")
        from_client = transcript.locator('[data-testid="message"][data-direction="in"][data-author="client"]')
        for text in ("j'ai perdu mes lunettes", "8 avenue Jean Jaurès 69007 Lyon", "06 98 76 54 32"):
            await expect(from_client.filter(has_text=text)).to_have_count(1)
        for operator in both:
            markup = operator.by("message").filter(has_text="<img src=x")
            await expect(markup).to_have_count(1)
            await expect(markup).to_contain_text(XSS)
            assert await operator.page.locator('img[src="x"]').count() == 0
            assert await operator.by("transcript").locator("img").count() == 0
            assert await operator.page.evaluate("typeof window.__xss") == "undefined"

        # 6. The winner answers; the client receives it in the web chat.
        answer = f"Bonjour, ici {winner.name}. Nous préparons votre envoi ({uuid.uuid4().hex[:6]})."
        await winner.by("reply-text").fill(answer)
        await winner.by("reply-send").click()
        sent = transcript.locator(
            f'[data-testid="message"][data-direction="out"][data-author="operator"][data-operator="{winner.name}"]'
        ).filter(has_text=answer)
        await expect(sent).to_have_count(1)
        await expect(winner.by("reply-text")).to_have_value("")
        await client.wait_for(
            lambda messages: any(m["direction"] == "out" and m["text"] == answer for m in messages),
            "operator's reply",
        )
        await expect(sent).to_have_attribute("data-delivery", "sent")  # the delivery shows, live

        # 7. The client's answer shows in the winner's console live, without a reload.
        await winner.page.evaluate("window.__marker = 1")
        thanks = "Merci, à tout à l'heure"
        await client.say(thanks, answered=False)
        await expect(from_client.filter(has_text=thanks)).to_have_count(1)
        assert await winner.page.evaluate("window.__marker") == 1, "the console page was reloaded"
        assert await winner.page.evaluate("typeof window.__xss") == "undefined"
        # The bot stayed silent while the operator talks (its reply would be stored with the message).
        assert (await client.history())[-1]["text"] == thanks
        await expect(transcript.get_by_test_id("message").last).to_have_attribute("data-author", "client")
        await winner.shot("conversation.png")

        for operator in both:
            assert operator.dialogs == [], f"{operator.name}: dialogs {operator.dialogs}"
            assert operator.errors == [], f"{operator.name}: page errors {operator.errors}"

        await winner.by("logout").click()
        await expect(winner.by("login-name")).to_be_visible()
    finally:
        for operator in both:
            await operator.context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_admin_is_told_the_client_wrote_erases_the_case_and_reads_the_journal(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    """The holder is told live that the client wrote; an admin erases the client's data through
    the confirmation dialog; the access journal shows the view and the erasure."""
    expect.set_options(timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("alice", "admin", database_url, tmp_path)
        client = ChatClient(base)
        try:
            for text in SHIPMENT[:-1]:
                await client.say(text)
            found = REFERENCE.search(" ".join(await client.say(SHIPMENT[-1])))
            assert found
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(chromium), args=["--no-sandbox"], headless=True
                )
                try:
                    await _erasure_scenario(browser, base, client, found.group())
                finally:
                    await browser.close()
        finally:
            await client.close()


async def _erasure_scenario(browser: Browser, base: str, client: ChatClient, reference: str) -> None:
    alice = await Operator.open(browser, base, "alice")
    try:
        await alice.login()
        row = alice.page.locator(f'[data-testid="queue-row"][data-reference="{reference}"]')
        await row.click()
        await expect(alice.by("case-reference")).to_have_text(reference)
        await alice.by("claim").click()
        await expect(alice.by("release")).to_be_visible()
        await expect(alice.by("client-wrote")).to_be_hidden()
        case_id = await row.get_attribute("data-case-id")

        # 1. The client writes: the holder gets a notice, the case and its queue row say so.
        await client.say("Je peux envoyer une photo de l'ordonnance ?", answered=False)
        await expect(alice.by("toast")).to_have_text(re.compile(f"Nouveau message du client — {reference}"))
        await expect(alice.by("client-wrote")).to_be_visible()
        await expect(alice.by("client-wrote")).to_contain_text("Le client a écrit")
        await expect(row.get_by_test_id("client-wrote-badge")).to_be_visible()
        await alice.shot("client-wrote.png")

        # 2. Erasure asks first: what goes, and the reference typed before the button works.
        await alice.by("erase-open").click()
        dialog = alice.by("erase-dialog")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("toute la conversation")
        await expect(alice.by("erase-confirm")).to_be_disabled()
        await alice.by("erase-confirm-input").fill("OB-WRONG1")
        await expect(alice.by("erase-confirm")).to_be_disabled()
        await alice.by("erase-confirm-input").fill(reference.lower())
        await expect(alice.by("erase-confirm")).to_be_enabled()
        await alice.shot("erase-dialog.png")
        await alice.by("erase-confirm").click()

        # 3. The case is anonymised on screen: no name, no transcript, a new reference.
        await expect(dialog).to_be_hidden()
        await expect(alice.by("case-anonymised")).to_be_visible()
        await expect(alice.by("case-reference")).to_have_text(re.compile(r"^XX-"))
        await expect(alice.by("message")).to_have_count(0)
        await expect(alice.by("transcript")).to_have_text("Aucun message.")
        await expect(alice.by("toast")).to_have_count(0)  # its notice named the old reference
        await expect(alice.page.locator("#c-name")).to_have_text("—")
        await expect(alice.by("erase-open")).to_be_hidden()
        assert case_id
        detail = await alice.case_detail(case_id)
        assert (detail["status"], detail["contact_name"], detail["messages"]) == ("cancelled", None, [])

        # 4. The access journal: the view of the case and its erasure, newest first.
        await alice.by("journal-open").click()
        journal = alice.by("journal-panel")
        await expect(journal).to_be_visible()
        erase = journal.locator('[data-testid="journal-row"][data-action="erase"][data-actor="alice"]')
        view = journal.locator('[data-testid="journal-row"][data-action="view_case"][data-actor="alice"]')
        await expect(erase).to_have_count(1)
        await expect(erase).to_contain_text("Effacement des données")
        await expect(view.first).to_contain_text("anonymisé")
        await expect(journal.get_by_test_id("journal-row").first).to_have_attribute("data-action", "erase")
        await alice.shot("journal.png")
        assert alice.dialogs == [], alice.dialogs
        assert alice.errors == [], alice.errors
    finally:
        await alice.context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_read_of_the_case_from_before_a_claim_never_undoes_it_on_screen(
    chromium: Path, database_url: str, tmp_path: Path
) -> None:
    """The page reads the open case when something happens to it (here the client writes). A read
    the server answered before the operator's claim, arriving after the claim's answer, would put
    the queued case back on screen (the claim button again, no release): the console drops it."""
    expect.set_options(timeout=TIMEOUT_MS)
    with service_process(database_url, tmp_path) as (base, _):
        add_operator("alice", "operator", database_url, tmp_path)
        client = ChatClient(base)
        try:
            for text in SHIPMENT[:-1]:
                await client.say(text)
            found = REFERENCE.search(" ".join(await client.say(SHIPMENT[-1])))
            assert found
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(chromium), args=["--no-sandbox"], headless=True
                )
                try:
                    await _stale_read_scenario(browser, base, client, found.group())
                finally:
                    await browser.close()
        finally:
            await client.close()


async def _stale_read_scenario(browser: Browser, base: str, client: ChatClient, reference: str) -> None:
    alice = await Operator.open(browser, base, "alice")
    page = alice.page
    loop = asyncio.get_running_loop()
    held: asyncio.Future[Request] = loop.create_future()  # the read answered before the claim
    fate: asyncio.Future[str] = loop.create_future()  # what the page did with it
    claimed = asyncio.Event()

    async def hold_first_read(route: Route) -> None:
        if route.request.method != "GET" or held.done():
            await route.continue_()
            return
        answered = await route.fetch()  # the server's answer now: the case is queued
        held.set_result(route.request)
        await claimed.wait()
        with contextlib.suppress(Exception):  # the page may have dropped the request meanwhile
            await route.fulfill(response=answered)

    def settled(request: Request, how: str) -> None:
        if held.done() and request is held.result() and not fate.done():
            fate.set_result(how)

    try:
        await alice.login()
        row = page.locator(f'[data-testid="queue-row"][data-reference="{reference}"]')
        await row.click()
        await expect(alice.by("case-reference")).to_have_text(reference)
        await expect(alice.by("claim")).to_be_visible()
        case_id = await row.get_attribute("data-case-id")
        assert case_id

        page.on("requestfailed", lambda request: settled(request, "dropped"))
        page.on("requestfinished", lambda request: settled(request, "applied"))
        page.on("response", lambda response: claimed.set() if response.url.endswith("/claim") else None)
        await page.route(f"**/api/console/cases/{case_id}", hold_first_read)

        # The client writes: the page reads the case again; that read is answered (queued), held.
        await client.say("Vous êtes là ?", answered=False)
        await asyncio.wait_for(held, CHAT_WAIT_S)
        await alice.by("claim").click()

        # The old answer is never used: the page dropped the read, and shows the claim.
        assert await asyncio.wait_for(fate, CHAT_WAIT_S) == "dropped", "a read from before the claim was used"
        await expect(alice.by("release")).to_be_visible()
        await expect(alice.by("claim")).to_be_hidden()
        await page.unroute(f"**/api/console/cases/{case_id}")
        # Read again afterwards, it is the claimed case with the client's message.
        await expect(alice.by("message").filter(has_text="Vous êtes là ?")).to_have_count(1)
        detail = await alice.case_detail(case_id)
        assert (detail["status"], detail["claimed_by"]) == ("claimed", "alice")
        assert alice.errors == [], alice.errors
    finally:
        await alice.context.close()
