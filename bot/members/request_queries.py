"""What federation staff read of the "Réseau" queue (issue 16): a page of members' requests, a
request with its member's card and its thread, its document (every download journaled), and the
version the live views compare. Reads only; the staff's actions (claim, release, take-over,
replies, notes, status and outcome) are in ``bot/members/requests.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import date, datetime

from pydantic import BaseModel

from bot.console.auth import Operator
from bot.console.live import SharedRead
from bot.errors import RefusedError
from flows.member_table import KINDS
from storage import member_requests as store
from storage.database import Connection, Database
from storage.files import FileStore, RejectedFileError, sniff
from storage.privacy.journal import record_access

STATUSES = ("new", "in_progress", "answered", "closed")
OPEN_STATUSES = store.OPEN_STATUSES
# The status changes staff make by hand (bot/members/requests.py; a request's detail lists those its
# holder may make now): the new status → the statuses it may come from. ``new`` → ``in_progress`` is
# the claim's; ``closed`` with an outcome is :meth:`bot.members.requests.MemberRequests.outcome`'s.
MOVES: dict[str, tuple[str, ...]] = {
    "answered": ("in_progress",),
    "in_progress": ("answered",),
    "closed": ("in_progress", "answered"),
}


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


class RequestQueries:
    """Built once by :class:`bot.members.requests.MemberRequests`."""

    def __init__(self, database: Database, clock: Callable[[], datetime], files: FileStore) -> None:
        self.database = database
        self.clock = clock
        self.files = files
        self._versions = SharedRead(self._version)

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
            return await detail_of(connection, me, public_id)

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


async def find(connection: Connection, public_id: str) -> store.RequestRow:
    """The request, in the caller's transaction; an unknown one is refused (404)."""
    found = await store.request_of(connection, public_id)
    if found is None:
        raise RefusedError(404, "demande inconnue")
    return found


async def detail_of(connection: Connection, me: Operator | None, public_id: str) -> RequestDetail:
    """The request as ``me`` sees it (None: the CLI), read in the caller's transaction."""
    found = await find(connection, public_id)
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
