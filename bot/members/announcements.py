"""Announcements to members (issue 16): staff write a message, choose every member or some
departments, preview it, and send it through the outbox at the channels' rate limits; one delivery
row per member, written when it is sent, so a restart resumes it and nobody is told twice.

- Members: the opticians of the registry, reached on Telegram (their linked chat) or else WhatsApp
  (the number an admin recorded). Unavailable ones (/indisponible) are told too: an announcement is
  not a visit offer. Inactive ones and those linked nowhere are not sent anything; they get an
  ``unreachable`` delivery, so staff see who the message did not reach.
- Sending writes the announcement and every delivery in ONE transaction (:meth:`send`). The worker
  (:meth:`run`) hands pending deliveries to the outbox with :meth:`MemberNotices.to_member` in the
  transaction that marks them ``queued`` with their outbound row: a kill between the two can never
  make a second row. It keeps at most :data:`bot.broadcasts.OUTBOX_SHARE` bulk messages (the
  broadcasts' and the announcements' together) unsent per channel, so live replies never queue
  behind an announcement; the outbox paces and retries them (WhatsApp outside the 24-hour window:
  the approved template, as for every outbound row). A delivery's state is then its outbound row's.
- Sends and hand-overs are serialised across processes (:func:`storage.announcements.lock_sends`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot import windows
from bot.broadcasts import OUTBOX_SHARE
from bot.errors import RefusedError
from bot.members.notices import MemberChat, MemberNotices
from bot.signals import wait_set
from flows.departments import DEPARTMENTS
from flows.types import Reply
from storage import announcement_views as views
from storage import announcements as store
from storage import broadcasts as broadcast_store
from storage.announcement_views import DeliveryRow, Member, Progress
from storage.announcements import NewDelivery
from storage.database import Connection, Database
from storage.privacy.journal import record_access
from storage.text import clean_text

log = logging.getLogger(__name__)

MAX_TEXT = 3500  # with the header, well inside a Telegram message (4096)
MESSAGE_KEY = "announcement.message"
BATCH = 100  # deliveries handed to the outbox per transaction, at most
IDLE_SECONDS = 2.0  # how often an idle worker looks for an announcement sent by another process
BUSY_SECONDS = 0.5  # how often a running announcement's outbox share is looked at again

__all__ = ["MAX_TEXT", "Announcements", "DeliveryRow", "Preview", "Progress"]


@dataclass(frozen=True, slots=True)
class Preview:
    """Who an announcement would reach, by channel (telegram, whatsapp, unreachable), and the
    message exactly as members will read it."""

    total: int
    channels: dict[str, int]
    message: str
    departments: tuple[str, ...] | None
    # Of the WhatsApp members, those outside the 24-hour window now: the outbox sends them the
    # approved template carrying the text (it decides again when it sends).
    whatsapp_template: int = 0


def clean_announcement(text: str) -> str:
    """The text staff wrote, trimmed and stripped of what a database refuses; refused politely
    (422) when empty or longer than :data:`MAX_TEXT`."""
    text = clean_text(text.replace("\r\n", "\n")).strip()
    if not text:
        raise RefusedError(422, "le message est vide")
    if len(text) > MAX_TEXT:
        raise RefusedError(422, f"le message dépasse {MAX_TEXT} caractères ({len(text)})")
    return text


def chosen_departments(departments: Sequence[str] | None) -> list[str] | None:
    """The departments chosen (None: every member), checked and normalised ("2a" is "2A")."""
    if departments is None:
        return None
    chosen = sorted({d.strip().upper() for d in departments if d.strip()})
    if not chosen:
        raise RefusedError(422, "choisissez au moins un département, ou tous les membres")
    unknown = [d for d in chosen if d not in DEPARTMENTS]
    if unknown:
        raise RefusedError(422, f"département inconnu : {', '.join(unknown)[:40]}")
    return chosen


def _plan(found: list[Member], departments: list[str] | None) -> list[NewDelivery]:
    """One delivery per member of these departments (all: every member)."""
    wanted = set(departments) if departments is not None else None
    planned = []
    for member in found:
        if wanted is not None and not wanted & set(member.departments):
            continue
        if member.channel is None:
            error = "inactive" if not member.active else "unlinked"
            planned.append(NewDelivery(member.id, None, views.UNREACHABLE, error))
        else:
            planned.append(NewDelivery(member.id, member.channel, "pending"))
    return planned


async def _admissible(connection: Connection, text: str, departments: list[str] | None) -> list[NewDelivery]:
    """The deliveries of this announcement; refused while an identical one is running (a second
    click, 409) or when no member is there (422)."""
    if await views.running_same(connection, text, departments) is not None:
        raise RefusedError(409, "cette annonce est déjà en cours d'envoi")
    planned = _plan(await views.members(connection), departments)
    if not planned:
        raise RefusedError(422, "aucun membre dans ces départements")
    return planned


class Announcements:
    """Previews, sends, runs and reports announcements; the console and the CLI call the same."""

    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self._wake = asyncio.Event()

    def message(self, text: str) -> str:
        """What a member reads: the header, then the text."""
        return self.notices.text(MESSAGE_KEY, text=text)

    # --- staff -----------------------------------------------------------------------------------

    async def preview(self, text: str, departments: Sequence[str] | None = None) -> Preview:
        """How many members it would reach by channel, and the message; sends nothing."""
        cleaned, chosen = clean_announcement(text), chosen_departments(departments)
        now = self.clock()
        template = 0
        async with self.database.connect() as connection:
            found = await views.members(connection)
            planned = _plan(found, chosen)
            chats = {m.id: m.chat for m in found}
            for delivery in planned:
                chat = chats[delivery.optician_id]
                if delivery.channel == "whatsapp" and chat is not None:
                    closes = await windows.closes_at(connection, "whatsapp", chat)
                    template += not windows.is_open(closes, now)
        channels = {"telegram": 0, "whatsapp": 0, views.UNREACHABLE: 0}
        for delivery in planned:
            channels[delivery.channel or views.UNREACHABLE] += 1
        departments = tuple(chosen) if chosen else None
        return Preview(len(planned), channels, self.message(cleaned), departments, template)

    async def send(self, text: str, departments: Sequence[str] | None = None, *, by: str) -> str:
        """Send it: the announcement and one delivery per member written at once (journaled); its
        public id. Refused (409) while an identical one (same text, same departments) is running:
        a second click does not tell everyone twice. The worker hands it to the outbox."""
        cleaned, chosen = clean_announcement(text), chosen_departments(departments)
        now = self.clock()
        public_id = secrets.token_hex(8)
        async with self.database.begin() as connection:
            await store.lock_sends(connection)  # first: the identical-running check is then exact
            planned = await _admissible(connection, cleaned, chosen)
            await store.create(
                connection,
                public_id=public_id,
                text=cleaned,
                departments=chosen,
                by=by,
                now=now,
                deliveries=planned,
            )
            detail = f"{public_id} {','.join(chosen) if chosen else '*'} {len(planned)}"
            await record_access(connection, now, by, "announcement", detail=detail[:200])
        log.info("announcement %s sent to %d members", public_id, len(planned))
        self._wake.set()
        self.notify()
        return public_id

    async def check(self, text: str, departments: Sequence[str] | None = None) -> None:
        """Refused (as :meth:`send` would be) or not, sending nothing: a dry run's answer."""
        cleaned, chosen = clean_announcement(text), chosen_departments(departments)
        async with self.database.connect() as connection:
            await _admissible(connection, cleaned, chosen)

    async def cancel(self, public_id: str, *, by: str) -> bool:
        """Stop a running announcement (journaled): deliveries not handed over are not sent (the
        few already in the outbox go). Whether it was running."""
        now = self.clock()
        async with self.database.begin() as connection:
            await store.lock_sends(connection)  # not while a hand-over of it is being written
            if not await store.cancel(connection, public_id, now):
                return False
            await record_access(connection, now, by, "announcement_cancel", detail=public_id)
        log.info("announcement %s cancelled", public_id)
        self.notify()
        return True

    async def progress(self, public_id: str) -> Progress | None:
        async with self.database.connect() as connection:
            found = await views.progress(connection, [public_id])
        return found[0] if found else None

    async def recent(self, limit: int = 20) -> list[Progress]:
        """The newest announcements with their progress, newest first."""
        async with self.database.connect() as connection:
            return await views.progress(connection, None, limit)

    async def deliveries(self, public_id: str) -> list[DeliveryRow]:
        """Member by member: name, departments, channel, state, when."""
        async with self.database.connect() as connection:
            return await views.deliveries(connection, public_id)

    # --- the worker ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for work now (the worker also looks every 2 s: an announcement sent elsewhere)."""
        self._wake.set()

    async def run(self) -> None:
        """Hand pending deliveries to the outbox, close the announcements that are done; resumes
        what a previous process left (the deliveries are in the database)."""
        while True:
            busy = await self.round()
            await wait_set(self._wake, BUSY_SECONDS if busy else IDLE_SECONDS)
            self._wake.clear()

    async def round(self) -> bool:
        """One round of the worker; whether an announcement is still running."""
        try:
            async with self.database.connect() as connection:
                if not await views.has_work(connection):  # idle: no write at all
                    return False
            while await self.hand_over():
                pass
            async with self.database.begin() as connection:
                await store.settle(connection, self.clock())  # outcomes kept: the rows may go
                closed = await store.close_finished(connection, self.clock())
                running = await views.has_work(connection)
        except Exception:  # a database hiccup: the next round tries again
            log.exception("announcements: round failed")
            return True
        for public_id in closed:
            log.info("announcement %s done", public_id)
        if closed:
            self.notify()
        return running

    async def hand_over(self) -> int:
        """The next pending deliveries to the outbox, within the bulk share of each channel, in one
        transaction; how many were claimed."""
        now = self.clock()
        async with self.database.begin() as connection:
            await store.lock_sends(connection)
            room = await self._room(connection)
            claimed = await store.claim(connection, now, room)
            if not claimed:
                return 0
            found = await views.member_by_id(connection, sorted({c.optician_id for c in claimed}))
            carried: list[tuple[int, str, int]] = []
            gone: list[int] = []
            for delivery in claimed:
                member = found.get(delivery.optician_id)
                if member is None or member.channel is None or member.chat is None:
                    gone.append(delivery.id)  # unlinked or made inactive since it was sent
                    continue
                reply = Reply(MESSAGE_KEY, self.message(delivery.text))
                to = MemberChat(member.channel, member.chat)
                message_id = await self.notices.to_member(connection, to, reply, now)
                carried.append((delivery.id, member.channel, message_id))
            await store.fail(connection, gone, "unlinked", now)
            await store.set_messages(connection, carried)
        self.notify()  # wakes the outbox
        return len(claimed)

    @staticmethod
    async def _room(connection: Connection) -> dict[str, int]:
        """Per channel, how many more bulk messages may wait unsent in the outbox (the share is
        the broadcasts' and the announcements' together)."""
        mine = await views.unsent_by_channel(connection)
        theirs = await broadcast_store.unsent_by_channel(connection)
        return {
            channel: max(0, min(BATCH, OUTBOX_SHARE - mine.get(channel, 0) - theirs.get(channel, 0)))
            for channel in store.CHANNELS
        }
