"""A member's own record (issue 16) on both databases: /moncompte shows theirs and nobody else's;
/kit reads and checks a date, records it as declared (with an "Annuler" button); an admin confirms
or refuses it through the console's API (the member told, the kit reminders re-armed, journaled)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot.members import MemberChat
from bot.members.account import KIT_STEP
from flows.types import ClientInput
from storage.tables import access_journal, member_requests, opticians
from tests.harness import NOW, Harness
from tests.integration.serving import Service, serve_app
from tests.integration.test_console import PASSWORD, Staff, _open_clients
from tests.integration.test_video_slots import add_member, keys_to, press, publish, said_to, service


async def add_request(h: Harness, optician_id: int, reference: str, kind: str, status: str) -> None:
    async with h.services.database.begin() as connection:
        await connection.execute(
            sa.insert(member_requests).values(
                public_id=f"r{reference}",
                reference=reference,
                optician_id=optician_id,
                channel="telegram",
                chat="x",
                kind=kind,
                details="",
                status=status,
                created_at=NOW,
                updated_at=NOW,
            )
        )


async def test_moncompte_shows_the_members_own_record(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        member_id, to = await add_member(
            h, "Martine", ["75", "92"], kit_expires_on=date(2027, 1, 31), kit_declared_on=date(2028, 1, 1)
        )
        other_id, other = await add_member(h, "Paul", ["13"], available=False)
        await add_request(h, member_id, "A-MINE22", "commission_advance", "in_progress")
        await add_request(h, member_id, "A-OLD333", "other", "closed")
        await add_request(h, other_id, "A-THEIRS", "state_aid", "new")
        (slot,) = await publish(h, 4)
        await h.services.members.slots.answer(to, member_id, press(slot), on_message=None)
        await h.services.members.account.show(to, member_id)
        shown = (await said_to(h, to))[-1]
        assert shown["key"] == "account.summary"
        text = shown["text"]
        assert "Départements : 75, 92" in text
        assert "valable jusqu'au 31 janvier 2027" in text
        assert "en attente de confirmation : 1er janvier 2028" in text
        assert "Visites à domicile : disponible" in text
        assert "• A-MINE22 — Avance sur commissions — en cours de traitement" in text
        assert "A-OLD333" not in text  # closed
        assert "A-THEIRS" not in text  # another member's
        assert "jeudi 26 novembre à 14h30 : https://meet.jit.si/optibot-" in text

        await h.services.members.account.show(other, other_id)
        theirs = (await said_to(h, other))[-1]["text"]
        assert "A-THEIRS" in theirs
        assert "A-MINE22" not in theirs
        assert "indisponible" in theirs
        assert "date non renseignée" in theirs
        assert theirs.count("aucune") == 1  # no follow-up


async def test_kit_asks_again_until_a_good_date_then_records_it(database_url: str, tmp_path: Path) -> None:
    async with service(database_url, tmp_path) as h:
        account = h.services.members.account
        member_id, to = await add_member(h, "Martine", kit_expires_on=date(2026, 12, 31))
        for text, key in (
            ("/kit", "account.kit_ask"),
            ("/kit n'importe quoi", "account.kit_unreadable"),
            ("/kit 30/02/2027", "account.kit_no_such_day"),
            ("/kit 01/11/2026", "account.kit_past"),
            ("/kit 31/12/2031", "account.kit_too_far"),
        ):
            assert await account.kit(to, member_id, text) is False
            assert (await keys_to(h, to))[-1] == key
        (row,) = await h.rows(opticians, opticians.c.id == member_id)
        assert row.kit_declared_on is None

        assert await account.kit(to, member_id, "/kit 31/12/2026") is True  # the same date
        assert (await keys_to(h, to))[-1] == "account.kit_same"
        assert await account.kit(to, member_id, "30 juin 2027") is True
        declared = (await said_to(h, to))[-1]
        assert declared["key"] == "account.kit_declared"
        assert "30 juin 2027" in declared["text"]
        assert "31 décembre 2026" in declared["text"]
        assert (declared["step"], [c["value"] for c in declared["choices"]]) == (KIT_STEP, ["undo.20270630"])
        (row,) = await h.rows(opticians, opticians.c.id == member_id)
        assert (row.kit_declared_on, row.kit_expires_on) == (date(2027, 6, 30), date(2026, 12, 31))
        assert row.kit_declared_at is not None

        # "Annuler": withdrawn while it awaits; a stale or tampered button changes nothing.
        for value in ("undo.20270631", "undo.x", "undo.20280101"):
            await account.answer(to, member_id, ClientInput(choice=value, step=KIT_STEP), None)
            assert (await keys_to(h, to))[-1] == "account.kit_not_undone"
        await account.answer(to, member_id, ClientInput(choice="undo.20270630", step=KIT_STEP), None)
        assert (await keys_to(h, to))[-1] == "account.kit_undone"
        (row,) = await h.rows(opticians, opticians.c.id == member_id)
        assert (row.kit_declared_on, row.kit_declared_at) == (None, None)
        await account.answer(to, member_id, ClientInput(choice="undo.20270630", step=KIT_STEP), None)
        assert (await keys_to(h, to))[-1] == "account.kit_not_undone"

        # A date declared, then corrected back to the recorded one: nothing left for an admin.
        assert await account.kit(to, member_id, "30 juin 2027") is True
        assert await account.kit(to, member_id, "31/12/2026") is True
        assert (await keys_to(h, to))[-1] == "account.kit_same"
        (row,) = await h.rows(opticians, opticians.c.id == member_id)
        assert (row.kit_declared_on, row.kit_expires_on) == (None, date(2026, 12, 31))


# --- the admin's decision, through the console's API --------------------------------------------------


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with serve_app(database_url, tmp_path) as served:
        for name, role in (("alice", "admin"), ("bob", "operator"), ("nina", "network")):
            await served.services.accounts.add(name, PASSWORD, role)  # type: ignore[arg-type]
        try:
            yield served
        finally:
            await _open_clients()


async def signed_in(app: Service, name: str) -> Staff:
    staff = Staff(app.base)
    assert (await staff.login(name)).status_code == 200
    return staff


async def _member(app: Service, chat: str, kit: date | None) -> tuple[str, int]:
    async with app.services.database.begin() as connection:
        row_id = (
            await connection.execute(
                sa.insert(opticians)
                .values(
                    public_id=f"opt{chat}",
                    name="Martine",
                    phone="06",
                    departments=["75"],
                    telegram_chat=chat,
                    kit_expires_on=kit,
                    kit_reminded_on=kit,
                    kit_reminded_days=3,
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(opticians.c.id)
            )
        ).scalar_one()
    return f"opt{chat}", int(row_id)


async def test_an_admin_confirms_or_refuses_a_declared_date(app: Service) -> None:
    account = app.services.members.account
    today = date.today()
    first, first_id = await _member(app, "9001", today + timedelta(days=2))
    second, second_id = await _member(app, "9002", None)
    new = today + timedelta(days=200)
    assert await account.kit(MemberChat("telegram", "9001"), first_id, f"/kit {new:%d/%m/%Y}")
    assert await account.kit(MemberChat("telegram", "9002"), second_id, f"/kit {new:%d/%m/%Y}")

    async with httpx.AsyncClient(base_url=app.base) as anonymous:
        assert (await anonymous.get("/api/console/kits/declared")).status_code == 401
        refused = await anonymous.post(
            f"/api/console/kits/declared/{first}/confirm", json={"declared_on": "2027-01-01"}
        )
        assert refused.status_code == 401
    alice, bob, nina = (
        await signed_in(app, "alice"),
        await signed_in(app, "bob"),
        await signed_in(app, "nina"),
    )
    for staff in (bob, nina):
        assert (await staff.get("/kits/declared")).status_code == 403
        assert (
            await staff.post(f"/kits/declared/{first}/confirm", {"declared_on": new.isoformat()})
        ).status_code == 403

    listed = (await alice.get("/kits/declared")).json()["kits"]
    assert [(k["optician_id"], k["declared_on"]) for k in listed] == [
        (first, new.isoformat()),
        (second, new.isoformat()),
    ]
    assert listed[0]["name"] == "Martine"

    # The date the admin saw, or 409: the member declared another meanwhile.
    stale = await alice.post(
        f"/kits/declared/{first}/confirm", {"declared_on": (new - timedelta(days=1)).isoformat()}
    )
    assert stale.status_code == 409
    assert (
        await alice.post("/kits/declared/nobody/confirm", {"declared_on": new.isoformat()})
    ).status_code == 404
    assert (await alice.post(f"/kits/declared/{first}/confirm", {"declared_on": "soon"})).status_code == 422

    confirmed = await alice.post(f"/kits/declared/{first}/confirm", {"declared_on": new.isoformat()})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {
        "optician_id": first,
        "decision": "confirmed",
        "kit_expires_on": new.isoformat(),
        "by": "alice",
    }
    refused = await alice.post(f"/kits/declared/{second}/refuse", {"declared_on": new.isoformat()})
    assert refused.json()["decision"] == "refused"
    assert refused.json()["kit_expires_on"] is None
    again = await alice.post(f"/kits/declared/{second}/refuse", {"declared_on": new.isoformat()})
    assert again.status_code == 409
    assert (await alice.get("/kits/declared")).json()["kits"] == []

    (row,) = await app.rows(opticians, opticians.c.id == first_id)
    assert (row.kit_expires_on, row.kit_declared_on, row.kit_declared_at) == (new, None, None)
    # The kit reminders key on the expiry date: the last one sent was about the old date.
    assert row.kit_reminded_on != row.kit_expires_on
    (row,) = await app.rows(opticians, opticians.c.id == second_id)
    assert (row.kit_expires_on, row.kit_declared_on) == (None, None)

    told = {m.party: m.payload["key"] for m in await _to_members(app)}
    assert told == {"9001": "account.kit_confirmed", "9002": "account.kit_refused"}
    journal = await app.rows(access_journal, access_journal.c.action == "member_kit")
    assert [(j.actor, j.detail) for j in journal] == [
        ("alice", f"confirm {first}"),
        ("alice", f"refuse {second}"),
    ]


async def _to_members(app: Service) -> list[sa.Row[tuple[object, ...]]]:
    from storage.tables import messages

    rows = await app.rows(messages, messages.c.direction == "out", messages.c.channel == "telegram")
    return [r for r in rows if r.payload["key"] in ("account.kit_confirmed", "account.kit_refused")]
