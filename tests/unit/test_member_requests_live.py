"""The live stream's members' version (bot/console/live.py ``SharedRead``): one read for all the
streams a wake-up wakes, never a value read before a stream woke."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.console.live import SharedRead


class Reads:
    """A version read that counts itself and waits for the test's word to answer."""

    def __init__(self) -> None:
        self.count = 0
        self.go = asyncio.Event()

    async def __call__(self) -> int:
        self.count += 1
        number = self.count
        await self.go.wait()
        return number


async def test_streams_woken_at_once_share_one_read() -> None:
    reads = Reads()
    shared = SharedRead(reads)
    woken = time.monotonic()
    waiting = [asyncio.ensure_future(shared.since(woken)) for _ in range(20)]
    await asyncio.sleep(0)
    reads.go.set()
    assert await asyncio.gather(*waiting) == [1] * 20
    assert reads.count == 1
    # Woken before that read started, a stream is still served by it.
    assert await shared.since(woken) == 1
    assert reads.count == 1


async def test_a_stream_woken_after_a_read_started_reads_again() -> None:
    """The read in flight may predate the commit that woke it: a new read, not the old value."""
    reads = Reads()
    shared = SharedRead(reads)
    first = asyncio.ensure_future(shared.since(time.monotonic()))
    await asyncio.sleep(0)
    later = asyncio.ensure_future(shared.since(time.monotonic()))
    reads.go.set()
    assert (await first, await later) == (1, 2)
    assert reads.count == 2


async def test_a_stream_going_away_does_not_cancel_the_others_read() -> None:
    reads = Reads()
    shared = SharedRead(reads)
    woken = time.monotonic()
    gone, staying = (asyncio.ensure_future(shared.since(woken)) for _ in range(2))
    await asyncio.sleep(0)
    gone.cancel()
    reads.go.set()
    assert await staying == 1
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_a_failed_read_fails_its_waiters_and_the_next_wake_up_reads_again() -> None:
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("database gone")
        return calls

    shared = SharedRead(read)
    with pytest.raises(OSError, match="database gone"):
        await shared.since(time.monotonic())
    assert await shared.since(time.monotonic()) == 2
