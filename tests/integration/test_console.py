"""The operator console's API through the real app: access, the queue, claims, take-over, case work."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.console.auth import Operator
from bot.errors import RefusedError
from bot.messages import Inbound
from flows.types import ClientInput
from storage.tables import cases, conversations, messages
from tests.integration.serving import Service, serve_app

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
    "je l'ai pas sur moi",  # no photo of the card
    "oui",
]


_open: list[httpx.AsyncClient] = []


def _http(base: str) -> httpx.AsyncClient:
    """An HTTP client closed when the test's app stops."""
    client = httpx.AsyncClient(base_url=base, timeout=15)
    _open.append(client)
    return client


async def _open_clients() -> None:
    """Close the HTTP clients the test opened."""
    while _open:
        await _open.pop().aclose()


class Staff:
    """A signed-in browser of the console: its cookie and CSRF token."""

    def __init__(self, base: str) -> None:
        self.http = _http(base)
        self.csrf = ""

    async def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        response = await self.http.post("/api/console/login", json={"name": name, "password": password})
        if response.status_code == 200:
            self.csrf = response.json()["csrf"]
        return response

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(
            f"/api/console{path}", json=body or {}, headers={"X-CSRF-Token": self.csrf}
        )

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"/api/console{path}", params=params)


class LiveStream:
    """The console's live stream, read in the background until ``until(event, data)`` holds or the
    server ends it: ``seen`` holds its (event, data) pairs as they come."""

    def __init__(self, staff: Staff, until: Callable[[str, str], bool], **params: str) -> None:
        self.seen: list[tuple[str, str]] = []
        self._ready = asyncio.Event()
        self.task = asyncio.create_task(self._read(staff, until, params))

    async def _read(self, staff: Staff, until: Callable[[str, str], bool], params: dict[str, str]) -> None:
        async with staff.http.stream("GET", "/api/console/events", params=params) as stream:
            assert stream.status_code == 200
            event = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.seen.append((event, line[6:]))
                    if event == "ready":
                        self._ready.set()
                    elif until(event, line[6:]):
                        return

    async def ready(self, within: float = 10.0) -> None:
        """Wait for the server's word that its starting point is taken: whatever happens from
        now on is told."""
        waiting = asyncio.create_task(self._ready.wait())
        await asyncio.wait({waiting, self.task}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            waiting.cancel()
            if self.task.done():
                self.task.result()  # its error, if it failed
            raise AssertionError(f"the live stream never said it was ready: {self.seen}")

    async def end(self, within: float = 10.0) -> list[tuple[str, str]]:
        """Wait until it stops (``until`` held, or the server ended it); what it told."""
        await asyncio.wait_for(self.task, within)
        return self.seen


class WebClient:
    """A client in the web chat of the same app."""

    def __init__(self, base: str) -> None:
        self.http = _http(base)

    async def say(self, text: str) -> None:
        body = {"id": uuid.uuid4().hex, "text": text}
        response = await self.http.post("/api/chat/messages", json=body)
        assert response.status_code == 202, response.text

    async def replies(self) -> list[str]:
        history = (await self.http.get("/api/chat/history")).json()
        return [m["text"] for m in history["messages"] if m["direction"] == "out"]


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with serve_app(database_url, tmp_path) as service:
        accounts = service.services.accounts
        await accounts.add("alice", PASSWORD, "admin")
        await accounts.add("bob", PASSWORD, "operator")
        try:
            yield service
        finally:
            await _open_clients()


async def _signed_in(app: Service, name: str) -> Staff:
    staff = Staff(app.base)
    assert (await staff.login(name)).status_code == 200
    return staff


async def _case_by_web_chat(app: Service, name: str = "Jean Dupont") -> tuple[WebClient, str]:
    client = WebClient(app.base)
    for text in SHIPMENT:
        await client.say(name if text == "Jean Dupont" else text)
        await _settle(app)
    rows = await app.rows(cases)
    return client, rows[-1].public_id


async def _settle(app: Service) -> None:
    """Wait until every stored message is processed and every reply delivered."""
    for _ in range(200):
        if app.services.engine.pipeline.pending() == 0:
            pending = await app.rows(messages, messages.c.direction == "out", messages.c.sent_at.is_(None))
            if not pending:
                return
        await asyncio.sleep(0.02)
    raise AssertionError("messages still unprocessed or undelivered after 4 s")


async def test_every_console_route_needs_a_session_and_every_change_a_csrf_token(app: Service) -> None:
    schema = (await _http(app.base).get("/openapi.json")).json()
    paths = {p: ops for p, ops in schema["paths"].items() if p.startswith("/api/console")}
    assert "/api/console/cases/{case_id}/claim" in paths  # the console is in the OpenAPI schema
    anonymous = _http(app.base)
    staff = await _signed_in(app, "bob")
    checked = 0
    for path, operations in paths.items():
        concrete = path.replace("{case_id}", "nope").replace("{reply_id}", "nope")
        for method in operations:
            if path == "/api/console/login":
                continue
            response = await anonymous.request(method.upper(), concrete, json={})
            assert response.status_code == 401, (method, path, response.status_code)
            if method in ("post", "put", "delete"):
                forged = await staff.http.request(method.upper(), concrete, json={})
                assert forged.status_code == 403, (method, path, forged.status_code)
                wrong = await staff.http.request(
                    method.upper(), concrete, json={}, headers={"X-CSRF-Token": "x" * 32}
                )
                assert wrong.status_code == 403, (method, path)
            checked += 1
    assert checked >= 18
    me = await staff.get("/me")
    assert me.json()["operator"]["name"] == "bob"
    assert (await staff.post("/logout")).status_code == 204
    assert (await staff.get("/me")).status_code == 401


async def test_login_is_refused_politely_then_throttled(app: Service) -> None:
    staff = Staff(app.base)
    unknown = await staff.login("nobody")
    wrong = await staff.login("alice", "not the password")
    assert (unknown.status_code, wrong.status_code) == (401, 401)
    assert unknown.json() == wrong.json()  # a wrong name and a wrong password look the same
    for _ in range(4):
        await staff.login("alice", "still wrong")
    throttled = await staff.login("alice")  # even the right password, for a while
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert (await Staff(app.base).login("bob")).status_code == 200  # others are not affected
    cookie = (await Staff(app.base).login("bob")).headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


async def test_the_queue_claim_and_take_over(app: Service) -> None:
    client, case_id = await _case_by_web_chat(app)
    alice, bob = await _signed_in(app, "alice"), await _signed_in(app, "bob")

    queue = (await alice.get("/cases")).json()
    (summary,) = queue["cases"]
    assert summary["id"] == case_id
    assert summary["status"] == "queued"
    assert summary["channel"] == "webchat"
    assert summary["reachable"] is True

    claimed = await alice.post(f"/cases/{case_id}/claim")
    assert claimed.status_code == 200
    detail = claimed.json()
    assert detail["mine"] is True
    assert detail["conversation"] == {"owner": "operator", "operator": "alice"}
    assert detail["contact_name"] == "Jean Dupont"
    assert [m["direction"] for m in detail["messages"]][:2] == ["in", "out"]
    late = await bob.post(f"/cases/{case_id}/claim")
    assert late.status_code == 409
    assert late.json()["detail"] == "déjà pris en charge par alice"
    assert (await bob.post(f"/cases/{case_id}/reply", {"text": "Bonjour"})).status_code == 403

    # The operator talks to the client on the client's channel; the bot stays silent.
    assert (await alice.post(f"/cases/{case_id}/reply", {"text": "Bonjour, ici Alice."})).status_code == 200
    await _settle(app)
    assert (await client.replies())[-1] == "Bonjour, ici Alice."
    await client.say("Merci, j'attends vos nouvelles")
    await _settle(app)
    detail = (await alice.get(f"/cases/{case_id}")).json()
    assert detail["messages"][-1]["text"] == "Merci, j'attends vos nouvelles"
    assert detail["messages"][-2]["operator"] == "alice"
    assert detail["first_response_at"] is not None
    replies = await client.replies()
    assert replies[-1] == "Bonjour, ici Alice."  # nothing from the bot after the operator's message

    # Notes stay internal.
    await bob.post(f"/cases/{case_id}/notes", {"text": "Client rappelé à 10h"})
    detail = (await alice.get(f"/cases/{case_id}")).json()
    assert detail["notes"][0]["text"] == "Client rappelé à 10h"
    assert "Client rappelé à 10h" not in await client.replies()

    # Transfer: now bob's, and alice may no longer act on it.
    moved = await alice.post(f"/cases/{case_id}/transfer", {"operator": "bob"})
    assert moved.json()["claimed_by"] == "bob"
    assert (await alice.post(f"/cases/{case_id}/reply", {"text": "?"})).status_code == 403
    assert (await bob.post(f"/cases/{case_id}/release")).status_code == 200
    assert (await bob.get("/cases", status="queued")).json()["cases"][0]["claimed_by"] is None
    assert (await alice.post(f"/cases/{case_id}/claim")).status_code == 200

    # Shipment: tracking number, dispatched, done; the client is told at each step.
    bad = await alice.post(f"/cases/{case_id}/tracking", {"number": "<script>"})
    assert bad.status_code == 422
    tracked = await alice.post(f"/cases/{case_id}/tracking", {"number": "xy 1234 5678 fr"})
    assert tracked.json()["tracking_number"] == "XY12345678FR"
    assert (await alice.post(f"/cases/{case_id}/dispatch")).json()["status"] == "dispatched"
    finished = (await alice.post(f"/cases/{case_id}/done")).json()
    assert finished["status"] == "done"
    assert finished["done_at"] is not None
    assert finished["conversation"]["owner"] == "closed"
    await _settle(app)
    sent = [
        r.text
        for r in await app.rows(messages, messages.c.direction == "out", messages.c.sent_at.is_not(None))
    ]
    assert any("XY12345678FR" in text and "chronopost.fr" in text for text in sent)
    assert "terminée" in sent[-1]
    assert (await alice.get("/cases")).json()["cases"] == []  # done cases leave the open queue
    assert (await alice.get("/cases", status="done")).json()["cases"][0]["id"] == case_id


async def test_cancel_handback_and_filters(app: Service) -> None:
    client, first = await _case_by_web_chat(app)
    alice = await _signed_in(app, "alice")
    bob = await _signed_in(app, "bob")
    await bob.post(f"/cases/{first}/claim")
    assert (await bob.post(f"/cases/{first}/cancel", {"reason": " "})).status_code == 422
    assert (await alice.get("/cases", mine="true")).json()["cases"] == []
    assert [c["id"] for c in (await bob.get("/cases", mine="true")).json()["cases"]] == [first]
    assert [c["id"] for c in (await bob.get("/cases", department="69")).json()["cases"]] == [first]
    assert (await bob.get("/cases", department="75")).json()["cases"] == []
    assert (await bob.get("/cases", mode="visit")).json()["cases"] == []
    before = await client.replies()
    handed = (await bob.post(f"/cases/{first}/handback")).json()
    assert handed["conversation"]["owner"] == "closed"
    await client.say("bonjour")  # the case is still live: the message reaches it, and bob
    await _settle(app)
    detail = (await bob.get(f"/cases/{first}")).json()
    assert detail["messages"][-1]["text"] == "bonjour"
    assert detail["conversation"] == {"owner": "operator", "operator": "bob"}
    assert await client.replies() == before  # bob answers, not the bot
    await client.say("nouvelle demande")  # a new request: the bot answers, in a new conversation
    await _settle(app)
    assert "Quelle est votre urgence" in (await client.replies())[-1]
    cancelled = await alice.post(f"/cases/{first}/cancel", {"reason": "doublon"})  # an admin may
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "doublon"


async def test_canned_replies_are_for_admins_to_manage(app: Service) -> None:
    alice, bob = await _signed_in(app, "alice"), await _signed_in(app, "bob")
    body = {"title": "Délai", "text": "Un opticien vous rappelle dans l'heure."}
    assert (await bob.post("/canned", body)).status_code == 403
    made = await alice.post("/canned", body)
    assert made.status_code == 201
    assert (await bob.get("/canned")).json()["replies"][0]["text"] == body["text"]
    deleted = await alice.http.delete(
        f"/api/console/canned/{made.json()['id']}", headers={"X-CSRF-Token": alice.csrf}
    )
    assert deleted.status_code == 204
    assert (await bob.get("/canned")).json()["replies"] == []


async def test_client_text_is_data_and_the_prescription_is_for_staff_only(
    app: Service, tmp_path: Path
) -> None:
    xss = '<img src=x onerror="alert(1)">'
    client, case_id = await _case_by_web_chat(app)
    await client.say(f"Voici {xss}")
    await _settle(app)
    from tests.integration.test_conversations import tiny_png

    path = app.services.files.save(tiny_png())
    async with app.services.database.begin() as connection:
        # The flow's name reader drops markup; a name can still come from elsewhere (an import).
        await connection.execute(cases.update().values(prescription_path=path, contact_name=f"Jean {xss}"))
    alice = await _signed_in(app, "alice")
    response = await alice.get(f"/cases/{case_id}")
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["contact_name"] == f"Jean {xss}"
    assert response.json()["messages"][-2]["text"] == f"Voici {xss}"  # then the bot's notice
    prescription = response.json()["prescription"]
    assert prescription["kind"] == "image"
    image = await alice.http.get(prescription["url"])
    assert image.content == tiny_png()
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in image.headers["content-security-policy"]
    assert (await _http(app.base).get(prescription["url"])).status_code == 401
    page = await _http(app.base).get("/console")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert (await alice.get(f"/cases/{uuid.uuid4().hex}")).status_code == 404


async def test_the_live_stream_tells_of_new_cases_and_messages(app: Service) -> None:
    client, case_id = await _case_by_web_chat(app)
    alice = await _signed_in(app, "alice")
    await alice.post(f"/cases/{case_id}/claim")
    live = LiveStream(alice, lambda event, data: event == "message" and "toujours là" in data, case=case_id)
    await live.ready()
    await client.say("Vous êtes toujours là ?")
    seen = await live.end()
    message = json.loads(next(data for event, data in seen if event == "message"))
    assert message["text"] == "Vous êtes toujours là ?"
    assert message["direction"] == "in"


@pytest.mark.parametrize("races", [200])
async def test_two_operators_racing_for_the_same_case_one_wins(app: Service, races: int) -> None:
    """Claim races through the service: each case claimed by exactly one, the other told who."""
    engine, console = app.services.engine, app.services.console
    for user in range(races):
        for step, text in enumerate(SHIPMENT):
            await engine.handle(Inbound("script", f"racer{user}", f"{user}-{step}", ClientInput(text=text)))
    ids = [row.public_id for row in await app.rows(cases)]
    assert len(ids) == races
    alice = Operator(1, "a", "alice", "admin")
    bob = Operator(2, "b", "bob", "operator")

    async def attempt(who: Operator, case_id: str) -> str:
        try:
            await console.claim(who, case_id)
        except RefusedError as error:
            return (
                "lost"
                if error.detail in ("déjà pris en charge par alice", "déjà pris en charge par bob")
                else "?"
            )
        return who.name

    outcomes = await asyncio.gather(*(attempt(who, c) for c in ids for who in (alice, bob)))
    pairs = list(zip(outcomes[::2], outcomes[1::2], strict=True))
    assert all(sorted(p) in (["alice", "lost"], ["bob", "lost"]) for p in pairs)
    rows = {r.public_id: r for r in await app.rows(cases)}
    for case_id, (first, second) in zip(ids, pairs, strict=True):
        assert rows[case_id].claimed_by == (first if first != "lost" else second)
        assert rows[case_id].status == "claimed"
    owners = await app.rows(conversations, conversations.c.owner == "operator")
    assert len(owners) == races


async def test_parallel_guesses_count_against_each_other(app: Service) -> None:
    staff = Staff(app.base)
    answers = await asyncio.gather(*(staff.login("alice", f"guess {i}") for i in range(20)))
    codes = [a.status_code for a in answers]
    assert codes.count(401) <= 5  # at most five guesses were checked
    assert codes.count(429) >= 15


async def test_a_stream_ends_with_its_session_and_admins_can_free_a_case(app: Service) -> None:
    client, case_id = await _case_by_web_chat(app)
    alice, bob = await _signed_in(app, "alice"), await _signed_in(app, "bob")
    await bob.post(f"/cases/{case_id}/claim")
    live = LiveStream(bob, lambda event, data: False, case=case_id)
    await live.ready()
    await app.services.accounts.set_active("bob", active=False)  # bob leaves
    events = await live.end(15)  # the stream ends by itself
    assert events[-1][0] == "signed_out"
    await client.say("Il y a quelqu'un ?")
    await _settle(app)
    # An admin frees bob's case: back in the queue, and the client's message shows on it.
    freed = await alice.post(f"/cases/{case_id}/release")
    assert freed.json()["status"] == "queued"
    assert freed.json()["client_wrote_at"] is not None
    assert (await alice.post(f"/cases/{case_id}/claim")).status_code == 200
    done = await alice.post(f"/cases/{case_id}/done")  # nothing to dispatch: done from claimed
    assert done.json()["status"] == "done"


async def test_a_visit_wished_as_soon_as_possible_reads_so_on_its_case_page(app: Service) -> None:
    client = WebClient(app.base)
    for text in ("bonjour", "mes lunettes sont cassées", "oui", "non", "à domicile", "j'accepte"):
        await client.say(text)
        await _settle(app)
    for text in (
        "12 rue Oberkampf 75011 Paris",
        "dès que possible",
        "Jean Dupont",
        "06 98 76 54 32",
        "aucune",
        "oui",
    ):
        await client.say(text)
        await _settle(app)
    (case,) = await app.rows(cases)
    assert case.slot_asap is True
    alice = await _signed_in(app, "alice")
    detail = (await alice.get(f"/cases/{case.public_id}")).json()
    assert detail["slot"].startswith("dès que possible (à partir de ")
