"""The client's insurance on the console's case page, on both databases: the insurer, whether it is
a listed one and its kind, and the card behind its own route, for staff only, every download
journaled like the prescription's."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.messages import Inbound
from flows.types import ClientInput
from storage.tables import access_journal, cases, identities
from tests.integration.serving import Service, serve_app
from tests.integration.test_console import PASSWORD, _http, _open_clients, _signed_in
from tests.integration.test_conversations import tiny_png
from tests.integration.test_insurance_case import TO_THE_INSURANCE


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    async with serve_app(database_url, tmp_path) as service:
        await service.services.accounts.add("alice", PASSWORD, "admin")
        await service.services.accounts.add("bob", PASSWORD, "operator")
        try:
            yield service
        finally:
            await _open_clients()


async def _case(app: Service, user: str, *answers: str | bytes) -> str:
    """A case through the engine: the intake to the insurance question, then ``answers`` (a text,
    or the bytes of a photo) and the summary confirmed; its public id."""
    engine = app.services.engine
    for said in (*TO_THE_INSURANCE, *answers, "oui"):
        if isinstance(said, bytes):
            given = ClientInput(media=app.services.files.save(said))
        else:
            given = ClientInput(text=said)
        await engine.handle(Inbound("script", user, uuid.uuid4().hex, given))
    (identity,) = await app.rows(identities, identities.c.key == f"script:{user}")
    (case,) = await app.rows(cases, cases.c.client_id == identity.client_id)
    return str(case.public_id)


async def test_the_case_page_shows_the_insurer_and_links_the_card_for_staff_only(app: Service) -> None:
    case_id = await _case(app, "insured", "la MGEN", tiny_png())
    bob = await _signed_in(app, "bob")
    page = (await bob.get(f"/cases/{case_id}")).json()
    insurance = page["insurance"]
    assert insurance == {
        "status": "insured",
        "insurer": "MGEN",
        "listed": True,
        "kind": "mutuelle",
        "card": {"url": f"/api/console/cases/{case_id}/insurance-card", "kind": "image"},
    }
    # The queue does not carry it (nor anything personal).
    queue = (await bob.get("/cases")).json()["cases"]
    assert [c["id"] for c in queue] == [case_id]
    assert "insurance" not in queue[0]
    assert "MGEN" not in json.dumps(queue)

    assert (await _http(app.base).get(insurance["card"]["url"])).status_code == 401
    before = [j for j in await app.rows(access_journal) if j.action == "insurance_card"]
    assert before == []  # reading the page is not opening the card
    card = await bob.http.get(insurance["card"]["url"])
    assert card.status_code == 200
    assert card.content == tiny_png()
    assert card.headers["content-type"] == "image/png"
    assert card.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in card.headers["content-security-policy"]
    assert card.headers["content-disposition"] == 'inline; filename="carte-mutuelle.png"'
    await bob.http.get(insurance["card"]["url"])
    (row,) = await app.rows(cases, cases.c.public_id == case_id)
    opened = [(j.actor, j.action, j.case_id, j.client_id) for j in await app.rows(access_journal)]
    assert opened.count(("bob", "insurance_card", row.id, row.client_id)) == 2  # every download
    alice = await _signed_in(app, "alice")
    journal = (await alice.get("/journal")).json()["lines"]
    assert [line["action"] for line in journal][:2] == ["insurance_card", "insurance_card"]
    assert "MGEN" not in json.dumps(journal)


async def test_a_name_kept_as_typed_none_and_skipped_read_so(app: Service) -> None:
    typed = await _case(app, "typed", "Mutuelle Zorglub du Var", "passer")
    none = await _case(app, "none", "pas de mutuelle")
    skipped = await _case(app, "skipped", "passer")
    bob = await _signed_in(app, "bob")
    assert (await bob.get(f"/cases/{typed}")).json()["insurance"] == {
        "status": "insured",
        "insurer": "Mutuelle Zorglub du Var",
        "listed": False,
        "kind": None,
        "card": None,
    }
    assert (await bob.get(f"/cases/{typed}/insurance-card")).status_code == 404
    expected = {"insurer": None, "listed": False, "kind": None, "card": None}
    assert (await bob.get(f"/cases/{none}")).json()["insurance"] == {"status": "none", **expected}
    assert (await bob.get(f"/cases/{skipped}")).json()["insurance"] == {"status": "skipped", **expected}
    # A case from before the question: nothing to show.
    async with app.services.database.begin() as connection:
        before = cases.update().where(cases.c.public_id == none)
        await connection.execute(before.values(insurance_status=None))
    assert (await bob.get(f"/cases/{none}")).json()["insurance"] is None
    assert [j for j in await app.rows(access_journal) if j.action == "insurance_card"] == []
