"""The retention sweep: what is kept how long, and the purge that applies it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import set_aside
from storage.candidates import purge_candidates
from storage.member_requests import purge_closed
from storage.privacy.classification import (
    Pseudonyms,
)
from storage.privacy.erasure import anonymise_cases, delete_messages, erase_clients, forgettable
from storage.tables import (
    access_journal,
    cases,
    clients,
    conversations,
    identities,
    inbox,
    messages,
    waitlist,
)
from storage.video_slots import purge_started_before


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    inbox: timedelta = timedelta(days=7)
    cases: timedelta = timedelta(days=90)
    files: timedelta = timedelta(days=30)
    waitlist: timedelta = timedelta(days=180)
    journal: timedelta = timedelta(days=365)
    goodbyes: timedelta = timedelta(minutes=5)  # delivered "forget" rows (the web page shows them)
    candidates: timedelta = timedelta(days=365)  # opticians who asked to join, untouched since
    member_requests: timedelta = timedelta(days=730)  # members' requests, since they were closed


@dataclass(slots=True)
class Purge:
    """What a sweep removed (or would remove): counts only, never values."""

    inbox_rows: int = 0
    clients_erased: int = 0
    cases_anonymised: int = 0
    prescriptions_deleted: int = 0
    insurance_cards_deleted: int = 0
    waitlist_entries: int = 0
    journal_lines: int = 0
    set_aside: int = 0
    goodbyes: int = 0
    candidates: int = 0
    member_requests: int = 0
    video_slots: int = 0
    staff_messages: int = 0
    files: list[str] = field(default_factory=list)
    erased_clients: list[int] = field(default_factory=list)

    def lines(self) -> list[tuple[str, int]]:
        return [
            ("inbox rows processed long ago", self.inbox_rows),
            ("clients erased (nothing live, inactive)", self.clients_erased),
            ("closed cases anonymised", self.cases_anonymised),
            ("prescription files deleted", self.prescriptions_deleted),
            ("insurance card files deleted", self.insurance_cards_deleted),
            ("waitlist entries", self.waitlist_entries),
            ("access journal lines", self.journal_lines),
            ("webhooks set aside", self.set_aside),
            ("delivered goodbyes", self.goodbyes),
            ("candidates declined or left untouched", self.candidates),
            ("members' requests closed long ago", self.member_requests),
            ("video follow-up slots started long ago", self.video_slots),
            ("messages to opticians and members sent long ago", self.staff_messages),
        ]


async def purge(
    connection: AsyncConnection,
    now: datetime,
    policy: RetentionPolicy,
    pseudonyms: Pseudonyms,
    *,
    open_statuses: Sequence[str],
) -> Purge:
    """Everything past its retention delay, removed in the caller's transaction (a dry run rolls
    it back). Files are returned, to delete once committed."""
    done = Purge()
    live = list(open_statuses)
    # 0. Waitlist entries past their delay (their client may then have nothing left).
    done.waitlist_entries = (
        await connection.execute(sa.delete(waitlist).where(waitlist.c.created_at < now - policy.waitlist))
    ).rowcount
    # 1. Clients with nothing live and no activity for the case delay: erased whole (anonymous
    #    cases stay). A waitlist entry still within its delay keeps its client.
    case_cutoff = now - policy.cases
    active = sa.select(conversations.c.client_id).where(conversations.c.updated_at > case_cutoff)
    open_case = sa.select(cases.c.client_id).where(cases.c.status.in_(live))
    waiting = sa.select(waitlist.c.client_id).where(waitlist.c.created_at > now - policy.waitlist)
    # Read from the identities that still hold data (a partial index, written as a literal so both
    # databases match it): a year's erased clients are never read again.
    stale = list(
        await connection.scalars(
            sa.select(clients.c.id)
            .distinct()
            .join(identities, identities.c.client_id == clients.c.id)
            .where(
                identities.c.external_id != sa.literal_column("'erased'"),
                clients.c.id.not_in(active),
                clients.c.id.not_in(open_case),
                clients.c.id.not_in(waiting),
                clients.c.created_at < case_cutoff,
            )
        )
    )
    if stale:
        done.files += await erase_clients(connection, stale, now, pseudonyms)
        done.clients_erased = len(stale)
        done.erased_clients = stale
    # 2. Closed cases of clients still active: anonymised past the delay.
    old_cases = list(
        await connection.scalars(
            sa.select(cases.c.id).where(
                cases.c.anonymised_at.is_(None),
                cases.c.status.not_in(live),
                sa.func.coalesce(cases.c.done_at, cases.c.updated_at) < case_cutoff,
            )
        )
    )
    if old_cases:
        done.files += await anonymise_cases(connection, old_cases, now, pseudonyms)
        done.cases_anonymised = len(old_cases)
        # Their conversations' transcripts go too, unless the conversation was used since.
        convos = list(
            await connection.scalars(
                sa.select(cases.c.conversation_id).where(
                    cases.c.id.in_(old_cases),
                    cases.c.conversation_id.in_(
                        sa.select(conversations.c.id).where(conversations.c.updated_at <= case_cutoff)
                    ),
                )
            )
        )
        if convos:
            await delete_messages(connection, messages.c.conversation_id.in_(convos))
            await connection.execute(
                sa.update(conversations).where(conversations.c.id.in_(convos)).values(answers={})
            )
    # 3. Prescriptions and insurance cards of cases closed past the file delay.
    prescriptions = await _forget_files(connection, cases.c.prescription_path, live, now - policy.files)
    cards = await _forget_files(connection, cases.c.insurance_card_path, live, now - policy.files)
    done.prescriptions_deleted, done.insurance_cards_deleted = len(prescriptions), len(cards)
    done.files += prescriptions + cards
    # 4. The rest, by age.
    done.inbox_rows = (
        await connection.execute(
            sa.delete(inbox).where(
                inbox.c.processed_at.is_not(None), inbox.c.received_at < now - policy.inbox
            )
        )
    ).rowcount
    done.journal_lines = (
        await connection.execute(sa.delete(access_journal).where(access_journal.c.at < now - policy.journal))
    ).rowcount
    # Set-aside records hold no personal data; they are kept as long as the access journal.
    done.set_aside = await set_aside.purge_before(connection, now - policy.journal)
    gone = list(
        await connection.scalars(
            sa.select(messages.c.id).where(
                messages.c.conversation_id.is_(None),
                messages.c.case_id.is_(None),
                sa.or_(
                    messages.c.sent_at < now - policy.goodbyes, messages.c.failed_at < now - policy.goodbyes
                ),
                forgettable(),
            )
        )
    )
    if gone:
        await delete_messages(connection, messages.c.id.in_(gone))
    done.goodbyes = len(gone)
    done.candidates = await purge_candidates(connection, now - policy.candidates)
    # Members' requests (issue 16): closed past their delay, with their threads and documents.
    closed, documents = await purge_closed(connection, now - policy.member_requests)
    done.member_requests = closed
    done.files += documents
    # Video follow-ups (who met whom) go as long after they started.
    done.video_slots = await purge_started_before(connection, now - policy.member_requests)
    # Messages to opticians and members that are about no case (their menus, replies, reminders,
    # announcements): staff data, kept as long as members' requests. An announcement's delivery
    # keeps its outcome; a request's thread keeps its text.
    staff_cutoff = now - policy.member_requests
    old_staff = list(
        await connection.scalars(
            sa.select(messages.c.id).where(
                messages.c.conversation_id.is_(None),
                messages.c.case_id.is_(None),
                sa.or_(messages.c.sent_at < staff_cutoff, messages.c.failed_at < staff_cutoff),
            )
        )
    )
    if old_staff:
        await delete_messages(connection, messages.c.id.in_(old_staff))
    done.staff_messages = len(old_staff)
    done.files = sorted(set(done.files))
    return done


async def _forget_files(
    connection: AsyncConnection, column: sa.Column[str], live: Sequence[str], cutoff: datetime
) -> list[str]:
    """The files of this column of cases closed before ``cutoff``, unlinked from their cases."""
    old = (
        await connection.execute(
            sa.select(cases.c.id, column.label("path")).where(
                column.is_not(None),
                cases.c.status.not_in(list(live)),
                sa.func.coalesce(cases.c.done_at, cases.c.updated_at) < cutoff,
            )
        )
    ).all()
    if old:
        await connection.execute(
            sa.update(cases).where(cases.c.id.in_([r.id for r in old])).values({column.name: None})
        )
    return [str(r.path) for r in old]
