"""Limits on the doors anyone can knock at: the web chat's messages, uploads and new conversations,
and the console's sign-in from one device; and a tally of what was refused, for the console.

Counts live in the storage of the ``limits`` library named by ``RATE_LIMIT_STORAGE``: ``memory://``
(each process counts on its own) or ``redis://host:port/db`` (every process shares the counts).
Limits are moving windows: "20/minute" means at most 20 in any 60 seconds. A refused request is not
counted, so a client who slows down is let in again as the window slides.

The client's address is ``request.client.host``: uvicorn replaces it by the ``X-Forwarded-For``
address only when the peer is in ``FORWARDED_ALLOW_IPS`` (see :func:`proxy_options`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from bot.settings import Settings

Door = Literal["message", "upload", "new_chat"]
# What the console's banner counts: the web chat's refusals, and sign-ins refused by the throttle.
Kind = Literal["webchat", "login"]
KINDS: tuple[Kind, ...] = ("webchat", "login")
# The tally of refusals: a sliding-window counter (constant memory, whatever the flood) over an hour.
_TALLY = RateLimitItemPerHour(1_000_000_000)
# A browser whose first request was counted (or who is known to the database), remembered a day.
_SEEN = RateLimitItemPerDay(1)


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for forwarded addresses: ``X-Forwarded-For`` and ``-Proto`` are read only
    from the peers of ``FORWARDED_ALLOW_IPS`` (none by default; uvicorn alone would trust
    127.0.0.1). For ``uvicorn.run`` / ``uvicorn.Config``."""
    trusted = settings.forwarded_allow_ips.strip()
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}


def storage_of(uri: str) -> Storage:
    """The ``limits`` async storage for ``RATE_LIMIT_STORAGE`` (``memory://`` or ``redis://...``)."""
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return RedisStorage(f"async+{uri}", implementation="redispy")
    if uri in ("memory://", "async+memory://"):
        return MemoryStorage()
    raise ValueError(f"RATE_LIMIT_STORAGE: memory:// or redis://host:port/db, not {uri!r}")


def _items(spec: str) -> tuple[RateLimitItem, ...]:
    """``"20/minute;200/hour"`` as limits; an empty string: no limit."""
    return tuple(parse_many(spec)) if spec.strip() else ()


@dataclass(frozen=True, slots=True)
class DoorLimits:
    per_browser: tuple[RateLimitItem, ...]
    per_address: tuple[RateLimitItem, ...]


class Throttle:
    """The limits of the web chat's doors and of the console's devices, and the refusals' tally."""

    def __init__(
        self,
        storage: Storage,
        doors: dict[Door, DoorLimits],
        *,
        device_logins: Sequence[RateLimitItem] = (),
        namespace: str = "optibot",
    ) -> None:
        self.storage = storage
        self.doors = doors
        self.device_logins = tuple(device_logins)
        self.namespace = namespace
        self._limiter = MovingWindowRateLimiter(storage)
        self._tally = SlidingWindowCounterRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings, *, namespace: str = "optibot") -> Throttle:
        doors: dict[Door, DoorLimits] = {
            "message": DoorLimits(
                _items(settings.web_chat_messages_per_browser), _items(settings.web_chat_messages_per_address)
            ),
            "upload": DoorLimits(
                _items(settings.web_chat_uploads_per_browser), _items(settings.web_chat_uploads_per_address)
            ),
            "new_chat": DoorLimits((), _items(settings.web_chat_new_chats_per_address)),
        }
        return cls(
            storage_of(settings.rate_limit_storage),
            doors,
            device_logins=_items(settings.console_login_failures_per_device),
            namespace=namespace,
        )

    async def admit(self, door: Door, *, address: str, browser: str | None = None) -> int | None:
        """Count one request at ``door``: None when it may go on, else the seconds to wait before
        trying again (the request is then refused, counted in the tally and not in the limits)."""
        limits = self.doors.get(door)
        if limits is None:
            return None
        checks = [(item, "address", address) for item in limits.per_address]
        if browser is not None:
            checks = [(item, "browser", browser) for item in limits.per_browser] + checks
        for item, scope, who in checks:  # nothing is counted unless every limit has room
            if not await self._limiter.test(item, self.namespace, door, scope, who):
                return await self._refuse(item, door, scope, who)
        for item, scope, who in checks:
            if not await self._limiter.hit(item, self.namespace, door, scope, who):  # a racing request
                return await self._refuse(item, door, scope, who)
        return None

    async def known(self, browser: str) -> bool:
        """The browser was seen by this storage in the last day (see :meth:`know`)."""
        return not await self._limiter.test(_SEEN, self.namespace, "seen", browser)

    async def know(self, browser: str) -> None:
        """Remember a browser already counted as a new conversation, or known to the database."""
        await self._limiter.hit(_SEEN, self.namespace, "seen", browser)

    async def _refuse(self, item: RateLimitItem, *identifiers: str) -> int:
        await self.refused("webchat")
        return await self._wait(item, *identifiers)

    async def device_attempt(self, device: str) -> int | None:
        """A sign-in attempt from a device (its cookie): None, or the seconds to wait."""
        for item in self.device_logins:
            if not await self._limiter.hit(item, self.namespace, "device", device):
                await self.refused("login")
                return await self._wait(item, "device", device)
        return None

    async def device_signed_in(self, device: str) -> None:
        """A right password from the device: its failures are forgotten."""
        for item in self.device_logins:
            await self._limiter.clear(item, self.namespace, "device", device)

    async def refused(self, kind: Kind) -> None:
        await self._tally.hit(_TALLY, self.namespace, "refused", kind)

    async def refused_last_hour(self) -> dict[Kind, int]:
        """Requests refused in about the last hour, by kind (shared by the processes with Redis)."""
        counts: dict[Kind, int] = {}
        for kind in KINDS:
            stats = await self._tally.get_window_stats(_TALLY, self.namespace, "refused", kind)
            counts[kind] = _TALLY.amount - stats.remaining
        return counts

    async def _wait(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(item, self.namespace, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))


def throttle_of(request: Request) -> Throttle:
    """The app's throttle (``app.state.throttle``), made from its settings on first use."""
    state = request.app.state
    throttle: Throttle | None = getattr(state, "throttle", None)
    if throttle is None:
        throttle = state.throttle = Throttle.from_settings(state.services.settings)
    return throttle


def client_address(request: Request) -> str:
    """The client's address (the forwarded one only from a trusted proxy: see the module doc)."""
    return (request.client.host if request.client else "") or "unknown"
