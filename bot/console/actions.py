"""What an operator does to a case: claim, release, dispatch, close, transfer, hand back, reply,
note, tracking, and the home-visit follow-ups (widen, to shipment).

Each action is one transaction. It first locks the case's conversation like the engine does
(``storage.cases.lock_case``: the case's row, then the conversation's lock), so the bot and an
operator never write the same conversation at once. A status change is the lifecycle table's move
(``flows.lifecycle.move``), applied by ``storage.cases.move_case`` as one conditional UPDATE that
also names who must hold the case: of two operators acting at once only one wins, and the loser is
told who has the case. Messages to the client go through ``bot.replies.enqueue_reply``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from bot.console.auth import Operator
from bot.console.checks import MAX_OPERATOR_TEXT, operator_text
from bot.console.queries import CaseQueries
from bot.console.views import CaseDetail, tracking_url
from bot.errors import RefusedError
from bot.replies import enqueue_reply
from flows.catalog import Catalog
from flows.lifecycle import HELD_STATES, move
from flows.types import Reply, as_language
from storage import appointments, conversations
from storage import cases as case_store
from storage.cases import LockedCase
from storage.database import Connection, Database

TRACKING_NUMBER = re.compile(r"[A-Z0-9]{8,20}")
# Operators read the console in French: the reasons an action is refused are in French too.
STATUS_WORDS = {
    "queued": "en attente",
    "claimed": "pris en charge",
    "dispatched": "expédié",
    "done": "terminé",
    "cancelled": "annulé",
}


class VisitOffers(Protocol):
    """The home visits' offer rounds (``bot.dispatch``), inside the caller's transaction."""

    async def offer(self, connection: Connection, case_id: int, *, wider: bool = False) -> int: ...

    async def withdraw(self, connection: Connection, case_id: int) -> None: ...


class CaseActions:
    """Built once (by :class:`bot.console.service.Console`); ``notify`` wakes the outbox and the
    live views after each commit; ``offers``: None where home visits are not offered."""

    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        queries: CaseQueries,
        offers: VisitOffers | None = None,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.clock = clock
        self.notify = notify
        self.queries = queries
        self.offers = offers

    # --- the lifecycle's moves -------------------------------------------------------------------

    async def claim(self, me: Operator, public_id: str) -> CaseDetail:
        return await self._act(me, public_id, "claim", mine=False)

    async def release(self, me: Operator, public_id: str) -> CaseDetail:
        """Back to the queue; an admin may release anyone's case (an operator who left)."""
        return await self._act(me, public_id, "release", mine=not me.admin)

    async def dispatch(self, me: Operator, public_id: str) -> CaseDetail:
        return await self._act(me, public_id, "dispatch")

    async def done(self, me: Operator, public_id: str) -> CaseDetail:
        return await self._act(me, public_id, "complete")

    async def cancel(self, me: Operator, public_id: str, reason: str) -> CaseDetail:
        reason = reason.strip()
        if not reason:
            raise RefusedError(422, "indiquez un motif")
        return await self._act(me, public_id, "cancel", mine=not me.admin, reason=reason[:MAX_OPERATOR_TEXT])

    async def _act(
        self, me: Operator, public_id: str, action: str, *, mine: bool = True, reason: str | None = None
    ) -> CaseDetail:
        """Apply a lifecycle action (only on a case ``me`` holds, if ``mine``), with its effects on
        the visit's offers, the conversation and the client."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._lock(connection, public_id)
            if action == "claim":
                moved = await case_store.claim_case(connection, target.id, move(action), me.name, now)
            else:
                values = _stamps(action, now, reason)
                holder = me.name if mine else None
                moved = await case_store.move_case(
                    connection, target.id, move(action), values, claimed_by=holder
                )
            if not moved:
                raise await _refusal(connection, me, target.id, action)
            if (
                action == "dispatch"
                and self.offers is not None
                and await case_store.is_visit(connection, target.id)
            ):
                await self.offers.offer(connection, target.id)
            if action in ("complete", "cancel") and self.offers is not None:
                await _end_visit(self.offers, connection, target.id, action, now)
            if action == "claim":
                await _hand(connection, target, "operator", me.name, now)
            elif action == "release":
                await _hand(connection, target, "queue", None, now)
            elif action in ("complete", "cancel"):
                key = "console.done" if action == "complete" else "console.cancelled"
                text = self.catalog.text(target.recipient.language, key, reference=target.reference)
                await enqueue_reply(connection, target.recipient, Reply(key, text), now)
                await _hand(connection, target, "closed", None, now)
            detail = await self.queries.detail(connection, me, public_id)
        self.notify()
        return detail

    # --- holding and talking ---------------------------------------------------------------------

    async def transfer(self, me: Operator, public_id: str, to: Operator) -> CaseDetail:
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._lock(connection, public_id)
            held_by = None if me.admin else me.name
            if not await case_store.reassign_case(
                connection, target.id, HELD_STATES, to.name, now, held_by=held_by
            ):
                raise await _refusal(connection, me, target.id, "transfer")
            await _hand(connection, target, "operator", to.name, now)
            detail = await self.queries.detail(connection, me, public_id)
        self.notify()
        return detail

    async def handback(self, me: Operator, public_id: str) -> CaseDetail:
        """The conversation ends (the operator is done talking); the case keeps its status, and a
        client who writes while it is live reaches it again (``flows.lifecycle.follow_up_of``)."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id)
            await _hand(connection, target, "closed", None, now)
            await case_store.mark_case_updated(connection, target.id, now)
            detail = await self.queries.detail(connection, me, public_id)
        self.notify()
        return detail

    async def reply(self, me: Operator, public_id: str, text: str) -> CaseDetail:
        text = operator_text(text)
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id)
            if target.owner == "closed":
                raise RefusedError(409, "la conversation est terminée")
            reply = Reply("operator", text)
            await enqueue_reply(connection, target.recipient, reply, now, author="operator", operator=me.name)
            await case_store.mark_case_answered(connection, target.id, now)
            detail = await self.queries.detail(connection, me, public_id)
        self.notify()
        return detail

    async def note(self, me: Operator, public_id: str, text: str) -> CaseDetail:
        text = operator_text(text)
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._lock(connection, public_id)
            await case_store.add_case_note(connection, target.id, me.name, text, now)
            detail = await self.queries.detail(connection, me, public_id)
        self.notify()
        return detail

    async def tracking(self, me: Operator, public_id: str, number: str) -> CaseDetail:
        number = re.sub(r"[\s-]", "", number).upper()
        if not TRACKING_NUMBER.fullmatch(number):
            raise RefusedError(422, "un numéro Chronopost compte 8 à 20 lettres et chiffres")
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id)
            await case_store.set_tracking_number(connection, target.id, number, now)
            url = tracking_url(number) or ""
            text = self.catalog.text(
                target.recipient.language,
                "console.tracking",
                reference=target.reference,
                number=number,
                url=url,
            )
            await enqueue_reply(connection, target.recipient, Reply("console.tracking", text), now)
            detail = await self.queries.detail(connection, me, public_id)
        self.notify()
        return detail

    # --- home visits nobody could make -----------------------------------------------------------

    async def widen(self, me: Operator, public_id: str) -> CaseDetail:
        """Nobody took the visit: a new round of offers, to the neighbouring departments too."""
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id, admin_too=True)
            state = await case_store.visit_state(connection, target.id)
            if state.status != "dispatched" or state.optician_id is not None or state.mode != "visit":
                raise RefusedError(409, "seule une visite en attente d'opticien peut être élargie")
            if self.offers is not None:
                await self.offers.offer(connection, target.id, wider=True)
            detail = await self.queries.detail(connection, me, public_id)
        self.notify()
        return detail

    async def to_shipment(self, me: Operator, public_id: str) -> CaseDetail:
        """With the client's agreement, a visit nobody can make becomes a shipment, held as a
        claimed case is (by whoever held it, else by ``me``)."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id, admin_too=True)
            holder = await case_store.visit_to_shipment(
                connection, target.id, move("to_shipment"), me.name, now
            )
            if holder is None:
                raise RefusedError(409, "seule une visite sans opticien peut passer en envoi")
            await _hand(connection, target, "operator", holder, now)
            if self.offers is not None:
                await self.offers.withdraw(connection, target.id)
            detail = await self.queries.detail(connection, me, public_id)
        self.notify()
        return detail

    # --- which case, and whose -------------------------------------------------------------------

    async def _lock(self, connection: Connection, public_id: str) -> LockedCase:
        """The case, its conversation locked like the engine locks it (``storage.cases.lock_case``)."""
        target = await case_store.lock_case(connection, public_id, self.clock())
        if target is None:
            raise RefusedError(404, "cas introuvable")
        # The client's language as the catalogue speaks it.
        recipient = replace(target.recipient, language=as_language(target.recipient.language))
        return replace(target, recipient=recipient)

    async def _mine(
        self, connection: Connection, me: Operator, public_id: str, *, admin_too: bool = False
    ) -> LockedCase:
        """The case, if ``me`` holds it (or, with ``admin_too``, if ``me`` is an admin or nobody
        holds it: a visit dispatched automatically is everyone's to follow up)."""
        target = await self._lock(connection, public_id)
        holding = await case_store.holding(connection, target.id)
        allowed = holding.claimed_by == me.name or (admin_too and (me.admin or holding.claimed_by is None))
        if not allowed or holding.status not in HELD_STATES:
            raise await _refusal(connection, me, target.id, "act on")
        return target


def _stamps(action: str, now: datetime, reason: str | None) -> dict[str, Any]:
    """What a lifecycle action records on the case besides its status (a claim: see claim_case)."""
    values: dict[str, Any] = {"updated_at": now}
    if action == "release":
        values["claimed_by"] = None
    elif action == "dispatch":
        values["dispatched_at"] = now
    elif action in ("complete", "cancel"):
        values["done_at"] = now
    if reason is not None:
        values["cancel_reason"] = reason
    return values


async def _refusal(connection: Connection, me: Operator, case_id: int, action: str) -> RefusedError:
    """Why ``me`` cannot do ``action``: who has the case, or its status."""
    holding = await case_store.holding(connection, case_id)
    if holding.claimed_by and holding.claimed_by != me.name and holding.status in HELD_STATES:
        if action == "claim":
            return RefusedError(409, f"déjà pris en charge par {holding.claimed_by}")
        return RefusedError(403, f"pris en charge par {holding.claimed_by}")
    return RefusedError(409, f"impossible pour un cas « {STATUS_WORDS.get(holding.status, holding.status)} »")


async def _hand(
    connection: Connection, target: LockedCase, owner: str, operator: str | None, now: datetime
) -> None:
    """The case's conversation goes to ``owner``; an ended conversation stays ended until the
    client writes (the engine decides then)."""
    if target.owner == "closed":
        return
    await conversations.hand_conversation(connection, target.conversation_id, owner, operator, now)


async def _end_visit(
    offers: VisitOffers, connection: Connection, case_id: int, action: str, now: datetime
) -> None:
    """The case is closed: its visit ends with it. "Terminer" while the optician is on the way
    records the visit done; otherwise the offers are withdrawn, the appointment still ahead is
    cancelled and the optician who accepted is told not to come (no reminder goes either)."""
    if action == "complete" and await appointments.close_with_case(connection, case_id, now):
        return
    await offers.withdraw(connection, case_id)
