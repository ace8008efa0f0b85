"""The Réseau queue (issue 16) through the real app, its console API and the fake Bot API, on both
databases: the queue and its filters, every staff action and the member told of each step in their
Telegram chat, a member's message reaching the thread, the claim race, the take-over, the document
download journaled, the live stream (network staff hear the requests, operators never do)."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.engine import utcnow
from storage import member_requests as store
from storage.database import Connection
from storage.tables import access_journal, member_messages, member_requests, opticians
from tests.fakes.telegram import FakeTelegram
from tests.integration.serving import Service
from tests.integration.test_console import PASSWORD, LiveStream, Staff, _case_by_web_chat, _open_clients
from tests.integration.test_dispatch import _optician, serve
from tests.integration.test_dispatch import fake as fake  # the fixture
from tests.integration.test_waitlist_cli import optibot

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
_letters = itertools.count()


@dataclass
class Desk:
    service: Service
    fake: FakeTelegram

    async def member(self, chat: int, name: str, departments: list[str]) -> int:
        """A member: an optician linked to a Telegram chat; their row id."""
        public_id = await _optician(self.fake, self.service, chat, name, departments)
        (row,) = await self.service.rows(opticians, opticians.c.public_id == public_id)
        return int(row.id)

    async def file(
        self,
        optician_id: int,
        chat: int,
        kind: str = "state_aid",
        *,
        age: timedelta = timedelta(0),
        amount_cents: int | None = None,
        months: int | None = None,
        document: bytes | None = None,
    ) -> str:
        """A request as the members' desk files it (bot/members/desk.py); its public id."""
        now = utcnow() - age
        path = self.service.services.files.save(document, folder="members") if document else None
        public_id = secrets.token_hex(8)
        async with self.service.services.database.begin() as connection:
            await connection.execute(
                sa.insert(member_requests).values(
                    public_id=public_id,
                    reference=f"A-T{next(_letters):05d}",
                    optician_id=optician_id,
                    channel="telegram",
                    chat=str(chat),
                    kind=kind,
                    amount_cents=amount_cents,
                    months=months,
                    details="Ma trésorerie est à sec depuis mars.",
                    document_path=path,
                    document_name="bilan.png" if path else None,
                    status="new",
                    created_at=now,
                    updated_at=now,
                )
            )
        self.service.services.wakeup.notify()
        return public_id

    async def member_writes(self, public_id: str, text: str) -> None:
        """What the desk does with a member's message on an open request."""
        async with self.service.services.database.begin() as connection:
            found = await store.request_of(connection, public_id)
            assert found is not None
            await store.add_to_thread(connection, found.id, "in", "member", text, utcnow())
            await store.member_wrote(connection, found.id, utcnow())
        self.service.services.wakeup.notify()

    def told(self, chat: int) -> list[str]:
        return [m.text for m in self.fake.messages_to(chat) if "relié" not in m.text]

    async def told_that(self, chat: int, fragment: str) -> None:
        await self.fake.wait_for(lambda: any(fragment in t for t in self.told(chat)), 10)


@pytest.fixture
async def desk(database_url: str, tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[Desk]:
    async with serve(database_url, tmp_path, fake) as service:
        accounts = service.services.accounts
        await accounts.add("alice", PASSWORD, "admin")
        await accounts.add("bob", PASSWORD, "operator")
        await accounts.add("nina", PASSWORD, "network")
        await accounts.add("noe", PASSWORD, "network")
        try:
            yield Desk(service, fake)
        finally:
            await _open_clients()


async def signed_in(desk: Desk, name: str) -> Staff:
    staff = Staff(desk.service.base)
    assert (await staff.login(name)).status_code == 200
    return staff


async def test_the_queue_every_step_and_the_member_told_of_each(desk: Desk) -> None:
    anne = await desk.member(201, "Anne Martin", ["75", "92"])
    paul = await desk.member(202, "Paul Roux", ["69"])
    old = await desk.file(paul, 202, "other", age=timedelta(hours=3))
    advance = await desk.file(anne, 201, "commission_advance", age=timedelta(hours=1), amount_cents=500000)
    nina = await signed_in(desk, "nina")

    listed = (await nina.get("/members/requests")).json()
    assert [r["id"] for r in listed["requests"]] == [old, advance]  # new ones, oldest first
    assert listed["next"] is None
    first = listed["requests"][1]
    assert (first["member"], first["kind"], first["status"], first["claimed_by"]) == (
        "Anne Martin",
        "commission_advance",
        "new",
        None,
    )
    # Filters and pages.
    assert [r["id"] for r in (await nina.get("/members/requests", department="92")).json()["requests"]] == [
        advance
    ]
    assert [r["id"] for r in (await nina.get("/members/requests", kind="other")).json()["requests"]] == [old]
    page = (await nina.get("/members/requests", limit=1)).json()
    assert ([r["id"] for r in page["requests"]], page["next"]) == ([old], old)
    rest = (await nina.get("/members/requests", limit=1, after=old)).json()
    assert [r["id"] for r in rest["requests"]] == [advance]
    assert (await nina.get("/members/requests", kind="cakes")).status_code == 422
    assert (await nina.get("/members/requests", department="Paris")).status_code == 422
    assert (await nina.get("/members/requests/nothing")).status_code == 404

    # Nothing before a claim: a reply or a status is refused, politely.
    assert (await nina.post(f"/members/requests/{advance}/reply", {"text": "Bonjour"})).status_code == 409
    claimed = await nina.post(f"/members/requests/{advance}/claim")
    assert claimed.status_code == 200, claimed.text
    assert (claimed.json()["status"], claimed.json()["claimed_by"], claimed.json()["mine"]) == (
        "in_progress",
        "nina",
        True,
    )
    assert claimed.json()["moves"] == ["answered", "closed"]
    await desk.told_that(201, "est prise en charge par l'équipe")
    # The claimed one now comes after the new one; "mine" and "unclaimed".
    assert [r["id"] for r in (await nina.get("/members/requests")).json()["requests"]] == [old, advance]
    assert [r["id"] for r in (await nina.get("/members/requests", mine="true")).json()["requests"]] == [
        advance
    ]
    assert [r["id"] for r in (await nina.get("/members/requests", unclaimed="true")).json()["requests"]] == [
        old
    ]

    replied = await nina.post(
        f"/members/requests/{advance}/reply", {"text": "Pouvez-vous nous envoyer vos relevés ?"}
    )
    assert replied.status_code == 200, replied.text
    await desk.told_that(201, "Pouvez-vous nous envoyer vos relevés ?")
    reference = claimed.json()["reference"]
    assert any(reference in t and "nina" in t for t in desk.told(201))
    await nina.post(f"/members/requests/{advance}/notes", {"text": "Dossier solide, voir avec la direction"})
    answered = await nina.post(f"/members/requests/{advance}/status", {"status": "answered"})
    assert answered.json()["status"] == "answered"
    await desk.told_that(201, "a reçu une réponse")

    # The member writes again: the request is in progress again, their words in the thread.
    await desk.member_writes(advance, "Voici mes relevés, merci")
    detail = (await nina.get(f"/members/requests/{advance}")).json()
    assert detail["status"] == "in_progress"
    assert [(line["kind"], line["author"]) for line in detail["thread"]] == [
        ("event", "nina"),
        ("out", "nina"),
        ("note", "nina"),
        ("event", "nina"),
        ("in", "member"),
    ]
    assert detail["member_card"] == {
        "name": "Anne Martin",
        "phone": "+33611223344",
        "departments": ["75", "92"],
        "kit_expires_on": detail["member_card"]["kit_expires_on"],
        "channel": "telegram",
    }
    assert detail["amount_cents"] == 500000

    # An amount goes only with a granted advance; a status outside the table is refused.
    refused = await nina.post(
        f"/members/requests/{advance}/outcome", {"outcome": "refused", "amount_euros": 10}
    )
    assert refused.status_code == 422
    assert (await nina.post(f"/members/requests/{advance}/status", {"status": "new"})).status_code == 422
    closed = await nina.post(
        f"/members/requests/{advance}/outcome",
        {"outcome": "granted", "amount_euros": 3000, "message": "Le virement part vendredi."},
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["outcome"], closed.json()["outcome_amount_cents"]) == (
        "closed",
        "granted",
        300000,
    )
    await desk.told_that(201, "est close : accordée (3\u202f000\u00a0€)")
    assert any("Le virement part vendredi." in t for t in desk.told(201))
    # Closed: no more replies, no status; the member was told nothing of the note.
    assert (await nina.post(f"/members/requests/{advance}/reply", {"text": "Encore"})).status_code == 409
    assert (await nina.post(f"/members/requests/{advance}/status", {"status": "answered"})).status_code == 409
    assert not any("Dossier solide" in t for t in desk.told(201))
    # The out line names the outbound row that carried it.
    outs = await desk.service.rows(member_messages, member_messages.c.kind == "out")
    assert [line.message_id is not None for line in outs] == [True]
    assert [r["id"] for r in (await nina.get("/members/requests", status="closed")).json()["requests"]] == [
        advance
    ]


async def test_the_document_is_read_by_staff_and_every_read_journaled(desk: Desk) -> None:
    anne = await desk.member(211, "Anne Martin", ["75"])
    with_file = await desk.file(anne, 211, document=PNG)
    without = await desk.file(anne, 211)
    nina = await signed_in(desk, "nina")
    got = await nina.get(f"/members/requests/{with_file}/document")
    assert got.status_code == 200
    assert (got.content, got.headers["content-type"]) == (PNG, "image/png")
    assert got.headers["cache-control"] == "private, no-store"
    # Never run as a page of the console's origin, never sniffed into something else.
    assert got.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == 'inline; filename="document.png"'
    assert (await nina.get(f"/members/requests/{without}/document")).status_code == 404
    journal = await desk.service.rows(access_journal, access_journal.c.action == "member_document")
    (reference,) = [
        r["reference"]
        for r in (await nina.get("/members/requests")).json()["requests"]
        if r["id"] == with_file
    ]
    assert [(line.actor, line.detail) for line in journal] == [("nina", reference)]


async def test_of_two_staff_claiming_at_once_exactly_one_wins(desk: Desk) -> None:
    anne = await desk.member(221, "Anne Martin", ["75"])
    nina, noe = await signed_in(desk, "nina"), await signed_in(desk, "noe")
    for _ in range(15):
        public_id = await desk.file(anne, 221)
        answers = await asyncio.gather(
            nina.post(f"/members/requests/{public_id}/claim"),
            noe.post(f"/members/requests/{public_id}/claim"),
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        lost = next(a for a in answers if a.status_code == 409)
        assert "tenue par" in lost.json()["detail"]
        (row,) = await desk.service.rows(member_requests, member_requests.c.public_id == public_id)
        assert row.status == "in_progress"
    # The member was told once per request, not once per click.
    await desk.fake.wait_for(lambda: len([t for t in desk.told(221) if "prise en charge" in t]) >= 15, 15)
    assert len([t for t in desk.told(221) if "prise en charge" in t]) == 15


async def test_a_claim_read_before_another_staff_claimed_and_released_tells_the_member_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Noé reads the request while it is new; Nina claims it and releases it before Noé's UPDATE:
    Noé's claim wins, and the member is not told "prise en charge" a second time."""
    anne = await desk.member(226, "Anne Martin", ["75"])
    public_id = await desk.file(anne, 226)
    async with desk.service.services.database.connect() as connection:
        seen_new = await store.request_of(connection, public_id)
    assert seen_new is not None
    assert seen_new.status == "new"
    nina, noe = await signed_in(desk, "nina"), await signed_in(desk, "noe")
    assert (await nina.post(f"/members/requests/{public_id}/claim")).status_code == 200
    assert (await nina.post(f"/members/requests/{public_id}/release")).status_code == 200
    read, stale = store.request_of, [seen_new]

    async def read_before_nina(connection: Connection, wanted: str) -> store.RequestRow | None:
        return stale.pop() if stale else await read(connection, wanted)

    monkeypatch.setattr(store, "request_of", read_before_nina)
    claimed = await noe.post(f"/members/requests/{public_id}/claim")
    monkeypatch.undo()
    assert (claimed.status_code, claimed.json()["claimed_by"], stale) == (200, "noe", [])
    # Noé's reply reaches the chat after anything his claim said: then count.
    assert (await noe.post(f"/members/requests/{public_id}/reply", {"text": "Je suis là"})).status_code == 200
    await desk.told_that(226, "Je suis là")
    assert len([t for t in desk.told(226) if "prise en charge" in t]) == 1


async def test_staff_take_over_a_request_and_the_chat_with_it(desk: Desk) -> None:
    anne = await desk.member(231, "Anne Martin", ["75"])
    public_id = await desk.file(anne, 231, "royalty_deferral", months=3)
    nina, noe, alice = (
        await signed_in(desk, "nina"),
        await signed_in(desk, "noe"),
        await signed_in(desk, "alice"),
    )
    assert (await nina.post(f"/members/requests/{public_id}/claim")).status_code == 200
    # Noé may not reply, release or close what Nina holds; a take-over from someone else: 409.
    assert (await noe.post(f"/members/requests/{public_id}/reply", {"text": "Bonjour"})).status_code == 409
    assert (await noe.post(f"/members/requests/{public_id}/release")).status_code == 409
    assert (await noe.post(f"/members/requests/{public_id}/takeover", {"from": "alice"})).status_code == 409
    taken = await noe.post(f"/members/requests/{public_id}/takeover", {"from": "nina"})
    assert taken.status_code == 200, taken.text
    assert (taken.json()["claimed_by"], taken.json()["mine"]) == ("noe", True)
    assert taken.json()["thread"][-1]["text"] == "noe reprend la demande (tenue par nina)"
    own = await noe.post(f"/members/requests/{public_id}/takeover", {})
    assert (own.status_code, own.json()["detail"]) == (409, "vous tenez déjà la demande")
    # Now Nina is the one refused; Noé speaks to the member.
    assert (
        await nina.post(f"/members/requests/{public_id}/reply", {"text": "Toujours là"})
    ).status_code == 409
    assert (
        await noe.post(f"/members/requests/{public_id}/reply", {"text": "Je reprends votre dossier"})
    ).status_code == 200
    await desk.told_that(231, "Je reprends votre dossier")
    assert not any("Toujours là" in t for t in desk.told(231))
    # Two take-overs from Noé at once: one wins.
    answers = await asyncio.gather(
        alice.post(f"/members/requests/{public_id}/takeover", {"from": "noe"}),
        nina.post(f"/members/requests/{public_id}/takeover", {"from": "noe"}),
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = next(a for a in answers if a.status_code == 200).json()["claimed_by"]
    # An admin releases anyone's request; then anyone may claim it again (the member not told again).
    assert (await alice.post(f"/members/requests/{public_id}/release")).status_code == 200, winner
    again = await noe.post(f"/members/requests/{public_id}/claim")
    assert again.json()["status"] == "in_progress"
    months = await noe.post(f"/members/requests/{public_id}/outcome", {"outcome": "granted", "months": 3})
    assert months.status_code == 200, months.text
    await desk.told_that(231, "est close : accordée (3 mois)")
    assert len([t for t in desk.told(231) if "prise en charge" in t]) == 1
    # Closed, it keeps who handled it: no release, even by an admin; no take-over.
    for staff in (noe, alice):
        gone = await staff.post(f"/members/requests/{public_id}/release")
        assert (gone.status_code, gone.json()["detail"]) == (409, "la demande est close")
    assert (await alice.post(f"/members/requests/{public_id}/takeover", {})).status_code == 409
    assert (await noe.get(f"/members/requests/{public_id}")).json()["claimed_by"] == "noe"


async def test_the_live_stream_tells_network_staff_and_admins_not_operators(desk: Desk) -> None:
    anne = await desk.member(241, "Anne Martin", ["75"])
    nina, bob, alice = (
        await signed_in(desk, "nina"),
        await signed_in(desk, "bob"),
        await signed_in(desk, "alice"),
    )
    network = LiveStream(nina, lambda event, data: event == "member_requests")
    admin = LiveStream(alice, lambda event, data: event == "member_requests")
    operator = LiveStream(bob, lambda event, data: event == "queue")
    for stream in (network, admin, operator):
        await stream.ready()
    public_id = await desk.file(anne, 241)
    assert ("member_requests", "{}") in await network.end()
    assert ("member_requests", "{}") in await admin.end()
    # A client's case afterwards: the operator's stream tells it, and told nothing before it.
    await _case_by_web_chat(desk.service)
    seen = await operator.end(20)
    assert ("queue", "{}") in seen
    assert all(event != "member_requests" for event, _ in seen)
    # Network staff hear a member's message; never of client cases, even while a client writes
    # (the admin's stream, open alongside, hears that client).
    network = LiveStream(nina, lambda event, data: event == "member_requests")
    beside = LiveStream(alice, lambda event, data: event == "queue")
    for stream in (network, beside):
        await stream.ready()
    await _case_by_web_chat(desk.service, "Marie Curie")
    assert ("queue", "{}") in await beside.end(20)
    await desk.member_writes(public_id, "Une précision")
    assert [event for event, _ in await network.end()] == ["ready", "member_requests"]


async def test_the_command_line_lists_what_the_console_lists(
    desk: Desk, database_url: str, tmp_path: Path
) -> None:
    anne = await desk.member(251, "Anne Martin", ["75"])
    first = await desk.file(anne, 251, "video", age=timedelta(hours=2))
    await desk.file(anne, 251, "short_time")
    nina = await signed_in(desk, "nina")
    assert (await nina.post(f"/members/requests/{first}/claim")).status_code == 200
    code, out = await optibot(database_url, tmp_path, "requests", "list", "--json")
    assert code == 0, out
    assert json.loads(out) == (await nina.get("/members/requests")).json()["requests"]
    code, out = await optibot(database_url, tmp_path, "requests", "list", "--json", "--status", "in_progress")
    assert [r["id"] for r in json.loads(out)] == [first]
    code, out = await optibot(database_url, tmp_path, "requests", "list")
    assert (code, "Anne Martin" in out, "nina" in out) == (0, True, True), out
    reference = json.loads((await nina.get(f"/members/requests/{first}")).text)["reference"]
    code, out = await optibot(database_url, tmp_path, "requests", "show", reference)
    assert (code, reference in out, "prise en charge" in out) == (0, True, True), out
    code, out = await optibot(database_url, tmp_path, "requests", "show", "A-NOPE99")
    assert (code, "demande inconnue" in out) == (1, True), out


async def test_closed_requests_are_purged_with_their_documents_after_their_delay(desk: Desk) -> None:
    anne = await desk.member(261, "Anne Martin", ["75"])
    old, recent, still_open = [await desk.file(anne, 261, document=PNG) for _ in range(3)]
    for public_id in (old, recent):
        async with desk.service.services.database.begin() as connection:
            closed_at = utcnow() - (timedelta(days=731) if public_id == old else timedelta(days=10))
            await connection.execute(
                sa.update(member_requests)
                .where(member_requests.c.public_id == public_id)
                .values(status="closed", closed_at=closed_at)
            )
            found = await store.request_of(connection, public_id)
            assert found is not None
            await store.add_to_thread(connection, found.id, "in", "member", "merci", utcnow())
    (path,) = [r.document_path for r in await desk.service.rows(member_requests) if r.public_id == old]
    stored = desk.service.services.settings.optibot_data_dir / path
    assert stored.exists()
    privacy = desk.service.services.engine.privacy
    done = await privacy.purge()
    await privacy.settled()
    assert done.member_requests == 1
    assert path in done.files
    assert sorted(r.public_id for r in await desk.service.rows(member_requests)) == sorted(
        [recent, still_open]
    )
    assert len(await desk.service.rows(member_messages)) == 1
    assert not stored.exists()
