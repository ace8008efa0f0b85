"""How the HTTP scenarios count: waiting until the service has settled, then each tagged client
message's transcript rows and each recipient's outbound rows against what the fakes accepted."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bench.faults import Figures
from bench.faults.http.serving import App, Json, add
from tests.fakes import telegram as tg
from tests.fakes import whatsapp as wa

SETTLE_SECONDS = 60.0  # what is not stored, processed and sent by then counts as lost


async def settle(app: App, within: float = SETTLE_SECONDS) -> bool:
    """Wait until every stored message is processed and every reply sent or given up; False if
    that did not happen ``within`` seconds (what is left then counts as lost)."""
    from storage.tables import inbox, messages

    pending = sa.select(
        sa.select(sa.func.count()).where(inbox.c.processed_at.is_(None)).scalar_subquery(),
        sa.select(sa.func.count())
        .where(
            messages.c.direction == "out",
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
            messages.c.channel != "webchat",
        )
        .scalar_subquery(),
    )
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        (waiting, unsent), *_ = await app.rows(pending)
        if not waiting and not unsent:
            return True
        await asyncio.sleep(0.05)
    return False


async def _inbound_effects(app: App, channel: str, tags: Iterable[str]) -> tuple[int, int]:
    """(lost, duplicated) client messages: each tag must be in exactly one inbound transcript row."""
    from storage.tables import messages

    rows = await app.rows(
        sa.select(messages.c.text).where(messages.c.channel == channel, messages.c.direction == "in")
    )
    seen = Counter(word for (text,) in rows for word in text.split() if word.startswith("#"))
    lost = duplicated = 0
    for tag in tags:
        count = seen.get(tag, 0)
        lost += count == 0
        duplicated += max(0, count - 1)
    return lost, duplicated


@dataclass
class ReplyCount:
    rows: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0


async def _replies(
    app: App, channel: str, sends: dict[str, list[str]], parts_of: Callable[[str, Json], int]
) -> ReplyCount:
    """Compare the outbound rows of each recipient (in the order written) with what the fake
    accepted for them (platform ids, in the order accepted): a row unsent or not among the sends is
    lost; rows whose ids were accepted in another order make their recipient out of order; sends
    beyond the parts of the rows sent are duplicates."""
    from storage.tables import messages

    found = await app.rows(
        sa.select(
            messages.c.party,
            messages.c.text,
            messages.c.payload,
            messages.c.sent_at,
            messages.c.external_id,
        )
        .where(messages.c.channel == channel, messages.c.direction == "out")
        .order_by(messages.c.id)
    )
    by_party: dict[str, list[Any]] = {}
    for row in found:
        by_party.setdefault(row.party, []).append(row)
    count = ReplyCount()
    for party in set(by_party) | set(sends):
        accepted = sends.get(party, [])
        position = {sent: index for index, sent in enumerate(accepted)}
        previous, expected, disordered = -1, 0, False
        for row in by_party.get(party, []):
            count.rows += 1
            where = position.get(row.external_id or "")
            if row.sent_at is None or where is None:
                count.lost += 1
                continue
            disordered |= where <= previous
            previous = where
            expected += parts_of(row.text, row.payload or {})
        count.out_of_order += disordered
        count.duplicated += max(0, len(accepted) - expected)
    return count


def _telegram_parts(text: str, payload: Json) -> int:
    from bot.channels.telegram import render

    return len(list(render.parts_to_send({**payload, "text": text, "sent_parts": 0})))


def _whatsapp_parts() -> Callable[[str, Json], int]:
    from bot.channels.whatsapp import render
    from flows.catalog import Catalog

    catalog = Catalog.load()
    return lambda text, payload: len(render.messages({**payload, "text": text}, catalog))


def _telegram_sends(fake: tg.FakeTelegram) -> dict[str, list[str]]:
    sends: dict[str, list[str]] = {}
    for message in fake.sent:
        sends.setdefault(str(message.chat_id), []).append(str(message.message_id))
    return sends


def _whatsapp_sends(fake: wa.FakeWhatsApp) -> dict[str, list[str]]:
    sends: dict[str, list[str]] = {}
    for message in fake.sent:
        sends.setdefault(message.wa_id or message.user, []).append(message.wamid)
    return sends


async def count_effects(
    figures: Figures,
    app: App,
    telegram: tg.FakeTelegram,
    whatsapp: wa.FakeWhatsApp,
    tags: dict[str, list[str]],
) -> None:
    """Into ``figures``: the tagged client messages of each channel (``tags`` by channel) lost or
    stored twice, and the replies of both channels lost, doubled or out of order."""
    for channel, own in tags.items():
        lost, duplicated = await _inbound_effects(app, channel, own)
        figures.lost += lost
        figures.duplicated += duplicated
    for channel, count in (
        ("telegram", await _replies(app, "telegram", _telegram_sends(telegram), _telegram_parts)),
        ("whatsapp", await _replies(app, "whatsapp", _whatsapp_sends(whatsapp), _whatsapp_parts())),
    ):
        figures.lost += count.lost
        figures.duplicated += count.duplicated
        figures.out_of_order += count.out_of_order
        add(figures, f"{channel}_replies", count.rows)
