"""The "Réseau" queue (issue 16): members' requests as federation staff (the ``network`` role, or
an admin) see and answer them in the console and the CLI — claim, release, take-over of the chat,
replies, internal notes, status and outcome, the member told of each step.

Statuses: ``new`` → (claim) ``in_progress`` → ``answered`` → ``closed``; staff may move an answered
request back to ``in_progress``, and a member writing on an answered request puts it back in
progress too (``storage.member_requests.member_wrote``: the ball is in staff's court again). A
closed request stays closed: what its member writes later goes to the menu (bot/members/desk.py).
Only the staff who holds a request replies on it, changes its status or records its outcome; any
staff may read it and add a note. Each change is one transaction with what the member is told.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date, datetime

from pydantic import BaseModel

from bot.console.auth import Operator
from bot.console.checks import operator_text
from bot.console.live import SharedRead
from bot.errors import RefusedError
from bot.members.notices import MemberChat, MemberNotices
from flows.member_table import KINDS
from flows.types import Reply
from storage import member_requests as store
from storage.database import Connection, Database
from storage.files import FileStore, RejectedFileError, sniff
from storage.privacy.journal import record_access

STATUSES = ("new", "in_progress", "answered", "closed")
OPEN_STATUSES = store.OPEN_STATUSES
OUTCOMES = ("granted", "refused", "redirected")
# The status changes staff make by hand: the new status → the statuses it may come from. ``new`` →
# ``in_progress`` is the claim's; ``closed`` with an outcome is :meth:`MemberRequests.outcome`'s.
MOVES: dict[str, tuple[str, ...]] = {
    "answered": ("in_progress",),
    "in_progress": ("answered",),
    "closed": ("in_progress", "answered"),
}
TOLD = {"answered": "network.answered", "in_progress": "network.reopened", "closed": "network.closed"}
# What an outcome may carry: an amount for an advance on commissions, months for a deferral.
AMOUNT_KINDS = ("commission_advance",)
MONTHS_KINDS = ("royalty_deferral",)
MAX_AMOUNT_CENTS = 10_000_000_00
STATUS_WORDS = {"new": "nouvelle", "in_progress": "en cours", "answered": "répondue", "closed": "close"}


class RequestItem(BaseModel):
    """A line of the queue (the API's list and ``optibot requests list --json`` alike)."""

    id: str
    reference: str
    kind: str
    status: str
    outcome: str | None
    member: str
    departments: list[str]
    claimed_by: str | None
    claimed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    has_document: bool


class RequestList(BaseModel):
    requests: list[RequestItem]
    next: str | None  # pass as ``after`` for the next page; None: no more


class MemberCard(BaseModel):
    name: str
    phone: str
    departments: list[str]
    kit_expires_on: date | None
    channel: str  # telegram | whatsapp: where answers go


class ThreadLine(BaseModel):
    id: int
    kind: str  # in (the member) | out (staff's reply) | note (internal) | event (a step told)
    author: str
    text: str
    at: datetime


class RequestDetail(RequestItem):
    amount_cents: int | None
    months: int | None
    details: str
    document_name: str | None
    outcome_amount_cents: int | None
    outcome_months: int | None
    closed_at: datetime | None
    member_card: MemberCard
    thread: list[ThreadLine]
    mine: bool  # held by whoever asked
    moves: list[str]  # the statuses the holder may move it to now


def euros(cents: int) -> str:
    """``300000`` → ``3 000 €`` (French: spaces between thousands, a comma before cents)."""
    whole, rest = divmod(cents, 100)
    text = f"{whole:,}".replace(",", "\u202f")
    return f"{text},{rest:02d}\u00a0€" if rest else f"{text}\u00a0€"


class MemberRequests:
    """Built once by :class:`bot.members.Members`; ``notify`` wakes the outbox and the live views."""

    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        files: FileStore,
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.files = files
        self._versions = SharedRead(self._version)

    # --- reading --------------------------------------------------------------------------------

    async def queue(
        self,
        *,
        statuses: Sequence[str] = OPEN_STATUSES,
        kind: str | None = None,
        department: str | None = None,
        claimed_by: str | None = None,
        unclaimed: bool = False,
        after: str | None = None,
        limit: int = 100,
    ) -> RequestList:
        """New requests first, then by age; a page of ``limit`` after the request ``after``."""
        wanted = [s for s in statuses if s in STATUSES] or list(OPEN_STATUSES)
        if kind is not None and kind not in KINDS:
            raise RefusedError(422, "type de demande inconnu")
        async with self.database.connect() as connection:
            rows = await store.queue(
                connection,
                statuses=wanted,
                kind=kind,
                department=department,
                claimed_by=claimed_by,
                unclaimed=unclaimed,
                after=after,
                limit=limit + 1,
            )
        items = [_item(row) for row in rows[:limit]]
        return RequestList(requests=items, next=items[-1].id if len(rows) > limit else None)

    async def detail(self, me: Operator | None, public_id: str) -> RequestDetail:
        async with self.database.connect() as connection:
            return await self._detail(connection, me, public_id)

    async def document(self, me: Operator, public_id: str) -> tuple[bytes, str]:
        """The request's document, decrypted, its type checked; every download journaled."""
        absent = "pas de document"
        async with self.database.connect() as connection:
            found = await store.request_of(connection, public_id)
        if found is None:
            raise RefusedError(404, "demande inconnue")
        if not found.document_path:
            raise RefusedError(404, absent)
        try:
            content = self.files.read(found.document_path)
            kind = sniff(content)
        except (OSError, ValueError, RejectedFileError):  # erased meanwhile, or not a stored file
            raise RefusedError(404, absent) from None
        async with self.database.begin() as connection:
            await record_access(connection, self.clock(), me.name, "member_document", detail=found.reference)
        return content, kind

    async def version(self, woken: float | None = None) -> tuple[object, ...]:
        """Changes when the queue or a thread may have changed (the live views compare it).
        ``woken``: when the live stream asking woke (``time.monotonic()``); every stream woken at
        once shares one read (bot/console/live.py ``SharedRead``). None: a fresh read."""
        return await self._versions.since(time.monotonic() if woken is None else woken)

    async def _version(self) -> tuple[object, ...]:
        async with self.database.connect() as connection:
            return await store.version(connection)

    # --- holding ----------------------------------------------------------------------------------

    async def claim(self, me: Operator, public_id: str) -> RequestDetail:
        """Take a request nobody holds: a conditional UPDATE, so of two staff only one wins (the
        other: 409, naming who has it). The member is told when a new request is first taken (the
        UPDATE says so: a claim and a release by someone else since our read change nothing)."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._find(connection, public_id)
            claimed = await store.claim(connection, target.id, me.row_id, now)
            if claimed is None:
                raise await self._refusal(connection, me, public_id)
            if claimed == "first":
                await self._tell(connection, target, me, now, "network.claimed")
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def release(self, me: Operator, public_id: str) -> RequestDetail:
        """Back to the queue, unheld (its status stays); an admin may release anyone's."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._find(connection, public_id)
            held_by = None if me.admin else me.row_id
            if not await store.release(connection, target.id, now, held_by=held_by):
                raise await self._refusal(connection, me, public_id)
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def take_over(self, me: Operator, public_id: str, from_name: str | None = None) -> RequestDetail:
        """Hold a request someone else holds (they left, or are away), as the client console's
        transfer does; ``from_name``: only if that staff still holds it (what the page showed). The
        UPDATE names the holder read, so of two take-overs at once only one wins, and the thread's
        note names who really held it. Noted in the thread; the member is not told."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._find(connection, public_id)
            if target.claimed_by_id == me.row_id:
                raise RefusedError(409, "vous tenez déjà la demande")
            if target.claimed_by_id is None or (from_name is not None and target.claimed_by != from_name):
                raise RefusedError(409, _held(target.claimed_by))
            # Only from the holder just read, so the thread names who really held it.
            if not await store.take_over(connection, target.id, me.row_id, now, from_id=target.claimed_by_id):
                raise await self._refusal(connection, me, public_id)
            said = f"{me.name} reprend la demande (tenue par {target.claimed_by})"
            await store.add_to_thread(connection, target.id, "event", me.name, said, now)
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    # --- talking ----------------------------------------------------------------------------------

    async def reply(self, me: Operator, public_id: str, text: str) -> RequestDetail:
        """A message to the member's chat and the thread, in one transaction; only by its holder."""
        text = operator_text(text)
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._held(connection, me, public_id, now)
            said = self.notices.text("network.reply", reference=target.reference, staff=me.name, text=text)
            sent = await self.notices.to_member(
                connection,
                _chat(target),
                Reply("network.reply", said),
                now,
                author="operator",
                operator=me.name,
            )
            await store.add_to_thread(connection, target.id, "out", me.name, text, now, message_id=sent)
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def note(self, me: Operator, public_id: str, text: str) -> RequestDetail:
        """An internal note: never sent; any staff may add one, on any request."""
        text = operator_text(text)
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._find(connection, public_id)
            await store.add_to_thread(connection, target.id, "note", me.name, text, now)
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    # --- status and outcome -----------------------------------------------------------------------

    async def status(self, me: Operator, public_id: str, status: str) -> RequestDetail:
        """A status change of the table :data:`MOVES`, by the request's holder; the member is told."""
        if status not in MOVES:
            raise RefusedError(422, "statut inconnu (answered, in_progress ou closed)")
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._find(connection, public_id)
            if not await store.move(connection, target.id, MOVES[status], status, me.row_id, now):
                raise await self._refusal(connection, me, public_id, status)
            await self._tell(connection, target, me, now, TOLD[status])
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def outcome(
        self,
        me: Operator,
        public_id: str,
        outcome: str,
        *,
        amount_cents: int | None = None,
        months: int | None = None,
        message: str | None = None,
    ) -> RequestDetail:
        """Close the request with its outcome (an amount for an advance on commissions, months for
        a deferral of royalties, when granted); the member is told, with ``message`` if any."""
        if outcome not in OUTCOMES:
            raise RefusedError(422, "issue inconnue (granted, refused ou redirected)")
        message = operator_text(message) if message and message.strip() else None
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._find(connection, public_id)
            _check_outcome(target.kind, outcome, amount_cents, months)
            values = {"outcome": outcome, "outcome_amount_cents": amount_cents, "outcome_months": months}
            if not await store.move(
                connection, target.id, MOVES["closed"], "closed", me.row_id, now, **values
            ):
                raise await self._refusal(connection, me, public_id, "closed")
            if amount_cents is not None:
                said = self.notices.text("network.outcome.granted_amount", amount=euros(amount_cents))
            elif months is not None:
                said = self.notices.text("network.outcome.granted_months", months=months)
            else:
                said = self.notices.text(f"network.outcome.{outcome}")
            key = "network.closed_message" if message else "network.closed_outcome"
            await self._tell(connection, target, me, now, key, outcome=said, message=message or "")
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    # --- helpers ----------------------------------------------------------------------------------

    async def _find(self, connection: Connection, public_id: str) -> store.RequestRow:
        found = await store.request_of(connection, public_id)
        if found is None:
            raise RefusedError(404, "demande inconnue")
        return found

    async def _held(
        self, connection: Connection, me: Operator, public_id: str, now: datetime
    ) -> store.RequestRow:
        target = await self._find(connection, public_id)
        if not await store.hold(connection, target.id, me.row_id, now):
            raise await self._refusal(connection, me, public_id)
        return target

    async def _refusal(
        self, connection: Connection, me: Operator, public_id: str, wanted: str | None = None
    ) -> RefusedError:
        """Why a change did not apply, read again after it (409), in the staff's words."""
        now = await self._find(connection, public_id)
        if now.status == "closed":
            return RefusedError(409, "la demande est close")
        if now.claimed_by_id is not None and now.claimed_by_id != me.row_id:
            return RefusedError(409, _held(now.claimed_by))
        if now.claimed_by_id is None:
            return RefusedError(409, "prenez d'abord la demande en charge")
        if wanted is not None:
            return RefusedError(409, f"la demande est {STATUS_WORDS.get(now.status, now.status)}")
        return RefusedError(409, "la demande a changé : rechargez-la")

    async def _tell(
        self,
        connection: Connection,
        target: store.RequestRow,
        me: Operator,
        now: datetime,
        key: str,
        **values: object,
    ) -> None:
        """Tell the member a step of their request, and write it in the thread (an event)."""
        said = self.notices.text(key, reference=target.reference, **values)
        sent = await self.notices.to_member(connection, _chat(target), Reply(key, said), now)
        await store.add_to_thread(connection, target.id, "event", me.name, said, now, message_id=sent)

    async def _detail(self, connection: Connection, me: Operator | None, public_id: str) -> RequestDetail:
        found = await self._find(connection, public_id)
        lines = await store.thread(connection, found.id)
        mine = me is not None and found.claimed_by_id == me.row_id
        moves = [s for s, before in MOVES.items() if mine and found.status in before]
        return RequestDetail(
            **_item(found).model_dump(),
            amount_cents=found.amount_cents,
            months=found.months,
            details=found.details,
            document_name=found.document_name,
            outcome_amount_cents=found.outcome_amount_cents,
            outcome_months=found.outcome_months,
            closed_at=found.closed_at,
            member_card=MemberCard(
                name=found.member,
                phone=found.phone,
                departments=found.departments,
                kit_expires_on=found.kit_expires_on,
                channel=found.channel,
            ),
            thread=[
                ThreadLine(id=t.id, kind=t.kind, author=t.author, text=t.text, at=t.created_at) for t in lines
            ],
            mine=mine,
            moves=moves,
        )


def _item(row: store.QueueRow | store.RequestRow) -> RequestItem:
    has_document = row.has_document if isinstance(row, store.QueueRow) else row.document_path is not None
    return RequestItem(
        id=row.public_id,
        reference=row.reference,
        kind=row.kind,
        status=row.status,
        outcome=row.outcome,
        member=row.member,
        departments=row.departments,
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        has_document=has_document,
    )


def _chat(target: store.RequestRow) -> MemberChat:
    return MemberChat(target.channel, target.chat)


def _held(name: str | None) -> str:
    return f"la demande est tenue par {name}" if name else "la demande n'est tenue par personne"


def _check_outcome(kind: str, outcome: str, amount_cents: int | None, months: int | None) -> None:
    """An amount only for a granted advance on commissions, months only for a granted deferral."""
    if amount_cents is not None:
        if outcome != "granted" or kind not in AMOUNT_KINDS:
            raise RefusedError(422, "un montant ne va qu'avec une avance sur commissions accordée")
        if not 0 < amount_cents <= MAX_AMOUNT_CENTS:
            raise RefusedError(422, "montant hors limites")
    if months is not None:
        if outcome != "granted" or kind not in MONTHS_KINDS:
            raise RefusedError(422, "des mois ne vont qu'avec un report de redevances accordé")
        if not 1 <= months <= 36:
            raise RefusedError(422, "de 1 à 36 mois")
