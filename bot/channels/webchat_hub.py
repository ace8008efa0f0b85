"""The web chat's reply streams of this process, per browser: woken when a reply to that browser is
delivered, by this process or (bot/live.py) by another one."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable


class WebChatHub:
    """Wakes the reply streams of one browser when its replies are committed."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._forwards: list[Callable[[str], None]] = []

    def forward(self, listener: Callable[[str], None]) -> None:
        """Told of the replies this process delivers (bot/live.py tells the other processes)."""
        self._forwards.append(listener)

    def delivered(self, user: str) -> None:
        """A reply to ``user`` was delivered by this process."""
        self.notify(user)
        for forward in self._forwards:
            forward(user)

    def notify(self, user: str) -> None:
        for event in self._waiters.get(user, ()):
            event.set()

    def users(self) -> list[str]:
        """The browsers with a stream open here."""
        return list(self._waiters)

    def subscribe(self, user: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters[user].add(event)
        return event

    def unsubscribe(self, user: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(user)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[user]
