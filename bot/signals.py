"""Commits: the one signal that something was committed, so that whoever waits on it wakes.

The engine fires it after each batch, the console and dispatch after their own transactions; the
outbox sender, the live views and dispatch listen. Built first by the composition root and handed
to each of them, so no object needs another one built later.
"""

from __future__ import annotations

from collections.abc import Callable


class Commits:
    """Listeners called, in the order they were added, each time something is committed."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def __call__(self) -> None:
        for listener in self._listeners:
            listener()
