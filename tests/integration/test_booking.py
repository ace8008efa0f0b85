"""A home visit booked to the hour, through the fake Bot API on both databases: the optician picks a
one-hour window (or another half-day), the client confirms or asks for another moment, both are
told."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bot.engine import utcnow
from flows.types import SERVICE_TIME_ZONE
from storage.tables import appointments, cases, messages
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN, FakeWhatsApp
from tests.fakes.whatsapp import TOKEN as WA_TOKEN
from tests.harness import RealClock
from tests.integration.serving import Service
from tests.integration.test_dispatch import (
    ALICE,
    CLIENT,
    VISIT,
    VISIT_ANSWERED,
    _dispatch,
    _drained,
    _offers_to,
    _optician,
    _visit_case,
    assert_every_row_names_its_case,
    fake,
    serve,
)
from tests.integration.test_telegram import Client
from tests.integration.test_whatsapp import Client as WhatsAppClient

__all__ = ["fake"]
OPTICIAN = 1101
WINDOW = re.compile(r"(\d+)h–(\d+)h")
OTHER_HALF_DAY = "Proposer une autre demi-journée"
WA_CLIENT = "33612345678"


async def _accepted(fake: FakeTelegram, service: Service) -> tuple[str, list[str]]:
    """Anne accepts the client's visit; the case's public id and the labels of her brief's buttons."""
    await _optician(fake, service, OPTICIAN, "Anne Martin", ["75"])
    case_id = await _visit_case(fake, service)
    await _dispatch(service, case_id)
    await fake.wait_for(lambda: bool(_offers_to(fake, OPTICIAN)))
    await fake.press_button(OPTICIAN, "J'accepte")
    brief = (await Client(fake, OPTICIAN).expect("est pour vous", within=15))[-1]
    assert "Quelle heure proposer au client" in brief.text
    return case_id, [str(b["text"]) for b in brief.buttons()]


def _watching(fake: FakeTelegram) -> tuple[Client, Client]:
    """The client's and the optician's chats, read from their next message on."""
    client, optician = Client(fake, CLIENT), Client(fake, OPTICIAN)
    client.seen, optician.seen = len(fake.messages_to(CLIENT)), len(fake.messages_to(OPTICIAN))
    return client, optician


# How long to wait for a message to the client once their chat is past its burst (20 messages in
# under a second: the intake and the booking, walked at a test's speed): from then on its messages
# are paced, one a second on average, as Telegram requires.
PACED = 30


async def _appointment(service: Service) -> Any:
    (row,) = await service.rows(appointments)
    return row


def _last_with(fake: FakeTelegram, chat: int, fragment: str) -> Any:
    return next(m for m in reversed(fake.messages_to(chat)) if fragment in m.text)


class LockOrder:
    """What each committed transaction of the service locked, in order: "conversation" (the
    client's conversation's advisory lock: PostgreSQL only, SQLite has one writer), "case" (a
    write of a case's row), "appointment" (of its appointment's). Every path that writes an
    appointment takes them in that order (PostgreSQL would otherwise deadlock two of them
    waiting on each other)."""

    def __init__(self, service: Service) -> None:
        self.open: dict[int, list[str]] = {}
        self.committed: list[list[str]] = []
        engine = service.services.database.sync_engine
        self.postgres = engine.dialect.name == "postgresql"
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", lambda conn: self.committed.append(self.open.pop(id(conn), [])))
        event.listen(engine, "rollback", lambda conn: self.open.pop(id(conn), None))

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split(None, 3)[:3]
        table = words[1] if words[:1] == ["UPDATE"] else words[2] if words[:2] == ["INSERT", "INTO"] else ""
        name = {"cases": "case", "appointments": "appointment"}.get(table.strip('"'))
        if "pg_advisory_xact_lock" in statement:
            name = "conversation"
        if name is not None:
            self.open.setdefault(id(conn), []).append(name)

    def assert_one_order(self) -> None:
        writes = [t for t in self.committed if "appointment" in t]
        assert writes
        names = ("conversation", "case", "appointment") if self.postgres else ("case", "appointment")
        for locks in writes:
            firsts = [locks.index(name) for name in names]
            assert firsts == sorted(firsts), locks


async def dispatch_reminder(service: Service, optician: Client) -> None:
    """The reminder due now is sent (by this sweep or the service's own), the optician has it."""
    await service.services.dispatch.remind()
    await optician.expect("Rappel", within=15)


def _windows(labels: list[str]) -> list[str]:
    return [label for label in labels if WINDOW.fullmatch(label)]


async def test_a_visit_booked_to_the_hour_is_confirmed_to_both(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    clock = RealClock()
    async with serve(database_url, tmp_path, fake, clock=clock) as service:
        locks = LockOrder(service)
        case_id, labels = await _accepted(fake, service)
        windows = _windows(labels)
        assert labels == [*windows, OTHER_HALF_DAY, "Visite faite", "Visite impossible"]
        # The client is told who took the visit: the first name, and the moment as they asked it.
        told = (await Client(fake, CLIENT).expect("a pris votre demande", within=15))[-1]
        assert "Anne" in told.text
        assert "Martin" not in told.text
        assert "dès que possible" in told.text
        starts = [int(WINDOW.fullmatch(w)[1]) for w in windows]  # type: ignore[index]
        # One-hour windows inside one half-day: the morning 8–12, or the afternoon 13–18.
        assert set(starts) <= {8, 9, 10, 11} or set(starts) <= {13, 14, 15, 16, 17}
        assert all(int(WINDOW.fullmatch(w)[2]) == int(WINDOW.fullmatch(w)[1]) + 1 for w in windows)  # type: ignore[index]
        client = Client(fake, CLIENT)
        client.seen = len(fake.messages_to(CLIENT))
        await fake.press_button(OPTICIAN, windows[0])
        proposal = (await client.expect("Anne", "propose de venir", f"entre {starts[0]}h", within=15))[-1]
        assert "Martin" not in proposal.text  # the first name only
        assert [b["text"] for b in proposal.buttons()] == ["Je confirme", "Proposer un autre moment"]
        await Client(fake, OPTICIAN).expect("C'est proposé au client", within=15)
        row = await _appointment(service)
        assert (row.status, row.hour, row.proposal, row.proposed_by) == ("proposed", starts[0], 1, "optician")

        # The console's case page shows the appointment, and its version moves with it (live views).
        console = service.services.console
        detail = await console.case(ALICE, str(case_id))
        assert detail.appointment is not None
        assert (detail.appointment.status, detail.appointment.hour) == ("proposed", starts[0])
        version = await console.version(str(case_id))
        # "En route" before the client confirmed (a crafted press): refused, the client is not told.
        optician = Client(fake, OPTICIAN)
        optician.seen = len(fake.messages_to(OPTICIAN))
        await fake.press(
            OPTICIAN, f"visit:{case_id}.route", message_id=fake.messages_to(OPTICIAN)[-1].message_id
        )
        await optician.expect("pas de rendez-vous confirmé", within=15)
        assert (await _appointment(service)).status == "proposed"

        await fake.press_button(CLIENT, "Je confirme")
        await client.expect("C'est confirmé", "Anne viendra", f"entre {starts[0]}h", within=15)
        assert await console.version(str(case_id)) != version
        detail = await console.case(ALICE, str(case_id))
        assert detail.appointment is not None
        assert detail.appointment.status == "confirmed"
        assert detail.appointment.day == row.day.isoformat()
        # The optician: the confirmation, then the visit's calendar file (its own message).
        await fake.wait_for(lambda: bool(fake.documents_to(OPTICIAN)), 15)
        confirmation = _last_with(fake, OPTICIAN, "Rendez-vous confirmé")
        assert "Oberkampf" in confirmation.text
        assert f"entre {starts[0]}h" in confirmation.text
        assert [b["text"] for b in confirmation.buttons()] == ["Je suis en route", "Visite impossible"]
        ((name, ics),) = fake.documents_to(OPTICIAN)
        (case,) = await service.rows(cases)
        assert name == f"visite-{case.reference}.ics"
        event = ics.decode()
        assert event.startswith("BEGIN:VCALENDAR\r\n")
        row = await _appointment(service)
        start = datetime.combine(row.day, time(starts[0]), tzinfo=SERVICE_TIME_ZONE).astimezone(UTC)
        assert f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\n" in event
        assert "LOCATION:12 rue Oberkampf 75011 Paris\r\n" in event
        assert (row.status, row.hour) == ("confirmed", starts[0])
        assert row.confirmed_at is not None
        # On the way: only on the visit's day (Paris time); then the client is told, with the first
        # name, and the optician gets the visit's outcome.
        visit_day = datetime.combine(row.day, time(starts[0]), tzinfo=SERVICE_TIME_ZONE)
        if visit_day.date() != clock().astimezone(SERVICE_TIME_ZONE).date():
            refused = Client(fake, OPTICIAN)
            refused.seen = len(fake.messages_to(OPTICIAN))
            await fake.press_button(OPTICIAN, "Je suis en route")
            await refused.expect("se dit le jour même", within=15)
            assert (await _appointment(service)).status == "confirmed"
            clock.shift = visit_day - timedelta(minutes=30) - utcnow()
            if row.remind_at is not None:  # the morning reminder goes first (the service's sweep)
                await dispatch_reminder(service, refused)
        told = Client(fake, OPTICIAN)
        told.seen = len(fake.messages_to(OPTICIAN))
        await fake.press_button(OPTICIAN, "Je suis en route")
        on_the_way = (await client.expect("Anne", "est en route", within=15))[-1]
        assert "Martin" not in on_the_way.text
        await told.expect("Bonne route", within=15)
        buttons = [b["text"] for b in fake.messages_to(OPTICIAN)[-1].buttons()]
        assert buttons == ["Visite faite", "Visite impossible"]
        assert (await _appointment(service)).status == "en_route"
        await fake.press_button(OPTICIAN, "Visite faite")
        await client.expect("terminée", within=15)
        (case,) = await service.rows(cases)
        assert (case.status, (await _appointment(service)).status) == ("done", "done")
        locks.assert_one_order()  # accept, propose, confirm, reminder, on the way, done
        await _drained(service)
        await assert_every_row_names_its_case(service)

        # Erasing the client deletes the calendar file with the rest.
        (sent,) = [m for m in await service.rows(messages) if (m.payload or {}).get("document")]
        stored = service.services.files.root / sent.payload["document"]["path"]
        assert stored.exists()
        await console.erase(ALICE, str(case_id))
        assert not stored.exists()


async def test_the_client_asks_another_moment_and_the_optician_proposes_another_half_day(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        _, labels = await _accepted(fake, service)
        client = Client(fake, CLIENT)
        client.seen = len(fake.messages_to(CLIENT))
        await fake.press_button(OPTICIAN, _windows(labels)[0])
        await client.expect("propose de venir", within=15)
        await fake.press_button(CLIENT, "Proposer un autre moment")
        await client.expect("va vous proposer un autre moment", within=15)
        optician = Client(fake, OPTICIAN)
        optician.seen = len(fake.messages_to(OPTICIAN)) - 1
        await optician.expect("préfère un autre moment", within=15)
        assert (await _appointment(service)).status == "moved"

        # Another half-day: the next bookable ones, then that half-day's windows.
        await fake.press_button(OPTICIAN, OTHER_HALF_DAY)
        question = (await optician.expect("Quelle demi-journée proposer", within=15))[-1]
        half_days = [str(b["text"]) for b in question.buttons()]
        assert len(half_days) == 4
        assert all(h.endswith(("matin", "après-midi")) for h in half_days)
        assert not any(h.startswith("dimanche") for h in half_days)
        await fake.press_button(OPTICIAN, half_days[-1])
        hours = (await optician.expect("Quelle heure proposer", within=15))[-1]
        windows = _windows([str(b["text"]) for b in hours.buttons()])
        assert windows == (
            ["8h–9h", "9h–10h", "10h–11h", "11h–12h"]
            if "matin" in half_days[-1]
            else ["13h–14h", "14h–15h", "15h–16h", "16h–17h", "17h–18h"]
        )
        await fake.press_button(OPTICIAN, windows[-1])
        second = (await client.expect("propose de venir", half_days[-1].split(",")[0], within=15))[-1]
        row = await _appointment(service)
        assert (row.status, row.proposal) == ("proposed", 2)

        # The first proposal's "Je confirme" is refused: the second one is the one to answer.
        (case,) = await service.rows(cases)
        first = next(m for m in fake.messages_to(CLIENT) if "propose de venir" in m.text)
        assert first.message_id != second.message_id
        await fake.press(CLIENT, f"rdv.{case.public_id}.1:rdv_ok", message_id=first.message_id)
        await client.expect("n'est plus valable", within=15)
        assert (await _appointment(service)).status == "proposed"
        await fake.press_button(CLIENT, "Je confirme")
        await client.expect("C'est confirmé", within=15)
        assert (await _appointment(service)).status == "confirmed"


async def _book_a_later_half_day(fake: FakeTelegram, client: Client, optician: Client) -> str:
    """Anne proposes the first window of the fourth bookable half-day (at least a day ahead) and
    the client confirms; the half-day's label."""
    await fake.press_button(OPTICIAN, OTHER_HALF_DAY)
    question = (await optician.expect("Quelle demi-journée proposer", within=15))[-1]
    half_day = str(question.buttons()[-1]["text"])
    await fake.press_button(OPTICIAN, half_day)
    hours = (await optician.expect("Quelle heure proposer", within=15))[-1]
    await fake.press_button(OPTICIAN, _windows([str(b["text"]) for b in hours.buttons()])[0])
    await client.expect("propose de venir", within=15)
    await fake.press_button(CLIENT, "Je confirme")
    await client.expect("C'est confirmé", within=15)
    return half_day


async def test_the_morning_reminder_goes_once_to_the_client_and_the_optician(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    clock = RealClock()
    async with serve(database_url, tmp_path, fake, clock=clock) as service:
        await _accepted(fake, service)
        client, optician = _watching(fake)
        await _book_a_later_half_day(fake, client, optician)
        row = await _appointment(service)
        due = datetime.combine(row.day, time(min(7, row.hour - 1)), tzinfo=SERVICE_TIME_ZONE)
        assert row.remind_at == due  # APPOINTMENT_REMINDER_HOUR=7 by default, Paris time
        dispatch = service.services.dispatch
        assert await dispatch.remind() == 0  # not yet

        # The morning of the visit: two sweeps (and the service's own), one reminder each.
        clock.shift = due - clock() + timedelta(minutes=1)
        swept = [await dispatch.remind(), await dispatch.remind()]
        assert sum(swept) <= 1  # the service's sweep may have been first
        reminder = (await client.expect("Rappel", "Anne", f"entre {row.hour}h", within=15))[-1]
        assert "Martin" not in reminder.text
        await optician.expect("Rappel", "Oberkampf", f"entre {row.hour}h", within=15)
        assert await dispatch.remind() == 0
        await _drained(service)
        assert sum("Rappel" in m.text for m in fake.messages_to(CLIENT)) == 1
        assert sum("Rappel" in m.text for m in fake.messages_to(OPTICIAN)) == 1
        assert (await _appointment(service)).reminded_at is not None


async def test_the_client_moves_then_cancels_the_appointment_and_the_optician_is_told(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        await _accepted(fake, service)
        client, optician = _watching(fake)
        await _book_a_later_half_day(fake, client, optician)
        confirmed = fake.messages_to(CLIENT)[-1]
        assert [b["text"] for b in confirmed.buttons()] == ["Déplacer le rendez-vous", "Annuler la visite"]
        first = await _appointment(service)

        # In words: moved, the optician proposes again.
        await fake.say(CLIENT, "bonjour, je voudrais décaler le rendez-vous svp")
        await client.expect("Voulez-vous déplacer le rendez-vous ?", within=15)  # asked first
        assert (await _appointment(service)).status == "confirmed"
        await fake.press_button(CLIENT, "Oui")
        await client.expect("va vous proposer un autre moment", within=15)
        await optician.expect("demande à déplacer le rendez-vous", "Quelle heure proposer", within=15)
        moved = await _appointment(service)
        assert (moved.status, moved.remind_at) == ("moved", None)  # no reminder of the old time
        windows = _windows([str(b["text"]) for b in fake.messages_to(OPTICIAN)[-1].buttons()])
        await fake.press_button(OPTICIAN, windows[-1])
        await client.expect("propose de venir", within=15)
        await fake.press_button(CLIENT, "Je confirme")
        await client.expect("C'est confirmé", within=15)
        again = await _appointment(service)
        assert (again.status, again.proposal, again.day) == ("confirmed", first.proposal + 1, first.day)
        (case,) = await service.rows(cases)
        assert case.client_wrote_at is not None  # the written request reached the advisors too

        # With the button: the visit is cancelled once confirmed, and the optician told not to come.
        await fake.press_button(CLIENT, "Annuler la visite")
        await client.expect("Voulez-vous vraiment annuler", within=PACED)
        await fake.press_button(CLIENT, "Oui, l'annuler")
        await client.expect("est annulée", within=PACED)
        # Told not to come, then the calendar's cancellation (its own message and file).
        withdrawn = "Pour votre agenda"
        await fake.wait_for(lambda: any(withdrawn in m.text for m in fake.messages_to(OPTICIAN)), 15)
        assert any("n'y allez pas" in m.text for m in fake.messages_to(OPTICIAN))
        assert (await _appointment(service)).status == "cancelled"
        (case,) = await service.rows(cases)
        assert case.status == "cancelled"
        await _drained(service)
        await assert_every_row_names_its_case(service)


async def test_a_whatsapp_client_confirms_with_reply_buttons(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    """The optician on Telegram, the client on WhatsApp: the proposal comes as two reply buttons
    (titles within WhatsApp's 20 characters), and the client's tap confirms it."""
    wa_values = {
        "whatsapp_access_token": WA_TOKEN,
        "whatsapp_phone_number_id": PHONE_NUMBER_ID,
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
    }
    async with (
        FakeWhatsApp() as whatsapp,
        serve(database_url, tmp_path, fake, whatsapp_api_url=whatsapp.base_url, **wa_values) as service,
    ):
        whatsapp.webhook_url = f"{service.base}/webhooks/whatsapp"
        await _optician(fake, service, OPTICIAN, "Anne Martin", ["75"])
        client = WhatsAppClient(whatsapp, WA_CLIENT)
        for text, answered in zip(VISIT, VISIT_ANSWERED, strict=True):
            await client.say(text)
            await client.expect(answered, within=15)
        (case,) = await service.rows(cases)
        await _dispatch(service, str(case.public_id))
        await fake.wait_for(lambda: bool(_offers_to(fake, OPTICIAN)))
        await fake.press_button(OPTICIAN, "J'accepte")
        brief = (await Client(fake, OPTICIAN).expect("est pour vous", within=15))[-1]
        await fake.press_button(OPTICIAN, _windows([str(b["text"]) for b in brief.buttons()])[0])
        proposal = (await client.expect("Anne", "propose de venir", within=15))[-1]
        assert proposal.type == "interactive"
        assert proposal.body["interactive"]["type"] == "button"
        assert [title for _, title in proposal.buttons] == ["Je confirme", "Autre moment"]
        assert all(len(title) <= 20 for _, title in proposal.buttons)
        await client.press("Je confirme")
        await client.expect("C'est confirmé", "Anne viendra", within=15)
        await fake.wait_for(lambda: bool(fake.documents_to(OPTICIAN)), 15)
        assert "Oberkampf" in _last_with(fake, OPTICIAN, "Rendez-vous confirmé").text
        assert (await _appointment(service)).status == "confirmed"
        await whatsapp.settle()


async def test_a_visit_confirmed_after_its_reminder_moment_gets_none_and_none_is_announced(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    clock = RealClock()
    async with serve(database_url, tmp_path, fake, clock=clock) as service:
        await _accepted(fake, service)
        client, optician = _watching(fake)
        await fake.press_button(OPTICIAN, OTHER_HALF_DAY)
        question = (await optician.expect("Quelle demi-journée proposer", within=15))[-1]
        await fake.press_button(OPTICIAN, str(question.buttons()[-1]["text"]))
        hours = (await optician.expect("Quelle heure proposer", within=15))[-1]
        await fake.press_button(OPTICIAN, _windows([str(b["text"]) for b in hours.buttons()])[-1])
        await client.expect("propose de venir", within=15)
        row = await _appointment(service)
        # The client answers on the visit's day, half an hour before it starts.
        starts = datetime.combine(row.day, time(row.hour), tzinfo=SERVICE_TIME_ZONE)
        clock.shift = starts - timedelta(minutes=30) - clock()
        await fake.press_button(CLIENT, "Je confirme")
        confirmed = (await client.expect("C'est confirmé", within=15))[-1]
        assert "rappel" not in confirmed.text
        row = await _appointment(service)
        assert (row.status, row.remind_at) == ("confirmed", None)
        assert await service.services.dispatch.remind() == 0


async def test_a_case_closed_from_the_console_ends_its_appointment_and_no_reminder_goes(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    """ "Terminer" on a case whose visit is still ahead: the appointment is cancelled, the optician
    told not to come, and the morning reminder does not go."""
    clock = RealClock()
    async with serve(database_url, tmp_path, fake, clock=clock) as service:
        locks = LockOrder(service)
        case_id, _ = await _accepted(fake, service)
        client, optician = _watching(fake)
        await _book_a_later_half_day(fake, client, optician)
        await service.services.console.done(ALICE, str(case_id))
        locks.assert_one_order()  # the console's too
        # Told not to come, and the visit leaves their calendar (the same event, cancelled).
        await fake.wait_for(lambda: len(fake.documents_to(OPTICIAN)) == 2, 15)
        (_, confirmed), (_, withdrawn) = fake.documents_to(OPTICIAN)
        assert _ics_line(withdrawn, "UID") == _ics_line(confirmed, "UID")
        assert _ics_line(withdrawn, "METHOD") == "METHOD:CANCEL"
        assert any("n'y allez pas" in m.text for m in fake.messages_to(OPTICIAN))
        row = await _appointment(service)
        assert row.status == "cancelled"
        clock.shift = row.remind_at - clock() + timedelta(minutes=1)
        assert await service.services.dispatch.remind() == 0
        await _drained(service)
        assert not any("Rappel" in m.text for m in fake.messages_to(CLIENT))


async def test_on_the_way_is_said_on_the_visits_day_only(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    clock = RealClock()
    async with serve(database_url, tmp_path, fake, clock=clock) as service:
        locks = LockOrder(service)
        _, labels = await _accepted(fake, service)
        client, optician = _watching(fake)
        # A first proposal declined by the client (the engine's path), then a later half-day.
        await fake.press_button(OPTICIAN, _windows(labels)[0])
        await client.expect("propose de venir", within=15)
        await fake.press_button(CLIENT, "Proposer un autre moment")
        await client.expect("va vous proposer un autre moment", within=15)
        await optician.expect("préfère un autre moment", within=15)
        await _book_a_later_half_day(fake, client, optician)  # at least a day ahead
        await fake.wait_for(lambda: bool(fake.documents_to(OPTICIAN)), 15)
        optician.seen = len(fake.messages_to(OPTICIAN))
        client.seen = len(fake.messages_to(CLIENT))
        await fake.press_button(OPTICIAN, "Je suis en route")
        refused = (await optician.expect("se dit le jour même", within=15))[-1]
        row = await _appointment(service)
        assert row.status == "confirmed"
        assert "Bonne route" not in refused.text
        await _drained(service)
        assert len(fake.messages_to(CLIENT)) == client.seen  # the client is not told

        # The optician cannot go after all: back to the operators, the client told.
        await fake.press_button(OPTICIAN, "Visite impossible")
        await optician.expect("Pourquoi la visite", within=15)
        await fake.press_button(OPTICIAN, "Client absent")
        await client.expect("n'a pas pu venir", within=15)
        assert (await _appointment(service)).status == "impossible"
        locks.assert_one_order()


async def test_a_proposal_whose_window_started_is_refused_and_the_optician_asked_again(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    clock = RealClock()
    async with serve(database_url, tmp_path, fake, clock=clock) as service:
        _, labels = await _accepted(fake, service)
        client, optician = _watching(fake)
        windows = _windows(labels)
        await fake.press_button(OPTICIAN, windows[0])
        await client.expect("propose de venir", within=15)
        await optician.expect("C'est proposé", within=15)
        # The optician proposes again before the client answered: the first proposal is void.
        await fake.press_button(OPTICIAN, windows[-1])
        await client.expect("propose de venir", within=15)
        await optician.expect("C'est proposé", within=15)
        row = await _appointment(service)
        assert (row.status, row.proposal) == ("proposed", 2)

        # The client answers once the window has started: refused, the optician proposes again.
        starts = datetime.combine(row.day, time(row.hour), tzinfo=SERVICE_TIME_ZONE)
        clock.shift = starts + timedelta(minutes=5) - utcnow()
        await fake.press_button(CLIENT, "Je confirme")
        await client.expect("déjà passé", "Anne", within=15)
        await optician.expect("est passé avant que le client ne confirme", "Quelle", within=15)
        row = await _appointment(service)
        assert (row.status, row.confirmed_at) == ("moved", None)
        assert not fake.documents_to(OPTICIAN)  # no calendar file of a moment past


def _ics_line(ics: bytes, name: str) -> str:
    return next(line for line in ics.decode().split("\r\n") if line.startswith(f"{name}:"))


async def test_a_moved_visit_leaves_the_opticians_calendar_and_comes_back_as_the_same_event(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        await _accepted(fake, service)
        client, optician = _watching(fake)
        await _book_a_later_half_day(fake, client, optician)
        await fake.wait_for(lambda: len(fake.documents_to(OPTICIAN)) == 1, 15)
        await fake.press_button(CLIENT, "Déplacer le rendez-vous")
        await client.expect("va vous proposer un autre moment", within=15)
        await fake.wait_for(lambda: len(fake.documents_to(OPTICIAN)) == 2, 15)
        (_, confirmed), (_, withdrawn) = fake.documents_to(OPTICIAN)
        assert _ics_line(withdrawn, "UID") == _ics_line(confirmed, "UID")
        assert (_ics_line(confirmed, "METHOD"), _ics_line(confirmed, "SEQUENCE")) == (
            "METHOD:PUBLISH",
            "SEQUENCE:2",
        )
        assert (_ics_line(withdrawn, "METHOD"), _ics_line(withdrawn, "SEQUENCE")) == (
            "METHOD:CANCEL",
            "SEQUENCE:3",
        )
        assert _ics_line(withdrawn, "STATUS") == "STATUS:CANCELLED"

        # Proposed and confirmed again: the same event, a later sequence.
        asked = _last_with(fake, OPTICIAN, "demande à déplacer le rendez-vous")  # before its file
        windows = _windows([str(b["text"]) for b in asked.buttons()])
        await fake.press_button(OPTICIAN, windows[-1])
        await client.expect("propose de venir", within=15)
        await fake.press_button(CLIENT, "Je confirme")
        await client.expect("C'est confirmé", within=15)
        await fake.wait_for(lambda: len(fake.documents_to(OPTICIAN)) == 3, 15)
        (_, again) = fake.documents_to(OPTICIAN)[-1]
        assert _ics_line(again, "UID") == _ics_line(confirmed, "UID")
        assert [_ics_line(again, n) for n in ("METHOD", "SEQUENCE")] == ["METHOD:PUBLISH", "SEQUENCE:4"]

        # The client's "mes données" lists the appointment: its day, hours and status.
        await fake.say(CLIENT, "mes données")
        await fake.wait_for(lambda: any("Voici les données" in m.text for m in fake.messages_to(CLIENT)), 15)
        summary = _last_with(fake, CLIENT, "Voici les données").text
        row = await _appointment(service)
        assert f"le {row.day.isoformat()}, entre {row.hour}h et {row.hour + 1}h (confirmé)" in summary


async def test_mescas_says_where_each_visit_stands_with_its_hour(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        await _accepted(fake, service)
        client, optician = _watching(fake)
        await fake.say(OPTICIAN, "/mescas")
        await optician.expect("Vos visites en cours", "acceptée, heure à fixer", within=15)
        await _book_a_later_half_day(fake, client, optician)
        row = await _appointment(service)
        await fake.say(OPTICIAN, "/mescas")
        listed = (await optician.expect("rendez-vous confirmé", within=15))[-1]
        assert f"entre {row.hour}h et {row.hour + 1}h" in listed.text
        assert "Oberkampf" not in listed.text  # no address in the list: the brief gave it
