"""Support for the engine's stateful test: fresh databases, a service process that can crash and
restart on one database, and what a client's history looks like once ids and times are set aside."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import re
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.app import Services, build, running
from bot.settings import Settings
from storage.tables import cases, conversations, identities, inbox, messages
from tests.conftest import PostgresTemplate
from tests.harness import Clock, RecordingChannel

CHANNELS = ("script", "terminal")
_references = itertools.count(1)
_REFERENCE = re.compile(r"OB-[A-Z0-9]{5,6}")
_NOT_CHECKED_IN = "The garbage collector is trying to clean up non-checked-in connection"


class Databases:
    """Fresh migrated databases of one kind, one per Hypothesis example: a copy of the session's
    template (a file on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL)."""

    def __init__(
        self, kind: str, root: Path, sqlite_template: Path, postgres: PostgresTemplate | None
    ) -> None:
        self.kind = kind
        self.root = root
        self.sqlite_template = sqlite_template
        self.postgres = postgres
        self._numbers = itertools.count()
        self.urls: list[str] = []

    async def fresh(self) -> tuple[str, Path]:
        """A database URL and a data folder, both new."""
        folder = self.root / f"example-{next(self._numbers)}"
        folder.mkdir(parents=True)
        if self.kind == "sqlite":
            path = folder / "optibot.db"
            shutil.copyfile(self.sqlite_template, path)
            return f"sqlite+aiosqlite:///{path}", folder / "data"
        assert self.postgres is not None
        url = await self.postgres.copy()
        self.urls.append(url)
        return url, folder / "data"

    async def drop_all(self) -> None:
        """Drop the PostgreSQL copies (the SQLite files go with the test's folder)."""
        postgres, urls, self.urls = self.postgres, self.urls, []
        if postgres is not None:
            await asyncio.gather(*(postgres.drop(make_url(url).database or "") for url in urls))


class ProcessDiedError(Exception):
    """Raised at a commit the dying process never makes."""


@dataclass
class Node:
    """One process of the service on a database, with the harness's fake clock and recording
    channels (kept across restarts, as the platforms outlive the process)."""

    url: str
    data: Path
    clock: Clock = field(default_factory=Clock)
    channels: dict[str, RecordingChannel] = field(
        default_factory=lambda: {name: RecordingChannel(name) for name in CHANNELS}
    )
    services: Services | None = None
    _stack: contextlib.AsyncExitStack | None = None
    commits: asyncio.Event = field(default_factory=asyncio.Event)
    fused: asyncio.Event = field(default_factory=asyncio.Event)
    _fuse: int | None = None
    _lethal: bool = False

    @property
    def live(self) -> Services:
        assert self.services is not None, "the process is not running"
        return self.services

    async def start(self) -> None:
        """Build and start a process; it re-processes what was stored and not answered."""
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=self.url,
            optibot_data_dir=self.data,
            auto_migrate=False,
        )
        services = build(
            settings,
            list(self.channels.values()),
            clock=self.clock,
            references=lambda: f"OB-S{next(_references):05d}",
        )
        services.engine.on_commit(self.commits.set)
        sa.event.listen(services.database.sync_engine, "commit", self._committing)
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(running(services, deliver=False, retention=False))
        self.services, self._stack = services, stack

    def arm(self, commits: int, *, lethal: bool) -> None:
        """Signal ``fused`` when the process is about to make its ``commits``-th commit from now;
        ``lethal``: that commit and every later one fail, as if the process died just before it
        (then :meth:`crash` it)."""
        self._fuse, self._lethal = commits, lethal
        self.fused.clear()

    def disarm(self) -> None:
        self._fuse = None

    def _committing(self, connection: Any) -> None:
        if self._fuse is None:
            return
        self._fuse -= 1
        if self._fuse <= 0:
            self.fused.set()
            if self._lethal:
                raise ProcessDiedError()
            self._fuse = None

    async def crash(self) -> None:
        """Die at the next await: every task of the process (writer, background processing,
        callers) is cancelled where it stands; what was not committed is rolled back.

        A connection a task held when it was cancelled is never returned to its pool, as a dead
        process's would not be: it is collected here, its warning silenced (left to the garbage
        collector, the warning would fail whichever test runs then)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _NOT_CHECKED_IN, sa.exc.SAWarning)
            current = asyncio.current_task()
            doomed = [task for task in asyncio.all_tasks() if task is not current]
            for task in doomed:
                task.cancel()
            await asyncio.gather(*doomed, return_exceptions=True)
            del doomed
            await self.stop()
            self.disarm()
            gc.collect()

    async def stop(self) -> None:
        stack, self._stack, self.services = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def drain(self, sweepable: Callable[[str, str], bool]) -> int:
        """Wait until every stored message is processed: re-checked after each commit of the
        engine, while the writer has processing queued. A stored message that nobody will process
        any more (the writer has nothing queued) is a failure, unless ``sweepable`` (channel and
        hashed id) says only the sweep was expected to find it: the sweep's work is then done now.
        Returns how many messages were left to the sweep.

        A read is judged only if the writer committed nothing while it ran: a job that commits
        during the read leaves the queue empty and the read stale (it would see its message as
        waiting with nobody to process it)."""
        swept = 0
        async with asyncio.timeout(15):
            while True:
                self.commits.clear()
                await asyncio.sleep(0)  # tasks just created (``submit``) queue their work first
                async with self.live.database.connect() as connection:
                    result = await connection.execute(
                        sa.select(inbox.c.channel, inbox.c.external_id).where(inbox.c.processed_at.is_(None))
                    )
                    waiting = list(result.all())
                if not waiting:
                    return swept
                if self.commits.is_set():  # the writer committed during the read: read again
                    continue
                if self.live.engine.pipeline.pending():
                    await self.commits.wait()
                    continue
                stuck = [tuple(w) for w in waiting if not sweepable(*w)]
                assert not stuck, f"stored, and nobody will process them: {stuck}"
                swept += await self.live.engine.recover()

    async def settle(self) -> None:
        """Wait until this process's writer has nothing left to process."""
        async with asyncio.timeout(15):
            await asyncio.sleep(0)  # tasks just created (``submit``) queue their work first
            while self.live.engine.pipeline.pending():
                self.commits.clear()
                await self.commits.wait()

    async def flush(self) -> None:
        """Deliver every due reply through the recording channels."""
        while await self.live.sender.flush():
            pass

    def delivered(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """What each recipient received, in order: (key, text) with references set aside."""
        out: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for name, channel in self.channels.items():
            for recipient, payload in channel.delivered:
                out.setdefault((name, recipient), []).append(
                    (str(payload.get("key")), normalised(str(payload.get("text"))))
                )
        return out


def normalised(value: Any) -> Any:
    """Case references differ between two runs (they are drawn from a counter): set them aside."""
    if isinstance(value, str):
        return _REFERENCE.sub("OB-?", value)
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


async def read(services: Services, *tables: sa.Table) -> list[list[Any]]:
    """Every row of each table, by id, on one connection."""
    async with services.database.connect() as connection:
        return [list((await connection.execute(sa.select(t).order_by(t.c.id))).all()) for t in tables]


async def history(services: Services) -> dict[str, dict[str, Any]]:
    """Each identity's conversations, cases and transcript, without ids, times or references:
    what must be the same whichever database rows and timestamps they got."""
    idents, convos, all_cases, transcript = await read(services, identities, conversations, cases, messages)
    out: dict[str, dict[str, Any]] = {}
    for ident in idents:
        mine = [c for c in convos if c.identity_id == ident.id]
        ordinal = {c.id: n for n, c in enumerate(mine)}
        out[ident.key] = {
            "current": ordinal.get(ident.conversation_id),
            "conversations": [
                (
                    c.state,
                    c.owner,
                    c.operator,
                    c.language,
                    normalised(json.dumps(c.answers, sort_keys=True)),
                    c.misses,
                    c.notice_sent,
                )
                for c in mine
            ],
            "cases": [
                (
                    ordinal[k.conversation_id],
                    k.kind,
                    k.status,
                    k.need,
                    k.urgent,
                    k.mode,
                    k.priority,
                    k.postal_code,
                    k.claimed_by,
                    k.client_wrote_at is not None,
                    k.reopened_at is not None,
                    k.first_response_at is not None,
                )
                for k in all_cases
                if k.conversation_id in ordinal
            ],
            "transcript": [
                (
                    ordinal.get(m.conversation_id),
                    m.direction,
                    m.author,
                    normalised(m.text),
                    normalised((m.payload or {}).get("key")),
                )
                for m in transcript
                if m.conversation_id in ordinal
                or (m.conversation_id is None and f"{m.channel}:{m.party}" == ident.key)
            ],
        }
    return out
