"""What the console reads: the queue, a case's page, what changed since the live view last looked,
and the case's files (prescription, insurance card). Opening a case's page or one of its files is
journaled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot import windows
from bot.console.auth import Operator
from bot.console.views import (
    CaseDetail,
    CaseSummary,
    MessageOut,
    ReplyWindow,
    case_detail,
    case_summary,
    iso,
    message_out,
)
from bot.errors import RefusedError
from bot.privacy import PrivacyDesk
from flows.answers import format_slot
from flows.catalog import Catalog
from flows.lifecycle import HELD_STATES, OPEN_STATES
from storage import appointments, case_views, set_aside
from storage import privacy as privacy_store
from storage.case_views import CaseDetailRow, CaseFileRef, ClientWrote, QueueKey
from storage.database import Connection, Database
from storage.files import FileStore, RejectedFileError, sniff

MAX_MESSAGES = 500  # the newest messages shown with a case
QUEUE_PAGE = 100  # cases per page of the queue (the console asks for up to MAX_QUEUE_PAGE)
MAX_QUEUE_PAGE = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
VIEW_JOURNALED_FOR = timedelta(minutes=10)  # one view_case line per operator and case this often

# What the live views compare: (the queue's, the open case's or None); either changes when
# something they show may have changed.
Version = tuple[tuple[object, ...], tuple[object, ...] | None]


@dataclass(frozen=True, slots=True)
class QueueFilter:
    statuses: Sequence[str] = OPEN_STATES
    mode: str | None = None
    department: str | None = None
    mine: bool = False


@dataclass(frozen=True, slots=True)
class QueuePage:
    """A page of the queue; ``next``: the cursor of the page after it (None: the last page)."""

    cases: list[CaseSummary]
    next: str | None


_INT32 = 2**31
_INT64 = 2**63


def queue_cursor(key: QueueKey) -> str:
    """The opaque cursor of a page's last case: ``rank.microseconds since 1970.id``."""
    micros = (key.created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{key.priority_rank}.{micros}.{key.id}"


def queue_key(cursor: str) -> QueueKey:
    """The key a cursor stands for; refused (422) if it is not one."""
    try:
        rank, micros, last = (int(part) for part in cursor.split("."))
        if not (0 <= rank < _INT32 and 0 <= last < _INT64):  # what the columns can hold
            raise ValueError(cursor)
        return QueueKey(rank, _EPOCH + timedelta(microseconds=micros), last)
    except (ValueError, OverflowError):  # not three numbers, or a time no case can have
        raise RefusedError(422, "curseur de file invalide") from None


class CaseQueries:
    """Built once (by :class:`bot.console.service.Console`)."""

    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        files: FileStore,
        clock: Callable[[], datetime],
        *,
        privacy: PrivacyDesk,
        overdue_after: timedelta,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.files = files
        self.clock = clock
        self.privacy = privacy
        self.overdue_after = overdue_after

    async def queue(self, me: Operator, wanted: QueueFilter) -> list[CaseSummary]:
        """The queue's first page (:data:`MAX_QUEUE_PAGE` cases)."""
        return (await self.queue_page(me, wanted, limit=MAX_QUEUE_PAGE)).cases

    async def queue_page(
        self, me: Operator, wanted: QueueFilter, after: str | None = None, limit: int = QUEUE_PAGE
    ) -> QueuePage:
        """A page of the queue in its order, after the cursor ``after`` (keyset: a page reads
        its own rows only, however deep, and cases added or moved meanwhile neither repeat nor
        push others out of sight)."""
        key = None if after is None else queue_key(after)
        async with self.database.connect() as connection:
            rows = await case_views.queue(
                connection,
                wanted.statuses,
                mode=wanted.mode,
                department=wanted.department.upper() if wanted.department else None,
                claimed_by=me.name if wanted.mine else None,
                after=key,
                limit=limit + 1,
            )
        now = self.clock()
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        cursor = (
            None if last is None else queue_cursor(QueueKey(last.priority_rank, last.created_at, last.id))
        )
        return QueuePage([case_summary(row, now, self.overdue_after) for row in rows], cursor)

    async def case(self, me: Operator, public_id: str, *, viewed: bool = False) -> CaseDetail:
        """A case's detail; ``viewed``: an operator opens it, and the access journal says so.

        The live view fetches the open case again at every change: one ``view_case`` line per
        operator and case in :data:`VIEW_JOURNALED_FOR` is enough (the journal itself is checked).
        """
        async with self.database.connect() as connection:
            detail = await self.detail(connection, me, public_id)
            owner = await privacy_store.client_of_case(connection, public_id)
            if not viewed or owner is None:
                return detail
            last = await privacy_store.last_access(connection, me.name, "view_case", owner[1])
        if last is None or self.clock() - last >= VIEW_JOURNALED_FOR:
            await self.privacy.note(me.name, "view_case", client_id=owner[0], case_id=owner[1])
        return detail

    async def detail(self, connection: Connection, me: Operator, public_id: str) -> CaseDetail:
        """The case's page, read in the caller's transaction (an action answers with it)."""
        row = await case_views.case_detail(connection, public_id)
        if row is None:
            raise RefusedError(404, "cas introuvable")
        consent = None if row.consent_id is None else await case_views.consent(connection, row.consent_id)
        offers = await case_views.offers_of(connection, row.id)
        optician = None if row.optician_id is None else await case_views.optician(connection, row.optician_id)
        appointment = await appointments.appointment_view(connection, row.id)
        notes = await case_views.notes_of(connection, row.id)
        transcript = await case_views.transcript(connection, row.conversation_id, MAX_MESSAGES)
        slot = None
        if row.slot_date is not None and row.slot_part:
            stored = {"date": row.slot_date.isoformat(), "part": row.slot_part, "asap": row.slot_asap}
            slot = format_slot(self.catalog, "fr", stored)
        return case_detail(
            row,
            self.clock(),
            self.overdue_after,
            slot=slot,
            consent=consent,
            notes=notes,
            messages=transcript,
            mine=row.claimed_by == me.name and row.status in HELD_STATES,
            optician=optician,
            offers=offers,
            window=await self._window(connection, row),
            appointment=appointment,
        )

    async def _window(self, connection: Connection, row: CaseDetailRow) -> ReplyWindow | None:
        """WhatsApp only: whether a free-form reply can reach the client, and until when; outside
        the window the reply goes out as the approved template."""
        if not windows.has_window(row.channel):
            return None
        party = await case_views.party_of(connection, row.conversation_id)
        pseudonyms = self.privacy.pseudonyms
        closes = await windows.closes_at(connection, row.channel, party, pseudonyms) if party else None
        return ReplyWindow(open=windows.is_open(closes, self.clock()), closes_at=iso(closes))

    async def messages_after(self, public_id: str, after: int) -> list[MessageOut]:
        """New messages of a case's conversation after the ``after`` id (the live view)."""
        async with self.database.connect() as connection:
            return [
                message_out(line) for line in await case_views.messages_after(connection, public_id, after)
            ]

    async def set_aside_since(self, since: datetime) -> int:
        """Webhooks and messages set aside since ``since`` (never storable: storage/set_aside.py)."""
        async with self.database.connect() as connection:
            return await set_aside.count_since(connection, since)

    async def version(self, public_id: str | None = None) -> Version:
        """Changes when the queue (or the given case) may have changed: the live views compare it."""
        async with self.database.connect() as connection:
            queue = await case_views.queue_version(connection)
            case = None if public_id is None else await case_views.case_version(connection, public_id)
        return (queue, case)

    async def written_since(self, me: Operator, since: datetime) -> list[ClientWrote]:
        """The cases ``me`` holds (or held last) whose client wrote after ``since``: the holder's
        live notice."""
        async with self.database.connect() as connection:
            return await case_views.written_since(connection, me.name, since)

    async def prescription(self, me: Operator, public_id: str) -> tuple[bytes, str]:
        """The prescription file and its checked type; every download is journaled."""
        async with self.database.connect() as connection:
            found = await case_views.prescription_of(connection, public_id)
        return await self._case_file(me, found, "prescription", "pas d'ordonnance")

    async def insurance_card(self, me: Operator, public_id: str) -> tuple[bytes, str]:
        """The photo of the client's insurance card and its checked type; every download is
        journaled (``insurance_card``), like the prescription's."""
        async with self.database.connect() as connection:
            found = await case_views.insurance_card_of(connection, public_id)
        return await self._case_file(me, found, "insurance_card", "pas de carte de mutuelle")

    async def _case_file(
        self, me: Operator, found: CaseFileRef | None, action: str, absent: str
    ) -> tuple[bytes, str]:
        if found is None or not found.path:
            raise RefusedError(404, absent)
        try:
            content = self.files.read(found.path)
        except (OSError, ValueError):  # erased meanwhile, or unreadable
            raise RefusedError(404, absent) from None
        try:
            kind = sniff(content)
        except RejectedFileError:  # files are checked when received: not expected, never served
            raise RefusedError(404, absent) from None
        await self.privacy.note(me.name, action, client_id=found.client_id, case_id=found.case_id)
        return content, kind
