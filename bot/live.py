"""Live events across processes: what one process commits wakes the others' listeners.

On PostgreSQL each process keeps one LISTEN connection (storage/notify.py) and fans what it hears
out in memory to the listeners of :class:`bot.signals.Commits` (the outbox sender, the console's
live streams, dispatch) and to the web chat's reply streams of one browser. What this process
commits is announced by a NOTIFY sent after the commit, coalesced: at most one per
``interval`` (a burst of commits is one notification), so announcing costs nothing to the
committing transaction and a busy process sends at most ``1 / interval`` notifications a second.
A notification lost (the process died between its commit and the NOTIFY, or the database was
unreachable) is made up by the streams' slow safety read (``LIVE_SAFETY_SECONDS``).

A payload holds ids only: the sending process's random token (its own notifications are ignored:
they were signalled in memory already), ``c`` when something was committed, and ``w=`` the keys of
the web chat browsers a reply was delivered to — a short hash of the browser's id (itself a hash of
a random cookie), never a name, a phone number, a channel's user id or a text.

On SQLite (one process) only the in-process signal is kept; streams read every
:data:`FALLBACK_POLL_SECONDS`, as they also do on PostgreSQL while the listener is reconnecting.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Protocol

from bot.signals import Commits
from storage.database import Database
from storage.notify import MAX_PAYLOAD, Listener, asyncpg_connect_args, notify, supports_notify

log = logging.getLogger(__name__)

FALLBACK_POLL_SECONDS = 2.0  # no listener (SQLite, or PostgreSQL reconnecting): read this often
COALESCE_SECONDS = 0.02  # at most one NOTIFY per this long from one process
ALL = "*"


def stream_key(user: str) -> str:
    """The key of a web chat browser in a payload: 16 hex digits of a hash of its id."""
    return hashlib.blake2b(user.encode(), digest_size=8, person=b"optibot-live").hexdigest()


class BrowserStreams(Protocol):
    """The web chat's reply streams (bot/channels/webchat.py::WebChatHub)."""

    def users(self) -> Iterable[str]: ...

    def forward(self, listener: Callable[[str], None]) -> None: ...

    def notify(self, user: str) -> None: ...


class Live:
    """One per process, built by the composition root; :meth:`run` listens (PostgreSQL only)."""

    def __init__(
        self,
        commits: Commits,
        database: Database,
        url: str,
        *,
        safety_seconds: float,
        browsers: BrowserStreams | None = None,
        interval: float = COALESCE_SECONDS,
    ) -> None:
        self.commits = commits
        self.database = database
        self.url = url
        self.safety_seconds = safety_seconds
        self.browsers = browsers
        self.interval = interval
        self.pushed = supports_notify(url)  # PostgreSQL: other processes' commits are heard
        self.listening = False
        self.origin = secrets.token_hex(4)
        self.listener: Listener | None = None
        self._committed = False
        self._keys: set[str] = set()
        self._pending = asyncio.Event()
        self.sent = 0  # notifications sent by this process
        self.heard = 0  # notifications of other processes acted on

    def poll_seconds(self) -> float:
        """How long a live stream waits before reading again when nothing woke it."""
        return self.safety_seconds if self.listening else FALLBACK_POLL_SECONDS

    # --- what this process tells the others -----------------------------------------------------

    def committed(self) -> None:
        """This process committed something (a :class:`Commits` forward)."""
        if self.pushed:
            self._committed = True
            self._pending.set()

    def delivered(self, user: str) -> None:
        """A reply was delivered to the web chat browser ``user``: its streams elsewhere read."""
        if self.pushed:
            self._keys.add(stream_key(user))
            self._pending.set()

    async def announce(self) -> None:
        """Tell the other processes now that something was committed: for a command of the command
        line, whose process runs no publisher (its streams would otherwise wait for their safety read)."""
        if self.pushed:
            self._committed = True
            await notify(self.database, self._payload())

    def _payload(self) -> str:
        parts = [self.origin]
        if self._committed:
            parts.append("c")
        if self._keys:
            keys = ",".join(sorted(self._keys))
            parts.append("w=" + (keys if len(keys) + 64 < MAX_PAYLOAD else ALL))
        self._committed, self._keys = False, set()
        return ";".join(parts)

    async def _publish(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            payload = self._payload()
            try:
                await notify(self.database, payload)
                self.sent += 1
            except Exception as error:  # the others' safety read makes up for it
                log.warning("live: notification not sent (%s)", type(error).__name__)
            await asyncio.sleep(self.interval)

    # --- what this process hears ------------------------------------------------------------------

    def hear(self, payload: str) -> None:
        """A notification: wake this process's listeners, unless it came from this process."""
        origin, *parts = payload.split(";")
        if origin == self.origin:
            return
        self.heard += 1
        for part in parts:
            if part == "c":
                self.commits.heard()
            elif part.startswith("w=") and self.browsers is not None:
                keys = set(part[2:].split(","))
                for user in list(self.browsers.users()):
                    if ALL in keys or stream_key(user) in keys:
                        self.browsers.notify(user)

    def state(self, listening: bool) -> None:
        """The listener connected or lost its connection: everyone reads once now (what changed
        meanwhile), then waits as long as :meth:`poll_seconds` says."""
        if listening != self.listening:
            log.info("live: %s", "listening" if listening else "not listening, streams poll")
        self.listening = listening
        self.commits.heard()
        if self.browsers is not None:
            for user in list(self.browsers.users()):
                self.browsers.notify(user)

    async def run(self) -> None:
        """Listen and announce until cancelled (nothing to do without PostgreSQL)."""
        if not self.pushed:
            return
        self.listener = Listener(
            asyncpg_connect_args(self.url), self.hear, self.state, check_every=self.safety_seconds
        )
        publisher = asyncio.create_task(self._publish(), name="optibot-live-publish")
        try:
            await self.listener.run()
        finally:
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)
            self.listening = False
