"""Delivery receipts (WhatsApp statuses): stored as they come, then applied to their message.

The platform may report on a message before the outbox sender has recorded the message's platform
id (the sender records in batches): such a receipt waits in ``delivery_receipts`` and is applied by
the next :func:`apply_receipts`, which runs after every batch of receipts and every recorded send.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.conversations import set_reachable
from storage.tables import delivery_receipts, messages
from storage.text import clean_optional, clean_text

# What a channel keeps in the payload of a message it sent in parts: all of it goes again.
PROGRESS_KEYS = ("sent_parts", "template_parts")
# A receipt whose message never turns up (sent from elsewhere, or erased) is dropped after this.
ORPHAN_AFTER = timedelta(days=1)


class ReceiptFields(Protocol):
    """A receipt as a channel read it (its own value type fits): the message it names, by the
    platform's id, and what became of it ("sent", "delivered", "read" or "failed")."""

    @property
    def channel(self) -> str: ...
    @property
    def external_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Resend:
    """A message the platform refused after accepting it, to send again another way."""

    message_id: int
    error_code: int


async def insert_receipts(
    connection: AsyncConnection, receipts: Sequence[ReceiptFields], now: datetime
) -> None:
    """Store receipts; one already stored (a re-delivered webhook) is left as it is. "sent" tells
    nothing the outbox did not record when the platform accepted the message: not stored. Ids and
    errors are cleaned of what the database refuses, and a code out of the column's range dropped."""
    receipts = [r for r in receipts if r.status != "sent"]
    if not receipts:
        return
    values = [
        {
            "channel": r.channel,
            "external_id": clean_text(r.external_id, 128),  # the platform's text: NUL, surrogates
            "status": r.status,
            "at": r.at,
            "error_code": r.error_code if r.error_code is None or abs(r.error_code) < 2**31 else None,
            "error": clean_optional(r.error, 255) or None,
            "received_at": now,
        }
        for r in receipts
    ]
    dialect: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(delivery_receipts)
    await connection.execute(
        insert.on_conflict_do_nothing(index_elements=["channel", "external_id", "status"]), values
    )


async def apply_receipts(
    connection: AsyncConnection,
    now: datetime,
    *,
    resend_codes: frozenset[int] = frozenset(),
    unreachable_codes: frozenset[int] = frozenset(),
) -> list[Resend]:
    """Apply the receipts whose message is known: delivered and read times, failures shown on the
    message. A failure whose code is in ``resend_codes`` is not shown: the message is returned to
    the outbox (unsent, its platform id cleared) for the channel to send another way, and listed.
    A failure whose code is in ``unreachable_codes`` also marks the client unreachable.
    """
    found = await connection.execute(
        sa.select(
            delivery_receipts.c.id,
            delivery_receipts.c.status,
            delivery_receipts.c.at,
            delivery_receipts.c.error_code,
            delivery_receipts.c.error,
            messages.c.id.label("message_id"),
            messages.c.external_id,
            messages.c.payload,
            messages.c.channel,
            messages.c.party,
        )
        .join(
            messages,
            sa.and_(
                messages.c.channel == delivery_receipts.c.channel,
                messages.c.external_id == delivery_receipts.c.external_id,
                messages.c.direction == "out",
            ),
        )
        .order_by(delivery_receipts.c.id)
        .limit(1000)
        .with_for_update(of=messages, skip_locked=True)
    )
    applied: list[int] = []
    resent: list[Resend] = []
    for row in found:
        applied.append(row.id)
        target = sa.update(messages).where(
            messages.c.id == row.message_id, messages.c.external_id == row.external_id
        )
        if row.status in ("delivered", "read"):
            values: dict[str, Any] = {"delivered_at": sa.func.coalesce(messages.c.delivered_at, row.at)}
            if row.status == "read":
                values["read_at"] = sa.func.coalesce(messages.c.read_at, row.at)
            await connection.execute(target.values(**values))
        elif row.status == "failed" and row.error_code in resend_codes:
            kept = {k: v for k, v in (row.payload or {}).items() if k not in PROGRESS_KEYS}
            payload = {**kept, "resent_after": row.error_code}
            result = await connection.execute(
                target.values(
                    sent_at=None,
                    failed_at=None,
                    external_id=None,
                    available_at=now,
                    attempts=0,
                    payload=payload,
                    last_error=(row.error or "")[:255] or None,
                )
            )
            if result.rowcount:
                resent.append(Resend(row.message_id, row.error_code))
        elif row.status == "failed":
            await connection.execute(
                target.values(failed_at=sa.func.coalesce(messages.c.failed_at, row.at), last_error=row.error)
            )
            if row.error_code in unreachable_codes:
                await set_reachable(connection, row.channel, row.party, reachable=False)
    if applied:
        await connection.execute(sa.delete(delivery_receipts).where(delivery_receipts.c.id.in_(applied)))
    await connection.execute(
        sa.delete(delivery_receipts).where(delivery_receipts.c.received_at < now - ORPHAN_AFTER)
    )
    return resent
