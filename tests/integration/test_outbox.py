"""The outbox sender: at-least-once, in order per recipient, retries with backoff, failures kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.messages import Inbound
from bot.outbox import DeliveryError, OutboxSender
from flows.types import ClientInput
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


def _inbound(text: str, external_id: str) -> Inbound:
    return Inbound("script", "reader", external_id, ClientInput(text=text))
