"""The console's use cases: the queue, a case's detail, and every operator action.

Each action is one transaction whose UPDATE carries its own condition (the case's status, and who
holds it), so two operators acting at once cannot both win: the loser is told who has the case.
A case's conversation is locked like the engine locks it (PostgreSQL advisory lock on its key),
so the bot and an operator never write the same conversation at once. Messages to the client are
outbound rows of the transcript: the outbox sender delivers them on the client's channel.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot import windows
from bot.console.auth import Operator
from bot.dispatch import Dispatch
from bot.errors import RefusedError
from bot.privacy import PrivacyDesk
from bot.rows import outbound_row
from flows.answers import format_slot
from flows.catalog import Catalog
from flows.lifecycle import OPEN_STATES, destination_of, sources_of
from flows.types import Reply, as_language
from storage import conversations as store
from storage import privacy as privacy_store
from storage import set_aside
from storage.files import FileStore, RejectedFileError, sniff
from storage.tables import (
    canned_replies,
    case_notes,
    cases,
    clients,
    consents,
    conversations,
    dispatch_offers,
    identities,
    messages,
    opticians,
)

TRACKING_URL = "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={number}"
TRACKING_NUMBER = re.compile(r"[A-Z0-9]{8,20}")
MAX_TEXT = 4000  # an operator's message or note
MAX_MESSAGES = 500  # the newest messages shown with a case
VIEW_JOURNALED_FOR = timedelta(minutes=10)  # one view_case line per operator and case this often
JOURNAL_PAGE = 50  # lines of the access journal per page
# Operators read the console in French: the reasons an action is refused are in French too.
STATUS_WORDS = {
    "queued": "en attente",
    "claimed": "pris en charge",
    "dispatched": "expédié",
    "done": "terminé",
    "cancelled": "annulé",
}


@dataclass(frozen=True, slots=True)
class QueueFilter:
    statuses: Sequence[str] = OPEN_STATES
    mode: str | None = None
    department: str | None = None
    mine: bool = False


_SUMMARY = (
    cases.c.id,
    cases.c.public_id,
    cases.c.reference,
    cases.c.status,
    cases.c.kind,
    cases.c.need,
    cases.c.urgent,
    cases.c.mode,
    cases.c.priority,
    cases.c.priority_rank,
    cases.c.department,
    cases.c.channel,
    cases.c.created_at,
    cases.c.updated_at,
    cases.c.claimed_by,
    cases.c.no_taker_at,
    cases.c.optician_id,
    cases.c.client_wrote_at,
    cases.c.reopened_at,
    cases.c.anonymised_at,
    clients.c.unreachable,
)


class Console:
    """Built once by the composition root; ``notify`` wakes the outbox and the live views."""

    def __init__(
        self,
        database: AsyncEngine,
        catalog: Catalog,
        files: FileStore,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        privacy: PrivacyDesk,
        overdue_after: timedelta = timedelta(minutes=15),
    ) -> None:
        self.database = database
        self.privacy = privacy  # export, erasure and the access journal (bot/privacy.py)
        self.catalog = catalog
        self.files = files
        self.clock = clock
        self.notify = notify
        self.overdue_after = overdue_after
        self.visits: Dispatch | None = None  # home-visit offers (set by the composition root)

    # --- reading ---------------------------------------------------------------------------------

    async def queue(self, me: Operator, wanted: QueueFilter) -> list[dict[str, Any]]:
        query = (
            sa.select(*_SUMMARY)
            .outerjoin(clients, clients.c.id == cases.c.client_id)
            .where(cases.c.status.in_(list(wanted.statuses)))
            .order_by(cases.c.priority_rank, cases.c.created_at, cases.c.id)
            .limit(500)
        )
        if wanted.mode:
            query = query.where(cases.c.mode == wanted.mode)
        if wanted.department:
            query = query.where(cases.c.department == wanted.department.upper())
        if wanted.mine:
            query = query.where(cases.c.claimed_by == me.name)
        async with self.database.connect() as connection:
            rows = (await connection.execute(query)).all()
        now = self.clock()
        return [self._summary(row, now) for row in rows]

    def _summary(self, row: Any, now: datetime) -> dict[str, Any]:
        waiting = now - row.created_at
        mobilised = row.priority_rank == 0
        return {
            "id": row.public_id,
            "reference": row.reference,
            "status": row.status,
            "kind": row.kind,
            "need": row.need,
            "urgent": row.urgent,
            "mode": row.mode,
            "priority": row.priority,
            "mobilised": mobilised,
            "department": row.department,
            "channel": row.channel,
            "created_at": row.created_at.isoformat(),
            "waiting_s": max(0, int(waiting.total_seconds())),
            "claimed_by": row.claimed_by,
            "overdue": mobilised and row.status == "queued" and waiting > self.overdue_after,
            "reachable": not row.unreachable,
            # A home visit nobody took in time, or the optician could not serve: act now.
            "no_taker": row.no_taker_at is not None and row.optician_id is None and row.status in OPEN_STATES,
            # The client wrote after hand-off and no operator has answered since (cleared by a reply).
            "client_wrote_at": _iso(row.client_wrote_at),
            "reopened_at": _iso(row.reopened_at),  # the client's message reopened a closed case
            "anonymised": row.anonymised_at is not None,
        }

    async def case(self, me: Operator, public_id: str, *, viewed: bool = False) -> dict[str, Any]:
        """A case's detail; ``viewed``: an operator opens it, and the access journal says so.

        The live view fetches the open case again at every change: one ``view_case`` line per
        operator and case in :data:`VIEW_JOURNALED_FOR` is enough (the journal itself is checked).
        """
        async with self.database.connect() as connection:
            detail = await self._detail(connection, me, public_id)
            owner = await privacy_store.client_of_case(connection, public_id)
            if not viewed or owner is None:
                return detail
            last = await privacy_store.last_access(connection, me.name, "view_case", owner[1])
        if last is None or self.clock() - last >= VIEW_JOURNALED_FOR:
            await self.privacy.note(me.name, "view_case", client_id=owner[0], case_id=owner[1])
        return detail

    async def _detail(self, connection: AsyncConnection, me: Operator, public_id: str) -> dict[str, Any]:
        row = (
            await connection.execute(
                sa.select(
                    *_SUMMARY,
                    cases.c.conversation_id,
                    cases.c.language,
                    cases.c.contact_name,
                    cases.c.contact_phone,
                    cases.c.address,
                    cases.c.postal_code,
                    cases.c.slot_date,
                    cases.c.slot_part,
                    cases.c.prescription_path,
                    cases.c.tracking_number,
                    cases.c.cancel_reason,
                    cases.c.first_response_at,
                    cases.c.done_at,
                    cases.c.consent_id,
                    conversations.c.owner,
                    conversations.c.operator,
                )
                .outerjoin(clients, clients.c.id == cases.c.client_id)
                .join(conversations, conversations.c.id == cases.c.conversation_id)
                .where(cases.c.public_id == public_id)
            )
        ).first()
        if row is None:
            raise RefusedError(404, "cas introuvable")
        consent = None
        if row.consent_id is not None:
            found = (
                await connection.execute(
                    sa.select(consents.c.purpose, consents.c.wording_version, consents.c.given_at).where(
                        consents.c.id == row.consent_id
                    )
                )
            ).first()
            if found is not None:
                consent = {
                    "purpose": found.purpose,
                    "wording_version": found.wording_version,
                    "given_at": found.given_at.isoformat(),
                }
        offers = await connection.execute(
            sa.select(opticians.c.name, opticians.c.phone, dispatch_offers.c.status, dispatch_offers.c.round)
            .join(opticians, opticians.c.id == dispatch_offers.c.optician_id)
            .where(dispatch_offers.c.case_id == row.id)
            .order_by(dispatch_offers.c.id)
        )
        offer_list = [{"optician": o.name, "status": o.status, "round": o.round} for o in offers]
        optician = None
        if row.optician_id is not None:
            found_optician = (
                await connection.execute(
                    sa.select(opticians.c.name, opticians.c.phone).where(opticians.c.id == row.optician_id)
                )
            ).first()
            if found_optician is not None:
                optician = {"name": found_optician.name, "phone": found_optician.phone}
        notes = await connection.execute(
            sa.select(case_notes.c.author, case_notes.c.text, case_notes.c.created_at)
            .where(case_notes.c.case_id == row.id)
            .order_by(case_notes.c.id)
        )
        transcript = await connection.execute(
            sa.select(*_MESSAGE)
            .where(messages.c.conversation_id == row.conversation_id)
            .order_by(messages.c.id.desc())
            .limit(MAX_MESSAGES)
        )
        slot = None
        if row.slot_date is not None and row.slot_part:
            slot = format_slot(self.catalog, "fr", {"date": row.slot_date.isoformat(), "part": row.slot_part})
        prescription = None
        if row.prescription_path:
            kind = "pdf" if row.prescription_path.endswith(".pdf.enc") else "image"
            prescription = {"url": f"/api/console/cases/{row.public_id}/prescription", "kind": kind}
        detail = self._summary(row, self.clock())
        detail.update(
            contact_name=row.contact_name,
            contact_phone=row.contact_phone,
            address=row.address,
            postal_code=row.postal_code,
            slot=slot,
            consent=consent,
            prescription=prescription,
            tracking_number=row.tracking_number,
            tracking_url=_tracking_url(row.tracking_number),
            cancel_reason=row.cancel_reason,
            first_response_at=_iso(row.first_response_at),
            done_at=_iso(row.done_at),
            conversation={"owner": row.owner, "operator": row.operator},
            notes=[
                {"author": n.author, "text": n.text, "created_at": n.created_at.isoformat()} for n in notes
            ],
            messages=[message_json(m) for m in reversed(transcript.all())],
            mine=row.claimed_by == me.name and row.status in ("claimed", "dispatched"),
            optician=optician,
            offers=offer_list,
            window=await self._window(connection, row),
        )
        return detail

    async def _window(self, connection: AsyncConnection, row: Any) -> dict[str, Any] | None:
        """WhatsApp only: whether a free-form reply can reach the client, and until when; outside
        the window the reply goes out as the approved template."""
        if not windows.has_window(row.channel):
            return None
        party = await connection.scalar(
            sa.select(identities.c.external_id)
            .join(conversations, conversations.c.identity_id == identities.c.id)
            .where(conversations.c.id == row.conversation_id)
        )
        pseudonyms = self.privacy.pseudonyms
        closes = await windows.closes_at(connection, row.channel, party, pseudonyms) if party else None
        return {
            "open": windows.is_open(closes, self.clock()),
            "closes_at": _iso(closes),
        }

    async def messages_after(self, public_id: str, after: int) -> list[dict[str, Any]]:
        """New messages of a case's conversation after the ``after`` id (the live view)."""
        conversation = sa.select(cases.c.conversation_id).where(cases.c.public_id == public_id)
        async with self.database.connect() as connection:
            rows = await connection.execute(
                sa.select(*_MESSAGE)
                .where(messages.c.conversation_id == conversation.scalar_subquery(), messages.c.id > after)
                .order_by(messages.c.id)
                .limit(200)
            )
            return [message_json(r) for r in rows]

    async def set_aside_since(self, since: datetime) -> int:
        """Webhooks and messages set aside since ``since`` (never storable: storage/set_aside.py)."""
        async with self.database.connect() as connection:
            return await set_aside.count_since(connection, since)

    async def version(self, public_id: str | None = None) -> tuple[Any, ...]:
        """Changes when the queue (or the given case) may have changed: the live views compare it.

        ``(queue, case)``; an erasure anonymises closed cases without touching ``updated_at``, so
        the newest ``anonymised_at`` counts too.
        """
        async with self.database.connect() as connection:
            queue = tuple(
                (
                    await connection.execute(
                        sa.select(
                            sa.func.count(),
                            sa.func.max(cases.c.updated_at),
                            sa.func.max(cases.c.anonymised_at),
                        )
                    )
                ).one()
            )
            case = None
            if public_id is not None:
                # The case, and its replies' delivery (sent, failed): the page shows both.
                conversation = sa.select(cases.c.conversation_id).where(cases.c.public_id == public_id)
                updated = sa.select(cases.c.updated_at).where(cases.c.public_id == public_id)
                anonymised = sa.select(cases.c.anonymised_at).where(cases.c.public_id == public_id)
                changed = sa.select(
                    updated.scalar_subquery(),
                    anonymised.scalar_subquery(),
                    sa.func.max(messages.c.sent_at),
                    sa.func.max(messages.c.failed_at),
                    sa.func.max(messages.c.delivered_at),
                    sa.func.max(messages.c.read_at),
                    sa.func.count(messages.c.sent_at),
                ).where(
                    messages.c.conversation_id == conversation.scalar_subquery(),
                    messages.c.direction == "out",
                )
                case = tuple((await connection.execute(changed)).one())
        return (queue, case)

    async def written_since(self, me: Operator, since: datetime) -> list[dict[str, Any]]:
        """The cases ``me`` holds (or held last) whose client wrote after ``since``: the holder's
        live notice. Ids and references only."""
        query = (
            sa.select(cases.c.public_id, cases.c.reference, cases.c.client_wrote_at)
            .where(cases.c.claimed_by == me.name, cases.c.client_wrote_at > since)
            .order_by(cases.c.client_wrote_at)
            .limit(20)
        )
        async with self.database.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [{"id": r.public_id, "reference": r.reference, "at": r.client_wrote_at} for r in rows]

    async def prescription(self, me: Operator, public_id: str) -> tuple[bytes, str]:
        """The prescription file and its checked type; every download is journaled."""
        async with self.database.connect() as connection:
            found = (
                await connection.execute(
                    sa.select(cases.c.id, cases.c.client_id, cases.c.prescription_path).where(
                        cases.c.public_id == public_id
                    )
                )
            ).first()
        path = found.prescription_path if found is not None else None
        if found is None or not path:
            raise RefusedError(404, "pas d'ordonnance")
        try:
            content = self.files.read(path)
        except (OSError, ValueError):  # erased meanwhile, or unreadable
            raise RefusedError(404, "pas d'ordonnance") from None
        try:
            kind = sniff(content)
        except RejectedFileError:  # files are checked when received: not expected, never served
            raise RefusedError(404, "pas d'ordonnance") from None
        await self.privacy.note(me.name, "prescription", client_id=found.client_id, case_id=found.id)
        return content, kind

    # --- actions ---------------------------------------------------------------------------------

    async def claim(self, me: Operator, public_id: str) -> dict[str, Any]:
        return await self._act(me, public_id, "claim", mine=False)

    async def release(self, me: Operator, public_id: str) -> dict[str, Any]:
        """Back to the queue; an admin may release anyone's case (an operator who left)."""
        return await self._act(me, public_id, "release", mine=not me.admin)

    async def dispatch(self, me: Operator, public_id: str) -> dict[str, Any]:
        return await self._act(me, public_id, "dispatch")

    async def done(self, me: Operator, public_id: str) -> dict[str, Any]:
        return await self._act(me, public_id, "complete")

    async def cancel(self, me: Operator, public_id: str, reason: str) -> dict[str, Any]:
        reason = reason.strip()
        if not reason:
            raise RefusedError(422, "indiquez un motif")
        return await self._act(me, public_id, "cancel", mine=not me.admin, reason=reason[:MAX_TEXT])

    async def _act(
        self, me: Operator, public_id: str, action: str, *, mine: bool = True, reason: str | None = None
    ) -> dict[str, Any]:
        """Apply a lifecycle action as one conditional UPDATE, with its effects on the conversation."""
        now = self.clock()
        sources = sources_of(action)
        destination = destination_of(action)
        values: dict[str, Any] = {"status": destination, "updated_at": now}
        if action == "claim":
            values.update(claimed_by=me.name, claimed_at=sa.func.coalesce(cases.c.claimed_at, now))
        elif action == "release":
            values["claimed_by"] = None
        elif action == "dispatch":
            values["dispatched_at"] = now
        elif action in ("complete", "cancel"):
            values["done_at"] = now
        if reason is not None:
            values["cancel_reason"] = reason
        async with self.database.begin() as connection:
            target = await self._target(connection, public_id)
            condition = [cases.c.id == target.id, cases.c.status.in_(sources)]
            if mine:
                condition.append(cases.c.claimed_by == me.name)
            changed = (await connection.execute(sa.update(cases).where(*condition).values(**values))).rowcount
            if not changed:
                raise await self._refusal(connection, me, target.id, action)
            if (
                action == "dispatch"
                and self.visits is not None
                and await self._is_visit(connection, target.id)
            ):
                await self.visits.offer(connection, target.id)
            if action == "cancel" and self.visits is not None:
                await self.visits.withdraw(connection, target.id)
            if action == "claim":
                await self._own(connection, target, "operator", me.name, now)
            elif action == "release":
                await self._own(connection, target, "queue", None, now)
            elif action in ("complete", "cancel"):
                key = "console.done" if action == "complete" else "console.cancelled"
                self_text = self.catalog.text(target.language, key, reference=target.reference)
                await self._send(connection, target, Reply(key, self_text), now, author="bot")
                await self._own(connection, target, "closed", None, now)
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def transfer(self, me: Operator, public_id: str, to: Operator) -> dict[str, Any]:
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._target(connection, public_id)
            changed = (
                await connection.execute(
                    sa.update(cases)
                    .where(
                        cases.c.id == target.id,
                        cases.c.status.in_(("claimed", "dispatched")),
                        *([] if me.admin else [cases.c.claimed_by == me.name]),
                    )
                    .values(claimed_by=to.name, updated_at=now)
                )
            ).rowcount
            if not changed:
                raise await self._refusal(connection, me, target.id, "transfer")
            await self._own(connection, target, "operator", to.name, now)
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def handback(self, me: Operator, public_id: str) -> dict[str, Any]:
        """The conversation ends (the operator is done talking); the case keeps its status, and a
        client who writes while it is live reaches it again (``flows.lifecycle.follow_up_of``)."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id)
            await self._own(connection, target, "closed", None, now)
            await connection.execute(sa.update(cases).where(cases.c.id == target.id).values(updated_at=now))
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def reply(self, me: Operator, public_id: str, text: str) -> dict[str, Any]:
        text = _text(text)
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id)
            if target.owner == "closed":
                raise RefusedError(409, "la conversation est terminée")
            await self._send(
                connection, target, Reply("operator", text), now, author="operator", operator=me.name
            )
            await connection.execute(
                sa.update(cases)
                .where(cases.c.id == target.id)
                .values(
                    first_response_at=sa.func.coalesce(cases.c.first_response_at, now),
                    client_wrote_at=None,  # answered: the queue stops saying "le client a écrit"
                    updated_at=now,
                )
            )
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def note(self, me: Operator, public_id: str, text: str) -> dict[str, Any]:
        text = _text(text)
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._target(connection, public_id)
            await connection.execute(
                sa.insert(case_notes).values(case_id=target.id, author=me.name, text=text, created_at=now)
            )
            await connection.execute(sa.update(cases).where(cases.c.id == target.id).values(updated_at=now))
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def tracking(self, me: Operator, public_id: str, number: str) -> dict[str, Any]:
        number = re.sub(r"[\s-]", "", number).upper()
        if not TRACKING_NUMBER.fullmatch(number):
            raise RefusedError(422, "un numéro Chronopost compte 8 à 20 lettres et chiffres")
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id)
            await connection.execute(
                sa.update(cases).where(cases.c.id == target.id).values(tracking_number=number, updated_at=now)
            )
            url = _tracking_url(number) or ""
            text = self.catalog.text(
                target.language, "console.tracking", reference=target.reference, number=number, url=url
            )
            await self._send(connection, target, Reply("console.tracking", text), now, author="bot")
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def widen(self, me: Operator, public_id: str) -> dict[str, Any]:
        """Nobody took the visit: a new round of offers, to the neighbouring departments too."""
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id, admin_too=True)
            state = (
                await connection.execute(
                    sa.select(cases.c.status, cases.c.optician_id, cases.c.mode).where(
                        cases.c.id == target.id
                    )
                )
            ).one()
            if state.status != "dispatched" or state.optician_id is not None or state.mode != "visit":
                raise RefusedError(409, "seule une visite en attente d'opticien peut être élargie")
            if self.visits is not None:
                await self.visits.offer(connection, target.id, wider=True)
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def to_shipment(self, me: Operator, public_id: str) -> dict[str, Any]:
        """With the client's agreement, a visit nobody can make becomes a shipment."""
        now = self.clock()
        async with self.database.begin() as connection:
            target = await self._mine(connection, me, public_id, admin_too=True)
            changed = await connection.execute(
                sa.update(cases)
                .where(
                    cases.c.id == target.id,
                    cases.c.mode == "visit",
                    cases.c.optician_id.is_(None),
                    cases.c.status.in_(("claimed", "dispatched")),
                )
                .values(
                    mode="shipment",
                    status="claimed",
                    # A visit dispatched automatically had no holder: whoever switches it holds it.
                    claimed_by=sa.func.coalesce(cases.c.claimed_by, me.name),
                    no_taker_at=None,
                    updated_at=now,
                )
                .returning(cases.c.claimed_by)
            )
            holder = changed.scalar()
            if holder is None:
                raise RefusedError(409, "seule une visite sans opticien peut passer en envoi")
            await self._own(connection, target, "operator", holder, now)
            if self.visits is not None:
                await self.visits.withdraw(connection, target.id)
            detail = await self._detail(connection, me, public_id)
        self.notify()
        return detail

    async def _is_visit(self, connection: AsyncConnection, case_id: int) -> bool:
        mode = await connection.scalar(sa.select(cases.c.mode).where(cases.c.id == case_id))
        return mode == "visit"

    # --- personal data (admins) ------------------------------------------------------------------

    async def export(self, me: Operator, public_id: str) -> tuple[bytes, str]:
        """Everything stored about the case's client, as a JSON document and its file name;
        journaled in the same transaction."""
        _admin(me)
        now = self.clock()
        async with self.database.begin() as connection:
            client_id, case_id = await self._client_of(connection, public_id)
            reference = await connection.scalar(sa.select(cases.c.reference).where(cases.c.id == case_id))
            await privacy_store.record_access(
                connection, now, me.name, "export", client_id=client_id, case_id=case_id, detail="admin"
            )
            content = await self.privacy.export_json(connection, client_id, now)
        name = re.sub(r"[^A-Za-z0-9-]", "", str(reference)) or "client"
        return content, f"optibot-donnees-{name}-{now.date().isoformat()}.json"

    async def erase(self, me: Operator, public_id: str) -> dict[str, Any]:
        """Erase the case's client (the privacy desk closes a live case as cancelled, anonymises
        every case of theirs and journals it); the answer is the anonymised case."""
        _admin(me)
        async with self.database.connect() as connection:
            client_id, case_id = await self._client_of(connection, public_id)
            anonymised = await connection.scalar(
                sa.select(cases.c.anonymised_at).where(cases.c.id == case_id)
            )
        if anonymised is not None:
            raise RefusedError(409, "les données de ce client sont déjà effacées")
        await self.privacy.erase(client_id, actor=me.name, detail="admin")
        self.notify()
        return await self.case(me, public_id)

    async def journal(self, me: Operator, before: int | None = None) -> dict[str, Any]:
        """A page of the access journal, newest first; ``before``: the next page's cursor."""
        _admin(me)
        async with self.database.connect() as connection:
            lines = await privacy_store.journal_lines(connection, JOURNAL_PAGE + 1, before)
        more = len(lines) > JOURNAL_PAGE
        lines = lines[:JOURNAL_PAGE]
        return {"lines": lines, "before": lines[-1]["id"] if more else None}

    async def _client_of(self, connection: AsyncConnection, public_id: str) -> tuple[int, int]:
        owner = await privacy_store.client_of_case(connection, public_id)
        if owner is None:
            raise RefusedError(404, "cas introuvable")
        return owner

    # --- canned replies --------------------------------------------------------------------------

    async def canned(self) -> list[dict[str, str]]:
        async with self.database.connect() as connection:
            rows = await connection.execute(
                sa.select(canned_replies.c.public_id, canned_replies.c.title, canned_replies.c.text).order_by(
                    canned_replies.c.title
                )
            )
            return [{"id": r.public_id, "title": r.title, "text": r.text} for r in rows]

    async def add_canned(self, me: Operator, title: str, text: str) -> dict[str, str]:
        _admin(me)
        title, text = title.strip()[:80], _text(text)
        if not title:
            raise RefusedError(422, "indiquez un titre")
        public_id = secrets.token_urlsafe(9)
        async with self.database.begin() as connection:
            await connection.execute(
                sa.insert(canned_replies).values(
                    public_id=public_id, title=title, text=text, created_by=me.name, created_at=self.clock()
                )
            )
        return {"id": public_id, "title": title, "text": text}

    async def delete_canned(self, me: Operator, public_id: str) -> None:
        _admin(me)
        async with self.database.begin() as connection:
            deleted = await connection.execute(
                sa.delete(canned_replies).where(canned_replies.c.public_id == public_id)
            )
        if not deleted.rowcount:
            raise RefusedError(404, "réponse type introuvable")

    # --- helpers ---------------------------------------------------------------------------------

    async def _target(self, connection: AsyncConnection, public_id: str) -> _Target:
        """The case and its conversation, with the conversation locked like the engine locks it.

        The first statement writes the case's row: on SQLite it takes the database's write lock
        (the engine takes it too before it reads a conversation), on PostgreSQL the row's lock,
        so what is read next cannot change before this transaction ends.
        """
        touched = await connection.execute(
            sa.update(cases)
            .where(cases.c.public_id == public_id)
            .values(updated_at=self.clock())
            .returning(cases.c.id)
        )
        if touched.first() is None:
            raise RefusedError(404, "cas introuvable")
        row = (
            await connection.execute(
                sa.select(
                    cases.c.id,
                    cases.c.reference,
                    cases.c.claimed_by,
                    cases.c.status,
                    cases.c.conversation_id,
                    conversations.c.owner,
                    conversations.c.channel,
                    conversations.c.language,
                    identities.c.key,
                    identities.c.external_id,
                )
                .join(conversations, conversations.c.id == cases.c.conversation_id)
                .join(identities, identities.c.id == conversations.c.identity_id)
                .where(cases.c.public_id == public_id)
            )
        ).first()
        if row is None:
            raise RefusedError(404, "cas introuvable")
        await store.lock_conversations(connection, [row.key])
        owner = await connection.scalar(
            sa.select(conversations.c.owner).where(conversations.c.id == row.conversation_id)
        )
        return _Target(
            id=row.id,
            reference=row.reference,
            conversation_id=row.conversation_id,
            owner=str(owner),
            channel=row.channel,
            party=row.external_id,
            language=as_language(row.language),
        )

    async def _mine(
        self, connection: AsyncConnection, me: Operator, public_id: str, *, admin_too: bool = False
    ) -> _Target:
        """The case, if ``me`` holds it (or, with ``admin_too``, if ``me`` is an admin or nobody
        holds it: a visit dispatched automatically is everyone's to follow up)."""
        target = await self._target(connection, public_id)
        holder = (
            await connection.execute(
                sa.select(cases.c.claimed_by, cases.c.status).where(cases.c.id == target.id)
            )
        ).one()
        allowed = holder.claimed_by == me.name or (admin_too and (me.admin or holder.claimed_by is None))
        if not allowed or holder.status not in ("claimed", "dispatched"):
            raise await self._refusal(connection, me, target.id, "act on")
        return target

    async def _refusal(
        self, connection: AsyncConnection, me: Operator, case_id: int, action: str
    ) -> RefusedError:
        row = (
            await connection.execute(
                sa.select(cases.c.status, cases.c.claimed_by).where(cases.c.id == case_id)
            )
        ).one()
        if row.claimed_by and row.claimed_by != me.name and row.status in ("claimed", "dispatched"):
            if action == "claim":
                return RefusedError(409, f"déjà pris en charge par {row.claimed_by}")
            return RefusedError(403, f"pris en charge par {row.claimed_by}")
        return RefusedError(409, f"impossible pour un cas « {STATUS_WORDS.get(row.status, row.status)} »")

    async def _own(
        self, connection: AsyncConnection, target: _Target, owner: str, operator: str | None, now: datetime
    ) -> None:
        if target.owner == "closed":
            return  # an ended conversation stays ended until the client writes (the engine decides)
        values: dict[str, Any] = {"owner": owner, "operator": operator, "updated_at": now}
        if owner == "closed":
            values["closed_at"] = now
        await connection.execute(
            sa.update(conversations).where(conversations.c.id == target.conversation_id).values(**values)
        )

    async def _send(
        self,
        connection: AsyncConnection,
        target: _Target,
        reply: Reply,
        now: datetime,
        *,
        author: str,
        operator: str | None = None,
    ) -> None:
        row = outbound_row(target.channel, target.party, target.conversation_id, reply, now, target.language)
        row["author"] = author
        if operator is not None:
            row["payload"]["operator"] = operator
        await store.insert_message(connection, row)


@dataclass(frozen=True, slots=True)
class _Target:
    id: int
    reference: str
    conversation_id: int
    owner: str
    channel: str
    party: str
    language: str


_MESSAGE = (
    messages.c.id,
    messages.c.direction,
    messages.c.author,
    messages.c.text,
    messages.c.payload,
    messages.c.created_at,
    messages.c.sent_at,
    messages.c.failed_at,
    messages.c.last_error,
    messages.c.delivered_at,
    messages.c.read_at,
)


def message_json(row: Any) -> dict[str, Any]:
    payload = row.payload or {}
    return {
        "id": row.id,
        "direction": row.direction,
        "author": row.author,
        "operator": payload.get("operator"),
        "text": row.text,
        "created_at": row.created_at.isoformat(),
        "sent_at": _iso(row.sent_at),
        "failed_at": _iso(row.failed_at),
        "error": row.last_error,
        "delivered_at": _iso(row.delivered_at),
        "read_at": _iso(row.read_at),
        "via": payload.get("via"),  # "template": sent outside WhatsApp's 24-hour window
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _tracking_url(number: str | None) -> str | None:
    return TRACKING_URL.format(number=quote(number)) if number else None


def _text(text: str) -> str:
    text = text.strip().replace("\x00", "")
    if not text:
        raise RefusedError(422, "le texte est vide")
    if len(text) > MAX_TEXT:
        raise RefusedError(422, f"{MAX_TEXT} caractères au plus")
    return text


def _admin(me: Operator) -> None:
    if not me.admin:
        raise RefusedError(403, "réservé aux administrateurs")
