"""One Graph call per message, paced, its refusals mapped to what the outbox does about them.

Graph's error codes decide: the number's or the client's rate asks for a pause (the limiter keeps
it, the row waits in the outbox), a closed 24-hour window for a template instead
(:class:`WindowClosedError`), an undeliverable client for a visible failure, a token or payment
problem for an error in the log (the message waits until it is fixed), Meta's own trouble or the
network for the outbox's back-off.
"""

from __future__ import annotations

import logging

import httpx

from bot.channels.whatsapp.graph import GraphClient, GraphError
from bot.channels.whatsapp.wire import Message
from bot.outbox import DeliveryError
from bot.ratelimit import RateLimiter, WaitTooLongError

log = logging.getLogger(__name__)

WINDOW_CLOSED = 131047  # re-engagement: more than 24 hours since the client's last message
THROUGHPUT = 130429  # the number's messages per second
PAIR_RATE = 131056  # too many messages to one client in a short time
UNDELIVERABLE = 131026  # not on WhatsApp, old app, terms not accepted...
APP_RATE = (4, 80007)  # the app's or account's call rate
# The access token expired, was revoked or lacks a permission; the account has a payment issue:
# the federation must fix it at Meta, and the message waits meanwhile.
TOKEN_CODES = (190, 10, 200, 131042)
TRANSIENT_CODES = (1, 2, 131000, 131016, 133004)  # Meta's side is unavailable: try again
PAIR_WAIT = 6.0  # Meta allows about one message every 6 seconds to a client, after a burst
THROUGHPUT_PAUSE = 2.0  # the whole number waits this long after a 130429
APP_RATE_PAUSE = 60.0
MAX_WAIT = 10.0  # longer than this before a message may leave: the row goes back to the outbox


class WindowClosedError(Exception):
    """Graph refused a free-form message: the 24-hour window is closed."""


class Messenger:
    """Sends one message at a time to a client through ``graph``, paced by ``limiter``."""

    def __init__(self, graph: GraphClient, limiter: RateLimiter) -> None:
        self.graph = graph
        self.limiter = limiter

    async def send(self, recipient: str, message: Message) -> str:
        """Wait for the client's and the number's pace, then send; returns the message's wamid.

        Raises :class:`WindowClosedError` for a free-form message outside the window, else a
        :class:`DeliveryError` saying what the outbox does about the refusal."""
        await self.pace(recipient)
        try:
            return await self.graph.send(recipient, message)
        except GraphError as error:
            raise self.refusal(recipient, error) from None
        except (httpx.HTTPError, TimeoutError) as error:
            raise DeliveryError(f"whatsapp {type(error).__name__}") from None

    async def pace(self, recipient: str) -> None:
        """Return when a message to ``recipient`` may leave; a longer wait than ``MAX_WAIT`` is
        the outbox's (the row is due again after it), not this task's."""
        try:
            await self.limiter.acquire(recipient, within=MAX_WAIT)
        except WaitTooLongError as error:
            raise DeliveryError("whatsapp paused", retry_after=error.seconds) from None

    async def upload(self, recipient: str, content: bytes, mime: str, filename: str) -> str:
        """Upload a file to send to ``recipient``; returns its media id."""
        try:
            return await self.graph.upload(content, mime, filename)
        except GraphError as error:
            refusal = self.refusal(recipient, error)
            if isinstance(refusal, WindowClosedError):  # not a send: not the window's doing
                refusal = DeliveryError(f"whatsapp {WINDOW_CLOSED} on upload", permanent=True)
            raise refusal from None
        except (httpx.HTTPError, TimeoutError) as error:
            raise DeliveryError(f"whatsapp upload {type(error).__name__}") from None

    def refusal(self, recipient: str, error: GraphError) -> Exception:
        """What Graph's refusal means for the outbox (and for the pace of the next sends)."""
        code = error.code
        reason = f"whatsapp {code or error.status}: {error.title}"[:255]
        if code == WINDOW_CLOSED:
            return WindowClosedError()
        if code == THROUGHPUT:
            self.limiter.pause_all(THROUGHPUT_PAUSE)
            return DeliveryError(reason, retry_after=THROUGHPUT_PAUSE)
        if code == PAIR_RATE:
            self.limiter.pause(recipient, PAIR_WAIT, flood=False)  # this client's limit, not the number's
            return DeliveryError(reason, retry_after=PAIR_WAIT)
        if code in APP_RATE:
            self.limiter.pause_all(APP_RATE_PAUSE)
            return DeliveryError(reason, retry_after=APP_RATE_PAUSE)
        if code == UNDELIVERABLE:
            return DeliveryError(reason, permanent=True, unreachable=True)
        if error.status >= 500 or code in TRANSIENT_CODES or code is None:
            return DeliveryError(reason)
        if code in TOKEN_CODES or error.status in (401, 403):
            log.error(
                "WhatsApp refuses to send (code %s): check WHATSAPP_ACCESS_TOKEN, its permissions and "
                "the account's payment method",
                code,
            )
            return DeliveryError(reason)
        log.error("whatsapp refused a message: code %s", code)  # Meta's wording may quote the client
        return DeliveryError(reason, permanent=True)
