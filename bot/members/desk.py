"""What a member writes or presses in their chat (issue 16): the members' menu, the request flow
(:mod:`flows.members`), messages for staff on an open request, ``/moncompte`` and ``/kit``.

A linked optician's chat (Telegram, or the WhatsApp number an admin set) is their line to the
federation: the channels send here everything of theirs that is not a visit offer, a visit's button,
a linking code or ``/disponible`` ``/indisponible`` ``/mescas``. One message is one transaction: the
session (``member_sessions``) is locked, the flow decides, and the replies, the request and the
session's new state are written together; ``notify`` wakes the outbox and the live views after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.members.account import MemberAccount
from bot.members.notices import MemberChat, MemberNotices
from bot.members.slots import VideoSlots
from flows.member_table import (
    IDLE,
    DiscardFile,
    MemberContext,
    MemberSession,
    OfferVideo,
    RelayToRequest,
    ShowAccount,
    SubmitRequest,
)
from flows.members import MemberFlow
from flows.types import ClientInput
from storage import member_desk as store
from storage.database import Connection, Database
from storage.files import FileStore

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0  # how long the linked chats read are trusted (a link made here forgets them)
ACK_QUIET = timedelta(minutes=30)  # a member's message after this long a silence is acknowledged
KIT_STATE = "kit"  # /kit asked the member for their kit's date: their next text is it
SLOT_STEP = "m.slot"  # a video slot's button (bot/members/slots.py)
KIT_STEP = "m.kit"  # a kit date's button (bot/members/account.py)
_MENU_WORDS = frozenset({"menu", "/menu", "/start", "le menu"})


def _command(text: str | None) -> tuple[str, str]:
    """A slash command's name (lower case, without @bot) and the rest; ("", "") for other text."""
    stripped = (text or "").strip()
    if not stripped.startswith("/"):
        return "", ""
    head, _, rest = stripped.partition(" ")
    return head.split("@", 1)[0].lower(), rest.strip()


class Desk:
    """The members' side of a chat; :class:`bot.members.Members` hands it the channels' messages."""

    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        files: FileStore,
        *,
        slots: VideoSlots,
        account: MemberAccount,
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.files = files
        self.slots = slots
        self.account = account
        self.flow = MemberFlow(notices.catalog)
        self._linked: dict[str, tuple[float, frozenset[str]]] = {}  # channel → (read at, chats)
        self._reading: dict[str, asyncio.Future[frozenset[str]]] = {}  # one read at a time per channel

    # --- who is a member ---------------------------------------------------------------------------

    async def is_member(self, channel: str, chat: str) -> bool:
        """Whether ``chat`` is a linked optician's. A client's chat is answered from the linked
        chats read at most every :data:`CACHE_SECONDS` (no query per client message); a chat found
        there is confirmed by the database, so that one unlinked meanwhile by another process is a
        client again at once (its message is not taken by the desk, then dropped)."""
        cached = self._linked.get(channel)
        now = time.monotonic()
        if cached is None or now - cached[0] > CACHE_SECONDS:
            # The messages arriving meanwhile wait for the same read (not one query each).
            reading = self._reading.get(channel)
            if reading is None:
                reading = self._reading[channel] = asyncio.ensure_future(self._read_linked(channel, now))
                reading.add_done_callback(lambda done: self._done_reading(channel, done))
            return chat in await asyncio.shield(reading)
        if chat not in cached[1]:
            return False
        async with self.database.connect() as connection:
            linked = await store.member_of(connection, channel, chat) is not None
        if not linked:
            self.forget(channel)
        return linked

    async def _read_linked(self, channel: str, now: float) -> frozenset[str]:
        async with self.database.connect() as connection:
            chats = frozenset(await store.linked_chats(connection, channel))
        self._linked[channel] = (now, chats)
        return chats

    def _done_reading(self, channel: str, done: asyncio.Future[frozenset[str]]) -> None:
        if self._reading.get(channel) is done:
            del self._reading[channel]
        if not done.cancelled():
            done.exception()  # retrieved: its callers were told

    def forget(self, channel: str | None = None) -> None:
        """A chat was linked (or unlinked) here: the next :meth:`is_member` reads them again."""
        if channel is None:
            self._linked.clear()
            self._reading.clear()
        else:
            self._linked.pop(channel, None)
            self._reading.pop(channel, None)

    # --- what a member says ------------------------------------------------------------------------

    async def receive(self, channel: str, chat: str, said: ClientInput, on_message: int | None) -> None:
        to = MemberChat(channel, chat)
        async with self.database.connect() as connection:
            optician_id = await store.member_of(connection, channel, chat)
            state = IDLE if optician_id is None else (await self._state(connection, optician_id, channel))
        if optician_id is None:  # unlinked since the chats were read: nothing to answer as the desk
            self.forget(channel)
            self._discard(said.media)
            log.info("a message for the members' desk from a chat no longer linked")
            return
        step = said.step or ""
        if said.choice is not None and step == SLOT_STEP:
            await self.slots.answer(to, optician_id, said, on_message)
            return
        if said.choice is not None and step == KIT_STEP:
            await self.account.answer(to, optician_id, said, on_message)
            return
        command, rest = _command(said.text)
        if command == "/kit":
            await self._kit(to, optician_id, rest)
            return
        text = (said.text or "").strip()
        if (
            state == KIT_STATE
            and text
            and not command
            and text.lower() not in _MENU_WORDS
            and said.choice is None
        ):
            await self._kit(to, optician_id, text)
            return
        await self._flow(to, optician_id, said, on_message)

    async def _state(self, connection: Connection, optician_id: int, channel: str) -> str:
        return await store.session_state(connection, optician_id, channel) or IDLE

    async def _kit(self, to: MemberChat, optician_id: int, text: str) -> None:
        """``/kit`` or the date it asked for: recorded, or asked (again) — then the member's next
        text goes to it too, until a date is recorded, a command or the menu."""
        recorded = await self.account.kit(to, optician_id, text)
        async with self.database.begin() as connection:
            _, draft = await store.lock_session(connection, optician_id, to.channel, self.clock())
            await store.save_session(
                connection, optician_id, to.channel, IDLE if recorded else KIT_STATE, {}, self.clock()
            )
        document = draft.get("document_path")  # a request under way is dropped: its file too
        self._discard(document if isinstance(document, str) else None)

    async def _flow(
        self, to: MemberChat, optician_id: int, said: ClientInput, on_message: int | None
    ) -> None:
        later: list[Callable[[], Awaitable[None]]] = []
        discard: list[str] = []
        async with self.database.begin() as connection:
            now = self.clock()
            state, data = await store.lock_session(connection, optician_id, to.channel, now)
            session = MemberSession(IDLE if state == KIT_STATE else state, data)
            found = await store.open_request(connection, optician_id) if session.state == IDLE else None
            result = self.flow.handle(session, MemberContext(found.reference if found else None), said)
            edit = on_message if said.choice is not None else None  # the pressed message shows the answer
            for reply in result.replies:
                await self.notices.to_member(connection, to, reply, now, on_message=edit)
                edit = None
            for effect in result.effects:
                if isinstance(effect, SubmitRequest):
                    await self._submit(connection, to, optician_id, effect, now, edit)
                elif isinstance(effect, OfferVideo):
                    await self.slots.offer(connection, to, optician_id, now, request_id=None)
                elif isinstance(effect, ShowAccount):
                    later.append(lambda: self.account.show(to, optician_id))
                elif isinstance(effect, RelayToRequest) and found is not None:
                    await self._relay(connection, to, found, effect.text, now)
                elif isinstance(effect, DiscardFile):
                    discard.append(effect.path)
            await store.save_session(connection, optician_id, to.channel, session.state, session.data, now)
        self.notify()
        for path in discard:
            self._discard(path)
        for job in later:
            await job()

    async def _submit(
        self,
        connection: Connection,
        to: MemberChat,
        optician_id: int,
        asked: SubmitRequest,
        now: datetime,
        on_message: int | None,
    ) -> None:
        """The request, its reference told to the member (and for a video follow-up, the slots)."""
        video = asked.kind == "video"
        key = "member.submitted_video" if video else "member.submitted"
        request = store.NewRequest(
            optician_id,
            to.channel,
            to.chat,
            asked.kind,
            asked.details,
            asked.amount_cents,
            asked.months,
            asked.document_path,
            asked.document_name,
        )
        request_id, reference = await store.create_request(
            connection, request, lambda reference: self.notices.text(key, reference=reference), now
        )
        await self.notices.tell(connection, to, key, now, on_message=on_message, reference=reference)
        if video:
            await self.slots.offer(connection, to, optician_id, now, request_id=request_id)
        log.info("member request %s filed (%s)", reference, asked.kind)

    async def _relay(
        self, connection: Connection, to: MemberChat, request: store.OpenRequest, text: str, now: datetime
    ) -> None:
        """The member's message joins their open request; acknowledged when it starts a new exchange
        (their first message there, one after a silence of :data:`ACK_QUIET`, or after staff spoke)."""
        last = await store.last_member_message_at(connection, request.id)
        quiet = last is None or now - last >= ACK_QUIET
        answered = last is not None and await store.staff_spoke_since(connection, request.id, last)
        await store.add_member_message(connection, request.id, text, now)
        if quiet or answered:
            await self.notices.tell(connection, to, "member.relayed", now, reference=request.reference)

    def _discard(self, path: str | None) -> None:
        """A file the member sent that no request keeps: not left in the data folder."""
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                self.files.delete(path)
