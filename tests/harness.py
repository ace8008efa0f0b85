"""Drive the real engine, storage and outbox from tests, as a channel would."""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from bot.app import Services, build, running
from bot.engine import utcnow
from bot.messages import Inbound
from bot.settings import Settings
from flows.types import ClientInput, Language
from storage import inbox

# A Thursday morning: half-days like "demain matin" read the same in every run.
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
CHANNEL = "script"


@dataclass
class RecordingChannel:
    """A channel that keeps what it is asked to deliver, per recipient."""

    name: str = CHANNEL
    delivered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def deliver(self, recipient: str, payload: dict[str, Any]) -> None:
        self.delivered.append((recipient, payload))


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RealClock(Clock):
    """The real time, moved on by ``shift`` (a test where other processes' sweeps judge staleness
    by the real time, or where a link must expire while a server runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.shift


@dataclass
class Harness:
    services: Services
    channel: RecordingChannel
    clock: Clock
    seen: int = 0

    @property
    def engine(self) -> Any:
        return self.services.engine

    async def send(
        self,
        user: str,
        *,
        text: str | None = None,
        choice: str | None = None,
        step: str | None = None,
        media: str | None = None,
        contact_phone: str | None = None,
        unsupported: str | None = None,
        language: Language | None = None,
        external_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Say something as ``user``; returns the replies delivered to them for it."""
        said = ClientInput(
            text=text,
            choice=choice,
            step=step,
            media=media,
            contact_phone=contact_phone,
            unsupported=unsupported,
        )
        inbound = Inbound(CHANNEL, user, external_id or uuid.uuid4().hex, said, language)
        await self.engine.handle(inbound)
        return await self.delivered_to(user)

    async def delivered_to(self, user: str) -> list[dict[str, Any]]:
        await self.services.sender.flush()
        new = self.channel.delivered[self.seen :]
        self.seen = len(self.channel.delivered)
        return [payload for recipient, payload in new if recipient == user]

    async def rows(self, table: sa.Table, *where: Any) -> list[Any]:
        async with self.services.database.connect() as connection:
            result = await connection.execute(sa.select(table).where(*where).order_by(table.c.id))
            return list(result.all())


class StorageDown:
    """While ``down``, writing to the inbox fails as when the database cannot be reached."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.down = False
        self.refused = 0
        self.first_refused_at = 0.0  # time.monotonic() of the first refusal
        original = inbox.insert_inbox

        async def insert_inbox(
            connection: Any, rows: Sequence[inbox.InboxRow], now: Any, *, processing: bool = False
        ) -> list[int | None]:
            if self.down and rows:
                self.refused += 1
                self.first_refused_at = self.first_refused_at or time.monotonic()
                cause = ConnectionRefusedError("injected: the database is down")
                raise exc.OperationalError("INSERT INTO inbox", {}, cause)
            return await original(connection, rows, now, processing=processing)

        monkeypatch.setattr(inbox, "insert_inbox", insert_inbox)


_references = itertools.count(1)


@contextlib.asynccontextmanager
async def harness(
    database_url: str,
    tmp_path: Path,
    *,
    clock: Clock | None = None,
    references: Callable[[], str] | None = None,
    **overrides: Any,
) -> AsyncIterator[Harness]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        optibot_data_dir=tmp_path / "data",
        auto_migrate=True,
        **overrides,
    )
    channel = RecordingChannel()
    clock = clock or Clock()
    references = references or (lambda: f"OB-T{next(_references):05d}")
    services = build(settings, [channel], clock=clock, references=references)
    async with running(services, deliver=False, retention=False):
        yield Harness(services, channel, clock)
