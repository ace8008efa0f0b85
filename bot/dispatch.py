"""Home visits: the opticians' registry, Telegram linking, push offers and first-accept dispatch.

A dispatched visit case is offered, in rounds, to every optician who can serve it (active,
available, protection kit valid, covering the case's department; a wider round adds the
neighbouring departments). An offer says what, when and where — the postal code and the
department's name, from tables, never a word the client wrote (``place_of``). The first Accept
wins with one conditional UPDATE; the other offers are edited to "already taken". The winner then
gets the address, phone and consent record, and the client is told who is coming and when. Every
message is an outbound row of the transcript, delivered by the outbox like any other, and every
row about a case carries its ``case_id``: erasure finds them by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.errors import RefusedError
from bot.logs import describe
from bot.rows import outbound_row
from flows.answers import format_slot
from flows.catalog import Catalog
from flows.departments import DEPARTMENTS, neighbours, place_of
from flows.parsing import parse_phone
from flows.types import SERVICE_TIME_ZONE, Reply, as_language
from storage import conversations as store
from storage.tables import (
    cases,
    consents,
    conversations,
    dispatch_offers,
    identities,
    messages,
    optician_links,
    opticians,
)

log = logging.getLogger(__name__)

TELEGRAM = "telegram"
LINK_PREFIX = "optician_"
LINK_LIFETIME = timedelta(hours=24)
OFFER_STEP = "offer"  # callback data "offer:<offer id>.a" (accept) or ".d" (decline)
VISIT_STEP = "visit"  # "visit:<case id>.done" / ".fail", then "visit:<case id>.<reason>"
FAIL_REASONS = ("absent", "address", "other")


@dataclass(frozen=True, slots=True)
class OpticianIn:
    name: str
    phone: str
    departments: Sequence[str]
    kit_expires_on: date | None
    active: bool = True
    available: bool = True


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class Dispatch:
    """Built once by the composition root; ``notify`` wakes the outbox and the live views."""

    def __init__(
        self,
        database: AsyncEngine,
        catalog: Catalog,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        accept_within: timedelta = timedelta(minutes=20),
        automatic: bool = False,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.clock = clock
        self.notify = notify
        self.accept_within = accept_within
        self.automatic = automatic
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was committed (a new case, perhaps): look for work now."""
        self._wake.set()

    async def run(self, interval: float = 15.0) -> None:
        """Forever: the no-taker alerts and automatic dispatch, on a commit or every ``interval``."""
        while True:
            try:
                await self.sweep_once()
            except Exception as error:
                log.error("dispatch sweep failed: %s", describe(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()

    # --- registry --------------------------------------------------------------------------------

    async def opticians(self) -> list[dict[str, Any]]:
        async with self.database.connect() as connection:
            rows = await connection.execute(sa.select(opticians).order_by(opticians.c.name))
            today = self._today()
            return [_optician_json(r, today) for r in rows]

    async def save(self, public_id: str | None, given: OpticianIn) -> dict[str, Any]:
        departments = sorted({d.strip().upper() for d in given.departments if d.strip()})
        unknown = [d for d in departments if d not in DEPARTMENTS]
        if unknown or not departments:
            raise RefusedError(422, f"départements inconnus : {', '.join(unknown) or 'aucun'}")
        phone = parse_phone(given.phone) or ""
        name = given.name.strip()
        if not name or not phone:
            raise RefusedError(422, "indiquez un nom et un numéro de téléphone valable")
        now = self.clock()
        values: dict[str, Any] = {
            "name": name[:128],
            "phone": phone[:32],
            "departments": departments,
            "kit_expires_on": given.kit_expires_on,
            "active": given.active,
            "available": given.available,
            "updated_at": now,
        }
        async with self.database.begin() as connection:
            if public_id is None:
                public_id = secrets.token_urlsafe(12)
                await connection.execute(
                    sa.insert(opticians).values(public_id=public_id, created_at=now, **values)
                )
            else:
                changed = await connection.execute(
                    sa.update(opticians).where(opticians.c.public_id == public_id).values(**values)
                )
                if not changed.rowcount:
                    raise RefusedError(404, "opticien introuvable")
            row = (
                await connection.execute(sa.select(opticians).where(opticians.c.public_id == public_id))
            ).one()
        return _optician_json(row, self._today())

    async def new_link(self, public_id: str, created_by: str) -> tuple[str, datetime]:
        """A one-time code for ``/start optician_<code>``: single use, valid 24 hours."""
        code = secrets.token_urlsafe(18)
        now = self.clock()
        async with self.database.begin() as connection:
            optician_id = await connection.scalar(
                sa.select(opticians.c.id).where(opticians.c.public_id == public_id)
            )
            if optician_id is None:
                raise RefusedError(404, "opticien introuvable")
            await connection.execute(
                sa.insert(optician_links).values(
                    code_hash=code_hash(code),
                    optician_id=optician_id,
                    created_by=created_by,
                    created_at=now,
                    expires_at=now + LINK_LIFETIME,
                )
            )
        return code, now + LINK_LIFETIME

    # --- the optician's side in Telegram ---------------------------------------------------------

    async def link(self, chat: str, code: str) -> None:
        """``/start optician_<code>``: link this chat to the optician if the code is unused and fresh."""
        now = self.clock()
        async with self.database.begin() as connection:
            used = await connection.execute(
                sa.update(optician_links)
                .where(
                    optician_links.c.code_hash == code_hash(code),
                    optician_links.c.used_at.is_(None),
                    optician_links.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(optician_links.c.optician_id)
            )
            optician_id = used.scalar()
            if optician_id is None:
                await self._tell(connection, chat, "optician.link_invalid", now, case_id=None)
            else:
                # A chat belongs to one optician: a former link of this chat is undone.
                await connection.execute(
                    sa.update(opticians).where(opticians.c.telegram_chat == chat).values(telegram_chat=None)
                )
                await connection.execute(
                    sa.update(opticians)
                    .where(opticians.c.id == optician_id)
                    .values(telegram_chat=chat, updated_at=now)
                )
                name = await connection.scalar(
                    sa.select(opticians.c.name).where(opticians.c.id == optician_id)
                )
                await self._tell(connection, chat, "optician.linked", now, case_id=None, name=name)
        self.notify()

    async def is_optician(self, chat: str) -> bool:
        async with self.database.connect() as connection:
            found = await connection.scalar(
                sa.select(opticians.c.id).where(opticians.c.telegram_chat == chat)
            )
        return found is not None

    async def set_available(self, chat: str, *, available: bool) -> None:
        now = self.clock()
        async with self.database.begin() as connection:
            await connection.execute(
                sa.update(opticians)
                .where(opticians.c.telegram_chat == chat)
                .values(available=available, updated_at=now)
            )
            key = "optician.available" if available else "optician.unavailable"
            await self._tell(connection, chat, key, now, case_id=None)
        self.notify()

    async def my_cases(self, chat: str) -> None:
        """``/mescas``: the optician's open visits, one message each (so each names its case), with
        no personal data — reference, half-day, place, status; the brief already gave the rest."""
        now = self.clock()
        async with self.database.begin() as connection:
            rows = (
                await connection.execute(
                    sa.select(
                        cases.c.id,
                        cases.c.reference,
                        cases.c.slot_date,
                        cases.c.slot_part,
                        cases.c.postal_code,
                        cases.c.department,
                    )
                    .join(opticians, opticians.c.id == cases.c.optician_id)
                    .where(opticians.c.telegram_chat == chat, cases.c.status == "dispatched")
                    .order_by(cases.c.slot_date, cases.c.id)
                )
            ).all()
            if not rows:
                await self._tell(connection, chat, "optician.no_cases", now, case_id=None)
            status = self.catalog.text("fr", "optician.status_accepted")
            for index, r in enumerate(rows):
                line = self.catalog.text(
                    "fr",
                    "optician.my_case",
                    reference=r.reference,
                    slot=self._slot(r.slot_date, r.slot_part),
                    place=place_of(r.postal_code, r.department) or "—",
                    status=status,
                )
                if index == 0:
                    line = f"{self.catalog.text('fr', 'optician.my_cases')}\n{line}"
                await self._send(connection, chat, Reply("optician.my_cases", line), now, case_id=r.id)
        self.notify()

    async def answer(self, chat: str, data: str, message_id: int | None) -> None:
        """A button pressed by an optician: an offer accepted or declined, or a visit's outcome."""
        step, _, value = data.partition(":")
        target, _, verb = value.rpartition(".")
        if step == OFFER_STEP and verb in ("a", "d"):
            await self._answer_offer(chat, target, accept=verb == "a", message_id=message_id)
        elif step == VISIT_STEP and verb in ("done", "fail", *FAIL_REASONS):
            await self._visit_outcome(chat, target, verb, message_id)
        self.notify()

    async def _answer_offer(self, chat: str, offer_id: str, *, accept: bool, message_id: int | None) -> None:
        now = self.clock()
        async with self.database.begin() as connection:
            offer = (
                await connection.execute(
                    sa.select(
                        dispatch_offers.c.id,
                        dispatch_offers.c.case_id,
                        dispatch_offers.c.optician_id,
                        dispatch_offers.c.status,
                        cases.c.reference,
                        opticians.c.active,
                        opticians.c.kit_expires_on,
                    )
                    .join(opticians, opticians.c.id == dispatch_offers.c.optician_id)
                    .join(cases, cases.c.id == dispatch_offers.c.case_id)
                    .where(dispatch_offers.c.public_id == offer_id, opticians.c.telegram_chat == chat)
                )
            ).first()
            if offer is not None and offer.status == "accepted":
                return  # pressed twice: the visit is already theirs, the brief already sent
            eligible = (
                offer is not None and offer.active and (offer.kit_expires_on or date.min) >= self._today()
            )
            if offer is None or offer.status != "offered" or (accept and not eligible):
                # Pressed after the offer closed: say why (taken by another, or withdrawn).
                closed = {"taken": "optician.taken", "withdrawn": "optician.withdrawn"}
                key = (
                    closed.get(offer.status, "optician.already_answered")
                    if offer
                    else "optician.already_answered"
                )
                reference, case_id = (offer.reference, offer.case_id) if offer else ("", None)
                await self._tell(
                    connection, chat, key, now, case_id=case_id, edit=message_id, reference=reference
                )
                return
            if not accept:
                await connection.execute(
                    sa.update(dispatch_offers)
                    .where(dispatch_offers.c.id == offer.id, dispatch_offers.c.status == "offered")
                    .values(status="declined", answered_at=now)
                )
                await self._tell(
                    connection,
                    chat,
                    "optician.declined",
                    now,
                    case_id=offer.case_id,
                    edit=message_id,
                    reference=offer.reference,
                )
                return
            # First accept wins: one conditional UPDATE.
            won = await connection.execute(
                sa.update(cases)
                .where(
                    cases.c.id == offer.case_id,
                    cases.c.optician_id.is_(None),
                    cases.c.status == "dispatched",
                )
                .values(optician_id=offer.optician_id, no_taker_at=None, updated_at=now)
            )
            if not won.rowcount:
                await connection.execute(
                    sa.update(dispatch_offers)
                    .where(dispatch_offers.c.id == offer.id)
                    .values(status="taken", answered_at=now)
                )
                await self._tell(
                    connection,
                    chat,
                    "optician.taken",
                    now,
                    case_id=offer.case_id,
                    edit=message_id,
                    reference=offer.reference,
                )
                return
            await connection.execute(
                sa.update(dispatch_offers)
                .where(dispatch_offers.c.id == offer.id)
                .values(status="accepted", answered_at=now)
            )
            await self._close_offers(connection, offer.case_id, "taken", now)
            await self._brief_winner(connection, offer.case_id, chat, message_id, now)

    async def _brief_winner(
        self, connection: AsyncConnection, case_id: int, chat: str, message_id: int | None, now: datetime
    ) -> None:
        """The address, phone and consent to the winner; the client told who comes and when."""
        case = (
            await connection.execute(
                sa.select(
                    cases.c.public_id,
                    cases.c.reference,
                    cases.c.contact_name,
                    cases.c.contact_phone,
                    cases.c.address,
                    cases.c.slot_date,
                    cases.c.slot_part,
                    cases.c.consent_id,
                    cases.c.language,
                    opticians.c.name.label("optician"),
                )
                .join(opticians, opticians.c.id == cases.c.optician_id)
                .where(cases.c.id == case_id)
            )
        ).one()
        consent = self.catalog.text("fr", "optician.no_consent")
        if case.consent_id is not None:
            given = (
                await connection.execute(
                    sa.select(consents.c.given_at, consents.c.wording_version).where(
                        consents.c.id == case.consent_id
                    )
                )
            ).first()
            if given is not None:
                consent = self.catalog.text(
                    "fr",
                    "optician.consent_given",
                    date=given.given_at.astimezone(SERVICE_TIME_ZONE).strftime("%d/%m/%Y %H:%M"),
                    version=given.wording_version,
                )
        slot = self._slot(case.slot_date, case.slot_part)
        text = self.catalog.text(
            "fr",
            "optician.won",
            reference=case.reference,
            name=case.contact_name or "",
            phone=case.contact_phone or "",
            address=case.address or "",
            slot=slot,
            consent=consent,
        )
        choices = [
            {"value": f"{case.public_id}.done", "label": self.catalog.text("fr", "optician.done")},
            {"value": f"{case.public_id}.fail", "label": self.catalog.text("fr", "optician.failed")},
        ]
        await self._send(
            connection,
            chat,
            Reply("optician.won", text),
            now,
            case_id=case_id,
            choices=choices,
            step=VISIT_STEP,
        )
        language = as_language(case.language)
        told = self.catalog.text(
            language,
            "optician.client_told",
            name=case.optician,
            slot=self._slot(case.slot_date, case.slot_part, language),
            reference=case.reference,
        )
        await self._tell_client(connection, case_id, Reply("optician.client_told", told), now)
        if message_id is not None:  # the offer's buttons go: the brief follows just below
            offer_text = self.catalog.text("fr", "optician.accept")
            await self._send(
                connection,
                chat,
                Reply("optician.offer", f"✅ {offer_text}"),
                now,
                case_id=case_id,
                edit=message_id,
            )

    async def _visit_outcome(self, chat: str, case_public_id: str, verb: str, message_id: int | None) -> None:
        now = self.clock()
        async with self.database.begin() as connection:
            case = (
                await connection.execute(
                    sa.select(
                        cases.c.id, cases.c.reference, cases.c.status, cases.c.language, cases.c.claimed_by
                    )
                    .join(opticians, opticians.c.id == cases.c.optician_id)
                    .where(cases.c.public_id == case_public_id, opticians.c.telegram_chat == chat)
                )
            ).first()
            if case is None or case.status != "dispatched":
                case_id = case.id if case else None
                await self._tell(
                    connection, chat, "optician.already_answered", now, case_id=case_id, edit=message_id
                )
                return
            if verb == "fail":  # which reason?
                choices = [
                    {
                        "value": f"{case_public_id}.{r}",
                        "label": self.catalog.text("fr", f"optician.failed_{r}"),
                    }
                    for r in FAIL_REASONS
                ]
                text = self.catalog.text("fr", "optician.fail_ask", reference=case.reference)
                await self._send(
                    connection,
                    chat,
                    Reply("optician.fail_ask", text),
                    now,
                    case_id=case.id,
                    choices=choices,
                    step=VISIT_STEP,
                )
                return
            language = as_language(case.language)
            if verb == "done":
                changed = await connection.execute(
                    sa.update(cases)
                    .where(cases.c.id == case.id, cases.c.status == "dispatched")
                    .values(status="done", visit_outcome="done", done_at=now, updated_at=now)
                )
                if changed.rowcount:
                    text = self.catalog.text(language, "console.done", reference=case.reference)
                    await self._tell_client(connection, case.id, Reply("console.done", text), now, close=True)
                    await self._tell(
                        connection,
                        chat,
                        "optician.closed",
                        now,
                        case_id=case.id,
                        edit=message_id,
                        reference=case.reference,
                    )
                return
            # Could not serve: back to the operators (the case's holder, or the queue); this
            # optician is not offered the case again.
            await connection.execute(
                sa.update(dispatch_offers)
                .where(dispatch_offers.c.case_id == case.id, dispatch_offers.c.status == "accepted")
                .values(status="failed", answered_at=now)
            )
            await connection.execute(
                sa.update(cases)
                .where(cases.c.id == case.id, cases.c.status == "dispatched")
                .values(
                    status="claimed" if case.claimed_by else "queued",
                    optician_id=None,
                    visit_outcome=f"failed:{verb}",
                    no_taker_at=now,
                    updated_at=now,
                )
            )
            text = self.catalog.text(language, "optician.client_failed", reference=case.reference)
            await self._tell_client(connection, case.id, Reply("optician.client_failed", text), now)
            await self._tell(
                connection,
                chat,
                "optician.returned",
                now,
                case_id=case.id,
                edit=message_id,
                reference=case.reference,
            )

    # --- rounds of offers ------------------------------------------------------------------------

    async def offer(self, connection: AsyncConnection, case_id: int, *, wider: bool = False) -> int:
        """A round of offers for the case (inside the caller's transaction); returns how many.

        The first round goes to the case's department; a wider round adds its neighbours.
        Opticians already offered this case are not offered it again.
        """
        now = self.clock()
        case = (
            await connection.execute(
                sa.select(
                    cases.c.id,
                    cases.c.reference,
                    cases.c.need,
                    cases.c.department,
                    cases.c.postal_code,
                    cases.c.slot_date,
                    cases.c.slot_part,
                    cases.c.dispatch_round,
                ).where(cases.c.id == case_id)
            )
        ).one()
        zone = {case.department} if case.department else set()
        if wider and case.department:
            zone |= set(neighbours(case.department))
        # Earlier offers: an optician who declined, could not serve, or still has an open offer
        # is not asked again; one whose offer was only closed (taken, withdrawn) may be.
        earlier = {
            row.optician_id: (row.id, row.status)
            for row in await connection.execute(
                sa.select(
                    dispatch_offers.c.id, dispatch_offers.c.optician_id, dispatch_offers.c.status
                ).where(dispatch_offers.c.case_id == case_id)
            )
        }
        already = {o for o, (_, status) in earlier.items() if status not in ("taken", "withdrawn")}
        today = self._today()
        candidates = (
            await connection.execute(
                sa.select(opticians.c.id, opticians.c.telegram_chat, opticians.c.departments).where(
                    opticians.c.active.is_(True),
                    opticians.c.available.is_(True),
                    opticians.c.telegram_chat.is_not(None),
                    opticians.c.kit_expires_on >= today,
                )
            )
        ).all()
        chosen = [c for c in candidates if c.id not in already and zone & set(c.departments or ())]
        round_number = case.dispatch_round + 1
        await connection.execute(
            sa.update(cases)
            .where(cases.c.id == case_id)
            .values(
                dispatch_round=round_number,
                offered_at=now,
                # A round that reaches nobody alerts the operator at once, not after the wait.
                no_taker_at=None if chosen else now,
                updated_at=now,
            )
        )
        need = self.catalog.text("fr", f"need.{case.need}") if case.need in _NEEDS else "—"
        # Where, from tables only: the client's address is free text and may hold anything.
        text = self.catalog.text(
            "fr",
            "optician.offer",
            reference=case.reference,
            need=need,
            slot=self._slot(case.slot_date, case.slot_part),
            place=place_of(case.postal_code, case.department) or "—",
        )
        for candidate in chosen:
            offer_id = secrets.token_urlsafe(9)
            choices = [
                {"value": f"{offer_id}.a", "label": self.catalog.text("fr", "optician.accept")},
                {"value": f"{offer_id}.d", "label": self.catalog.text("fr", "optician.decline")},
            ]
            message_id = await self._send(
                connection,
                candidate.telegram_chat,
                Reply("optician.offer", text),
                now,
                case_id=case_id,
                choices=choices,
                step=OFFER_STEP,
            )
            values = {
                "public_id": offer_id,
                "round": round_number,
                "status": "offered",
                "message_id": message_id,
                "created_at": now,
                "answered_at": None,
            }
            previous = earlier.get(candidate.id)
            if previous is not None:  # offered again after an earlier round closed
                await connection.execute(
                    sa.update(dispatch_offers).where(dispatch_offers.c.id == previous[0]).values(**values)
                )
            else:
                await connection.execute(
                    sa.insert(dispatch_offers).values(case_id=case_id, optician_id=candidate.id, **values)
                )
        return len(chosen)

    async def withdraw(self, connection: AsyncConnection, case_id: int) -> None:
        """The case left home visits (shipment, cancelled): open offers are withdrawn, and an
        optician who had accepted it is told not to come."""
        now = self.clock()
        await self._close_offers(connection, case_id, "withdrawn", now)
        taken = (
            await connection.execute(
                sa.select(dispatch_offers.c.id, opticians.c.telegram_chat, cases.c.reference)
                .join(opticians, opticians.c.id == dispatch_offers.c.optician_id)
                .join(cases, cases.c.id == dispatch_offers.c.case_id)
                .where(dispatch_offers.c.case_id == case_id, dispatch_offers.c.status == "accepted")
            )
        ).all()
        for offer in taken:
            await connection.execute(
                sa.update(dispatch_offers)
                .where(dispatch_offers.c.id == offer.id)
                .values(status="withdrawn", answered_at=now)
            )
            if offer.telegram_chat is not None:
                await self._tell(
                    connection,
                    offer.telegram_chat,
                    "optician.cancelled",
                    now,
                    case_id=case_id,
                    reference=offer.reference,
                )

    async def _close_offers(
        self, connection: AsyncConnection, case_id: int, status: str, now: datetime
    ) -> None:
        """Close the case's open offers; their messages are edited (or, if not sent yet, dropped)."""
        open_offers = (
            await connection.execute(
                sa.select(
                    dispatch_offers.c.id,
                    dispatch_offers.c.message_id,
                    opticians.c.telegram_chat,
                    messages.c.external_id,
                    messages.c.sent_at,
                    messages.c.failed_at,
                    cases.c.reference,
                )
                .join(opticians, opticians.c.id == dispatch_offers.c.optician_id)
                .join(cases, cases.c.id == dispatch_offers.c.case_id)
                .outerjoin(messages, messages.c.id == dispatch_offers.c.message_id)
                .where(dispatch_offers.c.case_id == case_id, dispatch_offers.c.status == "offered")
            )
        ).all()
        if not open_offers:
            return
        await connection.execute(
            sa.update(dispatch_offers)
            .where(dispatch_offers.c.id.in_([o.id for o in open_offers]))
            .values(status=status, answered_at=now)
        )
        key = "optician.taken" if status == "taken" else "optician.withdrawn"
        for offer in open_offers:
            reply = Reply(key, self.catalog.text("fr", key, reference=offer.reference))
            if offer.external_id is not None:
                edit = int(offer.external_id)
                await self._send(connection, offer.telegram_chat, reply, now, case_id=case_id, edit=edit)
            elif offer.message_id is not None and offer.sent_at is None and offer.failed_at is None:
                # Not sent yet: dropped, unless the outbox holds it right now (leased, maybe on its
                # way to Telegram): then the optician is told in a message of its own, which the
                # outbox sends after the offer (a recipient's messages go out in order).
                dropped = await connection.execute(
                    sa.update(messages)
                    .where(
                        messages.c.id == offer.message_id,
                        messages.c.sent_at.is_(None),
                        messages.c.failed_at.is_(None),
                        sa.or_(messages.c.available_at <= now, messages.c.last_error.is_not(None)),
                    )
                    .values(failed_at=now, last_error="withdrawn")
                )
                if dropped.rowcount != 1:
                    await self._send(connection, offer.telegram_chat, reply, now, case_id=case_id)

    async def sweep_once(self) -> int:
        """Raise the no-taker alert on visits nobody accepted in time; with automatic dispatch,
        offer new visit cases right after hand-off. Returns how many cases changed."""
        now = self.clock()
        changed = 0
        async with self.database.begin() as connection:
            late = await connection.execute(
                sa.update(cases)
                .where(
                    cases.c.status == "dispatched",
                    cases.c.optician_id.is_(None),
                    cases.c.no_taker_at.is_(None),
                    cases.c.offered_at < now - self.accept_within,
                )
                .values(no_taker_at=now, updated_at=now)
            )
            changed += late.rowcount or 0
            if self.automatic:
                fresh = (
                    (
                        await connection.execute(
                            sa.update(cases)
                            .where(
                                cases.c.status == "queued",
                                cases.c.mode == "visit",
                                cases.c.kind == "emergency",
                                cases.c.dispatch_round == 0,
                            )
                            .values(status="dispatched", dispatched_at=now, updated_at=now)
                            .returning(cases.c.id)
                        )
                    )
                    .scalars()
                    .all()
                )
                for case_id in fresh:
                    await self.offer(connection, case_id)
                changed += len(fresh)
        if changed:
            self.notify()
        return changed

    # --- messages --------------------------------------------------------------------------------

    def _today(self) -> date:
        """Kits are valid through their expiry day, in France."""
        return self.clock().astimezone(SERVICE_TIME_ZONE).date()

    def _slot(self, slot_date: date | None, part: str | None, language: str = "fr") -> str:
        if slot_date is None or not part:
            return "—"
        return format_slot(self.catalog, language, {"date": slot_date.isoformat(), "part": part})

    async def _tell(
        self,
        connection: AsyncConnection,
        chat: str,
        key: str,
        now: datetime,
        *,
        case_id: int | None,
        edit: int | None = None,
        **values: Any,
    ) -> None:
        text = self.catalog.text("fr", key, **values)
        await self._send(connection, chat, Reply(key, text), now, case_id=case_id, edit=edit)

    async def _send(
        self,
        connection: AsyncConnection,
        chat: str,
        reply: Reply,
        now: datetime,
        *,
        case_id: int | None,
        choices: list[dict[str, str]] | None = None,
        step: str | None = None,
        edit: int | None = None,
    ) -> int:
        """A message to an optician's chat (no conversation), through the outbox; its row id.
        ``case_id`` is required: a row about a case must name it, or erasure would miss it."""
        row = outbound_row(TELEGRAM, chat, None, reply, now, "fr")
        row["case_id"] = case_id
        row["payload"].update(choices=choices or [], step=step)
        if edit is not None:
            row["payload"]["edit_message_id"] = edit
        inserted = await connection.execute(sa.insert(messages).values(**row).returning(messages.c.id))
        return int(inserted.scalar_one())

    async def _tell_client(
        self, connection: AsyncConnection, case_id: int, reply: Reply, now: datetime, *, close: bool = False
    ) -> None:
        """A message to the client on their channel, in the case's conversation."""
        target = (
            await connection.execute(
                sa.select(
                    conversations.c.id,
                    conversations.c.channel,
                    conversations.c.language,
                    identities.c.external_id,
                    identities.c.key,
                )
                .join(cases, cases.c.conversation_id == conversations.c.id)
                .join(identities, identities.c.id == conversations.c.identity_id)
                .where(cases.c.id == case_id)
            )
        ).first()
        if target is None:
            return
        # The client's current conversation if the case's one has ended (handed back to the bot).
        current = (
            await connection.execute(
                sa.select(conversations.c.id, conversations.c.language)
                .join(identities, identities.c.conversation_id == conversations.c.id)
                .where(identities.c.key == target.key, conversations.c.owner != "closed")
            )
        ).first()
        conversation_id, language = (
            (current.id, current.language) if current else (target.id, target.language)
        )
        await store.lock_conversations(connection, [target.key])
        row = outbound_row(target.channel, target.external_id, conversation_id, reply, now, language)
        row["case_id"] = case_id
        await store.insert_message(connection, row)
        if close:
            await connection.execute(
                sa.update(conversations)
                .where(conversations.c.id == target.id, conversations.c.owner != "closed")
                .values(owner="closed", closed_at=now, updated_at=now)
            )


_NEEDS = ("broken", "lost", "unsuitable")


def _optician_json(row: Any, today: date) -> dict[str, Any]:
    kit = row.kit_expires_on
    return {
        "id": row.public_id,
        "name": row.name,
        "phone": row.phone,
        "departments": list(row.departments or []),
        "kit_expires_on": kit.isoformat() if kit else None,
        "kit_valid": kit is not None and kit >= today,
        "active": bool(row.active),
        "available": bool(row.available),
        "linked": row.telegram_chat is not None,
    }
