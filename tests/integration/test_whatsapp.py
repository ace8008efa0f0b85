"""The WhatsApp channel in the real app (uvicorn, engine, outbox, httpx) against the fake Graph API.

The fake signs the webhooks it sends (and sends them again on non-2xx, like Meta), enforces the
interactive limits and the 24-hour window with Meta's error shapes, and serves media.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.outbox import Delivered
from storage.tables import cases, clients, delivery_receipts, inbox, messages
from tests.fakes.whatsapp import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    FakeWhatsApp,
    GraphError,
    SentMessage,
    sign,
)
from tests.harness import RealClock
from tests.integration.serving import Service, serve_app
from tests.integration.test_console import PASSWORD, Staff, _open_clients
from tests.integration.test_conversations import tiny_png
from tests.integration.test_telegram import INSURANCE_CARD

ALICE = "33612345678"
BRUNO = "33698765432"
DAY = 24 * 3600


@contextlib.asynccontextmanager
async def serve(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp, **overrides: Any
) -> AsyncIterator[Service]:
    """The whole app with its WhatsApp channel pointed at the fake server, which calls its webhook."""
    values: dict[str, Any] = {
        "whatsapp_access_token": TOKEN,
        "whatsapp_phone_number_id": PHONE_NUMBER_ID,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_api_url": fake.base_url,
    }
    async with serve_app(database_url, tmp_path, **{**values, **overrides}) as service:
        fake.webhook_url = f"{service.base}/webhooks/whatsapp"
        service.fake = fake  # type: ignore[attr-defined]
        await service.services.accounts.add("alice", PASSWORD, "operator")
        try:
            yield service
        finally:
            await fake.settle()
            await _open_clients()


class Client:
    """A WhatsApp user talking to the bot through the fake server, reading its new messages."""

    def __init__(self, fake: FakeWhatsApp, wa_id: str = ALICE, user_id: str | None = None) -> None:
        self.fake = fake
        self.wa_id = wa_id
        self.user_id = user_id
        self.seen = 0

    async def say(self, text: str) -> None:
        await self.fake.say(self.wa_id, text, user_id=self.user_id)

    async def press(self, title: str) -> None:
        await self.fake.press(self.wa_id, title, user_id=self.user_id)

    async def expect(self, *fragments: str, within: float = 10.0) -> list[SentMessage]:
        """Wait for new messages, the last of which contains every fragment; returns them."""

        def arrived() -> bool:
            new = self.fake.messages_to(self.wa_id)[self.seen :]
            return bool(new) and all(f in new[-1].text for f in fragments)

        try:
            await self.fake.wait_for(arrived, within)
        except TimeoutError:
            texts = [m.text[:80] for m in self.fake.messages_to(self.wa_id)[self.seen :]]
            raise AssertionError(
                f"no message with {fragments}; new: {texts}\n{self.fake.describe()}"
            ) from None
        new = self.fake.messages_to(self.wa_id)[self.seen :]
        self.seen += len(new)
        return new


@pytest.fixture
async def fake() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp() as server:
        yield server


async def _rows(service: Service, table: sa.Table, *where: Any) -> list[Any]:
    return await service.rows(table, *where)


async def shipment_with_prescription(client: Client) -> str:
    """The whole conversation as a WhatsApp user has it: a list, buttons, free text and a
    prescription photo. Returns the case reference the bot gave."""
    await client.say("Bonjour")
    need = await client.expect("Quelle est votre urgence")
    assert need[-1].interactive_type == "list"  # five choices: a list
    assert ("need:unsuitable", "Plus adaptées") in need[-1].buttons
    await client.press("Plus adaptées")
    await client.expect("ordonnance")
    await client.fake.send_image(client.wa_id, tiny_png(), mime_type="image/png", user_id=client.user_id)
    urgency = await client.expect("urgen")
    assert urgency[-1].interactive_type == "button"
    assert [title for _, title in urgency[-1].buttons] == ["Oui", "Non"]
    await client.press("Oui")
    await client.expect("mobilisé")
    await client.say("pompier")
    mode = await client.expect("servi")
    assert "Envoi Chronopost" in [title for _, title in mode[-1].buttons]
    await client.press("Envoi Chronopost")
    await client.expect("adresse")
    await client.say("Route du Port, 20000 Ajaccio")
    await client.expect("nom")
    await client.say("Ange Pieri")
    await client.expect("numéro")
    await client.say("06 11 22 33 44")
    insurance = await client.expect("avez-vous une mutuelle")
    assert insurance[-1].interactive_type == "button"
    assert [title for _, title in insurance[-1].buttons] == ["Pas de mutuelle", "Passer"]
    await client.press("Pas de mutuelle")
    summary = await client.expect("Tout est correct")
    assert "Ange Pieri" in "".join(m.text for m in summary)
    assert "• Mutuelle : aucune" in summary[-1].text
    await client.press("Oui, envoyer")
    done = await client.expect("OB-")
    return done[-1].text.split("référence ", 1)[1].split()[0].rstrip(".")


async def _settle(service: Service) -> None:
    """Every stored message processed, every reply sent, every receipt pushed and applied."""
    whatsapp = service.services.whatsapp
    assert whatsapp is not None
    fake: FakeWhatsApp = service.fake  # type: ignore[attr-defined]
    await fake.settle()
    for _ in range(500):
        if service.services.engine.pipeline.pending() == 0:
            unsent = await _rows(
                service, messages, messages.c.direction == "out", messages.c.sent_at.is_(None)
            )
            # Receipts of a message that exists are applied; those of erased messages wait out
            # their day as orphans.
            waiting = await _rows(
                service,
                delivery_receipts,
                delivery_receipts.c.external_id.in_(
                    sa.select(messages.c.external_id).where(messages.c.external_id.is_not(None))
                ),
            )
            if not unsent and not waiting:
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the app did not settle")


async def _eventually(check: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _claimed(service: Service, reference: str) -> tuple[Staff, str]:
    (case,) = await _rows(service, cases, cases.c.reference == reference)
    alice = Staff(service.base)
    assert (await alice.login("alice")).status_code == 200
    assert (await alice.post(f"/cases/{case.public_id}/claim")).status_code == 200
    return alice, case.public_id


async def test_a_whole_conversation_then_an_operator_reply_inside_and_outside_the_window(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    client = Client(fake)
    clock = RealClock()  # the service's time, moved on as Meta's is (operators stay signed in)
    async with serve(database_url, tmp_path, fake, clock=clock, console_session_hours=48) as service:
        reference = await shipment_with_prescription(client)
        (case,) = await _rows(service, cases)
        assert case.reference == reference
        assert case.channel == "whatsapp"
        assert (case.need, case.mode, case.priority) == ("unsuitable", "shipment", "firefighter")
        assert case.contact_phone == "+33611223344"
        stored = service.services.files.read(case.prescription_path)
        assert stored == tiny_png()  # fetched with the bearer token, kept encrypted
        assert fake.media_downloads == 1
        # Every client message was marked read, and the receipts reached the transcript.
        received = await _rows(service, inbox, inbox.c.channel == "whatsapp")
        pseudonyms = service.services.engine.pseudonyms  # the inbox keeps ids as keyed hashes
        assert {r.external_id for r in received} <= {pseudonyms.of(m) for m in fake.read_marks}
        await _settle(service)
        sent = await _rows(service, messages, messages.c.direction == "out")
        assert all(m.delivered_at is not None for m in sent), fake.describe()
        await fake.read(ALICE)
        await _settle(service)
        assert all(
            m.read_at is not None for m in await _rows(service, messages, messages.c.direction == "out")
        )

        # An operator takes the case over and writes: the client receives it as a text.
        alice, case_id = await _claimed(service, reference)
        detail = (await alice.get(f"/cases/{case_id}")).json()
        assert detail["window"]["open"] is True
        assert (
            await alice.post(f"/cases/{case_id}/reply", {"text": "Bonjour, ici Alice."})
        ).status_code == 200
        (reply,) = await client.expect("Bonjour, ici Alice.")
        assert reply.type == "text"
        await _settle(service)
        detail = (await alice.get(f"/cases/{case_id}")).json()
        last = detail["messages"][-1]
        assert (last["text"], last["via"]) == ("Bonjour, ici Alice.", None)
        assert last["delivered_at"] is not None

        # The window closes between the two parts of a long question (its text, then its
        # buttons): the text went out, the rest goes as a template with the choices written
        # out, and nothing is sent twice.
        whatsapp = service.services.whatsapp
        assert whatsapp is not None
        fake.fail_next(131047, after=1)
        question = " ".join(f"Point {n} : vos lunettes sont prêtes." for n in range(40))
        choices = [{"value": "yes", "label": "Oui"}, {"value": "no", "label": "Non"}]
        payload = {"text": question, "choices": choices, "step": "confirm", "language": "fr"}
        delivered = await whatsapp.deliver(ALICE, payload)
        assert isinstance(delivered, Delivered)
        assert delivered.note["via"] == "template"
        parts = await client.expect("Oui / Non")
        assert [p.type for p in parts] == ["text", "template"]
        assert " ".join(p.text for p in parts) == f"{question} — (Oui / Non)"

        # A day and more later, the window is closed: the console says so and the reply goes
        # out as the approved template, which the client receives.
        fake.advance(DAY + 3600)
        clock.shift = timedelta(seconds=DAY + 3600)
        detail = (await alice.get(f"/cases/{case_id}")).json()
        assert detail["window"]["open"] is False
        answer = await alice.post(
            f"/cases/{case_id}/reply", {"text": "Votre colis part demain.\nBonne journée."}
        )
        assert answer.status_code == 200, answer.text
        (late,) = await client.expect("Votre colis part demain.")
        assert late.template == "optibot_suivi"
        await fake.wait_for(lambda: late.delivered)  # the client has it
        await _settle(service)
        last = (await alice.get(f"/cases/{case_id}")).json()["messages"][-1]
        assert last["via"] == "template"
        assert last["failed_at"] is None

        # A reply longer than a template holds goes out as several, in order, none cut short.
        long_reply = " ".join(f"Étape {n} de la livraison." for n in range(90))
        assert (await alice.post(f"/cases/{case_id}/reply", {"text": long_reply})).status_code == 200
        parts = await client.expect("Étape 89")
        assert len(parts) >= 2
        assert all(p.template == "optibot_suivi" for p in parts)
        numbered = [f"({n}/{len(parts)}) " for n in range(1, len(parts) + 1)]
        assert [p.text[: len(mark)] for p, mark in zip(parts, numbered, strict=True)] == numbered
        # cut between sentences, nothing lost
        assert all(p.text.endswith("livraison.") for p in parts)
        assert " ".join(p.text[len(m) :] for p, m in zip(parts, numbered, strict=True)) == long_reply


async def test_a_reply_meta_refuses_for_the_closed_window_goes_again_as_the_template(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    """The app believes the window open; Meta accepts the text, then reports 131047: the message
    is sent again as the template, once, and shows as sent, not failed."""
    client = Client(fake, BRUNO)
    async with serve(database_url, tmp_path, fake) as service:
        reference = await shipment_with_prescription(client)
        alice, case_id = await _claimed(service, reference)
        fake.advance(DAY + 60)  # only Meta's clock: our last message from the client is recent
        await alice.post(f"/cases/{case_id}/reply", {"text": "Avez-vous reçu notre SMS ?"})
        await client.fake.wait_for(lambda: any(m.template for m in fake.messages_to(BRUNO)))
        refused, again = fake.messages_to(BRUNO)[-2:]
        assert (refused.type, refused.failed, refused.errors[0]["code"]) == ("text", True, 131047)
        assert (again.template, again.text) == ("optibot_suivi", "Avez-vous reçu notre SMS ?")
        await _settle(service)

        async def last_message() -> dict[str, Any]:
            detail: dict[str, Any] = (await alice.get(f"/cases/{case_id}")).json()
            return detail["messages"][-1]  # type: ignore[no-any-return]

        async def sent_as_template() -> bool:
            last = await last_message()
            return (last["via"], last["failed_at"], last["sent_at"] is not None) == ("template", None, True)

        await _eventually(sent_as_template)
        await fake.wait_for(lambda: again.status == "delivered")
        # Meta sends the failure again: it names the refused text, not the template now standing in
        # for it. The client then reads the template; once that receipt is applied, the failure
        # stored before it has been looked at too (receipts are applied in the order they came).
        await fake.push_status(refused, "failed", error=GraphError(131047))
        await fake.read(BRUNO)

        def templates() -> list[SentMessage]:
            return [m for m in fake.messages_to(BRUNO) if m.template]

        async def read_or_sent_again() -> bool:
            return (await last_message())["read_at"] is not None or len(templates()) > 1

        await _eventually(read_or_sent_again)
        assert len(templates()) == 1  # the re-delivered failure does not send it a third time
        assert await sent_as_template()


async def test_forged_unsigned_or_tampered_webhooks_store_nothing(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        assert await fake.verify("subscribe", VERIFY_TOKEN, "1158201444") == (200, "1158201444")
        assert (await fake.verify("subscribe", "wrong-token", "1158201444"))[0] == 403
        assert (await fake.verify("unsubscribe", VERIFY_TOKEN, "1158201444"))[0] == 403

        inbound = fake.text_message(ALICE, "Bonjour")
        change = {
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "33100000000", "phone_number_id": PHONE_NUMBER_ID},
                "contacts": [inbound.contact],
                "messages": [inbound.message],
            },
        }
        body = json.dumps(
            {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
        )
        raw = body.encode()
        tampered = raw.replace(b"Bonjour", b"Bonsoir")
        for signature, payload in (
            (None, raw),  # unsigned
            ("sha256=" + "0" * 64, raw),  # forged
            (sign(raw, "not-the-app-secret"), raw),  # signed with another secret
            (sign(raw, APP_SECRET), tampered),  # changed after signing
            (sign(raw, APP_SECRET)[len("sha256=") :], raw),  # without its prefix
        ):
            assert await fake.post_raw(payload, signature) == 401
        # A webhook is stored before it is answered: a 401 means nothing was, nor will be.
        assert await _rows(service, inbox) == []
        assert await _rows(service, messages) == []
        assert fake.sent == []
        # The same bytes, rightly signed, are taken.
        assert await fake.post_raw(raw, sign(raw, APP_SECRET)) == 200
        await Client(fake).expect("Quelle est votre urgence")


async def test_a_redelivered_webhook_changes_nothing(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    client = Client(fake)
    async with serve(database_url, tmp_path, fake) as service:
        hello = await fake.say(ALICE, "Bonjour")
        await client.expect("Quelle est votre urgence")
        photo = await fake.send_image(ALICE, tiny_png(), mime_type="image/png")
        await _settle(service)
        client.seen = len(fake.messages_to(ALICE))
        before = (len(await _rows(service, inbox)), len(await _rows(service, messages)), len(fake.sent))
        for message in (hello, photo, hello):
            assert await fake.redeliver(message) == 200
        await _settle(service)
        after = (len(await _rows(service, inbox)), len(await _rows(service, messages)), len(fake.sent))
        assert after == before
        # A message after them is answered after whatever they caused: by then, nothing else came.
        await client.say("aide")
        (helped, *_) = await client.expect("Quelle est votre urgence")
        assert "répondez avec les boutons" in helped.text
        assert fake.media_downloads == 1  # the re-delivered photo is not fetched again

        # Meta may deliver a webhook again before the first delivery is answered: each fetches
        # the photo, one stores it, and the others leave no copy of it behind.
        hook = await fake.batch([fake.image_message(ALICE, tiny_png(), mime_type="image/png")], deliver=False)
        outcomes = await asyncio.gather(*(fake.redeliver(hook) for _ in range(3)))
        assert outcomes == [200, 200, 200]
        await _settle(service)
        files = sorted((tmp_path / "data" / "prescriptions").glob("*.enc"))
        stored = {(row.payload or {}).get("said", {}).get("media") for row in await _rows(service, inbox)}
        assert len(files) == 2  # the first photo and this one
        assert {f"prescriptions/{f.name}" for f in files} <= stored


async def test_a_batched_webhook_of_three_messages_from_two_clients_loses_none(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    alice, bruno = Client(fake, ALICE), Client(fake, BRUNO, user_id="FR.9f8e7d6c5b4a")
    async with serve(database_url, tmp_path, fake) as service:
        hook = await fake.batch(
            [
                fake.text_message(ALICE, "Bonjour"),
                fake.text_message(BRUNO, "Bonjour", user_id=bruno.user_id),
                fake.text_message(ALICE, "j'ai cassé mes lunettes"),
            ],
            entries=2,
        )
        assert len(hook.payload["entry"]) == 2
        assert hook.delivered
        stored = await _rows(service, inbox)
        assert len(stored) == 3  # all three stored before the 200
        await alice.expect("urgen")  # the second message answered the need question
        await bruno.expect("Quelle est votre urgence")
        # Bruno has a business-scoped id: he is known by it, and written to by it.
        assert {r.identity_key for r in stored} == {"whatsapp:33612345678", "whatsapp:FR.9f8e7d6c5b4a"}
        to_bruno = [c for c in fake.calls() if (c.json or {}).get("recipient") == "FR.9f8e7d6c5b4a"]
        assert to_bruno
        assert all("to" not in (c.json or {}) for c in to_bruno)


async def test_what_the_bot_cannot_read_gets_a_polite_answer_and_the_question_again(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    client = Client(fake)
    async with serve(database_url, tmp_path, fake):
        await client.say("Bonjour")
        question = await client.expect("Quelle est votre urgence")
        for send in (
            fake.send_sticker(ALICE),
            fake.send_audio(ALICE),
            fake.send_location(ALICE),
            fake.react(ALICE, question[-1].wamid, "👍"),
        ):
            await send
            answer = await client.expect("Quelle est votre urgence")
            assert any("ne sais pas lire ce type de message" in m.text for m in answer), [
                m.text for m in answer
            ]
        await client.say("x" * 50_000)  # 50 KB of nonsense: an answer, nothing lost
        await client.expect("Quelle est votre urgence")


async def test_meta_s_rate_limits_are_waited_out_and_failures_shown(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    client = Client(fake)
    async with serve(database_url, tmp_path, fake) as service:
        fake.fail_next(130429)  # the number's throughput
        fake.fail_next(131056)  # too many messages to this client
        await client.say("Bonjour")
        await client.expect("Quelle est votre urgence", within=20)
        refused = [c.error_code for c in fake.calls() if c.error_code]
        assert refused == [130429, 131056]
        await _settle(service)
        first, *_ = rows = await _rows(service, messages, messages.c.direction == "out")
        assert all(row.sent_at is not None for row in rows)
        assert first.attempts == 3  # refused twice, then sent

        # A message WhatsApp cannot deliver (131026) is marked failed, visibly.
        fake.fail_delivery_next(131026)
        await client.press("Lunettes cassées")
        await client.expect("urgen")
        await _settle(service)
        failed = await _rows(service, messages, messages.c.failed_at.is_not(None))
        assert len(failed) == 1
        assert failed[0].last_error.startswith("whatsapp 131026")
        (client_row,) = await _rows(service, clients)
        assert client_row.unreachable  # shown on the case in the queue
        # They write again (their app was updated): they can be reached again.
        await client.say("Oui")
        await client.expect("mobilisé")
        await _settle(service)
        (client_row,) = await _rows(service, clients)
        assert not client_row.unreachable


async def test_the_goodbye_after_an_erasure_is_inside_the_window(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    """Erasing the client's data removes their messages, not the fact that they just wrote: the
    goodbye goes out as a plain message, not as a template."""
    client = Client(fake)
    async with serve(database_url, tmp_path, fake) as service:
        await client.say("mes lunettes sont cassées")
        await client.expect("urgen")
        await client.say("supprimer mes données")
        question = await client.expect("vraiment effacer")
        assert question[-1].buttons == [
            ("confirm_delete:erase", "Oui, tout effacer"),
            ("confirm_delete:keep", "Non, garder"),
        ]
        await client.press("Oui, tout effacer")
        (goodbye,) = await client.expect("effacées")
        assert (goodbye.type, goodbye.template) == ("text", None)
        await _settle(service)
        assert await _rows(service, messages, messages.c.direction == "in") == []


async def test_a_webhook_not_stored_is_answered_503_and_taken_when_meta_sends_it_again(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    """The prescription photo cannot be fetched at first: the webhook answers 503 and nothing is
    stored; Meta's next delivery of it fetches the photo, and the conversation goes on."""
    client = Client(fake)
    async with serve(database_url, tmp_path, fake) as service:
        await client.say("Bonjour")
        await client.expect("Quelle est votre urgence")
        await client.press("Plus adaptées")
        await client.expect("ordonnance")
        fake.fail_media_next(status=500)
        fake.fail_media_next(status=429)  # too fast: not a reason to refuse the photo
        photo = await fake.send_image(ALICE, tiny_png(), mime_type="image/png")
        outcomes = [status for label, status in fake.webhook_attempts if photo["id"] in label]
        assert outcomes == [503, 503, 200]  # Meta's retries, until the file could be fetched
        await client.expect("urgen")
        assert fake.media_downloads == 1
        await _settle(service)
        hashed = service.services.engine.pseudonyms.of(photo["id"])
        stored = await _rows(service, inbox, inbox.c.external_id == hashed)
        assert len(stored) == 1
        said = stored[0].payload["said"]
        assert service.services.files.read(said["media"]) == tiny_png()


async def test_the_phone_step_offers_the_client_s_whatsapp_number_and_an_advisor_case_carries_it(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    client, chloe = Client(fake), Client(fake, "33781223344")
    bruno = Client(fake, BRUNO, user_id="FR.9f8e7d6c5b4a")  # a business-scoped id: no number
    async with serve(database_url, tmp_path, fake) as service:
        await client.say("mes lunettes sont cassées")
        await client.expect("Est-ce urgent")
        await client.press("Oui")
        await client.expect("mobilisé")
        await client.say("non")
        await client.expect("servi(e)")
        await client.press("Envoi Chronopost")
        await client.expect("adresse")
        await client.say("Route du Port, 20000 Ajaccio")
        await client.expect("nom")
        await client.say("Ange Pieri")
        question = await client.expect("numéro")
        assert question[-1].interactive_type == "button"
        assert question[-1].buttons == [("contact_phone:+33612345678", "Au 06 12 34 56 78")]
        await client.press("Au 06 12 34 56 78")
        await client.expect("avez-vous une mutuelle")
        # A photo of the card straight away: enough, the name is on it.
        await client.fake.send_image(client.wa_id, INSURANCE_CARD, user_id=client.user_id)
        summary = await client.expect("Tout est correct")
        assert "06 12 34 56 78" in summary[-1].text
        assert "• Mutuelle : voir la carte (carte reçue)" in summary[-1].text
        await client.press("Oui, envoyer")
        await client.expect("OB-")
        # Asking for an advisor before giving a number: the operator sees the WhatsApp number,
        # unless Meta gave a business-scoped id instead of it.
        for someone in (chloe, bruno):
            await someone.say("Bonjour")
            await someone.expect("Quelle est votre urgence")
            await someone.say("conseiller")
            await someone.expect("conseiller", "OB-")
        phones = {(c.kind, c.contact_phone) for c in await _rows(service, cases)}
        assert phones == {("emergency", "+33612345678"), ("advisor", "+33781223344"), ("advisor", None)}
        (visit,) = [c for c in await _rows(service, cases) if c.kind == "emergency"]
        assert (visit.insurance_status, visit.insurer) == ("insured", None)
        assert service.services.files.read(visit.insurance_card_path) == INSURANCE_CARD
