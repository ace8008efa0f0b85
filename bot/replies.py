"""One way to speak to a client (or an optician): a reply becomes an outbound row, in the sender's
transaction, and the outbox delivers it.

The engine appends the rows of a batch to its batch's writes; the console, dispatch and every
feature to come call :func:`enqueue_reply`. Either way the row is built here, so its shape (typed
in ``storage/payloads.py``) has one author.
"""

from __future__ import annotations

from datetime import datetime

from flows.types import Reply
from storage.database import Connection
from storage.outbound import Recipient, insert_outbound
from storage.payloads import MessageRow, OutboundPayload, ReceiptData


def reply_row(
    to: Recipient,
    reply: Reply,
    now: datetime,
    *,
    author: str = "bot",
    receipt: ReceiptData | None = None,
    operator: str | None = None,
    edit_message_id: int | None = None,
    forget: bool = False,
) -> MessageRow:
    """The outbound row of ``reply`` to ``to`` (its text in its own column, the rest in the payload)."""
    payload: OutboundPayload = {
        "key": reply.key,
        "choices": [{"value": c.value, "label": c.label} for c in reply.choices],
        "step": reply.step,
        "expects": reply.expects,
        "language": to.language,
    }
    if reply.document is not None:
        payload["document"] = {
            "path": reply.document["path"],
            "filename": reply.document["filename"],
            "mime": reply.document["mime"],
        }
    if receipt is not None:
        payload["receipt"] = receipt
    if operator is not None:
        payload["operator"] = operator
    if edit_message_id is not None:
        payload["edit_message_id"] = edit_message_id
    if forget:
        payload["forget"] = True
    row: MessageRow = {
        "conversation_id": to.conversation_id,
        "direction": "out",
        "author": author,
        "channel": to.channel,
        "party": to.party,
        "text": reply.text,
        "payload": payload,
        "created_at": now,
        "available_at": now,
    }
    if to.case_id is not None:
        row["case_id"] = to.case_id
    return row


async def enqueue_reply(
    connection: Connection,
    to: Recipient,
    reply: Reply,
    now: datetime,
    *,
    author: str = "bot",
    operator: str | None = None,
    edit_message_id: int | None = None,
) -> int:
    """Write ``reply`` to ``to`` in the caller's transaction; the outbox sends it after the commit.
    Returns the message's row id."""
    row = reply_row(to, reply, now, author=author, operator=operator, edit_message_id=edit_message_id)
    return await insert_outbound(connection, row)
