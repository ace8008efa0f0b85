"""Pacing sends to a chat platform: sliding windows per recipient and for the whole bot.

A platform such as Telegram counts messages over sliding windows (about one a second per chat with
short bursts, thirty a second per bot) and answers 429 with ``retry_after`` beyond them. Sending
within the windows means never meeting a 429 in normal running; a 429 that still comes pauses the
chat, and several in a row pause the bot.

A send is recorded with no await between reading the windows and writing them, so the pacing holds
for any number of concurrent senders in one event loop. Senders waiting for the bot's window are
served in arrival order (a later one never overtakes an earlier one): a chat's message does not
starve behind newer ones while its outbox lease runs. It is per process: with several processes
sending, give each its share of the bot's budget (see docs/DECISIONS.md); a chat's window is shared
through :meth:`RateLimiter.seed`, which the outbox calls with the chat's last sends from the
database when a process takes the chat over from another.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``count`` sends in any ``seconds`` long interval."""

    count: int
    seconds: float


class WaitTooLongError(Exception):
    """The windows or a pause would hold the message longer than the caller allows."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"{seconds:.1f} s to wait")
        self.seconds = seconds


class _Log:
    """Send times of one key (a chat, or the bot), oldest first, never longer than its window."""

    __slots__ = ("paused_until", "times", "window")

    def __init__(self, window: Window) -> None:
        self.window = window
        self.times: deque[float] = deque(maxlen=window.count)
        self.paused_until = 0.0

    def earliest(self, now: float) -> float:
        at = max(now, self.paused_until)
        if len(self.times) == self.window.count:
            at = max(at, self.times[0] + self.window.seconds)
        return at


class RateLimiter:
    """``await limiter.acquire(chat)`` returns when a message to ``chat`` may leave now."""

    def __init__(
        self,
        per_chat: Window,
        per_bot: Window,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        flood_chats: int = 3,
    ) -> None:
        self.per_chat = per_chat
        self.per_bot = per_bot
        self.clock = clock
        self.sleep = sleep
        self.flood_chats = flood_chats
        self._chats: dict[str, _Log] = {}
        self._bot = _Log(per_bot)
        self._recent_429: deque[tuple[float, str]] = deque(maxlen=32)
        self._swept = 0.0
        # The bot's sends are also spread evenly: its budget released all at once each second
        # arrives at Telegram in clumps, and network jitter then puts one too many in a second.
        self.gap = per_bot.seconds / per_bot.count
        self._slot = 0.0  # the next send's place on the even timeline
        # Senders waiting for the bot's window, in arrival order; ``_change`` is set (and replaced)
        # whenever the line moves or a pause starts, to wake those behind the first.
        self._line: deque[object] = deque()
        self._change = asyncio.Event()

    async def acquire(self, chat: str, *, within: float | None = None) -> None:
        """Wait until the chat's window, the bot's window and any pause allow a message, then
        record it as sent now. With ``within``, a wait longer than that (a long pause, started
        before or during the wait) raises :class:`WaitTooLongError` instead: the caller hands
        the message back rather than hold it.

        Nothing is booked ahead: a waiter sleeps until the earliest moment the windows could
        allow it and looks again, so a pause that starts meanwhile is honoured, and reading the
        windows and recording the send happen with no await between them (concurrent senders
        cannot overbook). A sender that its own chat's window or pause holds waits on its own;
        the others queue for the bot's window in arrival order, and only the first of the line
        may take it. One sender per chat at a time: the outbox delivers a recipient's messages
        in order.
        """
        self._forget_idle(self.clock())
        log = self._chat(chat)
        ticket = object()
        queued = False
        try:
            while True:
                now = self.clock()
                if self._slot < now - self.gap:  # idle meanwhile: no credit builds up
                    self._slot = now
                bot_at = max(self._bot.earliest(now), self._slot)
                chat_at = log.earliest(now)
                if chat_at > now:  # held by its own chat: out of the line, the others go on
                    if queued:
                        self._line.remove(ticket)
                        queued = False
                        self._changed()
                    at = max(chat_at, bot_at)
                    if within is not None and at - now > within:
                        raise WaitTooLongError(at - now)
                    await self.sleep(chat_at - now)
                    continue
                if not queued:
                    self._line.append(ticket)
                    queued = True
                ahead = self._line.index(ticket)
                if ahead == 0 and bot_at <= now:
                    log.times.append(now)
                    self._bot.times.append(now)
                    # The timeline moves by whole gaps, not from the actual time: a late wake-up
                    # does not slow the pace down, the next send catches up.
                    self._slot += self.gap
                    self._line.popleft()
                    queued = False
                    self._changed()
                    return
                at = bot_at + ahead * self.gap  # those ahead go first, one gap each
                if within is not None and at - now > within:
                    raise WaitTooLongError(at - now)
                if ahead == 0:
                    await self.sleep(bot_at - now)
                else:  # until the line moves or a pause changes the outlook
                    await self._change.wait()
        finally:
            if queued:  # cancelled, or told to give up: the next in line goes
                self._line.remove(ticket)
                self._changed()

    def seed(self, chat: str, ages: Iterable[float]) -> None:
        """Sends to ``chat`` made elsewhere (another process), ``ages`` seconds ago: the chat's
        window counts them. The log only moves forwards: its n-th latest send becomes the later of
        its own and the seeded one's, so a send known both here and from the database (a little
        later there: recorded after it returned) is counted once, and nothing is forgotten."""
        now = self.clock()
        horizon = now - self.per_chat.seconds
        seeded = sorted((t for t in (now - max(0.0, age) for age in ages) if t > horizon), reverse=True)
        if not seeded:
            return
        log = self._chat(chat)
        own = sorted(log.times, reverse=True)
        merged = [
            max(own[i] if i < len(own) else -float("inf"), seeded[i] if i < len(seeded) else -float("inf"))
            for i in range(min(self.per_chat.count, max(len(own), len(seeded))))
        ]
        log.times.clear()
        log.times.extend(reversed(merged))

    def pause(self, chat: str, seconds: float, *, flood: bool = True) -> None:
        """The platform said 429 for ``chat``: nothing to it for ``seconds``; if several chats
        hit it at once, the limit was the bot's, and the whole bot waits. ``flood=False`` when
        the platform said the limit is this chat's alone (then it never pauses the bot)."""
        now = self.clock()
        until = now + max(0.0, seconds)
        log = self._chat(chat)
        log.paused_until = max(log.paused_until, until)
        self._changed()
        if not flood:
            return
        self._recent_429.append((now, chat))
        recent = {c for t, c in self._recent_429 if now - t <= 1.0}
        if len(recent) >= self.flood_chats:
            self._bot.paused_until = max(self._bot.paused_until, until)

    def pause_all(self, seconds: float) -> None:
        """The platform said the sender as a whole is over its throughput: everything waits."""
        until = self.clock() + max(0.0, seconds)
        self._bot.paused_until = max(self._bot.paused_until, until)
        self._changed()

    def paused_for(self, chat: str) -> float:
        """Seconds before anything may be sent to ``chat`` (0 if it may be now)."""
        now = self.clock()
        log = self._chats.get(chat)
        until = max(self._bot.paused_until, log.paused_until if log else 0.0)
        return max(0.0, until - now)

    def _changed(self) -> None:
        """Wake the senders waiting behind the first of the line: they look again."""
        self._change.set()
        self._change = asyncio.Event()

    def _chat(self, chat: str) -> _Log:
        log = self._chats.get(chat)
        if log is None:
            log = self._chats[chat] = _Log(self.per_chat)
        return log

    def _forget_idle(self, now: float) -> None:
        """Drop chats whose window and pause are over: they constrain nothing any more."""
        if len(self._chats) < 4096 or now - self._swept < 10.0:
            return
        self._swept = now
        horizon = self.per_chat.seconds
        idle = [
            chat
            for chat, log in self._chats.items()
            if log.paused_until <= now and (not log.times or log.times[-1] + horizon <= now)
        ]
        for chat in idle:
            del self._chats[chat]
