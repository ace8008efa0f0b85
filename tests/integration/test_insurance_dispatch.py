"""The client's insurance and a home visit, through the fake Bot API, on both databases: never in an
offer, told to the optician who accepted with the card's photo attached (a copy stored as the
visit's calendar file is, erased with the case)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.tables import cases, messages
from tests.fakes.telegram import FakeTelegram
from tests.integration.serving import Service
from tests.integration.test_conversations import tiny_png
from tests.integration.test_dispatch import CLIENT, _dispatch, _drained, _offers_to, _optician, serve
from tests.integration.test_telegram import Client

ANNE, BRUNO = 301, 302
# The intake of a home visit up to the phone, each line with what the bot's answer to it says.
TO_THE_INSURANCE = [
    ("bonjour", "Quelle est votre urgence"),
    ("mes lunettes sont cassées", "Est-ce urgent"),
    ("oui c'est urgent", "Faites-vous partie"),
    ("non", "Comment souhaitez-vous être servi"),
    ("à domicile", "Seul un opticien équipé"),
    ("j'accepte", "À quelle adresse l'opticien"),
    ("12 rue Oberkampf 75011 Paris", "Quelle demi-journée"),
    ("dès que possible", "À quel nom"),
    ("Marie Curie", "À quel numéro"),
    ("06 12 34 56 78", "avez-vous une mutuelle"),
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(chat_limit=(40, 1.0)) as server:  # as tests/integration/test_dispatch.py
        yield server


async def _insured_visit(fake: FakeTelegram, service: Service) -> str:
    """A client over Telegram asks for a home visit, names the MGEN and sends the card's photo;
    the case's public id."""
    client = Client(fake, CLIENT)
    for text, answered in TO_THE_INSURANCE:
        await fake.say(CLIENT, text)
        await client.expect(answered, within=15)
    await fake.say(CLIENT, "MGEN")
    await client.expect("photo de votre carte de mutuelle", within=15)
    await fake.send_photo(CLIENT, tiny_png())
    await client.expect("Mutuelle : MGEN (carte reçue)", within=15)  # the summary
    await fake.say(CLIENT, "oui")
    await client.expect("référence", within=15)
    (case,) = await service.rows(cases)
    assert (case.mode, case.insurer) == ("visit", "MGEN")
    assert case.insurance_card_path
    return str(case.public_id)


def _everything_to(fake: FakeTelegram, chat: int) -> str:
    """Every text, edit, button and file name an optician's chat was shown."""
    shown = []
    for message in fake.messages_to(chat):
        shown.append(message.text)
        shown += [str(edit) for edit in message.edits]
        shown += [str(button) for button in message.buttons()]
        shown.append(str(message.media or ""))
    return "\n".join(shown)


async def test_the_offer_never_carries_the_insurance_and_the_winner_gets_it_with_the_card(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        await _optician(fake, service, ANNE, "Anne Paris", ["75"])
        await _optician(fake, service, BRUNO, "Bruno Paris", ["75"])
        case_id = await _insured_visit(fake, service)
        await _dispatch(service, case_id)
        await fake.wait_for(lambda: bool(_offers_to(fake, ANNE)) and bool(_offers_to(fake, BRUNO)))
        await _drained(service)
        for chat in (ANNE, BRUNO):
            (offer,) = _offers_to(fake, chat)
            assert "Paris" in offer
            shown = _everything_to(fake, chat).casefold()
            assert "mgen" not in shown
            assert "mutuelle" not in shown
            assert fake.documents_to(chat) == []
            buttons = fake.messages_to(chat)[-1].buttons()
            assert [b["text"] for b in buttons] == ["J'accepte", "Je refuse"]
            assert all("mutuelle" not in str(b).casefold() for b in buttons)

        await fake.press_button(ANNE, "J'accepte")
        await fake.wait_for(lambda: bool(fake.documents_to(ANNE)), 15)
        (case,) = await service.rows(cases)
        (brief,) = [m for m in fake.messages_to(ANNE) if "est pour vous" in m.text]
        assert "Marie Curie" in brief.text
        assert "Mutuelle : MGEN (carte reçue)." in brief.text
        assert fake.documents_to(ANNE) == [(f"carte-mutuelle-{case.reference}.png", tiny_png())]
        await _drained(service)
        # The optician who did not take it learns nothing of it, and gets no file.
        assert "mgen" not in _everything_to(fake, BRUNO).casefold()
        assert fake.documents_to(BRUNO) == []

        # The copy sent is a file of its own, with the exports (purged after a day), named by a
        # row about the case: erasing the client deletes it with the card itself.
        (sent,) = [m for m in await service.rows(messages) if (m.payload or {}).get("document")]
        copy = sent.payload["document"]["path"]
        assert copy.startswith("exports/")
        assert copy != case.insurance_card_path
        assert sent.case_id == case.id
        data = tmp_path / "data"
        assert (data / copy).is_file()
        assert tiny_png() not in (data / copy).read_bytes()  # encrypted at rest
        await service.services.engine.privacy.erase(case.client_id, actor="test", detail="test")
        assert not (data / copy).exists()
        assert not (data / case.insurance_card_path).exists()


async def test_a_visit_without_a_card_is_briefed_without_a_file(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        await _optician(fake, service, ANNE, "Anne Paris", ["75"])
        client = Client(fake, CLIENT)
        for text, answered in TO_THE_INSURANCE:
            await fake.say(CLIENT, text)
            await client.expect(answered, within=15)
        await fake.say(CLIENT, "pas de mutuelle")
        await client.expect("Mutuelle : aucune", within=15)
        await fake.say(CLIENT, "oui")
        await client.expect("référence", within=15)
        (case,) = await service.rows(cases)
        await _dispatch(service, str(case.public_id))
        await fake.wait_for(lambda: bool(_offers_to(fake, ANNE)))
        await fake.press_button(ANNE, "J'accepte")
        await fake.wait_for(lambda: any("est pour vous" in m.text for m in fake.messages_to(ANNE)), 15)
        (brief,) = [m for m in fake.messages_to(ANNE) if "est pour vous" in m.text]
        assert "Mutuelle : aucune." in brief.text
        await _drained(service)
        assert fake.documents_to(ANNE) == []
