"""The members' desk through the fake Bot API (the real app, aiogram, engine and outbox), on both
databases: a linked optician files a request with a document from their Telegram chat, a
re-delivered update changes nothing, and a later message joins the request's thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.tables import clients, inbox, member_messages, member_requests, member_sessions, video_slots
from tests.fakes.telegram import FakeTelegram
from tests.integration.test_dispatch import _optician, serve
from tests.integration.test_member_desk_scripts import PDF
from tests.integration.test_telegram import Client

MEMBER = 7301


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(chat_limit=(40, 1.0)) as server:
        yield server


async def _settled(fake: FakeTelegram, within: float = 10.0) -> None:
    """Every update the fake holds was taken and confirmed (the next getUpdates moved past it)."""
    deadline = time.monotonic() + within
    while fake.pending_updates:
        assert time.monotonic() < deadline, "the updates were not confirmed"
        await asyncio.sleep(0.02)


async def _shown(fake: FakeTelegram, fragment: str) -> None:
    """A pressed button's answer replaces the message it was on: wait until the chat's last
    message (as edited) says ``fragment``."""

    def edited() -> bool:
        last = fake.last_to(MEMBER)
        return last is not None and fragment in last.text

    await fake.wait_for(edited, 10)


async def _file_a_request(fake: FakeTelegram, member: Client) -> None:
    await fake.say(MEMBER, "/menu")
    await member.expect("Espace membres")
    await fake.press_button(MEMBER, "Demander un accompagnement")
    await _shown(fake, "De quel accompagnement")
    await fake.press_button(MEMBER, "Avance sur commissions")
    await _shown(fake, "quel montant")
    await fake.say(MEMBER, "3 000 €")
    await member.expect("décrivez votre situation")
    await fake.say(MEMBER, "Mes ventes ont chuté de moitié, je voudrais une avance.")
    await member.expect("joindre un document")


async def test_a_member_files_a_request_with_a_document_and_writes_to_it_later(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        await _optician(fake, service, MEMBER, "Claire Martin", ["75"])
        member = Client(fake, MEMBER)
        member.seen = len(fake.messages_to(MEMBER))
        await _file_a_request(fake, member)
        sent = await fake.send_document(MEMBER, PDF, "bilan.pdf", "application/pdf")
        summary = await member.expect("Voici votre demande", "3 000 €", "bilan.pdf")
        assert [b["text"] for b in summary[-1].buttons()] == ["Envoyer", "Modifier", "Annuler"]

        # The document's update again (Telegram did not hear the answer): nothing is fetched or
        # stored again, nothing is said.
        await _settled(fake)
        stored = await service.rows(inbox)
        await fake.push(sent)
        await _settled(fake)
        assert len(await service.rows(inbox)) == len(stored)
        assert len(fake.calls("getFile")) == 1
        async with service.services.database.connect() as connection:
            state = await connection.scalar(sa.select(member_sessions.c.state))
        assert state == "summary"

        await fake.press_button(MEMBER, "Envoyer")
        await _shown(fake, "Sa référence : A-")
        told = [fake.last_to(MEMBER)]
        (request,) = await service.rows(member_requests)
        assert request.reference in told[-1].text
        assert (request.kind, request.amount_cents, request.status) == ("commission_advance", 300000, "new")
        assert request.document_name == "bilan.pdf"
        assert service.services.files.read(request.document_path) == PDF  # encrypted at rest, kept

        await fake.say(MEMBER, "J'ai aussi un prêt en cours.")
        await member.expect(f"Transmis à l'équipe du réseau (demande {request.reference})")
        thread = await service.rows(member_messages, member_messages.c.request_id == request.id)
        assert [(m.kind, m.author) for m in thread] == [("event", "bot"), ("in", "member")]
        assert thread[-1].text == "J'ai aussi un prêt en cours."
        # A linked optician's chat is the members' line: no client, no case was made of it.
        assert await service.rows(clients) == []

        # Staff answered it; the member writes again: the ball is back in staff's court.
        async with service.services.database.begin() as connection:
            await connection.execute(sa.update(member_requests).values(status="answered"))
        await fake.say(MEMBER, "Merci, et pour le mois prochain ?")

        async def thread_of_three() -> bool:
            found = await service.rows(member_messages, member_messages.c.request_id == request.id)
            return len(found) == 3

        deadline = time.monotonic() + 10
        while not await thread_of_three():
            assert time.monotonic() < deadline, "the member's second message did not reach the thread"
            await asyncio.sleep(0.02)
        (request,) = await service.rows(member_requests)
        assert request.status == "in_progress"


async def test_a_pressed_button_redelivered_changes_nothing(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        await _optician(fake, service, MEMBER, "Claire Martin", ["75"])
        member = Client(fake, MEMBER)
        member.seen = len(fake.messages_to(MEMBER))
        await _file_a_request(fake, member)
        await fake.press_button(MEMBER, "Passer")
        await _shown(fake, "Voici votre demande")
        pressed = await fake.press_button(MEMBER, "Envoyer")
        await _shown(fake, "Sa référence")
        member.seen = len(fake.messages_to(MEMBER))
        await _settled(fake)
        await fake.push(pressed)  # the same update_id again
        await _settled(fake)
        await fake.say(MEMBER, "/menu")  # a definite signal that the re-delivery was handled first
        await member.expect("Espace membres")
        assert len(await service.rows(member_requests)) == 1
        assert not any("référence" in m.text for m in fake.messages_to(MEMBER)[member.seen :])
        assert len(fake.calls("editMessageText")) == 4  # menu → kind → amount; skip → summary → sent


SLOT_RACES = 100


def _last_text(fake: FakeTelegram, chat: int) -> str:
    last = fake.last_to(chat)
    return last.text if last is not None else ""


async def test_two_members_pressing_one_slot_over_the_fake_bot_api_one_books_it(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    """Over HTTP to the fake Bot API (aiogram polling, the real app): in each race two members open
    the menu's video follow-up and press the same slot's button at once; one books it (its link),
    the other is told it was just taken. 0 double bookings in 100 races (and 100 more through the
    channel's inbound without HTTP: tests/integration/test_video_slots_telegram.py)."""
    async with serve(database_url, tmp_path, fake) as service:
        slots = service.services.members.slots
        for race in range(SLOT_RACES):
            chats = (8000 + 2 * race, 8001 + 2 * race)
            for n, chat in enumerate(chats):
                await _optician(fake, service, chat, f"Membre {race} {n}", ["75"])
            (slot,) = await slots.publish(
                [datetime.now(UTC) + timedelta(hours=3, minutes=race)], minutes=None, staff="Julie", by="t"
            )
            lists = []
            for chat in chats:
                member = Client(fake, chat)
                member.seen = len(fake.messages_to(chat))
                await fake.say(chat, "/menu")
                await member.expect("Espace membres")
                await fake.press_button(chat, "Réserver une visio de suivi")
                await fake.wait_for(lambda chat=chat: "prochains créneaux" in _last_text(fake, chat), 10)
                shown = fake.last_to(chat)
                assert shown is not None
                lists.append(shown)
            data = f"m.slot:{slot.id}"
            await asyncio.gather(
                *(
                    fake.press(chat, data, message_id=shown.message_id)
                    for chat, shown in zip(chats, lists, strict=True)
                )
            )

            def answered(chat: int) -> str | None:
                text = _last_text(fake, chat)
                if "C'est réservé" in text:
                    return "booked"
                if "vient d'être pris" in text:
                    return "taken"
                return None

            await fake.wait_for(lambda chats=chats: all(answered(c) for c in chats), 15)
            assert sorted(str(answered(c)) for c in chats) == ["booked", "taken"], race
        taken = await service.rows(video_slots)
        assert [r.status for r in taken] == ["taken"] * SLOT_RACES
        assert len({r.optician_id for r in taken}) == SLOT_RACES
