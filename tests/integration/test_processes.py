"""Two engines on one PostgreSQL database, as two processes would be: one writer per conversation.

Several processes are a PostgreSQL deployment; SQLite is the single-process embedded default.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.messages import Inbound
from flows.types import ClientInput
from storage.tables import conversations, inbox, messages
from tests.harness import CHANNEL, RealClock, harness


async def test_two_engines_share_one_conversation_in_order(postgres_url: str, tmp_path: Path) -> None:
    async with (
        harness(postgres_url, tmp_path / "a") as first,
        harness(postgres_url, tmp_path / "b") as second,
    ):
        await first.send("shared", text="bonjour")
        texts = [f"incompréhensible {i}" for i in range(30)]
        engines = [first.engine, second.engine]
        # Alternate engines; each message is fully processed before the next is sent (a channel
        # delivers one conversation's messages in order), but the two engines race with each other.
        for i, text in enumerate(texts):
            await engines[i % 2].handle(Inbound(CHANNEL, "shared", f"m{i}", ClientInput(text=text)))
        convo = (await first.rows(conversations))[0]
        assert convo.misses == 30
        rows = await first.rows(messages, messages.c.conversation_id == convo.id)
        inbound = [r.text for r in rows if r.direction == "in"]
        assert inbound == ["bonjour", *texts]


async def test_two_engines_racing_on_many_conversations(postgres_url: str, tmp_path: Path) -> None:
    async with (
        harness(postgres_url, tmp_path / "a") as first,
        harness(postgres_url, tmp_path / "b") as second,
    ):
        users = [f"u{i}" for i in range(20)]

        async def client(user: str) -> None:
            for step, text in enumerate(["bonjour", "cassées", "oui", "non", "par la poste"]):
                engine = (first, second)[(step + len(user)) % 2].engine
                await engine.handle(Inbound(CHANNEL, user, f"{user}-{step}", ClientInput(text=text)))

        await asyncio.gather(*(client(u) for u in users))
        states = {row.state for row in await first.rows(conversations)}
        assert states == {"shipping_address"}
        assert len(await first.rows(inbox)) == 20 * 5


async def test_a_message_accepted_by_one_engine_is_processed_once(postgres_url: str, tmp_path: Path) -> None:
    async with (
        harness(postgres_url, tmp_path / "a") as first,
        harness(postgres_url, tmp_path / "b") as second,
    ):
        inbound = Inbound(CHANNEL, "once", "only-one", ClientInput(text="perdu"))
        accepted = await first.engine.accept(inbound)
        # Both engines try to process it (one live, one sweeping the inbox): one effect.
        await asyncio.gather(first.engine.process(accepted, inbound), second.engine.recover())
        replies = await first.rows(messages, messages.c.direction == "out")
        assert [r.payload["key"] for r in replies] == ["greeting", "urgency.question"]


async def test_messages_stored_by_two_processes_are_handled_in_arrival_order(
    postgres_url: str, tmp_path: Path
) -> None:
    async with (
        harness(postgres_url, tmp_path / "a") as first,
        harness(postgres_url, tmp_path / "b") as second,
    ):
        await first.send("split", text="mes lunettes sont cassées")
        early = Inbound(CHANNEL, "split", "s-1", ClientInput(text="oui"))
        late = Inbound(CHANNEL, "split", "s-2", ClientInput(text="pompier"))
        accepted = await first.engine.accept(early)  # process 1 stored it first...
        await second.engine.handle(late)  # ...process 2 is asked about a later one first
        await first.engine.process(accepted, early)
        convo = (await first.rows(conversations))[0]
        rows = await first.rows(messages, messages.c.conversation_id == convo.id)
        assert [r.text for r in rows if r.direction == "in"] == [
            "mes lunettes sont cassées",
            "oui",
            "pompier",
        ]
        assert convo.state == "mode"


async def test_a_message_stored_by_a_process_that_died_is_answered_by_another_within_seconds(
    postgres_url: str, tmp_path: Path
) -> None:
    async with (  # real time: the sweep takes over what is stale by the clock
        harness(postgres_url, tmp_path / "a", clock=RealClock()) as first,
        harness(postgres_url, tmp_path / "b", clock=RealClock()) as second,
    ):
        inbound = Inbound(CHANNEL, "orphan", "dies-after-storing", ClientInput(text="perdu"))
        accepted = await first.engine.accept(inbound)  # stored (the channel said "received")...
        stored_at = time.monotonic()
        # ...then the process dies before processing it: no writer, no sweep of its own.
        for task in first.services.tasks:
            if task.get_name() == "optibot-sweep":
                task.cancel()
        await first.engine.pipeline.stop()

        async def answered() -> list[Any]:
            return await second.rows(messages, messages.c.direction == "out", messages.c.party == "orphan")

        replies = await _wait_for(answered, within=30)
        took = time.monotonic() - stored_at
        print(f"\nstored by a dead process, answered by the other after {took:.1f} s")
        assert [r.payload["key"] for r in replies] == ["greeting", "urgency.question"]
        (row,) = await second.rows(inbox, inbox.c.id == accepted.inbox_id)
        assert row.processed_at is not None
        assert took < 30


async def test_a_busy_process_does_not_sweep_what_it_has_queued(postgres_url: str, tmp_path: Path) -> None:
    async with harness(postgres_url, tmp_path) as h:
        inbound = Inbound(CHANNEL, "queued", "q-1", ClientInput(text="perdu"))
        accepted = await h.engine.accept(inbound)
        await h.engine.pipeline.stop()  # the writer is busy elsewhere: the message waits in its queue
        job = asyncio.ensure_future(h.engine.process(accepted, inbound))
        await asyncio.sleep(0)
        assert h.engine._queued  # it is in this process's queue...
        assert await h.engine.recover(wait=False) == 0  # ...so the sweep does not queue it twice
        h.engine.pipeline.start()
        await job
        replies = await h.rows(messages, messages.c.direction == "out")
        assert [r.payload["key"] for r in replies] == ["greeting", "urgency.question"]
        assert not h.engine._queued


async def _wait_for(condition: Callable[[], Awaitable[list[Any]]], within: float) -> list[Any]:
    deadline = time.monotonic() + within
    while not (found := await condition()):
        assert time.monotonic() < deadline, f"nothing within {within} s"
        await asyncio.sleep(0.05)
    return found
