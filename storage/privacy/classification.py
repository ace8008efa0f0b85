"""Where every piece of personal data lives, and what erasure does to it (docs/PRIVACY.md).

:data:`PERSONAL_DATA` names every column of the schema with what erasure does to it; a test fails
when a column is added without being named here, so a new place holding personal data cannot be
forgotten by erasure."""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

# What erasure does to a column:
#   delete  the client's rows of this table are deleted (the column goes with them)
#   blank   set to NULL (or emptied) when the client is erased or the case anonymised
#   hash    replaced by a keyed hash or a random value (it must stay unique, or recognisable)
#   keep    not personal: kept (ids, statuses, times, what reports need)
#   staff   about operators or opticians, not about clients
Treatment = Literal["delete", "blank", "hash", "keep", "staff"]

_KEEP_ALL: Treatment = "keep"
_STAFF_ALL: Treatment = "staff"
_DELETE_ALL: Treatment = "delete"

PERSONAL_DATA: dict[str, dict[str, Treatment] | Treatment] = {
    "clients": _KEEP_ALL,  # language, reachability, creation time: an anonymous shell remains
    "identities": {
        "id": "keep",
        "client_id": "keep",
        "channel": "keep",
        "external_id": "hash",
        "key": "hash",
        "conversation_id": "keep",
        "created_at": "keep",
    },
    "conversations": {
        "id": "keep",
        "public_id": "keep",
        "client_id": "keep",
        "identity_id": "keep",
        "channel": "keep",
        "state": "keep",
        "owner": "keep",
        "operator": "staff",
        "language": "keep",
        "answers": "blank",
        "misses": "keep",
        "notice_sent": "keep",
        "created_at": "keep",
        "updated_at": "keep",
        "closed_at": "keep",
    },
    "messages": _DELETE_ALL,  # the transcript, the optician's brief (case_id), notices to the client
    "delivery_receipts": _DELETE_ALL,  # WhatsApp statuses of the deleted messages
    "consents": _DELETE_ALL,
    "cases": {
        "id": "keep",
        "reference": "hash",
        "public_id": "keep",
        "client_id": "keep",
        "conversation_id": "keep",
        "kind": "keep",
        "status": "keep",
        "channel": "keep",
        "language": "keep",
        "need": "keep",
        "urgent": "keep",
        "mode": "keep",
        "priority": "keep",
        "priority_rank": "keep",
        "address": "blank",
        "postal_code": "blank",
        "department": "keep",
        "slot_date": "keep",
        "slot_part": "keep",
        "slot_asap": "keep",
        "contact_name": "blank",
        "contact_phone": "blank",
        "prescription_path": "blank",
        "insurance_status": "blank",
        "insurer": "blank",
        "insurance_card_path": "blank",
        "consent_id": "blank",
        "claimed_by": "staff",
        "cancel_reason": "blank",
        "tracking_number": "blank",
        "created_at": "keep",
        "updated_at": "keep",
        "claimed_at": "keep",
        "first_response_at": "keep",
        "dispatched_at": "keep",
        "done_at": "keep",
        "optician_id": "keep",
        "dispatch_round": "keep",
        "offered_at": "keep",
        "no_taker_at": "keep",
        "visit_outcome": "keep",
        "client_wrote_at": "blank",
        "reopened_at": "keep",
        "anonymised_at": "keep",
    },
    "case_notes": _DELETE_ALL,  # what operators wrote about the client
    "waitlist": _DELETE_ALL,
    "inbox": {
        "id": "keep",
        "channel": "keep",
        "external_id": "hash",  # always a keyed hash: deduplication needs no more
        "identity_key": "hash",
        "payload": "blank",
        "received_at": "keep",
        "processed_at": "keep",
        "attempts": "keep",
        "error": "keep",  # an error's kind, never its text
    },
    "dispatch_offers": _KEEP_ALL,  # who was offered what, when: its message goes with the case's messages
    # The visit's day, hour and steps: no personal data (the address stays on the case).
    "appointments": _KEEP_ALL,
    "access_journal": _KEEP_ALL,  # ids and actors, never the data itself
    "set_aside": _KEEP_ALL,  # refused webhooks: channel, kind, error kind, body digest and size only
    "operators": _STAFF_ALL,
    "console_sessions": _STAFF_ALL,
    "login_failures": _STAFF_ALL,
    "canned_replies": _STAFF_ALL,
    "opticians": _STAFF_ALL,
    "optician_links": _STAFF_ALL,
    "service_levels": _STAFF_ALL,  # the level and which admin set it
    "broadcasts": _STAFF_ALL,  # filters, counts and the admin who started it: no client data
    "broadcast_deliveries": _KEEP_ALL,  # route and status; deleted with their waitlist row
    # Opticians who asked to join: not clients (docs/PRIVACY.md says how long they are kept).
    "candidates": _STAFF_ALL,
    # The members' desk (issue 16): what members (opticians of the network) asked the federation,
    # their draft and their threads with its staff. Not client data: a client's erasure leaves them;
    # closed requests go after RETENTION_MEMBER_REQUEST_DAYS (docs/PRIVACY.md).
    "member_sessions": _STAFF_ALL,
    "member_requests": _STAFF_ALL,
    "member_messages": _STAFF_ALL,
    # Video follow-ups (issue 16): a slot, the staff member and the member (an optician) who took it.
    "video_slots": _STAFF_ALL,
    # Announcements to members (issue 16): the federation's text and the staff who sent it; one
    # delivery per member (an optician): channel, status, the outbound row. No client data.
    "announcements": _STAFF_ALL,
    "announcement_deliveries": _STAFF_ALL,
}

HASH_PREFIX = "h1:"
ANONYMOUS_REFERENCE = "XX-"


class Pseudonyms:
    """Keyed hashes that stand in for raw ids (a chat id, a WhatsApp message id): the same id
    always gives the same hash, so a re-delivered message is still recognised, but the hash cannot
    be turned back into the id without the key (a plain hash of a phone number could be)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def of(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
        return HASH_PREFIX + digest[:48]


def columns_of(table: str) -> dict[str, Treatment]:
    """The columns of ``table`` with their treatment ({} for a table treated as a whole)."""
    treatment = PERSONAL_DATA[table]
    return treatment if isinstance(treatment, dict) else {}
