"""Everything one webhook carries, stored: each client's messages in their order (a file fetched
first), the clients side by side, then the receipts.

A message is stored once (same wamid: nothing changes, and its file is not fetched again); a file
saved for a message that did not get stored is deleted, unless the store may still go through.
What the database refuses for good is named in :class:`SetAsideError` once the rest is stored;
any other failure raises, and Meta sends the webhook again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

import httpx

from bot.channels.whatsapp.graph import GraphClient, GraphError, MediaTooLargeError
from bot.channels.whatsapp.messenger import APP_RATE, TOKEN_CODES, TRANSIENT_CODES
from bot.channels.whatsapp.readmarks import ReadMarks
from bot.channels.whatsapp.receipts import DeliveryReceipts
from bot.channels.whatsapp.updates import CHANNEL, Incoming, MediaRef, parse
from bot.desk import MemberDesk
from bot.engine import Engine
from bot.messages import Inbound
from bot.pipeline import is_poison
from flows.types import ClientInput
from storage.files import FileStore, RejectedFileError

log = logging.getLogger(__name__)

FILE_ATTEMPTS = 5  # a file that cannot be fetched after this many deliveries is refused politely
MAX_FAILURES_KEPT = 10_000  # files whose fetch failed, counted until they succeed or are refused
MEDIA_GONE = (400, 404, 410)  # Graph does not know the media id (any more): fetching again will not help


class SetAsideError(Exception):
    """Part of a webhook that the database refuses for good (see :func:`bot.pipeline.is_poison`)."""

    def __init__(self, kind: str, error: BaseException) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error


class Receiver:
    """Stores the messages and receipts of the webhooks for one number."""

    def __init__(
        self,
        engine: Engine,
        graph: GraphClient,
        files: FileStore,
        receipts: DeliveryReceipts,
        *,
        members: MemberDesk | None = None,
        read_marks: ReadMarks | None = None,
    ) -> None:
        self.engine = engine
        self.members = members  # a linked optician's WhatsApp number: the members' desk (issue 16)
        self.graph = graph
        self.files = files
        self.receipts = receipts
        self.read_marks = read_marks or ReadMarks(graph)
        self._file_failures: dict[str, int] = {}

    async def stop(self) -> None:
        """Cancel the read marks still on their way."""
        await self.read_marks.stop()

    async def receive(self, payload: Any) -> None:
        """Store everything a webhook carries for our number; raises if anything could not be."""
        batch = parse(payload, self.graph.phone_number_id)
        by_user: dict[str, list[Incoming]] = {}
        for incoming in batch.messages:
            by_user.setdefault(incoming.inbound.user, []).append(incoming)

        refused: list[tuple[str, BaseException]] = []

        async def store(user: str, queue: list[Incoming]) -> None:
            newest: str | None = None
            try:
                for incoming in queue:  # one client's messages in their order
                    try:
                        if await self._store(incoming):
                            newest = incoming.inbound.external_id
                    except Exception as error:
                        if not is_poison(error):
                            raise
                        refused.append(("message", error))  # the client's next messages go on
            finally:
                if newest is not None:  # read up to their newest message: one call, not one each
                    self.read_marks.mark(user, newest)

        results = await asyncio.gather(*(store(u, q) for u, q in by_user.items()), return_exceptions=True)
        if batch.receipts:
            refused += [("status", error) for error in await self.receipts.store(batch.receipts)]
            self.receipts.wake()
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if refused:
            raise SetAsideError(*refused[0])

    async def _store(self, incoming: Incoming) -> bool:
        """Store one client message (its file fetched first); whether it is new."""
        members, wa_id = self.members, incoming.wa_id
        if members is not None and wa_id is not None and await members.is_member(CHANNEL, wa_id):
            return await self._for_member(members, incoming, wa_id)
        inbound = incoming.inbound
        if incoming.media is not None:
            if await self.engine.is_stored(CHANNEL, inbound.external_id):
                return False  # a re-delivery: the file was fetched the first time
            said = await self._fetch(incoming.media, inbound.external_id)
            inbound = dataclasses.replace(inbound, said=said)
        try:
            accepted = await self.engine.submit(inbound)
        except BaseException as error:
            if inbound.said.media is not None:  # not stored: the re-delivery fetches it again
                await self._discard_unless_stored(inbound, error)
            raise
        if accepted.duplicate:  # stored meanwhile by a concurrent delivery of the same webhook
            self._discard(inbound.said.media)
        return not accepted.duplicate

    async def _for_member(self, members: MemberDesk, incoming: Incoming, wa_id: str) -> bool:
        """A linked optician's number (issue 16): their message goes to the members' desk, stored
        once under their number (its 24-hour window is read there); a file is fetched first. A
        failure unstores it, so Meta's next delivery of the webhook counts. Whether it is new."""
        inbound = dataclasses.replace(incoming.inbound, user=wa_id)
        if incoming.media is not None:
            if await self.engine.is_stored(CHANNEL, inbound.external_id):
                return False  # a re-delivery: handled the first time
            said = await self._fetch(incoming.media, inbound.external_id)
            inbound = dataclasses.replace(inbound, said=said)
        if not await self.engine.store_once(inbound, "member"):
            self._discard(inbound.said.media)
            return False
        try:
            await members.receive(CHANNEL, wa_id, inbound.said, None)
        except BaseException:
            await self.engine.unstore(inbound)
            self._discard(inbound.said.media)
            raise
        return True

    async def _fetch(self, ref: MediaRef, wamid: str) -> ClientInput:
        """The file, saved encrypted in the data folder; a file we cannot take is refused politely."""
        limit = self.files.max_bytes
        try:
            media = await self.graph.media(ref.media_id, limit)
        except MediaTooLargeError:
            return ClientInput(unsupported="file", media_name=ref.name)
        except GraphError as error:
            if error.status in MEDIA_GONE and error.code not in (*TRANSIENT_CODES, *TOKEN_CODES, *APP_RATE):
                return ClientInput(unsupported="file", media_name=ref.name)  # the id is unknown, or expired
            return self._fetch_failed(ref, wamid, error)  # a hiccup, a rate limit, a token to fix...
        except (httpx.HTTPError, TimeoutError) as error:
            return self._fetch_failed(ref, wamid, error)
        self._file_failures.pop(wamid, None)
        try:
            path = await asyncio.to_thread(self.files.save, media.content)
        except RejectedFileError:
            return ClientInput(unsupported="file", media_name=ref.name)
        return ClientInput(media=path, media_name=ref.name)

    def _fetch_failed(self, ref: MediaRef, wamid: str, error: Exception) -> ClientInput:
        """Raise (Meta sends the webhook again) until the file failed too often: then refuse it."""
        failures = self._file_failures.get(wamid, 0) + 1
        if failures >= FILE_ATTEMPTS:
            self._file_failures.pop(wamid, None)
            log.warning("whatsapp media could not be fetched after %d attempts", failures)
            return ClientInput(unsupported="file", media_name=ref.name)
        if len(self._file_failures) >= MAX_FAILURES_KEPT:  # bounded: forget the oldest
            del self._file_failures[next(iter(self._file_failures))]
        self._file_failures[wamid] = failures
        raise error

    async def _discard_unless_stored(self, inbound: Inbound, error: BaseException) -> None:
        """Storing failed: delete the file unless the write may still go through. A wait given up
        (timeout, cancellation) may have left a commit in flight, whose message is then the
        file's: kept when in doubt, as a stray file is better than a prescription lost."""
        if isinstance(error, (TimeoutError, asyncio.CancelledError)):
            return
        with contextlib.suppress(Exception):
            if not await self.engine.is_stored(CHANNEL, inbound.external_id):
                self._discard(inbound.said.media)

    def _discard(self, path: str | None) -> None:
        """Delete a file saved for a message that was not stored, so no copy is left behind."""
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                self.files.delete(path)
