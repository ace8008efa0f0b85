"""Meta's receipts (statuses) of the messages we sent: stored as they come, applied once their
message's wamid is recorded.

A receipt may come before the outbox sender has recorded its message's wamid (it records in
batches): it waits in the database, and is applied after every batch of receipts, every recorded
send (:meth:`DeliveryReceipts.wake`) and every ``RECONCILE_SECONDS``. A message Meta refused after
accepting it, for the closed window, goes back to the outbox to be sent as the template; one it
could not deliver marks its client unreachable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from bot.channels.whatsapp.messenger import UNDELIVERABLE, WINDOW_CLOSED
from bot.channels.whatsapp.updates import Receipt
from bot.logs import describe
from bot.pipeline import is_poison
from bot.signals import wait_set
from storage.database import Database
from storage.receipts import apply_receipts, insert_receipts

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 30.0  # receipts that came before their message's id was recorded


class DeliveryReceipts:
    """The receipts of one number, over the database the composition root gave the channel."""

    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.clock = clock
        self._due = asyncio.Event()

    async def store(self, receipts: Sequence[Receipt]) -> list[BaseException]:
        """Store the receipts together, or one by one if the database refuses one of them: what
        it refused (set aside) is returned; any other failure raises (Meta sends them again)."""
        try:
            async with self.database.begin() as connection:
                await insert_receipts(connection, receipts, self.clock())
            return []
        except Exception as error:
            if not is_poison(error):
                raise
            if len(receipts) == 1:
                return [error]
        refused: list[BaseException] = []
        for receipt in receipts:
            refused += await self.store([receipt])
        return refused

    def wake(self) -> None:
        """Receipts came, or sends were recorded: apply what can be now."""
        self._due.set()

    async def run(self, applied: Callable[[], None]) -> None:
        """Forever: apply the receipts whose message is known, then call ``applied`` (the
        engine's notice to live views and the outbox); send again as a template what Meta
        refused for the closed window."""
        while True:
            await wait_set(self._due, RECONCILE_SECONDS)
            self._due.clear()
            try:
                async with self.database.begin() as connection:
                    resent = await apply_receipts(
                        connection,
                        self.clock(),
                        resend_codes=frozenset({WINDOW_CLOSED}),
                        unreachable_codes=frozenset({UNDELIVERABLE}),
                    )
                if resent:
                    log.info("whatsapp: %d message(s) sent again as a template (window closed)", len(resent))
                applied()
            except Exception as error:
                log.warning("whatsapp receipts not applied yet: %s", describe(error))
