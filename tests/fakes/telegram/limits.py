"""Telegram's limits on sending, as the fake enforces them: flood control (every send refused for a while)
and the sliding windows per chat and per bot, each refusal a 429 with ``retry_after``."""

from __future__ import annotations

import math
import time
from collections import deque

from tests.fakes.telegram.api import ApiError


class SendLimits:
    """Counted when a send is handled: ``too_many`` 429s of the windows (``too_many_chat`` of them with
    the chat's window full), ``flood_rejected`` 429s of flood control."""

    def __init__(self, *, enforce: bool, chat_limit: tuple[int, float], bot_limit: tuple[int, float]) -> None:
        self.enforce = enforce
        self.chat_limit = chat_limit
        self.bot_limit = bot_limit
        self.too_many = 0
        self.too_many_chat = 0
        self.flood_rejected = 0
        self._flood_until = 0.0
        self._chat_sends: dict[int, deque[float]] = {}
        self._bot_sends: deque[float] = deque()

    def flood(self, seconds: int) -> None:
        self._flood_until = time.monotonic() + seconds

    def admit(self, chat_id: int) -> None:
        """Flood control and the rate limits, counted when a send is handled."""
        now = time.monotonic()
        if now < self._flood_until:
            self.flood_rejected += 1
            wait = max(1, math.ceil(self._flood_until - now))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        if not self.enforce:
            return
        per_chat = self._chat_sends.setdefault(chat_id, deque())
        waits = []
        for sends, (limit, window) in ((per_chat, self.chat_limit), (self._bot_sends, self.bot_limit)):
            while sends and sends[0] <= now - window:
                sends.popleft()
            if len(sends) >= limit:
                waits.append(sends[-limit] + window - now)
        if waits:
            self.too_many += 1
            if len(per_chat) >= self.chat_limit[0]:
                self.too_many_chat += 1
            wait = max(1, math.ceil(max(waits)))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        per_chat.append(now)
        self._bot_sends.append(now)
