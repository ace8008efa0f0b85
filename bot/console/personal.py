"""A client's personal data from the console (admins): export it, erase it, read the access
journal. The privacy desk (``bot/privacy.py``) does the work and journals it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from bot.console.auth import Operator
from bot.console.checks import require_admin
from bot.console.queries import CaseQueries
from bot.console.views import CaseDetail, Journal, JournalLine
from bot.errors import RefusedError
from bot.privacy import PrivacyDesk
from storage import cases as case_store
from storage import privacy as privacy_store
from storage.database import Connection, Database

JOURNAL_PAGE = 50  # lines of the access journal per page


class PersonalData:
    def __init__(
        self,
        database: Database,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        privacy: PrivacyDesk,
        queries: CaseQueries,
    ) -> None:
        self.database = database
        self.clock = clock
        self.notify = notify
        self.privacy = privacy
        self.queries = queries

    async def export(self, me: Operator, public_id: str) -> tuple[bytes, str]:
        """Everything stored about the case's client, as a JSON document and its file name;
        journaled in the same transaction."""
        require_admin(me)
        now = self.clock()
        async with self.database.begin() as connection:
            client_id, case_id = await _client_of(connection, public_id)
            reference = await case_store.reference_of(connection, case_id)
            await privacy_store.record_access(
                connection, now, me.name, "export", client_id=client_id, case_id=case_id, detail="admin"
            )
            content = await self.privacy.export_json(connection, client_id, now)
        name = re.sub(r"[^A-Za-z0-9-]", "", str(reference)) or "client"
        return content, f"optibot-donnees-{name}-{now.date().isoformat()}.json"

    async def erase(self, me: Operator, public_id: str) -> CaseDetail:
        """Erase the case's client (the privacy desk closes a live case as cancelled, anonymises
        every case of theirs and journals it); the answer is the anonymised case."""
        require_admin(me)
        async with self.database.connect() as connection:
            client_id, case_id = await _client_of(connection, public_id)
            anonymised = await case_store.anonymised_at(connection, case_id)
        if anonymised is not None:
            raise RefusedError(409, "les données de ce client sont déjà effacées")
        await self.privacy.erase(client_id, actor=me.name, detail="admin")
        self.notify()
        return await self.queries.case(me, public_id)

    async def journal(self, me: Operator, before: int | None = None) -> Journal:
        """A page of the access journal, newest first; ``before``: the next page's cursor."""
        require_admin(me)
        async with self.database.connect() as connection:
            lines = await privacy_store.journal_lines(connection, JOURNAL_PAGE + 1, before)
        more = len(lines) > JOURNAL_PAGE
        lines = lines[:JOURNAL_PAGE]
        return Journal(
            lines=[JournalLine(**line) for line in lines], before=lines[-1]["id"] if more else None
        )


async def _client_of(connection: Connection, public_id: str) -> tuple[int, int]:
    owner = await privacy_store.client_of_case(connection, public_id)
    if owner is None:
        raise RefusedError(404, "cas introuvable")
    return owner
