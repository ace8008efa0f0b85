"""The "Réseau" queue (issue 16): members' requests as federation staff (the ``network`` role, or
an admin) see and answer them in the console and the CLI — claim, release, take-over of the chat,
replies, internal notes, status and outcome, the member told of each step.

Statuses: ``new`` → (claim) ``in_progress`` → ``answered`` → ``closed``; staff may move an answered
request back to ``in_progress``, and a member writing on an answered request puts it back in
progress too (``storage.member_requests.member_wrote``: the ball is in staff's court again). A
closed request stays closed: what its member writes later goes to the menu (bot/members/desk.py).
Only the staff who holds a request replies on it, changes its status or records its outcome; any
staff may read it and add a note. Each change is one transaction with what the member is told.
What staff read (the queue, a request, its document) is ``bot/members/request_queries.py``
(:attr:`MemberRequests.queries`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.console.auth import Operator
from bot.console.checks import operator_text
from bot.errors import RefusedError
from bot.members.notices import MemberChat, MemberNotices
from bot.members.request_queries import MOVES, RequestDetail, RequestQueries, detail_of, find
from flows.types import Reply
from storage import member_requests as store
from storage.database import Connection, Database
from storage.files import FileStore

OUTCOMES = ("granted", "refused", "redirected")
TOLD = {"answered": "network.answered", "in_progress": "network.reopened", "closed": "network.closed"}
# What an outcome may carry: an amount for an advance on commissions, months for a deferral.
AMOUNT_KINDS = ("commission_advance",)
MONTHS_KINDS = ("royalty_deferral",)
MAX_AMOUNT_CENTS = 10_000_000_00
STATUS_WORDS = {"new": "nouvelle", "in_progress": "en cours", "answered": "répondue", "closed": "close"}


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
        self.queries = RequestQueries(database, clock, files)  # the reads: queue, detail, document

    # --- holding ----------------------------------------------------------------------------------

    async def claim(self, me: Operator, public_id: str) -> RequestDetail:
        """Take a request nobody holds: a conditional UPDATE, so of two staff only one wins (the
        other: 409, naming who has it). The member is told when a new request is first taken (the
        UPDATE says so: a claim and a release by someone else since our read change nothing)."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await find(connection, public_id)
            claimed = await store.claim(connection, target.id, me.row_id, now)
            if claimed is None:
                raise await self._refusal(connection, me, public_id)
            if claimed == "first":
                await self._tell(connection, target, me, now, "network.claimed")
            detail = await detail_of(connection, me, public_id)
        self.notify()
        return detail

    async def release(self, me: Operator, public_id: str) -> RequestDetail:
        """Back to the queue, unheld (its status stays); an admin may release anyone's."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await find(connection, public_id)
            held_by = None if me.admin else me.row_id
            if not await store.release(connection, target.id, now, held_by=held_by):
                raise await self._refusal(connection, me, public_id)
            detail = await detail_of(connection, me, public_id)
        self.notify()
        return detail

    async def take_over(self, me: Operator, public_id: str, from_name: str | None = None) -> RequestDetail:
        """Hold a request someone else holds (they left, or are away), as the client console's
        transfer does; ``from_name``: only if that staff still holds it (what the page showed). The
        UPDATE names the holder read, so of two take-overs at once only one wins, and the thread's
        note names who really held it. Noted in the thread; the member is not told."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await find(connection, public_id)
            if target.claimed_by_id == me.row_id:
                raise RefusedError(409, "vous tenez déjà la demande")
            if target.claimed_by_id is None or (from_name is not None and target.claimed_by != from_name):
                raise RefusedError(409, _held(target.claimed_by))
            # Only from the holder just read, so the thread names who really held it.
            if not await store.take_over(connection, target.id, me.row_id, now, from_id=target.claimed_by_id):
                raise await self._refusal(connection, me, public_id)
            said = f"{me.name} reprend la demande (tenue par {target.claimed_by})"
            await store.add_to_thread(connection, target.id, "event", me.name, said, now)
            detail = await detail_of(connection, me, public_id)
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
            detail = await detail_of(connection, me, public_id)
        self.notify()
        return detail

    async def note(self, me: Operator, public_id: str, text: str) -> RequestDetail:
        """An internal note: never sent; any staff may add one, on any request."""
        text = operator_text(text)
        now = self.clock()
        async with self.database.begin() as connection:
            target = await find(connection, public_id)
            await store.add_to_thread(connection, target.id, "note", me.name, text, now)
            detail = await detail_of(connection, me, public_id)
        self.notify()
        return detail

    # --- status and outcome -----------------------------------------------------------------------

    async def status(self, me: Operator, public_id: str, status: str) -> RequestDetail:
        """A status change of the table :data:`MOVES`, by the request's holder; the member is told."""
        if status not in MOVES:
            raise RefusedError(422, "statut inconnu (answered, in_progress ou closed)")
        now = self.clock()
        async with self.database.begin() as connection:
            target = await find(connection, public_id)
            if not await store.move(connection, target.id, MOVES[status], status, me.row_id, now):
                raise await self._refusal(connection, me, public_id, status)
            await self._tell(connection, target, me, now, TOLD[status])
            detail = await detail_of(connection, me, public_id)
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
            target = await find(connection, public_id)
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
            detail = await detail_of(connection, me, public_id)
        self.notify()
        return detail

    # --- helpers ----------------------------------------------------------------------------------

    async def _held(
        self, connection: Connection, me: Operator, public_id: str, now: datetime
    ) -> store.RequestRow:
        target = await find(connection, public_id)
        if not await store.hold(connection, target.id, me.row_id, now):
            raise await self._refusal(connection, me, public_id)
        return target

    async def _refusal(
        self, connection: Connection, me: Operator, public_id: str, wanted: str | None = None
    ) -> RefusedError:
        """Why a change did not apply, read again after it (409), in the staff's words."""
        now = await find(connection, public_id)
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
