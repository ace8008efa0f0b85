"""The console's levels routes in the real app (issue 15): who may read and switch, the polite
refusals, the journal; a switch through the API is what the bot follows at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.tables import access_journal, broadcasts, waitlist
from tests.integration.serving import Service, serve_app
from tests.integration.test_console import PASSWORD, Staff, WebClient, _open_clients, _settle


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with serve_app(database_url, tmp_path) as service:
        await service.services.accounts.add("alice", PASSWORD, "admin")
        await service.services.accounts.add("bob", PASSWORD, "operator")
        try:
            yield service
        finally:
            await _open_clients()


async def signed_in(app: Service, name: str) -> Staff:
    staff = Staff(app.base)
    assert (await staff.login(name)).status_code == 200
    return staff


async def put(staff: Staff, scope: str, body: dict[str, Any], csrf: str | None = None) -> httpx.Response:
    token = staff.csrf if csrf is None else csrf
    return await staff.http.put(f"/api/console/levels/{scope}", json=body, headers={"X-CSRF-Token": token})


async def delete(staff: Staff, department: str, csrf: str | None = None) -> httpx.Response:
    token = staff.csrf if csrf is None else csrf
    return await staff.http.delete(f"/api/console/levels/{department}", headers={"X-CSRF-Token": token})


async def test_operators_read_the_levels_admins_switch_them(app: Service) -> None:
    async with httpx.AsyncClient(base_url=app.base) as anonymous:
        assert (await anonymous.get("/api/console/levels")).status_code == 401
        assert (
            await anonymous.put("/api/console/levels/national", json={"level": "normal"})
        ).status_code == 401
        assert (await anonymous.delete("/api/console/levels/75")).status_code == 401

    bob, alice = await signed_in(app, "bob"), await signed_in(app, "alice")
    shown = (await bob.get("/levels")).json()
    assert shown["national"] == {"scope": "national", "level": "crisis", "set_by": None, "set_at": None}
    assert (shown["departments"], shown["levels"]) == ([], ["normal", "crisis", "suspended"])

    # An operator may not switch; nobody may without the CSRF token.
    assert (await put(bob, "national", {"level": "normal", "notify": False})).status_code == 403
    assert (await delete(bob, "75")).status_code == 403
    assert (await put(alice, "national", {"level": "normal"}, csrf="x" * 32)).status_code == 403
    assert (await delete(alice, "75", csrf="")).status_code == 403

    # Bad levels and departments: 422, saying which.
    for scope, body in (
        ("national", {"level": "closed"}),
        ("national", {}),
        ("99", {"level": "normal"}),
        ("Paris", {"level": "normal"}),
        ("national", {"level": "x" * 5000}),
    ):
        refused = await put(alice, scope, body)
        assert refused.status_code == 422, (scope, body, refused.text)
    assert "unknown department" in (await put(alice, "99", {"level": "normal"})).json()["detail"]
    assert (await delete(alice, "99")).status_code == 422
    assert (await delete(alice, "75")).status_code == 404  # no level of its own

    switched = await put(alice, "national", {"level": "normal", "notify": False})
    assert switched.status_code == 200, switched.text
    assert switched.json()["levels"]["national"]["level"] == "normal"
    assert switched.json()["levels"]["national"]["set_by"] == "alice"
    assert switched.json()["broadcast"] is None
    local = await put(alice, "2a", {"level": "suspended", "notify": False})
    assert [d["scope"] for d in local.json()["levels"]["departments"]] == ["2A"]
    assert (await bob.get("/levels")).json()["departments"][0]["level"] == "suspended"
    removed = await delete(alice, "2A")
    assert removed.status_code == 200
    assert removed.json()["levels"]["departments"] == []
    # The scope's name in any case (review, point 14).
    crisis = await put(alice, "National", {"level": "crisis", "notify": False})
    assert crisis.status_code == 200, crisis.text
    assert crisis.json()["levels"]["national"]["level"] == "crisis"

    journal = await app.rows(access_journal, access_journal.c.action == "service_level")
    assert [(r.actor, r.detail) for r in journal] == [
        ("alice", "normal national"),
        ("alice", "suspended 2A"),
        ("alice", "national 2A"),
        ("alice", "crisis national"),
    ]


async def test_notify_starts_the_waitlist_broadcast_only_when_more_clients_are_let_in(
    app: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broadcast itself is bot/broadcasts.py's (tested there); here: when the switch asks it."""
    started: list[dict[str, Any]] = []

    async def start(**asked: Any) -> str:
        started.append(asked)
        return "B-1"

    monkeypatch.setattr(app.services.broadcasts, "start", start)
    alice = await signed_in(app, "alice")
    stricter = await put(alice, "national", {"level": "suspended", "notify": True})
    assert stricter.json()["broadcast"] is None
    milder = await put(alice, "national", {"level": "normal", "notify": True})
    assert milder.json()["broadcast"] == "B-1"
    await put(alice, "29", {"level": "suspended", "notify": False})
    lifted = await alice.http.delete(
        "/api/console/levels/29", params={"notify": "true"}, headers={"X-CSRF-Token": alice.csrf}
    )
    assert lifted.json()["broadcast"] == "B-1"
    assert started == [
        {"by": "alice", "trigger": "level", "level": "normal", "department": None},
        {"by": "alice", "trigger": "level", "level": "normal", "department": "29"},
    ]


async def test_a_switch_with_notify_starts_a_real_broadcast_to_the_waiting_web_chat_client(
    app: Service,
) -> None:
    alice = await signed_in(app, "alice")
    await put(alice, "national", {"level": "suspended", "notify": True})
    client = WebClient(app.base)
    for text in ("mes lunettes sont cassées", "oui", "29200", "marie@exemple.fr"):
        await client.say(text)
        await _settle(app)
    (waiting,) = await app.rows(waitlist)
    assert (waiting.channel, waiting.department, waiting.contact_email) == (
        "webchat",
        "29",
        "marie@exemple.fr",
    )
    switched = await put(alice, "national", {"level": "normal", "notify": True})
    started = switched.json()["broadcast"]
    assert started is not None
    (broadcast,) = await app.rows(broadcasts)
    assert (broadcast.public_id, broadcast.trigger, broadcast.level, broadcast.department) == (
        started,
        "level",
        "normal",
        None,
    )
