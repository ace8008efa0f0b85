"""The shape of the JSON a message row carries, declared once for every writer and reader.

An outbound row (``messages.payload`` with ``direction = 'out'``) is written by whoever speaks to a
client or an optician (the engine, the console, dispatch, through :func:`bot.replies.reply_row`) and
read by the outbox and the channels; the channels add what they learnt while sending (the parts of a
long text already sent, how WhatsApp let it out). ``mypy --strict`` checks each key against this.
"""

from __future__ import annotations

from datetime import datetime
from typing import NotRequired, TypedDict


class ChoiceData(TypedDict):
    """A button: the value the bot reads back, the label the client reads."""

    value: str
    label: str


class DocumentRef(TypedDict):
    """A file attached to a message: its data-folder path, the name the client sees, its type."""

    path: str
    filename: str
    mime: str


class ReceiptData(TypedDict, total=False):
    """What a channel needs to mark an answered message (Telegram: the pressed keyboard's message,
    and the label of the button taken, or None if it was stale)."""

    message_id: int
    label: str | None


class SendProgress(TypedDict, total=False):
    """How far a send in several parts went before it failed, kept for the retry so that nothing is
    sent twice (Telegram and WhatsApp split long texts; WhatsApp may fall back to templates)."""

    sent_parts: int
    text_message_id: str | None  # Telegram: the text's message, edited to carry the buttons
    text_wamid: str | None  # WhatsApp: the text's message id
    template_parts: int  # WhatsApp: templates sent outside the 24-hour window


class DeliveryNote(TypedDict, total=False):
    """What a channel says of a message it delivered, kept on the row (the console shows it)."""

    via: str  # "template": sent outside WhatsApp's 24-hour window
    template: str
    # A document that could not go out: ``documents.MISSING`` or ``documents.WINDOW_CLOSED``, in
    # place of the reference (the file itself is no longer this message's).
    document: DocumentRef | str


class OutboundPayload(SendProgress, DeliveryNote, total=False):
    """An outbound message's payload: what the writer said, then what the channel and the receipts
    added. The text has its own column."""

    # The row's text column, added for a channel where the message is read to be shown (the
    # outbox's lease, the last question): never written into the stored payload.
    text: str
    key: str  # the catalogue key of the text
    choices: list[ChoiceData]
    step: str | None  # the step the buttons belong to: a stale button is recognised
    expects: str | None  # "text", "phone", "photo": the widget a channel may offer
    language: str  # a channel's own widgets (share-my-number) speak it too
    receipt: ReceiptData  # mark the client's answered message (first reply to it only)
    forget: bool  # a reply to an erased client: deleted with the rest, never shown
    operator: str  # the console operator who wrote it
    edit_message_id: int  # Telegram: replace that message (an optician's answered offer)
    resent_after: int  # the platform refused it after accepting it (WhatsApp error code)


class MessageRow(TypedDict):
    """An outbound message row as written to ``messages`` (and so to the outbox)."""

    conversation_id: int | None
    direction: str
    author: str
    channel: str
    party: str
    text: str
    payload: OutboundPayload
    created_at: datetime
    available_at: datetime
    case_id: NotRequired[int | None]  # a message about a case names it, so that erasure finds it
