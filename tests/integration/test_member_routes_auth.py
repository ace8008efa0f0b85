"""Who may call the members' desk (issue 16), walked from the app's OpenAPI schema: every member
route (requests, slots, announcements, declared kits — whoever added it) refuses anonymous callers
(401) and operators (403), with every method the schema declares; a ``network`` account is refused
every client route (403) and reaches the members' routes; an admin reaches both."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.serving import Service, serve_app
from tests.integration.test_console import PASSWORD, Staff, _open_clients

# What makes a console path a members' desk one (the four parts of issue 16, present and future).
MEMBER_PATH = re.compile(r"/members\b|/slots\b|/announcements\b|/kits/declared\b")
# Routes every signed-in role shares.
SHARED = {"/api/console/login", "/api/console/me", "/api/console/logout", "/api/console/events"}
OURS = {  # the Réseau queue's routes (bot/console/members_api.py): the matcher must catch them
    ("get", "/api/console/members/requests"),
    ("get", "/api/console/members/requests/{request_id}"),
    ("get", "/api/console/members/requests/{request_id}/document"),
    ("post", "/api/console/members/requests/{request_id}/claim"),
    ("post", "/api/console/members/requests/{request_id}/release"),
    ("post", "/api/console/members/requests/{request_id}/takeover"),
    ("post", "/api/console/members/requests/{request_id}/reply"),
    ("post", "/api/console/members/requests/{request_id}/notes"),
    ("post", "/api/console/members/requests/{request_id}/status"),
    ("post", "/api/console/members/requests/{request_id}/outcome"),
}


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with serve_app(database_url, tmp_path) as service:
        accounts = service.services.accounts
        await accounts.add("alice", PASSWORD, "admin")
        await accounts.add("bob", PASSWORD, "operator")
        await accounts.add("nina", PASSWORD, "network")
        try:
            yield service
        finally:
            await _open_clients()


async def signed_in(app: Service, name: str) -> Staff:
    staff = Staff(app.base)
    assert (await staff.login(name)).status_code == 200
    return staff


async def console_routes(app: Service) -> list[tuple[str, str]]:
    """Every (method, path) of the console in the app's OpenAPI schema."""
    async with httpx.AsyncClient(base_url=app.base) as http:
        schema = (await http.get("/openapi.json")).json()
    return [
        (method, path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/console")
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    ]


def concrete(path: str) -> str:
    """A path with its parameters filled (no such record: the guard answers before the lookup)."""
    return re.sub(r"\{[^}]+\}", "x", path)


async def call(http: httpx.AsyncClient, method: str, path: str, csrf: str = "") -> httpx.Response:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    if method in ("get", "delete"):
        return await http.request(method.upper(), concrete(path), headers=headers)
    return await http.request(method.upper(), concrete(path), json={}, headers=headers)


async def test_every_member_route_refuses_anonymous_callers_and_operators(app: Service) -> None:
    routes = await console_routes(app)
    members = [(m, p) for m, p in routes if MEMBER_PATH.search(p)]
    assert members, "no member route in the schema"
    assert set(members) >= OURS, OURS - set(members)
    bob = await signed_in(app, "bob")
    wrong: list[tuple[str, str, str, int]] = []
    async with httpx.AsyncClient(base_url=app.base) as anonymous:
        for method, path in members:
            if (status := (await call(anonymous, method, path)).status_code) != 401:
                wrong.append(("anonymous", method, path, status))
            # With the CSRF token and an empty body: the role is refused before the body is read
            # (guards.NetworkSignedIn / NetworkChanging), so nothing of the route shows to operators.
            if (status := (await call(bob.http, method, path, bob.csrf)).status_code) != 403:
                wrong.append(("operator", method, path, status))
    assert wrong == []


async def test_network_staff_are_refused_every_client_route_and_admins_reach_both(app: Service) -> None:
    routes = await console_routes(app)
    clients = [(m, p) for m, p in routes if not MEMBER_PATH.search(p) and p not in SHARED]
    assert ("get", "/api/console/cases") in clients
    assert ("post", "/api/console/cases/{case_id}/claim") in clients
    nina, alice = await signed_in(app, "nina"), await signed_in(app, "alice")
    wrong = [
        (method, path, status)
        for method, path in clients
        if (status := (await call(nina.http, method, path, nina.csrf)).status_code) != 403
    ]
    assert wrong == []

    # Who they are, with their role: the page shows the right side.
    assert (await nina.get("/me")).json()["operator"]["role"] == "network"
    assert (await alice.get("/me")).json()["operator"]["role"] == "admin"
    # Network staff and admins read the Réseau queue; the admin reads the client queue too.
    assert (await nina.get("/members/requests")).status_code == 200
    assert (await alice.get("/members/requests")).status_code == 200
    assert (await alice.get("/cases")).status_code == 200
    assert (await (await signed_in(app, "bob")).get("/cases")).status_code == 200
    # A change without the CSRF token: refused to everyone.
    no_token = await nina.http.post("/api/console/members/requests/x/claim", json={})
    assert no_token.status_code == 403
    # Network staff sign out like anyone.
    assert (await nina.post("/logout")).status_code == 204
    assert (await nina.get("/me")).status_code == 401


async def test_the_live_stream_opens_for_every_role(app: Service) -> None:
    """What it carries for each role (network staff nothing of client cases, operators nothing of
    members' requests) is tested in tests/integration/test_member_requests.py."""
    for name in ("nina", "bob", "alice"):
        staff = await signed_in(app, name)
        async with staff.http.stream("GET", "/api/console/events") as stream:
            assert stream.status_code == 200
