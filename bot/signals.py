"""Commits: the one signal that something was committed, so that whoever waits on it wakes.

The engine fires it after each batch, the console and dispatch after their own transactions; the
outbox sender, the live views and dispatch listen. Built first by the composition root and handed
to each of them, so no object needs another one built later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Commits:
    """Listeners called, in the order they were added, each time something is committed — by this
    process (calling it) or by another one (:meth:`heard`, from bot/live.py)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._forwards: list[Callable[[], None]] = []

    def listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def forward(self, listener: Callable[[], None]) -> None:
        """Told of this process's own commits only (it tells the other processes)."""
        self._forwards.append(listener)

    def __call__(self) -> None:
        self.heard()
        for forward in self._forwards:
            forward()

    def heard(self) -> None:
        """Something was committed, here or by another process: wake the listeners."""
        for listener in self._listeners:
            listener()


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass (True: it was set).

    Every wait with a timeout in bot/ goes through this or ``asyncio.timeout``, never
    ``asyncio.wait_for``: on Python 3.11, a task cancelled while the awaited thing completes in the
    same turn of the loop gets its result from ``wait_for`` instead of the cancellation, and a
    ``while True`` loop around it then never ends — a shutdown that waited on such a task hung
    forever (the woken event was a commit's signal, arriving as the service stopped).
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
