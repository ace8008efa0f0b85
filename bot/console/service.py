"""The console's use cases behind one object, for the API and the composition root: reading
(``queries.py``), a case's actions (``actions.py``), canned replies (``canned.py``) and a client's
personal data (``personal.py``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.console.actions import CaseActions, VisitOffers
from bot.console.auth import Operator
from bot.console.canned import CannedReplies
from bot.console.personal import PersonalData
from bot.console.queries import CaseQueries, QueueFilter, QueuePage, Version
from bot.console.views import Canned, CaseDetail, CaseSummary, Journal, MessageOut
from bot.privacy import PrivacyDesk
from flows.catalog import Catalog
from storage.case_views import ClientWrote
from storage.database import Database
from storage.files import FileStore

__all__ = ["Console", "QueueFilter"]


class Console:
    """Built once by the composition root; ``notify`` wakes the outbox and the live views;
    ``offers``: the home visits' offer rounds (None where there are none)."""

    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        files: FileStore,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        privacy: PrivacyDesk,
        offers: VisitOffers | None = None,
        overdue_after: timedelta = timedelta(minutes=15),
    ) -> None:
        self.files = files
        self.clock = clock
        self.overdue_after = overdue_after
        self.queries = CaseQueries(
            database, catalog, files, clock, privacy=privacy, overdue_after=overdue_after
        )
        self.actions = CaseActions(database, catalog, clock, notify, queries=self.queries, offers=offers)
        self.canned_replies = CannedReplies(database, clock)
        self.personal = PersonalData(database, clock, notify, privacy=privacy, queries=self.queries)

    # --- reading ---------------------------------------------------------------------------------

    async def queue(self, me: Operator, wanted: QueueFilter) -> list[CaseSummary]:
        return await self.queries.queue(me, wanted)

    async def queue_page(self, me: Operator, wanted: QueueFilter, after: str | None, limit: int) -> QueuePage:
        return await self.queries.queue_page(me, wanted, after, limit)

    async def case(self, me: Operator, public_id: str, *, viewed: bool = False) -> CaseDetail:
        return await self.queries.case(me, public_id, viewed=viewed)

    async def messages_after(self, public_id: str, after: int) -> list[MessageOut]:
        return await self.queries.messages_after(public_id, after)

    async def version(self, public_id: str | None = None) -> Version:
        return await self.queries.version(public_id)

    async def written_since(self, me: Operator, since: datetime) -> list[ClientWrote]:
        return await self.queries.written_since(me, since)

    async def set_aside_since(self, since: datetime) -> int:
        return await self.queries.set_aside_since(since)

    async def prescription(self, me: Operator, public_id: str) -> tuple[bytes, str]:
        return await self.queries.prescription(me, public_id)

    async def insurance_card(self, me: Operator, public_id: str) -> tuple[bytes, str]:
        return await self.queries.insurance_card(me, public_id)

    # --- a case's actions ------------------------------------------------------------------------

    async def claim(self, me: Operator, public_id: str) -> CaseDetail:
        return await self.actions.claim(me, public_id)

    async def release(self, me: Operator, public_id: str) -> CaseDetail:
        return await self.actions.release(me, public_id)

    async def dispatch(self, me: Operator, public_id: str) -> CaseDetail:
        return await self.actions.dispatch(me, public_id)

    async def done(self, me: Operator, public_id: str) -> CaseDetail:
        return await self.actions.done(me, public_id)

    async def cancel(self, me: Operator, public_id: str, reason: str) -> CaseDetail:
        return await self.actions.cancel(me, public_id, reason)

    async def transfer(self, me: Operator, public_id: str, to: Operator) -> CaseDetail:
        return await self.actions.transfer(me, public_id, to)

    async def handback(self, me: Operator, public_id: str) -> CaseDetail:
        return await self.actions.handback(me, public_id)

    async def reply(self, me: Operator, public_id: str, text: str) -> CaseDetail:
        return await self.actions.reply(me, public_id, text)

    async def note(self, me: Operator, public_id: str, text: str) -> CaseDetail:
        return await self.actions.note(me, public_id, text)

    async def tracking(self, me: Operator, public_id: str, number: str) -> CaseDetail:
        return await self.actions.tracking(me, public_id, number)

    async def widen(self, me: Operator, public_id: str) -> CaseDetail:
        return await self.actions.widen(me, public_id)

    async def to_shipment(self, me: Operator, public_id: str) -> CaseDetail:
        return await self.actions.to_shipment(me, public_id)

    # --- personal data (admins) ------------------------------------------------------------------

    async def export(self, me: Operator, public_id: str) -> tuple[bytes, str]:
        return await self.personal.export(me, public_id)

    async def erase(self, me: Operator, public_id: str) -> CaseDetail:
        return await self.personal.erase(me, public_id)

    async def journal(self, me: Operator, before: int | None = None) -> Journal:
        return await self.personal.journal(me, before)

    # --- canned replies --------------------------------------------------------------------------

    async def canned(self) -> list[Canned]:
        return await self.canned_replies.all()

    async def add_canned(self, me: Operator, title: str, text: str) -> Canned:
        return await self.canned_replies.add(me, title, text)

    async def delete_canned(self, me: Operator, public_id: str) -> None:
        await self.canned_replies.delete(me, public_id)
