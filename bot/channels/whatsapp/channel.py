"""The WhatsApp channel: Meta's signed webhooks in, our Graph client out through the outbox.

One object for the composition root, made of the channel's parts:

- :mod:`.webhook`: the routes (signature, body cap, 200 only once stored, 503, set-aside);
- :mod:`.inbound`: every message of a webhook stored, its file fetched first, then its receipts;
- :mod:`.receipts`: Meta's statuses stored, then applied to their message once it is recorded;
- :mod:`.outbound`: a reply as text and interactive messages inside the 24-hour window, as the
  approved template outside it;
- :mod:`.messenger`: one paced Graph call, its refusals mapped to the outbox's retry, back-off or
  visible failure;
- :mod:`.graph`, :mod:`.updates`, :mod:`.render`: the Cloud API client and the pure translations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from fastapi import APIRouter

from bot.channels.whatsapp.graph import GraphClient
from bot.channels.whatsapp.inbound import Receiver
from bot.channels.whatsapp.messenger import PAIR_WAIT, Messenger
from bot.channels.whatsapp.outbound import ClientWindows, Outbound
from bot.channels.whatsapp.readmarks import ReadMarks
from bot.channels.whatsapp.receipts import DeliveryReceipts
from bot.channels.whatsapp.updates import CHANNEL
from bot.channels.whatsapp.webhook import WEBHOOK_PATH, webhook_router
from bot.desk import MemberDesk
from bot.engine import Engine, utcnow
from bot.outbox import Delivered
from bot.ratelimit import RateLimiter, Window
from bot.settings import Settings
from flows.catalog import Catalog
from storage.database import Database
from storage.files import FileStore
from storage.payloads import OutboundPayload

log = logging.getLogger(__name__)


def default_limiter(settings: Settings) -> RateLimiter:
    """The number's throughput per second; a burst to one client, then about one per 6 s.
    Counted over 1.04 s, like Telegram's: a send that leaves late never makes one too many in
    Meta's second (measured in bench/: no 130429 at 95 % of the rate)."""
    return RateLimiter(Window(20, PAIR_WAIT), Window(settings.whatsapp_max_per_second, 1.04))


class WhatsAppChannel:
    """One business phone number. Built by the composition root with the engine it stores into and
    the database its receipts and reply windows are read from; :meth:`start` runs its receipts.

    ``limiter``: the pacing of its sends (benchmarks lift it against fakes); ``clock``: the time
    of its receipts and windows."""

    name = CHANNEL

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        files: FileStore,
        *,
        engine: Engine,
        database: Database,
        clock: Callable[[], datetime] = utcnow,
        limiter: RateLimiter | None = None,
        members: MemberDesk | None = None,
    ) -> None:
        self.engine = engine
        self.graph = GraphClient(
            settings.whatsapp_api_url,
            settings.whatsapp_access_token.get_secret_value(),
            settings.whatsapp_phone_number_id,
        )
        self.limiter = limiter or default_limiter(settings)
        self.receipts = DeliveryReceipts(database, clock)
        read_marks = ReadMarks(self.graph, enabled=settings.whatsapp_read_marks)
        self.receiver = Receiver(
            engine, self.graph, files, self.receipts, members=members, read_marks=read_marks
        )
        self.outbound = Outbound(
            Messenger(self.graph, self.limiter),
            ClientWindows(database, engine.pseudonyms, clock),
            catalog,
            files,
            settings.whatsapp_template,
        )
        self._settings = settings
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        task = asyncio.create_task(self.receipts.run(self.engine.notify), name="whatsapp-receipts")
        self._tasks.append(task)
        log.info("whatsapp: number %s, webhook at %s", self.graph.phone_number_id, WEBHOOK_PATH)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, self.receiver.stop(), return_exceptions=True)
        self._tasks.clear()
        await self.graph.close()

    def recorded(self) -> None:
        """The outbox recorded sends: receipts that were waiting for their message may apply now."""
        self.receipts.wake()

    # --- in --------------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        """``GET`` answers Meta's verification handshake; ``POST`` takes signed webhooks."""
        return webhook_router(self._settings, self.receiver, self.engine)

    # --- out -------------------------------------------------------------------------------------

    def recently_sent(self, recipient: str, ages: Sequence[float]) -> None:
        """The outbox's word on the client's last sends (seconds ago), by any process: its window
        counts them, so a client moving between processes is not sent too much at once."""
        self.limiter.seed(recipient, ages)

    async def deliver(self, recipient: str, payload: OutboundPayload) -> str | Delivered | None:
        """Send one reply (see :mod:`.outbound`); raises :class:`bot.outbox.DeliveryError`."""
        return await self.outbound.deliver(recipient, payload)
