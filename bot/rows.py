"""Rows the engine writes for one message: inbox, transcript (and outbox), conversation, case."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from bot.channels.whatsapp.updates import CHANNEL as WHATSAPP
from bot.messages import Inbound
from flows.answers import format_phone
from flows.lifecycle import priority_rank
from flows.types import ClientInput, CreateCase
from storage import conversations as store
from storage import inbox
from storage.privacy import Pseudonyms

E164_MAX_DIGITS = 15


def inbox_row(inbound: Inbound, pseudonyms: Pseudonyms) -> inbox.InboxRow:
    """The inbox keeps the channel's id of a message as a keyed hash: enough to recognise a
    re-delivery, and not the raw id (a WhatsApp message id encodes the client's number)."""
    return inbox.InboxRow(
        inbound.channel, pseudonyms.of(inbound.external_id), inbound.key, inbound.to_payload()
    )


def inbound_row(
    convo: store.OpenConversation, said: ClientInput, label: str | None, now: datetime
) -> dict[str, Any]:
    """The client's message as the transcript shows it (a button by its label, a file by its name)."""
    if said.text is not None:
        text = said.text
    elif said.choice is not None:
        text = label or f"[{said.choice}]"
    elif said.media is not None or said.media_name:
        text = f"📎 {said.media_name or 'file'}"
    elif said.contact_phone is not None:
        text = format_phone(said.contact_phone)
    else:
        text = f"[{said.unsupported or 'empty'}]"
    payload = said.to_payload()
    payload.pop("text", None)
    return {
        "conversation_id": convo.conversation_id,
        "direction": "in",
        "author": "client",
        "channel": convo.channel,
        "party": convo.user,
        "available_at": None,  # executemany takes its columns from the first row: same keys in all
        "text": text,
        "payload": payload or None,
        "created_at": now,
    }


def conversation_row(convo: store.OpenConversation, now: datetime) -> dict[str, Any]:
    return {
        "b_id": convo.conversation_id,
        "state": convo.state,
        "owner": convo.owner,
        "language": convo.language,
        "answers": convo.answers,
        "misses": convo.misses,
        "notice_sent": convo.notice_sent,
        "updated_at": now,
        "closed_at": now if convo.owner == "closed" else None,
    }


def channel_phone(channel: str, user: str) -> str | None:
    """The client's number as their channel knows it, in E.164, or None.

    WhatsApp keys a client by their ``wa_id`` (the number, in digits) unless Meta gives a
    business-scoped user id, which carries no number. Unchecked: a cheap string test on every
    message; the flow checks the number before offering it.
    """
    if channel == WHATSAPP and user.isascii() and user.isdigit() and len(user) <= E164_MAX_DIGITS:
        return f"+{user}"
    return None


def case_row(convo: store.OpenConversation, effect: CreateCase, now: datetime) -> dict[str, Any]:
    """The case a flow asked for; its consent is linked when the batch is saved. An advisor case
    from WhatsApp without a phone answer carries the client's WhatsApp number, for the operator."""
    fields = effect.fields
    slot = fields.get("slot") or {}
    return {
        "reference": effect.reference,
        "public_id": secrets.token_urlsafe(16),
        "client_id": convo.client_id,
        "conversation_id": convo.conversation_id,
        "kind": effect.kind,
        "status": "queued",
        "channel": convo.channel,
        "language": convo.language,
        "need": fields.get("need") if fields.get("need") != "other" else None,
        "urgent": fields.get("urgent"),
        "mode": fields.get("mode"),
        "priority": fields.get("priority"),
        "priority_rank": priority_rank(fields.get("priority"), effect.kind),
        "address": fields.get("address"),
        "postal_code": fields.get("postal_code"),
        "department": fields.get("department"),
        "slot_date": date.fromisoformat(slot["date"]) if slot else None,
        "slot_part": slot.get("part") if slot else None,
        "slot_asap": bool(slot.get("asap")),
        "contact_name": fields.get("name"),
        "contact_phone": fields.get("phone") or channel_phone(convo.channel, convo.user),
        "prescription_path": fields.get("prescription"),
        "insurance_status": fields.get("insurance"),
        "insurer": fields.get("insurer"),
        "insurance_card_path": fields.get("insurance_card"),
        "consent_id": None,  # linked to the conversation's consent when saved
        "created_at": now,
        "updated_at": now,
    }
