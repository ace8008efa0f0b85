"""Group commit: many conversations' messages written in one transaction, one writer per conversation.

Every database write of the conversation engine goes through one :class:`Pipeline` per process. Each
round takes the waiting *accepts* (new inbound messages to store) and, for every conversation with
work waiting, the *oldest* of its messages to process, and runs them all in one transaction. So:

* a conversation never has two messages in flight in this process, and they run in arrival order
  (invariant 3 inside a process; the engine adds a PostgreSQL advisory lock across processes);
* one commit (one fsync on SQLite, one round trip on PostgreSQL) serves a whole batch.

A batch that fails on a lost connection is retried whole after a pause; one that fails for any other
reason is split and its items retried alone, so a single bad message cannot stall the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.logs import describe

log = logging.getLogger(__name__)

A = TypeVar("A")
P = TypeVar("P")
AcceptFn = Callable[[AsyncConnection, Sequence[A]], Awaitable[list[Any]]]
ProcessFn = Callable[[AsyncConnection, Sequence[P]], Awaitable[list[Any]]]
# Records that an item failed for good; False: what failed was not the item itself (it may go on).
FailFn = Callable[[P, BaseException], Awaitable[bool]]

RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0)
# A "transient" error that persists this many times is treated as a failure of the batch (split,
# then each item tried alone): a deterministic error must not wedge the writer forever.
MAX_TRANSIENT_RETRIES = 12
MAX_ITEM_ATTEMPTS = 3
_TRANSIENT_SQLSTATES = {
    "40001",
    "40P01",
    "55P03",
    "57P01",
    "57P02",
    "57P03",
    "08000",
    "08003",
    "08006",
}


def is_transient(error: BaseException) -> bool:
    """A lost connection, a restarting server, a deadlock or a busy database: worth retrying."""
    if isinstance(error, (exc.OperationalError, exc.InterfaceError, OSError, TimeoutError)):
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return sqlstate in _TRANSIENT_SQLSTATES
    return False


def is_poison(error: BaseException) -> bool:
    """The data itself is refused (a value the database cannot store, a constraint, a payload that
    fails validation): storing it again fails again. Not an outage, so no platform should be asked
    to send it again; it is set aside instead."""
    if is_transient(error):
        return False
    if isinstance(error, exc.DBAPIError):
        # asyncpg's errors reach SQLAlchemy as plain DBAPIErrors: their SQLSTATE tells. Class 22
        # is a data exception (NUL: 22021), 23 a constraint; a duplicate key (23505) may be a race.
        sqlstate = str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or "")
        if sqlstate.startswith(("22", "23")) and sqlstate != "23505":
            return True
    if isinstance(error, (exc.DataError, exc.IntegrityError)):
        return True
    if isinstance(error, exc.StatementError) and error.orig is not None:
        error = error.orig
    return isinstance(error, (UnicodeError, OverflowError, ValueError))


def reason_of(error: BaseException) -> str:
    """An error's kind and SQLSTATE, for logs and the set-aside table: never its text, which may
    quote the data."""
    if isinstance(error, exc.StatementError) and error.orig is not None:
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        name = f"{type(error).__name__}/{type(error.orig).__name__}"
        return f"{name} {sqlstate}"[:64] if sqlstate else name[:64]
    return type(error).__name__[:64]


@dataclass(frozen=True, slots=True)
class Again(Generic[P]):
    """A process result meaning "not yet": the item stays first in its conversation's queue, as
    ``item`` (which may now carry what this batch committed, e.g. its inbox id)."""

    item: P


@dataclass(eq=False)
class _Job(Generic[A]):
    item: A
    future: asyncio.Future[Any]
    attempts: int = 0


@dataclass
class _Queues(Generic[A, P]):
    accepts: deque[_Job[A]] = field(default_factory=deque)
    by_key: dict[str, deque[_Job[P]]] = field(default_factory=dict)


class Pipeline(Generic[A, P]):
    """Runs accept and process work in shared transactions, in order per conversation key."""

    def __init__(
        self,
        database: AsyncEngine,
        *,
        accept: AcceptFn[A],
        process: ProcessFn[P],
        fail: FailFn[P],
        batch_size: int = 64,
        on_commit: Callable[[list[Any]], None] = lambda results: None,
        observe: Callable[[int, float, float], None] = lambda size, seconds, commit: None,
    ) -> None:
        self._database = database
        self._accept = accept
        self._process = process
        self._fail = fail
        self._batch_size = batch_size
        self._on_commit = on_commit
        self._observe = observe  # batch size, transaction and commit seconds (bot/metrics.py)
        self._queues: _Queues[A, P] = _Queues()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="optibot-pipeline")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def accept(self, item: A) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queues.accepts.append(_Job(item, future))
        self._wake.set()
        return future

    def process(self, key: str, item: P) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queues.by_key.setdefault(key, deque()).append(_Job(item, future))
        self._wake.set()
        return future

    def pending(self) -> int:
        return len(self._queues.accepts) + sum(len(q) for q in self._queues.by_key.values())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending():
                accepts = self._take_accepts()
                heads = self._take_heads()
                if not accepts and not heads:
                    if self._queues.accepts:  # only abandoned accepts were taken: look again
                        continue
                    break
                try:
                    await self._round(accepts, heads)
                except Exception as error:  # the writer must outlive any bug in one batch
                    log.error("pipeline round failed: %s", describe(error))

    def _take_accepts(self) -> list[_Job[A]]:
        queue = self._queues.accepts
        taken = [queue.popleft() for _ in range(min(self._batch_size, len(queue)))]
        # A caller that stopped waiting (timed out) was told "not stored": do not store it now.
        return [job for job in taken if not job.future.done()]

    def _take_heads(self) -> list[tuple[str, _Job[P]]]:
        """The oldest waiting message of each conversation, round-robin across conversations."""
        heads: list[tuple[str, _Job[P]]] = []
        by_key = self._queues.by_key
        for key in list(by_key):
            queue = by_key[key]
            while queue and queue[0].future.done():  # its caller gave up waiting: drop it
                queue.popleft()
            if not queue:
                del by_key[key]
                continue
            heads.append((key, queue[0]))
            by_key[key] = by_key.pop(key)  # to the back: busy conversations cannot starve others
            if len(heads) >= self._batch_size:
                break
        return heads

    def _done_with(self, key: str, job: _Job[P]) -> None:
        queue = self._queues.by_key.get(key)
        if queue and queue[0] is job:
            queue.popleft()
            if not queue:
                del self._queues.by_key[key]

    async def _round(self, accepts: list[_Job[A]], heads: list[tuple[str, _Job[P]]]) -> None:
        delays = iter(RETRY_DELAYS)
        for retry in itertools.count():
            accepts = [job for job in accepts if not job.future.done()]
            try:
                await self._commit(accepts, heads)
                return
            except Exception as error:
                # Past the cap, a "transient" error with the database answering is this batch's
                # own: split it. While the database does not answer, keep waiting for it.
                if is_transient(error) and (retry < MAX_TRANSIENT_RETRIES or not await self._alive()):
                    delay = next(delays, RETRY_DELAYS[-1])
                    log.warning("database unavailable (%s); retrying in %.2fs", type(error).__name__, delay)
                    await asyncio.sleep(delay)
                    continue
                log.error("batch failed, retrying its items one by one: %s", describe(error))
                await self._isolate(accepts, heads, error)
                return

    async def _alive(self) -> bool:
        try:
            async with asyncio.timeout(5), self._database.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True

    async def _commit(self, accepts: list[_Job[A]], heads: list[tuple[str, _Job[P]]]) -> None:
        started = time.perf_counter()
        async with self._database.begin() as connection:
            accepted = await self._accept(connection, [j.item for j in accepts]) if accepts else []
            processed = await self._process(connection, [j.item for _, j in heads]) if heads else []
            written = time.perf_counter()
        self._observe(len(accepts) + len(heads), time.perf_counter() - started, time.perf_counter() - written)
        self.batches += 1
        for job, result in zip(accepts, accepted, strict=True):
            if not job.future.done():
                job.future.set_result(result)
        for (key, head), result in zip(heads, processed, strict=True):
            if isinstance(result, Again):
                head.item = result.item
                self._wake.set()
                continue
            self._done_with(key, head)
            if not head.future.done():
                head.future.set_result(result)
        self._on_commit([r for r in processed if not isinstance(r, Again)])

    async def _isolate(
        self, accepts: list[_Job[A]], heads: list[tuple[str, _Job[P]]], error: BaseException
    ) -> None:
        if len(accepts) + len(heads) > 1:
            for job in accepts:
                await self._round([job], [])
            for key, head in heads:
                await self._round([], [(key, head)])
            return
        for accept_job in accepts:
            accept_job.attempts += 1
            if accept_job.attempts >= MAX_ITEM_ATTEMPTS or is_poison(error):  # alone, it failed
                if not accept_job.future.done():
                    accept_job.future.set_exception(error)
            else:
                self._queues.accepts.appendleft(accept_job)
        for key, head in heads:
            head.attempts += 1
            if head.attempts >= MAX_ITEM_ATTEMPTS:
                try:
                    itself = await self._fail(head.item, error)
                except Exception as failure:
                    log.error("could not record a failed message: %s", describe(failure))
                    itself = True
                if not itself:  # an older message blocked it and was set aside: try it again
                    head.attempts = 0
                    continue
                self._done_with(key, head)
                if not head.future.done():
                    head.future.set_exception(error)
        self._wake.set()
