"""The client's side of a visit booked to the hour, through the fake Bot API on both databases: a
proposal's buttons answer their own case whatever conversation the client is in now (they may
have started a new request since), and only for that case's client."""

from __future__ import annotations

from pathlib import Path

from storage.tables import cases, conversations
from tests.fakes.telegram import FakeTelegram
from tests.integration.test_booking import (
    OPTICIAN,
    OTHER_HALF_DAY,
    PACED,
    _accepted,
    _appointment,
    _book_a_later_half_day,
    _watching,
    _windows,
)
from tests.integration.test_dispatch import CLIENT, VISIT_ANSWERED, fake, serve
from tests.integration.test_telegram import Client

__all__ = ["fake"]
STRANGER = 9002


async def test_after_a_new_request_the_first_case_s_proposal_is_still_answered(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        public_id, _ = await _accepted(fake, service)
        client = Client(fake, CLIENT)
        client.seen = len(fake.messages_to(CLIENT))
        # The client starts a new request: a new conversation, at the intake's first question.
        await fake.say(CLIENT, "nouvelle demande")
        await client.expect(VISIT_ANSWERED[0], within=15)
        assert len(await service.rows(conversations)) == 2

        # The optician proposes an hour (of a later half-day: not over before the client answers);
        # it reaches the client's current conversation.
        optician = Client(fake, OPTICIAN)
        optician.seen = len(fake.messages_to(OPTICIAN))
        await fake.press_button(OPTICIAN, OTHER_HALF_DAY)
        question = (await optician.expect("Quelle demi-journée proposer", within=15))[-1]
        await fake.press_button(OPTICIAN, str(question.buttons()[-1]["text"]))
        hours = (await optician.expect("Quelle heure proposer", within=15))[-1]
        await fake.press_button(OPTICIAN, _windows([str(b["text"]) for b in hours.buttons()])[0])
        proposal = (await client.expect("propose de venir", within=15))[-1]

        # Someone else pressing a copy of the button gets nothing of this case.
        await fake.say(STRANGER, "bonjour")
        await Client(fake, STRANGER).expect(VISIT_ANSWERED[0], within=15)
        stranger = Client(fake, STRANGER)
        stranger.seen = len(fake.messages_to(STRANGER))
        await fake.press(STRANGER, f"rdv.{public_id}.1:rdv_ok")
        await stranger.expect("n'est plus valable", within=15)  # the intake's stale button
        assert (await _appointment(service)).status == "proposed"

        # The client's press confirms the first case's visit; their new request is left as it was.
        await fake.press(CLIENT, f"rdv.{public_id}.1:rdv_ok", message_id=proposal.message_id)
        await client.expect("C'est confirmé", "Anne viendra", within=15)
        assert (await _appointment(service)).status == "confirmed"
        fresh = max(await service.rows(conversations), key=lambda row: row.id)
        assert (fresh.state, fresh.owner) == ("need", "bot")

        # "Annuler la visite" from there too: asked first, with buttons naming the case.
        await fake.press_button(CLIENT, "Annuler la visite")
        question = (await client.expect("Voulez-vous vraiment annuler", within=PACED))[-1]
        first = min(await service.rows(cases), key=lambda row: row.id)
        assert first.reference in question.text
        await fake.press_button(CLIENT, "Oui, l'annuler")
        await client.expect("est annulée", within=PACED)
        # Told not to come, then the calendar's cancellation (a message and its file) may follow.
        told = lambda: any("n'y allez pas" in m.text for m in fake.messages_to(OPTICIAN))  # noqa: E731
        await fake.wait_for(told, 15)
        first = min(await service.rows(cases), key=lambda row: row.id)
        assert (first.status, (await _appointment(service)).status) == ("cancelled", "cancelled")
        fresh = max(await service.rows(conversations), key=lambda row: row.id)
        assert (fresh.state, fresh.owner) == ("need", "bot")

        # And the new request goes on where it was.
        await fake.say(CLIENT, "mes lunettes sont cassées")
        await client.expect(VISIT_ANSWERED[1], within=PACED)


async def test_a_yes_to_move_a_visit_that_can_no_longer_move_says_so_and_reaches_the_advisors(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        await _accepted(fake, service)
        client, optician = _watching(fake)
        await _book_a_later_half_day(fake, client, optician)
        await fake.say(CLIENT, "on peut reporter la visite ?")
        question = (await client.expect("Voulez-vous déplacer le rendez-vous ?", within=15))[-1]
        (case,) = await service.rows(cases)
        assert case.client_wrote_at is not None  # the request reached the advisors at once

        # Before the client answers, the optician reports the visit impossible.
        await fake.press_button(OPTICIAN, "Visite impossible")
        await optician.expect("Pourquoi la visite", within=15)
        await fake.press_button(OPTICIAN, "Autre empêchement")
        await client.expect("n'a pas pu venir", within=15)
        assert (await _appointment(service)).status == "impossible"

        await fake.press(CLIENT, "move_asked:yes", message_id=question.message_id)
        await client.expect("ne peut plus être déplacé", within=15)
        assert (await _appointment(service)).status == "impossible"
