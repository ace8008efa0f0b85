"""The console and a client's personal data: erasure and export by an admin, the access journal,
and what the queue shows of a client who writes after hand-off."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storage.tables import access_journal, case_notes, cases, messages
from tests.integration.serving import Service, serve_app
from tests.integration.test_console import (
    PASSWORD,
    LiveStream,
    Staff,
    _case_by_web_chat,
    _open_clients,
    _settle,
    _signed_in,
)

NAME = "Jeanne Martin"
PHONE = "+33698765432"
STREET = "8 avenue Jean Jaurès"
INSURER = "Malakoff Humanis"  # tests.integration.test_console.SHIPMENT's


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with serve_app(database_url, tmp_path) as service:
        await service.services.accounts.add("alice", PASSWORD, "admin")
        await service.services.accounts.add("bob", PASSWORD, "operator")
        try:
            yield service
        finally:
            await _open_clients()


async def _journal(app: Service) -> list[Any]:
    return await app.rows(access_journal)


async def _lines(staff: Staff, **params: Any) -> dict[str, Any]:
    response = await staff.get("/journal", **params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


class TestErasure:
    async def test_an_admin_erases_a_live_case_and_nothing_of_the_client_is_left(self, app: Service) -> None:
        client, case_id = await _case_by_web_chat(app, NAME)
        alice, bob = await _signed_in(app, "alice"), await _signed_in(app, "bob")
        assert (await bob.post(f"/cases/{case_id}/claim")).status_code == 200
        await bob.post(f"/cases/{case_id}/notes", {"text": f"{NAME} rappellera au {PHONE}"})
        await client.say("Je suis joignable au 06 98 76 54 32")
        await _settle(app)

        refused = await bob.post(f"/cases/{case_id}/erase")
        assert refused.status_code == 403
        assert refused.json()["detail"] == "réservé aux administrateurs"
        assert (await app.rows(cases))[0].contact_name == NAME  # nothing happened

        erased = await alice.post(f"/cases/{case_id}/erase")
        assert erased.status_code == 200, erased.text
        detail = erased.json()
        assert (detail["status"], detail["anonymised"]) == ("cancelled", True)
        assert detail["reference"].startswith("XX-")
        assert detail["messages"] == []
        assert detail["notes"] == []
        for field in ("contact_name", "contact_phone", "address", "postal_code", "cancel_reason"):
            assert detail[field] is None, field
        assert NAME not in json.dumps(detail)
        assert INSURER not in json.dumps(detail)

        (row,) = await app.rows(cases)
        assert row.status == "cancelled"
        assert row.anonymised_at is not None
        personal = (
            "contact_name",
            "contact_phone",
            "address",
            "postal_code",
            "prescription_path",
            "insurance_status",
            "insurer",
            "insurance_card_path",
        )
        assert [getattr(row, c) for c in personal] == [None] * len(personal)
        assert row.client_wrote_at is None
        assert row.cancel_reason is None
        assert await app.rows(messages, messages.c.conversation_id == row.conversation_id) == []
        assert await app.rows(case_notes) == []
        everything = " ".join(str(m.text) for m in await app.rows(messages))
        assert NAME not in everything
        assert "54 32" not in everything
        assert STREET not in everything
        assert INSURER not in everything

        again = await alice.post(f"/cases/{case_id}/erase")
        assert again.status_code == 409
        assert again.json()["detail"] == "les données de ce client sont déjà effacées"
        assert (await alice.post("/cases/nope/erase")).status_code == 404
        lines = [(j.actor, j.action, j.detail) for j in await _journal(app) if j.action == "erase"]
        assert lines == [("alice", "erase", "admin")]
        # The holder's queue and open case are told: the case left the open queue.
        assert (await bob.get("/cases")).json()["cases"] == []

    async def test_an_admin_exports_the_clients_whole_record_as_a_download(self, app: Service) -> None:
        _, case_id = await _case_by_web_chat(app, NAME)
        alice, bob = await _signed_in(app, "alice"), await _signed_in(app, "bob")
        assert (await bob.get(f"/cases/{case_id}/export")).status_code == 403
        assert [j for j in await _journal(app) if j.action == "export"] == []

        response = await alice.get(f"/cases/{case_id}/export")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["content-disposition"].startswith("attachment; filename=")
        assert response.headers["content-disposition"].endswith('.json"')
        assert "no-store" in response.headers["cache-control"]
        record = response.json()
        (case,) = record["cases"]
        assert case["contact_name"] == NAME
        assert case["contact_phone"] == PHONE
        assert (case["insurance_status"], case["insurer"]) == ("insured", INSURER)
        assert record["conversations"][0]["transcript"][0]["text"] == "bonjour"
        (line,) = [j for j in await _journal(app) if j.action == "export"]
        assert (line.actor, line.detail, line.case_id) == ("alice", "admin", (await app.rows(cases))[0].id)


class TestAccessJournal:
    async def test_views_prescriptions_exports_and_erasures_are_journaled_without_data(
        self, app: Service
    ) -> None:
        _, case_id = await _case_by_web_chat(app, NAME)
        from tests.integration.test_conversations import tiny_png

        path = app.services.files.save(tiny_png())
        async with app.services.database.begin() as connection:
            await connection.execute(cases.update().values(prescription_path=path))
        alice, bob = await _signed_in(app, "alice"), await _signed_in(app, "bob")
        reference = (await app.rows(cases))[0].reference

        # The live view fetches the open case again and again: one line per operator and case.
        for _ in range(3):
            assert (await alice.get(f"/cases/{case_id}")).status_code == 200
        await bob.get(f"/cases/{case_id}")
        views = [(j.actor, j.action) for j in await _journal(app)]
        assert views == [("alice", "view_case"), ("bob", "view_case")]
        # Ten minutes later, the same operator opening it again is a new line.
        async with app.services.database.begin() as connection:
            for line in await _journal(app):
                older = line.at - timedelta(minutes=11)
                await connection.execute(
                    access_journal.update().where(access_journal.c.id == line.id).values(at=older)
                )
        await alice.get(f"/cases/{case_id}")
        assert [j.actor for j in await _journal(app) if j.action == "view_case"] == ["alice", "bob", "alice"]
        # Actions answer the case too, but they are not views.
        await bob.post(f"/cases/{case_id}/claim")
        assert len([j for j in await _journal(app) if j.action == "view_case"]) == 3

        prescription = (await bob.get(f"/cases/{case_id}")).json()["prescription"]
        assert (await bob.http.get(prescription["url"])).content == tiny_png()
        await alice.get(f"/cases/{case_id}/export")

        assert (await bob.get("/journal")).status_code == 403
        page = await _lines(alice)
        newest = [(line["actor"], line["action"], line["case"]) for line in page["lines"][:2]]
        assert newest == [("alice", "export", reference), ("bob", "prescription", reference)]
        assert page["before"] is None
        text = json.dumps(page)
        assert NAME not in text
        assert PHONE not in text
        assert "Jaurès" not in text

        await alice.post(f"/cases/{case_id}/erase")
        page = await _lines(alice)
        erase = page["lines"][0]
        assert (erase["actor"], erase["action"], erase["detail"]) == ("alice", "erase", "admin")
        assert erase["anonymised"] is True
        assert erase["case"] is None
        assert all(line["anonymised"] and line["case"] is None for line in page["lines"])
        assert [line["action"] for line in page["lines"]][-3:] == ["view_case"] * 3

    async def test_the_journal_pages_back_with_before(self, app: Service) -> None:
        async with app.services.database.begin() as connection:
            await connection.execute(
                sa.insert(access_journal),
                [
                    {
                        "at": app.services.console.clock(),
                        "actor": "cli:root",
                        "action": "export",
                        "detail": None,
                    }
                    for _ in range(60)
                ],
            )
        alice = await _signed_in(app, "alice")
        first = await _lines(alice)
        assert len(first["lines"]) == 50
        assert first["before"] == first["lines"][-1]["id"]
        second = await _lines(alice, before=first["before"])
        assert len(second["lines"]) == 10
        assert second["before"] is None
        ids = [line["id"] for line in first["lines"] + second["lines"]]
        assert ids == sorted(ids, reverse=True)
        assert len(set(ids)) == 60
        assert second["lines"][0]["case"] is None
        assert second["lines"][0]["anonymised"] is False


class TestClientWrites:
    async def test_the_queue_shows_the_client_wrote_until_the_holder_answers(self, app: Service) -> None:
        client, case_id = await _case_by_web_chat(app)
        bob = await _signed_in(app, "bob")
        assert (await bob.get("/cases")).json()["cases"][0]["client_wrote_at"] is None
        await bob.post(f"/cases/{case_id}/claim")
        live = LiveStream(bob, lambda event, data: event == "client_wrote")
        await live.ready()
        await client.say("Vous avez reçu ma photo ?")
        events = await live.end()
        told = json.loads(next(data for event, data in events if event == "client_wrote"))
        (summary,) = (await bob.get("/cases")).json()["cases"]
        assert told == {"id": case_id, "reference": summary["reference"]}
        assert summary["client_wrote_at"] is not None
        assert (await bob.get(f"/cases/{case_id}")).json()["client_wrote_at"] is not None

        answered = await bob.post(f"/cases/{case_id}/reply", {"text": "Oui, merci."})
        assert answered.json()["client_wrote_at"] is None
        assert (await bob.get("/cases")).json()["cases"][0]["client_wrote_at"] is None

    async def test_a_reopened_case_is_queued_with_its_last_operator(self, app: Service) -> None:
        client, case_id = await _case_by_web_chat(app)
        bob = await _signed_in(app, "bob")
        await bob.post(f"/cases/{case_id}/claim")
        assert (await bob.post(f"/cases/{case_id}/done")).json()["status"] == "done"
        await _settle(app)
        await client.say("Finalement les lunettes ne vont pas")
        await _settle(app)
        (summary,) = (await bob.get("/cases")).json()["cases"]
        assert (summary["id"], summary["status"], summary["claimed_by"]) == (case_id, "queued", "bob")
        assert summary["reopened_at"] is not None
        assert summary["client_wrote_at"] is not None
        detail = (await bob.get(f"/cases/{case_id}")).json()
        assert detail["mine"] is False
        assert (await bob.post(f"/cases/{case_id}/claim")).json()["mine"] is True

    async def test_a_case_the_client_cancels_shows_cancelled_with_its_reason(self, app: Service) -> None:
        client, case_id = await _case_by_web_chat(app)
        bob = await _signed_in(app, "bob")
        await bob.post(f"/cases/{case_id}/claim")
        await client.say("annuler")
        await _settle(app)
        await client.say("oui")
        await _settle(app)
        detail = (await bob.get(f"/cases/{case_id}")).json()
        assert (detail["status"], detail["cancel_reason"]) == ("cancelled", "Annulée par le client.")
