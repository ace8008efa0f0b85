"""ARCHITECTURE.md's invariants, each tested so that breaking it makes a test fail.

`tools/mutants.py` breaks each of them on purpose in a copy of the tree and checks that these tests
(and the others it names) catch it. Every test here waits on a definite signal (a webhook's
answer, a getUpdates request, a stored row, a reply), never on a pause.

* 1, nothing acknowledged is lost: a webhook whose update cannot be stored is not answered 200 (Telegram
  and WhatsApp); polling does not confirm (move its offset past) an update it could not store.
* 3, one writer per conversation: a burst of one client's messages, sent all at once (not each
  after the previous answer), through one engine or two engines on one PostgreSQL database, leaves
  the transcript a serial replay of the same messages leaves.
* 4, state and replies commit together: a failure writing the replies leaves neither the new state
  nor the replies; the retry then gives exactly one of each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import make_url

from bot.messages import Inbound
from flows.types import ClientInput
from storage.tables import conversations, identities, inbox, messages
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.harness import CHANNEL, Harness, StorageDown, harness
from tests.integration.test_telegram import CHAT, Client
from tests.integration.test_telegram import serve as serve_telegram
from tests.integration.test_whatsapp import ALICE
from tests.integration.test_whatsapp import serve as serve_whatsapp

# One client's intake, each answer meaningful only at its own step: answered out of turn or
# against a stale state, the conversation goes elsewhere.
INTAKE = [
    "bonjour",
    "mes lunettes sont cassées",
    "oui c'est urgent",
    "non",
    "par la poste",
    "8 avenue Jean Jaurès 69007 Lyon",
    "Jean Dupont",
    "06 98 76 54 32",
]


# --- invariant 1: nothing acknowledged is lost --------------------------------------------------


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def test_telegram_webhook_is_answered_200_only_once_the_update_is_stored(
    database_url: str, tmp_path: Path, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = StorageDown(monkeypatch)
    client = Client(telegram)
    async with serve_telegram(
        database_url, tmp_path, telegram, mode="webhook", engine_accept_timeout=2.0
    ) as service:
        await telegram.wait_for(lambda: telegram.webhook is not None)
        storage.down = True
        update_id = (await telegram.say(CHAT, "Bonjour"))["update_id"]

        def answers() -> list[int | str]:
            return [outcome for uid, outcome in telegram.webhook_attempts if uid == update_id]

        await telegram.wait_for(lambda: bool(answers()))  # Telegram's first attempt was answered
        assert answers()[0] == 503, "acknowledged an update that was not stored"
        assert storage.refused >= 1
        assert await service.rows(inbox) == []
        storage.down = False
        await client.expect("Quelle est votre urgence", within=20)  # the next attempt is taken
        assert answers()[-1] == 200
        assert len(await service.rows(inbox)) == 1
    assert [m.text[:7] for m in telegram.messages_to(CHAT)] == ["Bonjour", "Quelle "]


async def test_polling_does_not_confirm_an_update_it_could_not_store(
    database_url: str, tmp_path: Path, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = StorageDown(monkeypatch)
    client = Client(telegram)
    async with serve_telegram(database_url, tmp_path, telegram, engine_accept_timeout=2.0) as service:
        await telegram.wait_for(lambda: bool(telegram.calls("getUpdates")))  # the poller is up
        storage.down = True
        update_id = (await telegram.say(CHAT, "Bonjour"))["update_id"]

        def polls_since_refused() -> list[Any]:
            since = storage.first_refused_at
            return [r for r in telegram.calls("getUpdates") if since and r.at > since]

        # The poller fetched the update, could not store it, and polled again.
        await telegram.wait_for(lambda: bool(polls_since_refused()), 20)
        offsets = [r.params.get("offset") for r in polls_since_refused()]
        assert all(o is None or o <= update_id for o in offsets), f"confirmed before stored: {offsets}"
        assert update_id in [u["update_id"] for u in telegram.pending_updates]
        assert await service.rows(inbox) == []
        storage.down = False
        await client.expect("Quelle est votre urgence", within=20)
        assert len(await service.rows(inbox)) == 1
    assert [m.text[:7] for m in telegram.messages_to(CHAT)] == ["Bonjour", "Quelle "]


async def test_whatsapp_webhook_is_answered_200_only_once_its_messages_are_stored(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = StorageDown(monkeypatch)
    async with (
        FakeWhatsApp(retry_delays=(0.5, 1.0, 1.0, 2.0, 4.0)) as fake,
        serve_whatsapp(database_url, tmp_path, fake, engine_accept_timeout=2.0) as service,
    ):
        storage.down = True
        await fake.say(ALICE, "Bonjour", deliver=False)
        hook = fake.webhooks[-1]
        await fake.wait_for(lambda: bool(hook.outcomes))  # Meta's first attempt was answered
        assert hook.outcomes[0] == 503, "acknowledged a webhook that was not stored"
        assert await service.rows(inbox) == []
        storage.down = False
        await fake.wait_for(lambda: len(fake.messages_to(ALICE)) == 2, 20)
        assert hook.outcomes[-1] == 200
        assert len(await service.rows(inbox)) == 1
        assert [m.text[:7] for m in fake.messages_to(ALICE)] == ["Bonjour", "Quelle "]


# --- invariant 3: one conversation, one writer --------------------------------------------------


async def _transcript(h: Harness, user: str) -> tuple[list[tuple[str, str]], tuple[Any, ...]]:
    """What the client said and was told, in stored order, and where their conversation is now."""
    (ident,) = await h.rows(identities, identities.c.key == f"{CHANNEL}:{user}")
    convos = await h.rows(conversations, conversations.c.identity_id == ident.id)
    rows = await h.rows(messages, messages.c.conversation_id.in_([c.id for c in convos]))
    last = convos[-1]  # a conversation that ended (not urgent: the waiting list) makes way for one
    return [(r.direction, r.text) for r in rows], (
        len(convos),
        last.state,
        last.owner,
        last.misses,
        last.answers,
    )


async def _serial_replay(tmp_path: Path, said: list[str]) -> tuple[list[tuple[str, str]], tuple[Any, ...]]:
    """The same messages, each sent once the previous one is answered, to a fresh service."""
    folder = tmp_path / f"replay-{len(list(tmp_path.glob('replay-*')))}"
    folder.mkdir()
    async with harness(f"sqlite+aiosqlite:///{folder}/replay.db", folder) as h:
        for text in said:
            await h.send("replayed", text=text)
        return await _transcript(h, "replayed")


async def _check_against_serial_replay(h: Harness, tmp_path: Path, users: list[str]) -> None:
    for user in users:
        stored, final = await _transcript(h, user)
        said = [text for direction, text in stored if direction == "in"]
        assert sorted(said) == sorted(INTAKE), user  # each message once
        assert (stored, final) == await _serial_replay(tmp_path, said), user


def _burst(users: list[str]) -> list[Inbound]:
    """Every user's whole intake, interleaved, each message with its own id."""
    return [
        Inbound(CHANNEL, user, f"{user}-{step}", ClientInput(text=text))
        for step, text in enumerate(INTAKE)
        for user in users
    ]


async def test_a_burst_sent_at_once_equals_its_serial_replay(database_url: str, tmp_path: Path) -> None:
    users = [f"burst-{i}" for i in range(4)]
    async with harness(database_url, tmp_path) as h:
        await asyncio.gather(*(h.engine.handle(inbound) for inbound in _burst(users)))
        await _check_against_serial_replay(h, tmp_path, users)
        # In arrival order, too: each client's messages were all sent before any was answered.
        for user in users:
            said = [t for d, t in (await _transcript(h, user))[0] if d == "in"]
            assert said == INTAKE


async def test_a_burst_through_the_webhook_path_equals_its_serial_replay(
    database_url: str, tmp_path: Path
) -> None:
    """Stored first (accept), answered in the background (submit), as the webhooks do."""
    users = [f"hook-{i}" for i in range(3)]
    async with harness(database_url, tmp_path) as h:
        burst = _burst(users)
        await asyncio.gather(*(h.engine.submit(inbound) for inbound in burst))
        await _until(h, lambda rows: sum(1 for r in rows if r.processed_at is not None) == len(burst))
        await _check_against_serial_replay(h, tmp_path, users)


async def test_two_processes_on_one_conversation_are_one_writer(postgres_url: str, tmp_path: Path) -> None:
    """Two engines on one PostgreSQL database (as two processes) get the same clients' messages
    at once, alternately: the advisory lock keeps each conversation a serial one."""
    users = [f"shared-{i}" for i in range(3)]
    async with harness(postgres_url, tmp_path) as first, harness(postgres_url, tmp_path) as second:
        burst = _burst(users)
        engines = [first.engine, second.engine]
        await asyncio.gather(*(engines[i % 2].handle(inbound) for i, inbound in enumerate(burst)))
        assert first.engine.pipeline.batches
        assert second.engine.pipeline.batches
        await _check_against_serial_replay(first, tmp_path, users)


async def _until(h: Harness, check: Callable[[list[Any]], bool], within: float = 30.0) -> None:
    """Wait until the inbox rows satisfy ``check``, on each commit of the engine."""
    committed = asyncio.Event()
    h.engine.on_commit(committed.set)
    async with asyncio.timeout(within):
        while not check(await h.rows(inbox)):
            await committed.wait()
            committed.clear()


# --- invariant 4: state and replies commit together ---------------------------------------------


@contextlib.asynccontextmanager
async def refused_replies(database_url: str) -> AsyncIterator[None]:
    """While open, the database refuses to store any outbound message (a trigger raises)."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(
                """
                CREATE FUNCTION refuse_reply() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN RAISE EXCEPTION 'injected: replies refused'; END $$;
                CREATE TRIGGER refuse_reply BEFORE INSERT ON messages
                FOR EACH ROW WHEN (NEW.direction = 'out') EXECUTE FUNCTION refuse_reply();
                """
            )
            yield
        finally:
            await connection.execute("DROP TRIGGER refuse_reply ON messages; DROP FUNCTION refuse_reply();")
            await connection.close()
        return
    engine = sa.create_engine(url.set(drivername="sqlite"))
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_reply BEFORE INSERT ON messages WHEN NEW.direction = 'out'"
                " BEGIN SELECT RAISE(ABORT, 'injected: replies refused'); END"
            )
        yield
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER refuse_reply")
        engine.dispose()


async def test_a_reply_that_cannot_be_stored_leaves_the_state_as_it_was(
    database_url: str, tmp_path: Path
) -> None:
    async with harness(database_url, tmp_path) as h:
        await h.send("atomic", text="bonjour")
        before = await _transcript(h, "atomic")
        assert before[1][1] == "need"
        message = Inbound(CHANNEL, "atomic", "need-answer", ClientInput(text="mes lunettes sont cassées"))
        async with refused_replies(database_url):
            with pytest.raises(exc.DBAPIError):
                await h.engine.handle(message)
        assert await _transcript(h, "atomic") == before  # neither the new state nor the message
        assert await h.delivered_to("atomic") == []
        assert h.engine.pseudonyms.of("need-answer") not in [r.external_id for r in await h.rows(inbox)]
        # The channel sends it again: now it takes effect, once.
        await h.engine.handle(message)
        assert [r["key"] for r in await h.delivered_to("atomic")] == ["urgency.question"]
        stored, final = await _transcript(h, "atomic")
        assert stored == [*before[0], ("in", "mes lunettes sont cassées"), stored[-1]]
        assert stored[-1][0] == "out"
        assert final[1] == "urgency"
        assert final[4]["need"] == "broken"
