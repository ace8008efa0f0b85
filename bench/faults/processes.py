"""Fault scenarios with real ``optibot run`` processes on one PostgreSQL database.

``burst-3-processes``: three processes at ``TELEGRAM_MAX_PER_SECOND=10`` each (the README's 30/N)
behind a load balancer, clients writing bursts: every reply once, in the order written.

``sigkill``: the same under load, a process killed with SIGKILL at random moments and started
again: nothing acknowledged is lost; a reply may go out twice only when a process died between its
send and its record (``repeats_after_crash``).

``takeover``: a process that stored messages dies right after its 200; how long until another
process answers them (``extra["takeover_s"]``, target about 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.faults import Figures, Scale, scenario
from bench.faults.audit import audit, wait_settled
from bench.faults.common import (
    Poster,
    Service,
    Traffic,
    database_engine,
    scratch_database,
    script,
    services,
)
from tests.fakes.telegram import FakeTelegram

PER_PROCESS = "10"  # TELEGRAM_MAX_PER_SECOND: the README's 30/N for three processes
SETTLE_WITHIN = 240.0  # seconds for everything acknowledged to be answered after the load
TAKEOVER_TARGET = 10.0


@dataclass
class Rig:
    fake: FakeTelegram
    http: httpx.AsyncClient
    database_url: str
    processes: list[Service]
    traffic: Traffic
    poster: Poster


@contextlib.asynccontextmanager
async def rig_on(database_url: str, count: int, **env: str) -> AsyncIterator[Rig]:
    """The fake Bot API (enforcing Telegram's limits) and ``count`` processes on ``database_url``."""
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=100)
    async with FakeTelegram(enforce_limits=True) as fake, httpx.AsyncClient(limits=limits) as http:
        with tempfile.TemporaryDirectory(prefix="optibot-faults-") as folder:
            async with services(count, database_url, Path(folder), fake.base_url, http, **env) as processes:
                traffic = Traffic()
                yield Rig(fake, http, database_url, processes, traffic, Poster(http, processes, traffic))


@contextlib.asynccontextmanager
async def rig(count: int) -> AsyncIterator[Rig]:
    """``count`` processes at the README's 30/N on a scratch database of the shared server."""
    async with scratch_database() as url, rig_on(url, count, TELEGRAM_MAX_PER_SECOND=PER_PROCESS) as r:
        yield r


async def settle_and_audit(rig: Rig, figures: Figures, kills: list[float], started: float) -> Figures:
    """Wait for every acknowledged message to be answered, then count what went wrong."""
    database = database_engine(rig.database_url)
    try:
        try:
            figures.extra["settled_s"] = round(await wait_settled(database, rig.traffic, SETTLE_WITHIN), 1)
        except TimeoutError as error:
            figures.extra["not_settled"] = str(error)
        result = await audit(database, rig.fake, rig.traffic, kills)
    finally:
        await database.dispose()
    figures.sent = rig.traffic.sent
    figures.server_errors = rig.traffic.server_errors
    figures.extra["total_s"] = round(time.monotonic() - started, 1)
    figures.extra["http_503"] = rig.traffic.statuses.get(503, 0)
    figures.extra["429"] = rig.fake.too_many
    figures.extra["429_chat"] = rig.fake.too_many_chat  # the chat's window was full
    if rig.traffic.refused:
        figures.extra["refused_connections"] = rig.traffic.refused
    return result.into(figures)


def _chats(base: int, count: int) -> list[int]:
    return [base + random.randrange(10**6) * 1000 + i for i in range(count)]


@scenario("burst-3-processes")
async def burst_three_processes(scale: Scale) -> Figures:
    """Bursts from many clients across three processes; no crash, so no repeat is allowed."""
    clients = scale.pick(20, 170)
    length = scale.pick(4, 99)  # long: whole conversations
    figures = Figures("burst-3-processes")
    async with rig(3) as r:
        started = time.monotonic()
        chats = _chats(710_000_000, clients)
        await asyncio.gather(*(r.poster.burst(chat, script(i, length)) for i, chat in enumerate(chats)))
        figures.extra["acknowledged_s"] = round(time.monotonic() - started, 1)
        return await settle_and_audit(r, figures, [], started)


async def _restart(victim: Service, http: httpx.AsyncClient, restarting: set[Service]) -> None:
    try:
        await asyncio.sleep(random.uniform(0.0, 1.0))
        await victim.start()
        await victim.wait_healthy(http)
    finally:
        restarting.discard(victim)


async def _killer(
    processes: list[Service], http: httpx.AsyncClient, kills: int, pause: tuple[float, float]
) -> list[float]:
    """Kill a random process ``kills`` times, ``pause`` seconds apart, each started again in the
    background; one process at least is always up. Returns the times of the kills."""
    at: list[float] = []
    restarting: set[Service] = set()
    restarts: list[asyncio.Task[None]] = []
    for _ in range(kills):
        await asyncio.sleep(random.uniform(*pause))
        while len(restarting) >= len(processes) - 1:  # one process at least stays up
            await asyncio.wait(restarts, return_when=asyncio.FIRST_COMPLETED)
        victim = random.choice([p for p in processes if p not in restarting])
        restarting.add(victim)
        await victim.kill()
        at.append(time.monotonic())
        restarts.append(asyncio.create_task(_restart(victim, http, restarting)))
    await asyncio.gather(*restarts)
    return at


@scenario("sigkill")
async def sigkill(scale: Scale) -> Figures:
    """SIGKILLs at random moments under load, each process started again after its kill; the
    clients keep writing (new conversations) until the last process killed is back."""
    clients = scale.pick(8, 100)
    kills = scale.pick(3, 20)
    pause = (0.5, 2.0) if scale.name == "short" else (2.0, 8.0)
    figures = Figures("sigkill")
    async with rig(scale.pick(2, 3)) as r:
        started = time.monotonic()
        base = 720_000_000 + random.randrange(10**5) * 1000
        killing = asyncio.create_task(_killer(r.processes, r.http, kills, (0.5, 3.0)))

        async def client(index: int) -> None:
            for number in itertools.count():
                chat = base + number * clients + index
                await r.poster.burst(chat, script(index + number), pause=pause)
                if killing.done():
                    return

        await asyncio.gather(*(client(i) for i in range(clients)))
        killed = await killing
        figures.extra["kills"] = len(killed)
        figures.extra["acknowledged_s"] = round(time.monotonic() - started, 1)
        return await settle_and_audit(r, figures, killed, started)


async def _until(check: Callable[[], Awaitable[bool]], within: float) -> float | None:
    """Seconds until ``check`` holds, polled every 0.1 s; None past ``within``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            return None
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def _count(database: AsyncEngine, statement: sa.Select[Any]) -> int:
    async with database.connect() as connection:
        return int(await connection.scalar(statement) or 0)


async def _strand(r: Rig, victim: Service, chats: list[int]) -> tuple[list[int], float]:
    """Every chat writes to ``victim`` at once; it is killed as soon as it acknowledged one.
    Returns the inbox rows it stored and left unprocessed, and when it was killed."""
    from storage.tables import inbox

    first = asyncio.Event()
    target = Poster(r.http, [victim], r.traffic)

    async def one(chat: int) -> None:
        with contextlib.suppress(httpx.TransportError, TimeoutError, RuntimeError):
            await target.say(chat, "bonjour", within=0.0)  # once: no retry to another process
            first.set()

    posts = [asyncio.create_task(one(chat)) for chat in chats]
    acknowledged: asyncio.Future[Any] = asyncio.ensure_future(first.wait())
    everything: asyncio.Future[Any] = asyncio.gather(*posts)
    await asyncio.wait([acknowledged, everything], return_when=asyncio.FIRST_COMPLETED)
    acknowledged.cancel()
    await victim.kill()
    killed_at = time.monotonic()
    await asyncio.gather(*posts)
    database = database_engine(r.database_url)
    try:
        async with database.connect() as connection:
            query = sa.select(inbox.c.id).where(inbox.c.processed_at.is_(None))
            return list((await connection.execute(query)).scalars()), killed_at
    finally:
        await database.dispose()


async def _taken_over(r: Rig, stranded: list[int], chats: list[int]) -> bool:
    """Whether the stranded rows are processed and every reply to those chats is sent."""
    from storage.tables import inbox, messages

    count = sa.select(sa.func.count())
    unprocessed = count.select_from(inbox).where(inbox.c.id.in_(stranded), inbox.c.processed_at.is_(None))
    undelivered = count.select_from(messages).where(
        messages.c.direction == "out",
        messages.c.party.in_([str(c) for c in chats]),
        messages.c.sent_at.is_(None),
        messages.c.failed_at.is_(None),
    )
    database = database_engine(r.database_url)
    try:
        return not await _count(database, unprocessed) and not await _count(database, undelivered)
    finally:
        await database.dispose()


@scenario("takeover")
async def takeover(scale: Scale) -> Figures:
    """A process killed right after acknowledging: the seconds until the survivor has answered
    what it stored (processed, and the replies sent). It stays down meanwhile (a restart would
    recover its messages itself); a round where it had answered everything is tried again."""
    clients = scale.pick(60, 100)
    rounds = scale.pick(1, 3)
    figures = Figures("takeover")
    takeovers: list[float] = []
    stranded_total = 0
    async with rig(2) as r:
        started = time.monotonic()
        victim, survivor = r.processes
        for number in range(rounds + 4):
            if len(takeovers) == rounds:
                break
            if not victim.alive:
                await victim.start()
                await victim.wait_healthy(r.http)
            chats = _chats(730_000_000 + number * 10**7, clients)
            stranded, killed_at = await _strand(r, victim, chats)
            if not stranded:
                continue
            stranded_total += len(stranded)

            async def done(stranded: list[int] = stranded, chats: list[int] = chats) -> bool:
                return await _taken_over(r, stranded, chats)

            if await _until(done, SETTLE_WITHIN) is None:
                figures.extra["not_taken_over"] = len(stranded)
                break
            takeovers.append(time.monotonic() - killed_at)
        if not survivor.alive:
            raise RuntimeError(f"the survivor died:\n{survivor.log_tail()}")
        figures.extra["stranded"] = stranded_total
        figures.extra["takeover_s"] = round(max(takeovers), 1) if takeovers else "n/a"
        figures.extra["takeover_target_s"] = TAKEOVER_TARGET
        return await settle_and_audit(r, figures, [], started)
