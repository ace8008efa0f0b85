"""The engine's promises (ARCHITECTURE.md invariants 1-5) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from bot.messages import Inbound
from flows.types import ClientInput
from storage.cases import list_cases
from storage.tables import conversations, identities, inbox, messages
from tests.harness import CHANNEL, harness
from tests.integration.test_conversations import tiny_png

ROOT = Path(__file__).resolve().parents[2]


async def transcript(h, user: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    ident = (await h.rows(identities, identities.c.key == f"{CHANNEL}:{user}"))[0]
    convo_ids = [c.id for c in await h.rows(conversations, conversations.c.identity_id == ident.id)]
    rows = await h.rows(messages, messages.c.conversation_id.in_(convo_ids))
    return [(r.direction, r.text) for r in rows]


async def test_same_external_message_twice_has_one_effect(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        first = await h.send("dup", text="mes lunettes sont cassées", external_id="update-1")
        again = await h.send("dup", text="mes lunettes sont cassées", external_id="update-1")
        assert [r["key"] for r in first] == ["greeting", "urgency.question"]
        assert again == []
        assert len(await h.rows(inbox)) == 1
        assert [d for d, _ in await transcript(h, "dup")] == ["in", "out", "out"]


async def test_duplicates_racing_in_one_batch_have_one_effect(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        said = ClientInput(text="perdu")
        inbound = Inbound(CHANNEL, "racer", "same-id", said)
        results = await asyncio.gather(*(h.engine.handle(inbound) for _ in range(5)))
        assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
        assert len(await h.delivered_to("racer")) == 2


async def test_twenty_messages_at_once_are_processed_in_order(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        await h.send("burst", text="bonjour")
        texts = [f"réponse incompréhensible {i}" for i in range(20)]
        inbounds = [Inbound(CHANNEL, "burst", f"b{i}", ClientInput(text=t)) for i, t in enumerate(texts)]
        await asyncio.gather(*(h.engine.handle(i) for i in inbounds))
        said = await transcript(h, "burst")
        received = [text for direction, text in said if direction == "in"]
        assert received == ["bonjour", *texts]
        # Each message was answered before the next one was read: one reply after each.
        directions = "".join(d[0] for d, _ in said[3:])
        assert directions == "io" * 20
        convo = (await h.rows(conversations))[0]
        assert convo.misses == 20


async def test_other_conversations_are_not_held_back(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        users = [f"client-{i}" for i in range(30)]
        await asyncio.gather(*(h.send(u, text="j'ai perdu mes lunettes") for u in users))
        assert len(await h.rows(conversations)) == 30
        assert h.engine.pipeline.batches < 30 * 2  # group commit: batches shared by conversations


async def test_bot_is_silent_when_it_does_not_own_the_conversation(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        await h.send("owned", text="cassées")
        assert [r["key"] for r in await h.send("owned", text="conseiller")] == ["handoff.advisor"]
        # Waiting in the queue: the client is told once that an advisor will answer.
        assert [r["key"] for r in await h.send("owned", text="bonjour ?")] == ["followup.notice"]
        assert await h.send("owned", text="toujours là ?") == []
        async with h.services.database.begin() as connection:
            await connection.execute(
                sa.update(conversations).values(owner="operator", operator="op-1", notice_sent=False)
            )
        # An operator holds it: the operator answers, the bot says nothing at all.
        assert await h.send("owned", text="allo ?") == []
        assert [t for d, t in await transcript(h, "owned") if d == "in"][-3:] == [
            "bonjour ?",
            "toujours là ?",
            "allo ?",
        ]


async def test_nasty_text_is_answered_and_stored(database_url: str, tmp_path: Path) -> None:
    nasty = [
        "",
        "x" * 50_000,
        "😀🎉👓" * 100,
        "\x00\x01\x02\x1b[31mrouge\x7f",
        "مرحبا، نظارتي مكسورة",
        "\ud800 lone surrogate",
        "'; DROP TABLE cases; --",
    ]
    async with harness(database_url, tmp_path) as h:
        for i, text in enumerate(nasty):
            replies = await h.send(f"nasty-{i}", text=text)
            assert replies, f"no answer to input {i}"
            assert all(r["text"] for r in replies)
        long_replies = await h.send("nasty-1", text="y" * 50_000)
        assert long_replies[0]["key"] == "too_long"
        assert len(await h.rows(conversations)) == len(nasty)


async def test_database_unavailable_for_a_moment(database_url: str, tmp_path: Path) -> None:
    """PostgreSQL: every connection is killed (as in a restart). SQLite: another writer holds the lock."""
    async with harness(database_url, tmp_path) as h:
        await h.send("survivor", text="mes lunettes sont cassées")
        if database_url.startswith("postgresql"):
            await _kill_connections(database_url)
            replies = await h.send("survivor", text="oui")
        else:
            path = database_url.split("///", 1)[1]
            blocker = sqlite3.connect(path)
            blocker.execute("BEGIN IMMEDIATE")
            released = False

            async def send() -> tuple[list[dict[str, Any]], bool]:
                answer = await h.send("survivor", text="oui")
                return answer, released

            with _statement_started(h, "UPDATE inbox") as writing:
                pending = asyncio.create_task(send())
                await asyncio.wait_for(writing.wait(), 10)  # the engine is at the database, held
            blocker.rollback()
            released = True
            blocker.close()
            replies, answered_after_release = await pending
            assert answered_after_release, "answered while the database could not store it"
        assert [r["key"] for r in replies] == ["priority.question"]


@contextlib.contextmanager
def _statement_started(h: Any, prefix: str) -> Iterator[asyncio.Event]:
    """An event set when the engine sends the database a statement starting with ``prefix``."""
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(prefix.upper()):
            loop.call_soon_threadsafe(started.set)

    target = h.services.database.sync_engine
    event.listen(target, "before_cursor_execute", seen)
    try:
        yield started
    finally:
        event.remove(target, "before_cursor_execute", seen)


async def _kill_connections(database_url: str) -> None:
    from storage.database import create_engine

    name = database_url.rsplit("/", 1)[1]
    admin = create_engine(database_url.rsplit("/", 1)[0] + "/test")
    async with admin.connect() as connection:
        await connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :d AND pid <> pg_backend_pid()"
            ),
            {"d": name},
        )
        await connection.commit()
    await admin.dispose()


CRASHER = textwrap.dedent(
    """
    import asyncio, os, sys
    sys.path.insert(0, {root!r})
    from bot.app import build
    from bot.messages import Inbound
    from bot.settings import Settings
    from flows.types import ClientInput
    from storage.migrate import upgrade

    async def main():
        settings = Settings(_env_file=None, database_url={url!r}, optibot_data_dir={data!r})
        services = build(settings, [])
        await upgrade(services.database)
        services.engine.pipeline.start()
        inbound = Inbound("script", "crash", "before-processing", ClientInput(text="perdu"))
        await services.engine.accept(inbound)
        print("accepted", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_killed_after_inbox_commit_is_answered_once_on_restart(
    database_url: str, tmp_path: Path
) -> None:
    code = CRASHER.format(root=str(ROOT), url=database_url, data=str(tmp_path / "data"))
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 60)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        _, errors = process.communicate()
    assert line.strip() == "accepted", errors
    assert process.returncode == -signal.SIGKILL
    async with harness(database_url, tmp_path) as h:
        assert len(await h.rows(inbox)) == 1
    # Each start re-processes what is unfinished: the message is answered by the first, once.
    for _restart in range(2):
        async with harness(database_url, tmp_path) as h:
            rows = await h.rows(inbox)
            assert len(rows) == 1
            assert rows[0].processed_at is not None
            replies = await h.rows(messages, messages.c.direction == "out")
            assert [r.payload["key"] for r in replies] == ["greeting", "urgency.question"]


async def test_a_caller_that_gives_up_does_not_block_the_conversation(
    database_url: str, tmp_path: Path
) -> None:
    async with harness(database_url, tmp_path, engine_accept_timeout=0.5) as h:
        await h.send("patient", text="mes lunettes sont cassées")
        first = Inbound(CHANNEL, "patient", "late-1", ClientInput(text="oui"))
        second = Inbound(CHANNEL, "patient", "late-2", ClientInput(text="non"))
        async with _database_held(database_url):
            # The first is in flight when its caller gives up; the second waits behind it.
            outcomes = await asyncio.gather(
                h.engine.handle(first), h.engine.handle(second), return_exceptions=True
            )
            assert all(isinstance(o, TimeoutError) for o in outcomes), outcomes
        # The channel retries both: each takes effect exactly once, in order, whether it was
        # dropped unstarted or committed after its caller stopped waiting.
        await h.engine.handle(first)
        await h.engine.handle(second)
        keys = [r["key"] for r in await h.delivered_to("patient")]
        assert keys == ["priority.question", "mode.question"]
        ids = [r.external_id for r in await h.rows(inbox)]
        assert ids.count(h.engine.pseudonyms.of("late-1")) == 1
        assert ids.count(h.engine.pseudonyms.of("late-2")) == 1
        # And the conversation is not stuck behind the abandoned attempts.
        assert [r["key"] for r in await h.send("patient", text="par la poste")] == [
            "shipping_address.question"
        ]


@contextlib.asynccontextmanager
async def _database_held(database_url: str) -> AsyncIterator[None]:
    """Another client holds the write lock (SQLite) or a lock on the inbox (PostgreSQL)."""
    if database_url.startswith("postgresql"):
        import asyncpg
        from sqlalchemy.engine import make_url

        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
        connection = await asyncpg.connect(dsn)
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
            await connection.close()
    else:
        blocker = sqlite3.connect(database_url.split("///", 1)[1])
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.rollback()
            blocker.close()


async def test_accept_then_process_uses_the_stored_message(database_url: str, tmp_path: Path) -> None:
    """The webhook path (accept, answer, then process) cleans text as the one-step path does."""
    async with harness(database_url, tmp_path) as h:
        for number, text in enumerate(["mes lunettes sont cassées\x00", "y" * 60_000]):
            inbound = Inbound(CHANNEL, f"two-step-{number}", f"t{number}", ClientInput(text=text))
            accepted = await h.engine.accept(inbound)
            await h.engine.process(accepted, inbound)
            keys = [r["key"] for r in await h.delivered_to(f"two-step-{number}")]
            assert "greeting" in keys
            assert "technical_error" not in keys
        stored = [r.text for r in await h.rows(messages, messages.c.direction == "in")]
        assert stored[0] == "mes lunettes sont cassées"
        assert len(stored[1]) == 10_000


async def test_an_older_stored_message_is_answered_first(database_url: str, tmp_path: Path) -> None:
    """A message stored whose processing was never asked for (its caller went away) goes first."""
    async with harness(database_url, tmp_path) as h:
        await h.send("orphan", text="mes lunettes sont cassées")
        forgotten = Inbound(CHANNEL, "orphan", "o-1", ClientInput(text="oui"))
        await h.engine.accept(forgotten)  # stored, never processed by its caller
        replies = await h.send("orphan", text="non")
        assert [r["key"] for r in replies] == ["priority.question", "mode.question"]
        inbound = [t for d, t in await transcript(h, "orphan") if d == "in"]
        assert inbound == ["mes lunettes sont cassées", "oui", "non"]


async def test_erasure_removes_every_file_the_client_sent(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        save = h.services.files.save
        first, second, third = save(tiny_png()), save(tiny_png()), save(tiny_png())
        await h.send("sender", text="elles ne me conviennent plus, nouvelle ordonnance")
        await h.send("sender", media=first)  # the prescription...
        await h.send("sender", text="recommencer")  # ...forgotten by the flow on restart
        await h.send("sender", media=second)  # kept at the need question
        await h.send("sender", text="cassées")
        await h.send("sender", media=third)  # not expected at the urgency question
        root = h.services.files.root
        assert all((root / f).exists() for f in (first, second, third))
        await h.send("sender", text="supprimer mes données")
        await h.send("sender", choice="erase", step="confirm_delete")
        assert not any((root / f).exists() for f in (first, second, third))


async def test_an_unreadable_stored_message_does_not_stall_its_conversation(
    database_url: str, tmp_path: Path
) -> None:
    """A stored row that cannot be processed (here: written by some other version, with a field
    this one does not know) is set aside after its attempts; the client's next message goes on."""
    async with harness(database_url, tmp_path) as h:
        payload = {"channel": CHANNEL, "user": "stuck", "external_id": "bad", "said": {"bogus": 1}}
        async with h.services.database.begin() as connection:
            await connection.execute(
                sa.insert(inbox).values(
                    channel=CHANNEL,
                    external_id="bad",
                    identity_key=f"{CHANNEL}:stuck",
                    payload=payload,
                    received_at=h.clock.now,
                )
            )
        replies = await h.send("stuck", text="j'ai perdu mes lunettes")
        assert [r["key"] for r in replies] == ["technical_error", "greeting", "urgency.question"]
        bad = next(r for r in await h.rows(inbox) if r.external_id == "bad")
        assert bad.processed_at is not None
        assert bad.error == "TypeError"


async def test_a_client_who_cannot_be_reached_is_shown_on_their_case(
    database_url: str, tmp_path: Path
) -> None:

    async with harness(database_url, tmp_path) as h:
        for text in ("perdu", "oui", "non", "envoi", "8 avenue Jean Jaurès 69007 Lyon", "Jean Dupont"):
            await h.send("gone", text=text)
        await h.send("gone", text="06 98 76 54 32")
        await h.send("gone", text="pas de mutuelle")
        await h.send("gone", text="oui")
        (case,) = await list_cases(h.services.database)
        assert case["reachable"] is True
        await h.engine.set_reachable(CHANNEL, "gone", reachable=False)
        (case,) = await list_cases(h.services.database)
        assert case["reachable"] is False
        await h.engine.set_reachable(CHANNEL, "gone", reachable=True)
        (case,) = await list_cases(h.services.database)
        assert case["reachable"] is True
