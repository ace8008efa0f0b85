"""A background loop waiting on a signal ends when cancelled, even as the signal arrives."""

from __future__ import annotations

import asyncio

import pytest

from bot.signals import wait_set


async def _loop(event: asyncio.Event, turns: list[bool]) -> None:
    while True:  # as the outbox sender, dispatch and the receipts loop wait for their wake-up
        turns.append(await wait_set(event, 10))
        event.clear()


async def test_a_loop_cancelled_as_its_event_is_set_ends() -> None:
    event = asyncio.Event()
    turns: list[bool] = []
    task = asyncio.create_task(_loop(event, turns))
    await asyncio.sleep(0)  # the loop is waiting
    event.set()  # a commit's signal, in the same turn as the shutdown's cancel
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)  # asyncio.wait never cancels nor swallows
    assert done == {task}, "the cancel was swallowed: the loop runs on"
    assert task.cancelled()


async def test_wait_set_says_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    event.set()
    assert await wait_set(event, 10) is True


@pytest.mark.parametrize("seconds", [0.0, 0.01])
async def test_wait_set_times_out_without_an_event(seconds: float) -> None:
    assert await wait_set(asyncio.Event(), seconds) is False
