"""Waiting for a run to settle, and auditing it: what every scenario of the fault suite checks at
the end (nothing acknowledged lost, nothing answered twice, every reply sent once and in order)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.faults import Figures
from bench.faults.common import Traffic
from tests.fakes.telegram import FakeTelegram

# --- waiting and auditing -------------------------------------------------------------------------


async def _scalar(database: AsyncEngine, statement: Any) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(statement) or 0)


async def backlog(database: AsyncEngine) -> tuple[int, int]:
    """(inbound messages stored and not processed, replies neither sent nor given up)."""
    from storage.tables import inbox, messages

    count = sa.func.count()
    unprocessed = await _scalar(
        database, sa.select(count).select_from(inbox).where(inbox.c.processed_at.is_(None))
    )
    undelivered = await _scalar(
        database,
        sa.select(count)
        .select_from(messages)
        .where(messages.c.direction == "out", messages.c.sent_at.is_(None), messages.c.failed_at.is_(None)),
    )
    return unprocessed, undelivered


async def wait_settled(database: AsyncEngine, traffic: Traffic, within: float) -> float:
    """Wait until every acknowledged message is stored as the client's and processed and every
    reply is sent or given up; returns how long it took. Raises on the deadline (the audit then
    counts what is missing)."""
    from storage.tables import messages

    started = time.monotonic()
    deadline = started + within
    while True:
        unprocessed, undelivered = await backlog(database)
        stored = await _scalar(
            database, sa.select(sa.func.count()).select_from(messages).where(messages.c.direction == "in")
        )
        if not unprocessed and not undelivered and stored >= traffic.sent:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"not settled within {within} s: {unprocessed} unprocessed, {undelivered} undelivered,"
                f" {stored}/{traffic.sent} messages stored"
            )
        await asyncio.sleep(0.25)


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    party: str
    text: str
    attempts: int
    sent: bool
    failed: bool


@dataclass
class Audit:
    """Per-chat comparison of written replies with received sends (see the module docstring)."""

    replies: int = 0  # reply parts written
    sends: int = 0  # sends the fake accepted
    lost_replies: int = 0
    lost_messages: int = 0  # acknowledged, never stored as the client's message
    failed: int = 0  # replies given up (also counted lost)
    duplicated: int = 0
    repeats_after_crash: int = 0
    out_of_order_chats: list[int] = field(default_factory=list)
    duplicated_chats: set[int] = field(default_factory=set)
    max_attempts: int = 0

    @property
    def lost(self) -> int:
        return self.lost_replies + self.lost_messages

    def into(self, figures: Figures) -> Figures:
        figures.lost = self.lost
        figures.duplicated = self.duplicated
        figures.out_of_order = len(self.out_of_order_chats)
        figures.repeats_after_crash = self.repeats_after_crash
        figures.extra.update(
            replies=self.replies,
            sends=self.sends,
            max_attempts=self.max_attempts,
        )
        if self.failed:
            figures.extra["replies_given_up"] = self.failed
        if self.duplicated_chats:
            figures.extra["chats_with_duplicates"] = len(self.duplicated_chats)
        return figures


async def audit(
    database: AsyncEngine, fake: FakeTelegram, traffic: Traffic, kills: Sequence[float] = ()
) -> Audit:
    """Count lost, duplicated and out-of-order replies chat by chat (``kills``: the monotonic
    times processes were killed, which explain a repeated send between them)."""
    from bot.channels.text import split_text
    from storage.tables import messages

    chats = sorted(traffic.acknowledged)
    parties = [str(c) for c in chats]
    async with database.connect() as connection:
        rows = [
            Row(r.id, r.party, r.text, r.attempts, r.sent_at is not None, r.failed_at is not None)
            for r in await connection.execute(
                sa.select(
                    messages.c.id,
                    messages.c.party,
                    messages.c.text,
                    messages.c.attempts,
                    messages.c.sent_at,
                    messages.c.failed_at,
                )
                .where(messages.c.direction == "out", messages.c.party.in_(parties))
                .order_by(messages.c.id)
            )
        ]
        inbound = (
            await connection.execute(
                sa.select(messages.c.party, messages.c.text).where(
                    messages.c.direction == "in", messages.c.party.in_(parties)
                )
            )
        ).all()
    result = Audit()
    stored: dict[str, Counter[str]] = {}
    for party, text in inbound:
        stored.setdefault(party, Counter())[text] += 1
    written: dict[str, list[Row]] = {}
    for row in rows:
        written.setdefault(row.party, []).append(row)
    sends: dict[int, list[tuple[str, float]]] = {}
    for message in fake.sent:
        if message.method == "sendMessage":
            sends.setdefault(message.chat_id, []).append((message.text, message.at))
    for chat in chats:
        party = str(chat)
        acknowledged = Counter(traffic.acknowledged[chat])
        result.lost_messages += sum((acknowledged - stored.get(party, Counter())).values())
        chat_rows = written.get(party, [])
        result.failed += sum(r.failed for r in chat_rows)
        result.max_attempts = max([result.max_attempts, *(r.attempts for r in chat_rows)])
        expected = [part for r in chat_rows for part in split_text(r.text)]
        received = sends.get(chat, [])
        result.replies += len(expected)
        result.sends += len(received)
        wanted = Counter(expected)
        got = Counter(text for text, _ in received)
        result.lost_replies += sum((wanted - got).values())
        # Copies beyond what was written: explained by a crash if a process was killed between the
        # first copy and this one.
        first_at: dict[str, float] = {}
        seen: Counter[str] = Counter()
        in_order: list[str] = []
        for text, at in received:
            seen[text] += 1
            first_at.setdefault(text, at)
            if seen[text] <= wanted[text]:
                in_order.append(text)
                continue
            if any(first_at[text] <= kill <= at for kill in kills):
                result.repeats_after_crash += 1
            else:
                result.duplicated += 1
                result.duplicated_chats.add(chat)
        left = got.copy()
        written_and_received = []
        for text in expected:
            if left[text] > 0:
                left[text] -= 1
                written_and_received.append(text)
        if in_order != written_and_received:
            result.out_of_order_chats.append(chat)
    return result
