"""The outbox's queries: lease the due outbound rows, renew the leases, record how each send went.

The outbox is the outbound rows of ``messages`` not sent yet (partial index ``ix_messages_outbox``).
A lease moves a row's ``available_at`` ahead and counts an attempt; ``attempts`` then identifies
that lease, and every write about a leased row is guarded by it (:func:`_still_leased`), so a row
leased again by another process is never overwritten by the one that lost it. The policy (how long
a lease, when to retry, what to give up) is :mod:`bot.outbox`'s; these functions write what it
decided, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.payloads import OutboundPayload
from storage.tables import messages

_LEASE_LOCK = 0x6F7574626F78  # "outbox": serialises leasing between processes on PostgreSQL
MAX_ERROR = 255  # the width of ``messages.last_error``


@dataclass(frozen=True, slots=True)
class Pending:
    """A leased row. ``attempts`` (counting this lease) identifies the lease: a row leased again
    by another process has more. ``last_error``: the row's error before the lease cleared it.
    ``payload`` carries the row's text (``text``) for the channel."""

    id: int
    channel: str
    recipient: str
    payload: OutboundPayload
    attempts: int
    last_error: str | None = None


class Sent(NamedTuple):
    """A row its channel sent: the platform's id of the message, and the payload to store if the
    channel noted something on it (None: the payload stays as written)."""

    id: int
    external_id: str | None
    payload: OutboundPayload | None


@dataclass(frozen=True, slots=True)
class Undelivered:
    """What to write on a leased row that did not go out: its error, and either when it is due
    again or when it was given up; ``attempt_not_counted``: this lease does not count (the row
    waited behind an earlier one); ``payload``: the payload to store (the progress of a send)."""

    row: Pending
    error: str
    available_at: datetime | None = None
    failed_at: datetime | None = None
    attempt_not_counted: bool = False
    payload: OutboundPayload | None = None


class RecentSend(NamedTuple):
    channel: str
    party: str
    sent_at: datetime


async def lease_due(
    connection: AsyncConnection,
    *,
    now: datetime,
    lease: timedelta,
    channels: Collection[str],
    per_recipient: int,
    limit: int,
    recipient: str | None = None,
    held_here: Collection[int] = (),
    busy: Collection[tuple[str, str]] = (),
) -> list[Pending]:
    """Lease the due rows of ``channels`` (of one ``recipient`` if given): at most ``per_recipient``
    per recipient, ``limit`` in all, oldest first; in id order.

    A recipient with a row held (leased by any process, or backing off) gets nothing, so one
    process at a time sends to a recipient, in order. ``held_here``: rows this process holds,
    even if their lease ran out; ``busy``: recipients it is sending to. On PostgreSQL leasing is
    serialised by an advisory lock (the next leaser sees this lease). The lease clears the rows'
    errors: a row leased again with none, after an earlier lease, was neither recorded nor handed
    back (its sender died, or lost the database)."""
    other = messages.alias("other")
    # A set, not a correlated subquery: PostgreSQL hashes it, whatever its statistics say after a burst.
    held = sa.select(other.c.channel, other.c.party).where(
        other.c.direction == "out",
        other.c.sent_at.is_(None),
        other.c.failed_at.is_(None),
        other.c.available_at > now,
    )
    conditions = [
        messages.c.direction == "out",
        messages.c.sent_at.is_(None),
        messages.c.failed_at.is_(None),
        messages.c.available_at <= now,
        messages.c.channel.in_(list(channels)),
        sa.tuple_(messages.c.channel, messages.c.party).not_in(held),
    ]
    if recipient is not None:
        conditions.append(messages.c.party == recipient)
    if held_here:
        conditions.append(messages.c.id.not_in(list(held_here)))
    if busy:
        conditions.append(sa.tuple_(messages.c.channel, messages.c.party).not_in(list(busy)))
    ranked = (
        sa.select(
            messages.c.id,
            sa.func.row_number()
            .over(partition_by=(messages.c.channel, messages.c.party), order_by=messages.c.id)
            .label("n"),
        )
        .where(*conditions)
        .subquery()
    )
    due = sa.select(ranked.c.id).where(ranked.c.n <= per_recipient).order_by(ranked.c.id).limit(limit)
    if connection.dialect.name == "postgresql":
        # One leaser at a time: the next one sees this lease, so no two processes can take the
        # same recipient's messages and send them out of order.
        await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_LEASE_LOCK)))
    result = await connection.execute(
        sa.update(messages)
        .where(messages.c.id.in_(due.scalar_subquery()))
        .values(available_at=now + lease, attempts=messages.c.attempts + 1)
        .returning(
            messages.c.id,
            messages.c.channel,
            messages.c.party,
            messages.c.text,
            messages.c.payload,
            messages.c.attempts,
            messages.c.last_error,
        )
    )
    rows = [
        Pending(r.id, r.channel, r.party, _with_text(r.payload, r.text), r.attempts, r.last_error)
        for r in result
    ]
    errors = [r.id for r in rows if r.last_error is not None]
    if errors:
        await connection.execute(sa.update(messages).where(messages.c.id.in_(errors)).values(last_error=None))
    return sorted(rows, key=lambda r: r.id)


async def recent_sends(
    connection: AsyncConnection, recipients: Iterable[tuple[str, str]], since: datetime
) -> list[RecentSend]:
    """The sends recorded (by any process) after ``since`` to these ``(channel, party)``: one query."""
    result = await connection.execute(
        sa.select(messages.c.channel, messages.c.party, messages.c.sent_at).where(
            sa.tuple_(messages.c.channel, messages.c.party).in_(list(recipients)),
            messages.c.direction == "out",
            messages.c.sent_at > since,
        )
    )
    return [RecentSend(r.channel, r.party, r.sent_at) for r in result]


async def renew_leases(
    connection: AsyncConnection, held: Sequence[tuple[int, int]], until: datetime
) -> set[int]:
    """Move the leases ``(row id, attempts)`` to ``until``; the rows renewed (a row leased again by
    another process since, or sent, or failed, is not)."""
    result = await connection.execute(
        sa.update(messages)
        .where(
            sa.tuple_(messages.c.id, messages.c.attempts).in_(held),
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
        )
        .values(available_at=until)
        .returning(messages.c.id)
    )
    return set(result.scalars())


async def record_sent(connection: AsyncConnection, sent: Sequence[Sent], now: datetime) -> None:
    """Mark rows sent at ``now``, with the platform's id and the noted payload where there are."""
    plain = [s.id for s in sent if s.external_id is None and s.payload is None]
    if plain:
        await connection.execute(sa.update(messages).where(messages.c.id.in_(plain)).values(sent_at=now))
    identified = [
        {"b_id": s.id, "b_external": s.external_id}
        for s in sent
        if s.external_id is not None and s.payload is None
    ]
    if identified:
        await connection.execute(
            sa.update(messages)
            .where(messages.c.id == sa.bindparam("b_id"))
            .values(sent_at=now, external_id=sa.bindparam("b_external")),
            identified,
        )
    for s in sent:
        if s.payload is not None:
            await connection.execute(
                sa.update(messages)
                .where(messages.c.id == s.id)
                .values(sent_at=now, external_id=s.external_id, payload=s.payload)
            )


async def record_undelivered(connection: AsyncConnection, undelivered: Undelivered) -> None:
    """Write a row's failed send, if its lease is still the last one on it."""
    values: dict[str, Any] = {"last_error": undelivered.error[:MAX_ERROR]}
    if undelivered.attempt_not_counted:
        values["attempts"] = messages.c.attempts - 1
    if undelivered.available_at is not None:
        values["available_at"] = undelivered.available_at
    if undelivered.failed_at is not None:
        values["failed_at"] = undelivered.failed_at
    if undelivered.payload is not None:
        values["payload"] = undelivered.payload
    await connection.execute(sa.update(messages).where(*_still_leased(undelivered.row)).values(**values))


async def hand_back(connection: AsyncConnection, row: Pending, now: datetime) -> None:
    """A leased row not sent: due at ``now``, as if this lease had not been (its error back too)."""
    await connection.execute(
        sa.update(messages)
        .where(*_still_leased(row))
        .values(available_at=now, attempts=messages.c.attempts - 1, last_error=row.last_error)
    )


async def leave_due(connection: AsyncConnection, row: Pending, now: datetime) -> None:
    """A leased row whose send did not return: due at ``now``, its attempt kept and no error, so
    that it is counted as maybe sent twice when leased again."""
    await connection.execute(sa.update(messages).where(*_still_leased(row)).values(available_at=now))


def _still_leased(row: Pending) -> list[sa.ColumnElement[bool]]:
    """The row, if this lease on it is still the last one and it is neither sent nor failed."""
    return [
        messages.c.id == row.id,
        messages.c.attempts == row.attempts,
        messages.c.sent_at.is_(None),
        messages.c.failed_at.is_(None),
    ]


def _with_text(payload: Any, text: str) -> OutboundPayload:
    """The stored payload with the row's text, as a channel reads it."""
    return cast(OutboundPayload, {**(payload or {}), "text": text})
