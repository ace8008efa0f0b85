"""The console's live stream (Server-Sent Events): what changed in the queue, in the open case, in
what clients wrote to the operator's cases, and in the refused traffic; for the members' desk
(issue 16), when members' requests or their threads changed (``member_requests``).

Who hears what follows the roles (bot/console/guards.py): operators hear only client cases, network
staff only members' requests, admins both. The members' side is one cheap version (two aggregates)
compared on each wake-up, like the cases' queue — read ONCE for all the streams a wake-up wakes
(:class:`SharedRead`), not once per open console."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, Generic, Protocol, TypeVar

from fastapi import Request

from bot.console.auth import Operator
from bot.console.service import Console
from bot.signals import wait_set
from bot.throttle import KINDS, Throttle

KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 2.0  # without a listener (bot/live.py), another process's changes are seen this late
SESSION_CHECK_SECONDS = 5.0  # a stream ends this soon after its session does
TRAFFIC_SECONDS = 2.0  # the refused traffic is looked at this often at most
TRAFFIC_WINDOW = timedelta(hours=1)


T = TypeVar("T")


class MemberRequestsVersion(Protocol):
    """What changes when members' requests may have changed (bot/members/request_queries.py); ``woken``:
    when the stream asking woke (``time.monotonic()``): a read started since then serves it."""

    async def version(self, woken: float | None = None) -> tuple[object, ...]: ...


class SharedRead(Generic[T]):
    """One read for every live stream woken at once. A stream that woke at ``woken`` is given the
    result of the latest read if that read STARTED at or after ``woken`` — it then sees every commit
    whose notify woke the stream — otherwise it starts a new one. So a wake-up costs one read, not
    one per open console; a stream never gets a value read before it woke."""

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._latest: tuple[float, asyncio.Task[T]] | None = None

    async def since(self, woken: float) -> T:
        latest = self._latest
        if latest is None or latest[0] < woken or latest[1].get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._read())
            task.add_done_callback(_retrieved)  # every waiter may have gone: no "never retrieved"
            latest = self._latest = (time.monotonic(), task)
        # A stream going away cancels its own wait, never the read the others share.
        return await asyncio.shield(latest[1])


def _retrieved(task: "asyncio.Task[Any]") -> None:
    if not task.cancelled():
        task.exception()


class Wakeup:
    """Wakes the live streams after a commit (engine or console, here or in another process);
    ``poll``: how long a stream waits for a wake-up before reading anyway (bot/live.py)."""

    def __init__(self, poll: Callable[[], float] = lambda: POLL_SECONDS) -> None:
        self._events: set[asyncio.Event] = set()
        self.poll_seconds = poll

    def notify(self) -> None:
        for event in self._events:
            event.set()

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._events.add(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._events.discard(event)


async def live_events(
    request: Request,
    console: Console,
    wakeup: Wakeup,
    case: str | None,
    still_signed_in: Callable[[], Awaitable[bool]],
    me: Operator,
    throttle: Throttle,
    members: MemberRequestsVersion | None = None,
) -> AsyncIterator[str]:
    """Until the browser goes, or its session ends (logout, expiry, account disabled).

    ``traffic`` tells what was refused in the last hour (when some was, then when it changes);
    ``member_requests`` (network staff and admins) that the Réseau queue or a thread changed."""
    wake = wakeup.subscribe()
    clients = me.clients  # network staff hear nothing of client cases
    members = members if me.network else None  # operators nothing of members' requests
    try:
        yield "retry: 2000\n\n"
        traffic: dict[str, object] = {"refused": dict.fromkeys(KINDS, 0), "set_aside": 0}
        traffic_at = -TRAFFIC_SECONDS
        version = await console.version(case) if clients else (None, None)
        member_version = await members.version() if members is not None else None
        written = console.clock()  # the holder hears of what clients write from now on
        cursor = 0
        if case is not None and clients:
            existing = await console.messages_after(case, 0)
            cursor = existing[-1].id if existing else 0
        # From here on, every change is told: what came before is in what the browser fetches.
        yield "event: ready\ndata: {}\n\n"
        idle = 0.0
        checked = read_at = time.monotonic()
        while not await request.is_disconnected():
            # Woken by a commit, else read anyway every poll_seconds() (the safety net); the
            # session is checked every SESSION_CHECK_SECONDS either way.
            poll = wakeup.poll_seconds()
            tick = min(poll, SESSION_CHECK_SECONDS)
            woke = await wait_set(wake, tick)
            if not woke:
                idle += tick
            wake.clear()
            woken = time.monotonic()
            if time.monotonic() - checked >= SESSION_CHECK_SECONDS:
                checked = time.monotonic()
                if not await still_signed_in():
                    yield "event: signed_out\ndata: {}\n\n"
                    return
            if not woke and woken - read_at < poll - 0.05:
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keepalive\n\n"
                continue
            read_at = woken
            if members is not None:
                seen_members = await members.version(woken)
                if seen_members != member_version:
                    member_version = seen_members
                    idle = 0.0
                    yield "event: member_requests\ndata: {}\n\n"
            if not clients:
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keepalive\n\n"
                continue
            now = await console.version(case)
            if case is not None:
                for message in await console.messages_after(case, cursor):
                    cursor = message.id
                    data = json.dumps(message.model_dump(), ensure_ascii=False)
                    yield f"event: message\ndata: {data}\n\n"
            if now[0] != version[0]:
                yield "event: queue\ndata: {}\n\n"
                # A client writing touches their case: its holder (or last holder) is told.
                for news in await console.written_since(me, written):
                    written = news.at
                    wrote = {"id": news.public_id, "reference": news.reference}
                    yield f"event: client_wrote\ndata: {json.dumps(wrote)}\n\n"
            if now[1] != version[1]:
                yield "event: case\ndata: {}\n\n"
            if time.monotonic() - traffic_at >= TRAFFIC_SECONDS:
                traffic_at = time.monotonic()
                seen = {
                    "refused": await throttle.refused_last_hour(),
                    "set_aside": await console.set_aside_since(console.clock() - TRAFFIC_WINDOW),
                }
                if seen != traffic:
                    traffic = seen
                    yield f"event: traffic\ndata: {json.dumps(seen)}\n\n"
            if now != version:
                idle = 0.0
                version = now
            elif idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keepalive\n\n"
    finally:
        wakeup.unsubscribe(wake)
