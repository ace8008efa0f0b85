"""The Telegram channel in the real app (uvicorn, engine, outbox, aiogram) against the fake Bot API.

Each test runs the app in this process on a free port, so the fake server can call its webhook and
the test can read the database; `tests/e2e/test_telegram.py` does the same through `optibot run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.channels.telegram import outbound, polling
from bot.channels.telegram.updates import external_id
from bot.replies import reply_row
from flows.types import Reply
from storage import conversations as store
from storage.outbound import Recipient
from storage.tables import cases, clients, conversations, inbox, messages
from tests.e2e.servers import free_port
from tests.fakes.telegram import TOKEN, FakeTelegram, SentMessage
from tests.harness import StorageDown
from tests.integration.serving import Service, serve_app
from tests.integration.test_conversations import tiny_png

SECRET = "s3cret-token_for-the-webhook-0123"
CHAT = 7001


@contextlib.asynccontextmanager
async def serve(
    database_url: str, tmp_path: Path, fake: FakeTelegram, *, mode: str = "polling", **overrides: Any
) -> AsyncIterator[Service]:
    """The whole app with its Telegram channel pointed at the fake server."""
    port = free_port()
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": fake.base_url,
        "telegram_mode": mode,
        "telegram_webhook_secret": SECRET,
        "public_url": f"http://127.0.0.1:{port}",
    }
    async with serve_app(database_url, tmp_path, port=port, **{**values, **overrides}) as service:
        yield service


class Client:
    """A Telegram user talking to the bot through the fake server, reading its new messages."""

    def __init__(self, fake: FakeTelegram, chat: int = CHAT) -> None:
        self.fake = fake
        self.chat = chat
        self.seen = 0

    async def expect(self, *fragments: str, within: float = 10.0) -> list[SentMessage]:
        """Wait for new messages, the last of which contains every fragment; returns them."""

        def arrived() -> bool:
            new = self.fake.messages_to(self.chat)[self.seen :]
            return bool(new) and all(f in new[-1].text for f in fragments)

        try:
            await self.fake.wait_for(arrived, within)
        except TimeoutError:
            texts = [m.text[:80] for m in self.fake.messages_to(self.chat)[self.seen :]]
            raise AssertionError(
                f"no message with {fragments}; new: {texts}\n{self.fake.describe()}"
            ) from None
        new = self.fake.messages_to(self.chat)[self.seen :]
        self.seen += len(new)
        return new


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def _case_rows(service: Service) -> list[Any]:
    return await service.rows(cases)


async def _through_to_urgency(fake: FakeTelegram, client: Client) -> list[dict[str, Any]]:
    """Greeting, then the need by button; returns the two updates the client sent."""
    hello = await fake.say(CHAT, "Bonjour")
    need = await client.expect("Quelle est votre urgence")
    assert any("Lunettes cassées" in b["text"] for b in need[-1].buttons())
    pressed = await fake.press_button(CHAT, "Lunettes cassées")
    await client.expect("urgen")
    return [hello, pressed]


# A photo of the client's insurance card (a JPEG's opening bytes: the file store sniffs the type).
INSURANCE_CARD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 carte de mutuelle, recto"


async def shipment_with_prescription(fake: FakeTelegram, client: Client) -> str:
    """The whole conversation as a Telegram user has it: buttons, free text, a prescription photo,
    the number shared with one tap, the insurer named and its card's photo. Returns the case
    reference the bot gave."""
    await fake.say(client.chat, "Bonjour")
    await client.expect("Quelle est votre urgence")
    await fake.press_button(client.chat, "Plus adaptées")
    await client.expect("ordonnance")
    await fake.send_photo(client.chat, tiny_png())
    await client.expect("urgen")
    await fake.press_button(client.chat, "Oui")
    await client.expect("mobilisé")
    await fake.say(client.chat, "pompier")
    await client.expect("servi")
    await fake.press_button(client.chat, "Envoi")
    await client.expect("adresse")
    await fake.say(client.chat, "Route du Port, 20000 Ajaccio")
    await client.expect("nom")
    await fake.say(client.chat, "Ange Pieri")
    phone = await client.expect("numéro")
    assert [b["request_contact"] for b in phone[-1].keyboard()] == [True]
    await fake.share_contact(client.chat, "+33611223344")
    insurance = await client.expect("avez-vous une mutuelle")
    assert [b["text"] for b in insurance[-1].buttons()] == ["Pas de mutuelle", "Passer"]
    await fake.say(client.chat, "la MGEN")
    await client.expect("photo de votre carte de mutuelle")
    await fake.send_photo(client.chat, INSURANCE_CARD)
    summary = await client.expect("Tout est correct")
    assert "Ange Pieri" in "".join(m.text for m in summary)
    assert "• Mutuelle : MGEN (carte reçue)" in summary[-1].text
    assert summary[-1].buttons()
    await fake.press_button(client.chat, "Oui, envoyer")
    done = await client.expect("OB-")
    return done[-1].text.split("référence ", 1)[1].split()[0].rstrip(".")


async def test_a_whole_conversation_by_polling(database_url: str, tmp_path: Path, fake: FakeTelegram) -> None:
    """Buttons, free text, a prescription photo and a shared contact: the case is created."""
    client = Client(fake)
    async with serve(database_url, tmp_path, fake) as service:
        reference = await shipment_with_prescription(fake, client)
        (case,) = await _case_rows(service)
        assert case.reference == reference
        assert case.channel == "telegram"
        assert (case.need, case.mode, case.priority) == ("unsuitable", "shipment", "firefighter")
        assert case.department == "2A"
        assert case.contact_phone == "+33611223344"
        assert case.prescription_path is not None
        assert service.services.files.read(case.prescription_path) == tiny_png()
        assert (case.insurance_status, case.insurer) == ("insured", "MGEN")
        assert case.insurance_card_path is not None
        assert service.services.files.read(case.insurance_card_path) == INSURANCE_CARD

    # Every pressed keyboard now shows the choice taken, inert; every press was acknowledged.
    pressed = [m for m in fake.messages_to(CHAT) if m.edits]
    assert [m.buttons()[0]["text"] for m in pressed] == [
        "✅ Plus adaptées (nouvelle ordonnance)",
        "✅ Oui",
        "✅ Envoi gratuit par Chronopost",
        "✅ Oui, envoyer",
    ]
    assert all(b["callback_data"] == "-" for m in pressed for b in m.buttons())
    assert len(fake.callback_answers) == 4
    # Commands are in Telegram's menu in French (also the default) and English.
    assert [c["command"] for c in fake.commands[("default", "fr")]][:3] == ["start", "aide", "annuler"]
    assert [c["command"] for c in fake.commands[("default", "en")]][:3] == ["start", "help", "cancel"]
    assert fake.too_many == 0


async def test_the_webhook_stores_before_answering_and_refuses_forgeries(
    database_url: str, tmp_path: Path, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client(fake)
    storage = StorageDown(monkeypatch)
    async with serve(database_url, tmp_path, fake, mode="webhook", engine_accept_timeout=2.0) as service:
        await fake.wait_for(lambda: fake.webhook is not None)
        assert fake.webhook is not None
        assert fake.webhook["url"] == f"{service.base}/webhooks/telegram"
        assert fake.webhook["secret_token"] == SECRET
        assert set(fake.webhook["allowed_updates"]) == {"message", "callback_query", "my_chat_member"}
        # Stored before answering: while the database refuses the update, Telegram is not told 200.
        storage.down = True
        first = await fake.say(CHAT, "Bonjour")
        await fake.wait_for(lambda: bool(fake.webhook_attempts))
        assert fake.webhook_attempts[0] == (first["update_id"], 503)
        assert await service.rows(inbox) == []
        storage.down = False
        await client.expect("Quelle est votre urgence", within=20)
        pressed = await fake.press_button(CHAT, "Lunettes cassées")
        await client.expect("urgen")
        sent = [first, pressed]
        # Each update answered 200 is in the inbox, under its keyed id, once.
        accepted = [uid for uid, outcome in fake.webhook_attempts if outcome == 200]
        assert accepted == [u["update_id"] for u in sent]
        pseudonyms = service.services.engine.pseudonyms
        keys = [pseudonyms.of(external_id(fake.bot_id, uid)) for uid in accepted]
        assert [r.external_id for r in await service.rows(inbox)] == keys
        stored = len(keys)

        update = {"update_id": 999_001, "message": _message(CHAT, "forged")}
        async with httpx.AsyncClient(base_url=service.base) as http:
            missing = await http.post("/webhooks/telegram", json=update)
            wrong = await http.post(
                "/webhooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "x" * 32}
            )
            almost = await http.post(
                "/webhooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]}
            )
        assert (missing.status_code, wrong.status_code, almost.status_code) == (401, 401, 401)
        assert len(await service.rows(inbox)) == stored

        # Telegram sends an update again (it did not see our 200): nothing changes.
        before = await service.rows(messages)
        attempts = len(fake.webhook_attempts)
        await fake.push(sent[-1])
        await fake.push(sent[0])
        await fake.wait_for(lambda: len(fake.webhook_attempts) >= attempts + 2)
        assert sorted(fake.webhook_attempts[-2:]) == [(u["update_id"], 200) for u in sent]  # in id order
        assert await service.rows(messages) == before
        assert len(await service.rows(inbox)) == stored
        # A message after them is answered after whatever they caused: by then, nothing else came
        # (neither from the forgeries nor from the re-deliveries).
        await fake.say(CHAT, "/aide")
        (helped, *_) = await client.expect("Est-ce urgent")
        assert "répondez avec les boutons" in helped.text


async def test_a_stale_or_tampered_button_is_refused_and_the_question_asked_again(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    client = Client(fake)
    async with serve(database_url, tmp_path, fake) as service:
        await _through_to_urgency(fake, client)
        need_question = next(m for m in fake.messages_to(CHAT) if "Quelle est votre urgence" in m.text)
        await fake.press(CHAT, "need:lost", message_id=need_question.message_id)
        again = await client.expect("urgen")
        assert again[0].text == "Ce bouton n'est plus valable."
        await fake.press(CHAT, "urgency:perhaps")
        again = await client.expect("urgen")
        assert again[0].text == "Ce bouton n'est plus valable."
        await fake.press(CHAT, "x" * 64)
        again = await client.expect("urgen")
        assert again[0].text == "Ce bouton n'est plus valable."
        (convo,) = await service.rows(conversations)
        assert convo.state == "urgency"
        assert convo.answers["need"] == "broken"


async def test_unsupported_content_gets_a_polite_answer_and_the_question_again(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    client = Client(fake)
    async with serve(database_url, tmp_path, fake):
        await _through_to_urgency(fake, client)
        for send in (fake.send_sticker, fake.send_voice, fake.send_location):
            await send(CHAT)
            answer = await client.expect("urgen")
            assert "Merci d'écrire votre réponse, ou d'envoyer une photo" in answer[0].text
        await fake.send_document(
            CHAT, b"MZ\x90\x00 not a prescription", "setup.exe", "application/x-msdownload"
        )
        answer = await client.expect("urgen")
        assert "n'est pas accepté" in answer[0].text


async def test_a_429_storm_loses_nothing_and_sends_nothing_before_retry_after(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    chats = [CHAT + i for i in range(8)]
    async with serve(database_url, tmp_path, fake) as service:
        fake.fail_next("sendMessage", 429, retry_after=2, chat_id=chats[0])
        await fake.say(chats[0], "Bonjour")
        await fake.wait_for(lambda: bool(fake.calls("sendMessage")))
        fake.flood(2)
        for chat in chats[1:]:
            await fake.say(chat, "Bonjour")
        for chat in chats:
            await Client(fake, chat).expect("Quelle est votre urgence", within=20)

        async def all_sent() -> bool:
            sent = await service.rows(messages, messages.c.direction == "out")
            return len(sent) == 2 * len(chats) and all(r.sent_at is not None for r in sent)

        await _eventually(all_sent)
        assert await _failed_rows(service) == []
    calls = fake.calls("sendMessage")
    refusals = [(r, _retry_after(r.description)) for r in calls if r.status == 429]
    assert len({r.params["chat_id"] for r, _ in refusals}) >= 3, "the storm reached several chats"
    for chat in chats:
        texts = [m.text for m in fake.messages_to(chat)]
        assert len(texts) == 2  # each message once
        assert texts[0].startswith("Bonjour")
        assert "urgence" in texts[1]
        mine = [r for r in calls if str(r.params["chat_id"]) == str(chat)]
        for refusal, wait in refusals:
            if str(refusal.params["chat_id"]) == str(chat):
                assert all(r.at >= refusal.at + wait - 0.05 for r in mine if r.at > refusal.at), "too soon"
    # Refusals from three chats within a second mean the limit is the bot's: the whole bot waits.
    bot_pause = _bot_pause(refusals)
    assert bot_pause is not None
    start, wait = bot_pause
    during = [r for r in calls if start + 0.1 < r.at < start + wait - 0.05]
    assert during == [], "sent during the bot's pause"
    assert fake.too_many == 0


def _retry_after(description: str | None) -> float:
    match = re.search(r"retry after (\d+)", description or "")
    assert match, description
    return float(match.group(1))


def _bot_pause(refusals: list[tuple[Any, float]]) -> tuple[float, float] | None:
    """When the third chat within a second was refused, and the wait it was given."""
    for index, (refusal, wait) in enumerate(refusals):
        recent = {str(r.params["chat_id"]) for r, _ in refusals[: index + 1] if refusal.at - r.at <= 1.0}
        if len(recent) >= 3:
            return refusal.at, wait
    return None


async def test_a_client_who_blocked_the_bot_is_marked_unreachable(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    client = Client(fake)
    async with serve(database_url, tmp_path, fake) as service:
        await _through_to_urgency(fake, client)
        await fake.block_bot(CHAT)

        async def unreachable() -> bool:
            (row,) = await service.rows(clients)
            return bool(row.unreachable)

        await _eventually(unreachable)
        blocked = fake.updates[-1]
        await fake.unblock_bot(CHAT)

        async def reachable() -> bool:
            return not await unreachable()

        await _eventually(reachable)
        await fake.push(blocked)  # Telegram sends the old "blocked" again: it changes nothing
        # Confirmed by the next poll only once stored (and its effect, if any, committed with it).
        await fake.wait_for(lambda: fake.pending_updates == [])
        assert await reachable()
        await fake.block_bot(CHAT)
        await _eventually(unreachable)
        await fake.press(CHAT, "urgency:yes")  # pressed before the block reached the bot
        await _eventually(lambda: _failed(service))
        (failed, *_) = await _failed_rows(service)
        assert failed.last_error == "telegram 403 blocked"
        assert await unreachable()


async def test_a_long_reply_is_split_and_a_retry_does_not_repeat_parts(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    text = "\n\n".join(f"Paragraphe {i}. " + "texte " * 120 for i in range(12))
    async with serve(database_url, tmp_path, fake, telegram_chat_burst=1) as service:
        to = Recipient("telegram", str(CHAT), None, "fr")
        row = reply_row(to, Reply("my_data.header", text), datetime.now(UTC))
        async with service.services.database.begin() as connection:
            await store.insert_message(connection, row)
        service.services.sender.wake()
        await fake.wait_for(lambda: len(fake.messages_to(CHAT)) == 1)
        fake.fail_next("sendMessage", 500)  # the second part fails once: retried from the second part
        await fake.wait_for(lambda: len(fake.messages_to(CHAT)) == 3, timeout=15)

        async def recorded() -> bool:  # sent in full: nothing more of it goes out
            return all(r.sent_at is not None for r in await service.rows(messages))

        await _eventually(recorded)
    parts = [m.text for m in fake.messages_to(CHAT)]
    assert len(parts) == 3
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert parts[1].startswith("Paragraphe")


async def test_a_hung_request_is_given_up_and_sent_again(
    database_url: str, tmp_path: Path, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, other = Client(fake), Client(fake, CHAT + 1)
    monkeypatch.setattr(outbound, "SEND_TIMEOUT", 3)
    async with serve(database_url, tmp_path, fake):
        fake.hang_next("sendMessage", 8)
        await fake.say(CHAT, "Bonjour")
        await fake.wait_for(lambda: len(fake.calls("sendMessage")) == 1)  # it hangs now
        await fake.say(CHAT + 1, "Bonjour")
        await other.expect("Quelle est votre urgence")
        await client.expect("Quelle est votre urgence", within=20)
    hung = fake.calls("sendMessage")
    mine = [r for r in hung if str(r.params["chat_id"]) == str(CHAT)]
    first = mine[0]
    assert len(mine) == 3  # the hung greeting, given up after the timeout and sent again; the question
    # Meanwhile the other chat was served: it did not wait for the hung request.
    assert fake.messages_to(CHAT + 1)[-1].at < first.at + 3
    texts = [m.text for m in fake.messages_to(CHAT)]
    assert len(texts) == 2  # sent again once, then the question, in order
    assert texts[0].startswith("Bonjour")
    assert "urgence" in texts[1]


async def test_a_restart_mid_conversation_continues_where_the_client_was(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    client = Client(fake)
    async with serve(database_url, tmp_path, fake, telegram_chat_burst=1) as service:
        await fake.say(CHAT, "Bonjour")
        # The greeting is sent; the question waits its turn (one message a second) when we stop.
        await fake.wait_for(lambda: len(fake.messages_to(CHAT)) == 1)
    sent = await service.rows(messages, messages.c.sent_at.is_not(None))
    assert [r.payload["key"] for r in sent] == ["greeting"]  # recorded before stopping
    async with serve(database_url, tmp_path, fake) as service:
        await client.expect("Quelle est votre urgence")
        await fake.press_button(CHAT, "Lunettes cassées")
        await client.expect("urgen")
        await fake.press_button(CHAT, "Oui")
        await client.expect("mobilisé")
        assert len(await service.rows(inbox)) == 3
    greetings = [m for m in fake.messages_to(CHAT) if m.text.startswith("Bonjour")]
    assert len(greetings) == 1  # nothing sent twice across the restart


def _message(chat: int, text: str) -> dict[str, Any]:
    return {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "X"},
        "from": {"id": chat, "is_bot": False, "first_name": "X"},
        "text": text,
    }


async def _failed_rows(service: Service) -> list[Any]:
    return await service.rows(messages, messages.c.failed_at.is_not(None))


async def _failed(service: Service) -> bool:
    return bool(await _failed_rows(service))


async def _eventually(check: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_with_several_processes_one_polls_and_another_takes_over(
    postgres_url: str, tmp_path: Path, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram serves one poller per bot: the others stand by on the bot's advisory lock."""
    monkeypatch.setattr(polling, "STANDBY_SECONDS", 0.2)
    client = Client(fake)
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(serve(postgres_url, tmp_path / "a", fake))
        second = serve(postgres_url, tmp_path / "b", fake)
        async with second as standby:
            await _through_to_urgency(fake, client)
            conflicts = [r for r in fake.calls("getUpdates") if r.status == 409]
            assert conflicts == []  # never two pollers at once
            await stack.aclose()  # the polling process goes
            await fake.press_button(CHAT, "Oui")
            await client.expect("mobilisé")  # the standby took over
            assert len(await standby.rows(inbox)) == 3
        assert first.base != standby.base


async def test_menu_commands_work_in_both_languages(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    client = Client(fake)
    async with serve(database_url, tmp_path, fake):
        await _through_to_urgency(fake, client)
        await fake.say(CHAT, "/aide")
        helped = await client.expect("Est-ce urgent")
        assert "répondez avec les boutons" in helped[0].text
        await fake.say(CHAT, "/language@optibot_test_bot")
        switched = await client.expect("Is it urgent")
        assert any("continue in English" in m.text for m in switched)
        await fake.say(CHAT, "/mydata")
        await client.expect()
        await fake.say(CHAT, "/conseiller")
        handed = await client.expect("OB-")
        assert "advisor" in handed[-1].text


async def test_a_refused_token_is_named_in_the_log_and_the_web_chat_still_runs(
    tmp_path: Path, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/optibot.db"
    other_token = "987654321:" + "Z" * 35
    async with serve(database_url, tmp_path, fake, telegram_bot_token=other_token) as service:
        await fake.wait_for(lambda: "TELEGRAM_BOT_TOKEN" in caplog.text)
        async with httpx.AsyncClient(base_url=service.base) as http:
            assert (await http.get("/healthz")).status_code == 200
    assert "refuses TELEGRAM_BOT_TOKEN" in caplog.text
    assert other_token not in caplog.text
    assert "Z" * 35 not in caplog.text
