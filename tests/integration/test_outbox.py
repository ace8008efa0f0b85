"""The outbox sender: at-least-once, in order per recipient, retries with backoff, failures kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.messages import Inbound
from bot.outbox import LEASE, DeliveryError, OutboxSender
from bot.ratelimit import RateLimiter, Window
from flows.types import ClientInput
from storage.conversations import insert_message
from storage.database import create_engine
from storage.tables import messages
from tests.harness import harness


@dataclass
class FlakyChannel:
    """Refuses its first delivery to each recipient with a retry-after, then delivers."""

    name: str = "script"
    refused: set[str] = field(default_factory=set)
    delivered: list[tuple[str, str]] = field(default_factory=list)
    permanent: bool = False

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> None:
        if recipient not in self.refused:
            self.refused.add(recipient)
            raise DeliveryError("busy", retry_after=60, permanent=self.permanent)
        self.delivered.append((recipient, payload["key"]))


async def test_a_later_reply_waits_for_an_earlier_one_in_backoff(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        flaky = FlakyChannel()
        sender = OutboxSender(h.services.database, [flaky], h.clock)
        await h.engine.handle(_inbound("mes lunettes sont cassées", "w1"))
        assert await sender.flush() == 2  # both leased: the first refused, the second held behind it
        assert flaky.delivered == []
        await h.engine.handle(_inbound("oui", "w2"))
        await sender.flush()
        assert flaky.delivered == []  # nothing overtakes the message in backoff
        h.clock.now += timedelta(seconds=61)
        await sender.flush()
        assert [key for _, key in flaky.delivered] == ["greeting", "urgency.question", "priority.question"]
        rows = await h.rows(messages, messages.c.direction == "out")
        assert all(r.sent_at is not None for r in rows)
        assert rows[0].attempts == 2  # the repeat is counted
        assert sender.maybe_duplicates == 0  # it was refused, not lost: no repeat suspected


async def test_a_permanent_failure_is_kept_visible(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        blocked = FlakyChannel(permanent=True)
        sender = OutboxSender(h.services.database, [blocked], h.clock)
        await h.engine.handle(_inbound("perdu", "p1"))
        await sender.flush()
        first, *later = await h.rows(messages, messages.c.direction == "out")
        assert later
        assert first.failed_at is not None
        assert first.last_error == "busy"
        assert all(r.failed_at is None and r.sent_at is None for r in later)
        # The failure is the first message's own: the next ones are tried for themselves.
        assert await sender.flush() == len(later)
        first, *later = await h.rows(messages, messages.c.direction == "out")
        assert first.failed_at is not None
        assert first.sent_at is None
        assert all(r.sent_at is not None for r in later)
        assert await sender.flush() == 0


@dataclass
class HungChannel:
    """Takes the message and never returns: its process will have died before recording it."""

    name: str = "script"
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> None:
        self.entered.set()
        await asyncio.Event().wait()


async def test_a_row_whose_lease_ran_out_unrecorded_is_counted_and_logged(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.outbox")
    async with harness(database_url, tmp_path) as h:
        await h.engine.handle(_inbound("perdu", "d1"))  # the greeting and a question
        await OutboxSender(h.services.database, [FlakyChannel()], h.clock).flush()  # refused once
        h.clock.now += timedelta(seconds=61)
        hung = HungChannel()
        dying = OutboxSender(h.services.database, [hung], h.clock, per_recipient=1)
        sending = asyncio.create_task(dying.flush())
        await hung.entered.wait()  # the greeting is with the channel; its process dies there
        h.clock.now += LEASE + timedelta(seconds=1)
        survivor = OutboxSender(h.services.database, [h.channel], h.clock)
        assert await survivor.flush() == 2
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        assert [p["key"] for _, p in h.channel.delivered] == ["greeting", "urgency.question"]
        # The greeting may have gone out twice (its first send was refused, not that one): counted.
        assert survivor.maybe_duplicates == 1
        greeting = (await h.rows(messages, messages.c.direction == "out"))[0]
        warnings = [r.getMessage() for r in caplog.records if "may be sent twice" in r.getMessage()]
        assert warnings == [
            f"outbox: message {greeting.id} may be sent twice: an earlier lease on it (attempt 2) ran out "
            "unrecorded"
        ]


@dataclass
class PacedChannel:
    """Five messages a second to each recipient, each send noted with the sender that made it."""

    sender: int
    sent: list[tuple[int, str, int]]
    name: str = "script"
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(Window(100, 1.0), Window(5, 1.0)))

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> None:
        await self.limiter.acquire(recipient)
        self.sent.append((int(payload["text"]), recipient, self.sender))


async def test_two_senders_renew_their_leases_while_the_pace_holds_their_rows(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two senders (two pools) on one database, leases of 1 s renewed every 0.1 s, 40 replies to
    4 recipients at 5 a second each: every lease outlived (a recipient's 10 replies take 2 s), every
    reply sent once, in order. (A lease of 0.6 s was lost on a loaded 2-core machine whose SQLite
    writes stalled for more than half a second: the margin is for the machine, not the code.)"""
    caplog.set_level(logging.WARNING, logger="bot.outbox")
    async with harness(database_url, tmp_path) as h:
        url = h.services.settings.database_url
        now = datetime.now(UTC)
        async with h.services.database.begin() as connection:
            for n in range(40):
                await insert_message(connection, _reply(f"r{n % 4}", str(n), now))
        sent: list[tuple[int, str, int]] = []
        pools = [create_engine(url, pool_size=2) for _ in range(2)]
        senders = [
            OutboxSender(
                pool,
                [PacedChannel(i, sent)],
                lambda: datetime.now(UTC),
                lease=timedelta(seconds=1.0),
                renew_every=timedelta(seconds=0.1),
                poll_interval=0.1,
            )
            for i, pool in enumerate(pools)
        ]
        tasks = [asyncio.create_task(s.run()) for s in senders]
        try:
            deadline = time.monotonic() + 60
            while await _unsent(h) or any(s.held for s in senders):
                assert time.monotonic() < deadline, "not sent within 60 s"
                await asyncio.sleep(0.05)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for pool in pools:
                await pool.dispose()
    assert sorted(n for n, _, _ in sent) == list(range(40))  # each once
    for recipient in {r for _, r, _ in sent}:
        numbers = [n for n, r, _ in sent if r == recipient]
        assert numbers == sorted(numbers)  # in order
    assert [r.getMessage() for r in caplog.records] == []  # no lease lost, no repeat suspected


@dataclass
class ChatPacedChannel:
    """At most three messages in any two seconds to a chat, as Telegram's chat window; each
    send's time noted. Told by the outbox of the chat's sends by other senders."""

    times: list[float]
    name: str = "script"
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(Window(3, 2.0), Window(100, 1.0)))

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> None:
        await self.limiter.acquire(recipient)
        self.times.append(time.monotonic())

    def recently_sent(self, recipient: str, ages: Sequence[float]) -> None:
        self.limiter.seed(recipient, ages)


async def test_a_chat_taken_over_by_another_sender_keeps_its_window(
    database_url: str, tmp_path: Path
) -> None:
    """One sender sends a chat its burst; the other leases the chat's next rows right after: it
    waits for the chat's window, which the first sender's sends fill (read from the database)."""
    async with harness(database_url, tmp_path) as h:
        now = datetime.now(UTC)
        async with h.services.database.begin() as connection:
            for n in range(6):
                await insert_message(connection, _reply("r1", str(n), now))
        times: list[float] = []
        first, second = (
            OutboxSender(
                h.services.database, [ChatPacedChannel(times)], lambda: datetime.now(UTC), per_recipient=3
            )
            for _ in range(2)
        )
        assert await first.flush() == 3
        assert await second.flush() == 3
    assert len(times) == 6
    assert times[3] - times[0] >= 2.0  # never four in the chat's two seconds, whoever sent them


async def _unsent(h: Any) -> int:
    async with h.services.database.connect() as connection:
        query = sa.select(sa.func.count()).where(messages.c.direction == "out", messages.c.sent_at.is_(None))
        return int(await connection.scalar(query) or 0)


def _reply(recipient: str, text: str, now: datetime) -> dict[str, Any]:
    return {
        "direction": "out",
        "author": "bot",
        "channel": "script",
        "party": recipient,
        "text": text,
        "payload": {"key": "reply"},
        "created_at": now,
        "available_at": now,
    }


def _inbound(text: str, external_id: str) -> Inbound:
    return Inbound("script", "reader", external_id, ClientInput(text=text))
