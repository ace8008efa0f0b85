"""The console's slot routes in the real app (issue 16): network staff and admins publish, list and
cancel; operators get 403, anonymous callers 401; bad input 422 in French; journaled. And
``optibot slots add|list|cancel`` in a separate process, with the same rules."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bot.engine import utcnow
from flows.types import SERVICE_TIME_ZONE
from storage.tables import access_journal, messages, opticians, video_slots
from tests.harness import harness
from tests.integration.serving import Service
from tests.integration.test_member_account import app, signed_in  # noqa: F401 (the fixture)
from tests.integration.test_video_slots import press
from tests.integration.test_waitlist_cli import optibot


def _tomorrow() -> str:
    return (utcnow().astimezone(SERVICE_TIME_ZONE) + timedelta(days=1)).date().isoformat()


async def test_network_staff_publish_list_and_cancel_slots(app: Service) -> None:  # noqa: F811
    async with httpx.AsyncClient(base_url=app.base) as anonymous:
        assert (await anonymous.get("/api/console/slots")).status_code == 401
        assert (await anonymous.post("/api/console/slots", json={})).status_code == 401
        assert (await anonymous.post("/api/console/slots/x/cancel")).status_code == 401
    bob, nina, alice = (
        await signed_in(app, "bob"),
        await signed_in(app, "nina"),
        await signed_in(app, "alice"),
    )
    day = _tomorrow()
    assert (await bob.get("/slots")).status_code == 403
    assert (await bob.post("/slots", {"date": day, "times": ["10:00"]})).status_code == 403
    nina_no_csrf = await nina.http.post("/api/console/slots", json={"date": day, "times": ["10:00"]})
    assert nina_no_csrf.status_code == 403

    for body in (
        {"date": day, "times": ["25:00"]},
        {"date": day, "times": []},
        {"date": day, "times": ["10:00", "10h00"]},  # the same slot twice
        {"date": "2020-01-01", "times": ["10:00"]},  # past
        {"date": day, "times": ["10:00"], "minutes": 500},
        {"date": "demain", "times": ["10:00"]},
    ):
        refused = await nina.post("/slots", body)
        assert refused.status_code == 422, (body, refused.text)
    assert "passé" in (await nina.post("/slots", {"date": "2020-01-01", "times": ["10:00"]})).json()["detail"]

    made = await nina.post("/slots", {"date": day, "times": ["14:30", "9:00", "10h"], "minutes": 45})
    assert made.status_code == 200, made.text
    slots = made.json()["slots"]
    hours = [datetime.fromisoformat(s["starts_at"]).astimezone(SERVICE_TIME_ZONE) for s in slots]
    assert [f"{h:%Y-%m-%d %H:%M}" for h in hours] == [f"{day} 09:00", f"{day} 10:00", f"{day} 14:30"]
    assert {(s["status"], s["minutes"], s["staff"], s["member"]) for s in slots} == {
        ("open", 45, "nina", None)
    }
    assert all(s["link"].startswith("https://meet.jit.si/optibot-") for s in slots)

    # A member takes the first; the list shows who and the link.
    async with app.services.database.begin() as connection:
        member_id = (
            await connection.execute(
                opticians.insert()
                .values(
                    public_id="optM",
                    name="Martine",
                    phone="06",
                    departments=["75"],
                    telegram_chat="9100",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                .returning(opticians.c.id)
            )
        ).scalar_one()
    from bot.members import MemberChat

    to = MemberChat("telegram", "9100")
    await app.services.members.slots.answer(to, int(member_id), press(slots[0]["id"]), None)
    listed = (await alice.get("/slots")).json()
    assert listed["minutes"] == 30
    first = next(s for s in listed["slots"] if s["id"] == slots[0]["id"])
    assert (first["status"], first["member"], first["member_id"]) == ("taken", "Martine", "optM")

    cancelled = await alice.post(f"/slots/{slots[0]['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert (await alice.post(f"/slots/{slots[0]['id']}/cancel")).status_code == 409
    assert (await alice.post("/slots/nothing/cancel")).status_code == 404
    told = await app.rows(messages, messages.c.party == "9100")
    assert [m.payload["key"] for m in told] == ["slots.booked", "slots.cancelled"]

    journal = await app.rows(access_journal, access_journal.c.action == "video_slot")
    assert [(j.actor, j.detail.split()[0]) for j in journal] == [("nina", "add")] * 3 + [("alice", "cancel")]


async def test_slots_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    code, out = await optibot(database_url, tmp_path, "slots", "add", "2020-01-01 10:00")
    assert code == 2
    assert "passé" in out
    code, out = await optibot(database_url, tmp_path, "slots", "add", "demain")
    assert code == 2
    assert "heure illisible" in out
    code, out = await optibot(
        database_url, tmp_path, "slots", "add", f"{_tomorrow()} 15:00", "--minutes", "40", "--by", "Claire"
    )
    assert code == 0, out
    public_id = out.split()[0]
    assert "40 min" in out
    assert "Claire" in out
    code, out = await optibot(database_url, tmp_path, "slots", "list", "--json")
    assert code == 0, out
    (listed,) = json.loads(out)
    assert (listed["id"], listed["status"], listed["staff"], listed["minutes"]) == (
        public_id,
        "open",
        "Claire",
        40,
    )
    assert listed["starts_at"].startswith(_tomorrow())
    code, out = await optibot(database_url, tmp_path, "slots", "cancel", public_id)
    assert code == 0, out
    code, out = await optibot(database_url, tmp_path, "slots", "cancel", public_id)
    assert code == 1
    code, out = await optibot(database_url, tmp_path, "slots", "cancel", "nothing")
    assert code == 2
    code, out = await optibot(database_url, tmp_path, "slots", "list")
    assert "cancelled" in out
    async with harness(database_url, tmp_path) as served:
        rows = await served.rows(video_slots)
        journal = await served.rows(access_journal, access_journal.c.action == "video_slot")
    assert [r.status for r in rows] == ["cancelled"]
    assert [j.actor.startswith("cli:") for j in journal] == [True, True]
