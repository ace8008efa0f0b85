"""The scale-out benchmark's audit: every conversation got exactly its expected replies, once each,
in order, however its messages were spread over the processes.

The expected replies are learnt from the calibration conversations (one per script, a step at a
time through one process): their rows, in the order written, are the reference. A timed
conversation must have the same rows (the client's messages and the keys of the bot's replies, in
id order, which is the order they were committed), each reply sent once, and the fake must have
received exactly those replies' texts, in that order, nothing twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

Label = tuple[str, str]  # ("in", what the client said) or ("out", the reply's key)


@dataclass(frozen=True)
class Written:
    labels: list[Label]
    texts: list[str]  # the replies' texts, in order
    attempts: list[int]  # the replies' send attempts
    unsent: int


async def written(database: AsyncEngine, parties: Sequence[str]) -> dict[str, Written]:
    """Per party, its conversation's rows in the order they were written."""
    from storage.tables import messages

    query = (
        sa.select(
            messages.c.party,
            messages.c.direction,
            messages.c.text,
            messages.c.payload,
            messages.c.attempts,
            messages.c.sent_at,
        )
        .where(messages.c.party.in_(list(parties)))
        .order_by(messages.c.id)
    )
    async with database.connect() as connection:
        rows = (await connection.execute(query)).all()
    found: dict[str, tuple[list[Label], list[str], list[int], list[int]]] = {
        p: ([], [], [], [0]) for p in parties
    }
    for row in rows:
        labels, texts, attempts, unsent = found[row.party]
        if row.direction == "in":
            labels.append(("in", row.text))
        else:
            labels.append(("out", str((row.payload or {}).get("key"))))
            texts.append(row.text)
            attempts.append(row.attempts)
            unsent[0] += row.sent_at is None
    return {
        p: Written(labels, texts, attempts, unsent[0])
        for p, (labels, texts, attempts, unsent) in found.items()
    }


@dataclass
class Audit:
    conversations: int = 0
    replies: int = 0  # replies written
    deliveries: int = 0  # sends the fake received
    wrong: int = 0  # conversations whose rows differ from the reference (missing, extra, reordered)
    unsent: int = 0
    resent: int = 0  # replies sent more than once (attempts > 1)
    duplicated: int = 0  # sends received beyond the replies written
    undelivered: int = 0
    out_of_order: int = 0  # conversations whose sends arrived in another order than written
    examples: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """Every conversation exactly as expected and delivered in order; a reply received twice only
        as a second attempt after its outbox lease ran out (at-least-once: :attr:`clean` is stricter)."""
        explained = self.duplicated <= self.resent
        return not (self.wrong or self.unsent or self.undelivered or self.out_of_order) and explained

    @property
    def clean(self) -> bool:
        return not (
            self.wrong
            or self.unsent
            or self.resent
            or self.duplicated
            or self.undelivered
            or self.out_of_order
        )

    def figures(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "examples"} | {"examples": self.examples[:3]}


async def audit(
    database: AsyncEngine,
    parties: Sequence[str],
    expected: Sequence[list[Label]],
    received: Callable[[str], Awaitable[list[str]]],
) -> Audit:
    """Compare each party's rows with ``expected`` (its script's reference) and the texts the fake
    received (``received(party)``, in arrival order) with the replies written."""
    rows = await written(database, parties)
    limit = asyncio.Semaphore(20)

    async def fetch(party: str) -> list[str]:
        async with limit:
            return await received(party)

    got = await asyncio.gather(*(fetch(p) for p in parties))
    result = Audit(conversations=len(parties))
    for party, reference, texts in zip(parties, expected, got, strict=True):
        mine = rows[party]
        result.replies += len(mine.texts)
        result.deliveries += len(texts)
        result.unsent += mine.unsent
        result.resent += sum(a > 1 for a in mine.attempts)
        if mine.labels != reference:
            result.wrong += 1
            result.examples.append(f"{party}: {len(mine.labels)} rows, {len(reference)} expected")
        wanted, seen = Counter(mine.texts), Counter(texts)
        result.duplicated += sum((seen - wanted).values())
        result.undelivered += sum((wanted - seen).values())
        copies: Counter[str] = Counter()
        first = []  # the texts received, each copy beyond those written left out
        for text in texts:
            copies[text] += 1
            if copies[text] <= wanted[text]:
                first.append(text)
        if first != mine.texts and Counter(first) == wanted:
            result.out_of_order += 1
    return result
