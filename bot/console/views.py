"""What the console shows: the JSON shapes of its answers (pydantic models, documented in the API
schema and docs/CONSOLE.md), and how a stored case or message becomes one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field

from flows.insurers import known
from flows.lifecycle import OPEN_STATES
from storage.appointments import AppointmentView
from storage.case_views import (
    CaseDetailRow,
    CaseSummaryRow,
    ConsentRow,
    NoteRow,
    OfferRow,
    OpticianRow,
    TranscriptLine,
)

TRACKING_URL = "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={number}"


class CaseSummary(BaseModel):
    id: str
    reference: str
    status: str
    kind: str
    need: str | None
    urgent: bool | None
    mode: str | None
    priority: str | None
    mobilised: bool
    department: str | None
    channel: str
    created_at: str
    waiting_s: int
    claimed_by: str | None
    overdue: bool
    reachable: bool
    no_taker: bool
    client_wrote_at: str | None = Field(description="The client wrote and no operator has answered yet.")
    reopened_at: str | None = Field(description="The client's message reopened the case (done or cancelled).")
    anonymised: bool = Field(description="The client's data was erased: an anonymous statistic remains.")


class MessageOut(BaseModel):
    id: int
    direction: Literal["in", "out"]
    author: str
    operator: str | None
    text: str
    created_at: str
    sent_at: str | None
    failed_at: str | None
    error: str | None
    delivered_at: str | None = Field(description="WhatsApp: the client's phone received it.")
    read_at: str | None = Field(description="WhatsApp: the client opened it.")
    via: Literal["template"] | None = Field(
        description="template: sent as the approved template, outside WhatsApp's 24-hour window."
    )


class Consent(BaseModel):
    purpose: str
    wording_version: str
    given_at: str


class Prescription(BaseModel):
    url: str
    kind: Literal["image", "pdf"]


class InsuranceCard(BaseModel):
    url: str
    kind: Literal["image", "pdf"]


class Insurance(BaseModel):
    """The client's answer to the optional insurance question (null: not asked, older cases)."""

    status: Literal["insured", "none", "skipped"]
    insurer: str | None = Field(description="As the shipped list writes it, or as the client typed it.")
    listed: bool = Field(description="The insurer is one of the shipped list (flows/data/insurers.toml).")
    kind: str | None = Field(
        description="A listed insurer's kind (mutuelle, assureur, réseau de soins, tiers payant...)."
    )
    card: InsuranceCard | None


class Note(BaseModel):
    author: str
    text: str
    created_at: str


class ConversationOut(BaseModel):
    owner: str
    operator: str | None


class ReplyWindow(BaseModel):
    """WhatsApp's 24-hour customer-service window: inside it replies go out as they are written,
    outside it as the approved template (the client's answer opens it again)."""

    open: bool
    closes_at: str | None


class OpticianBrief(BaseModel):
    name: str
    phone: str


class Offer(BaseModel):
    optician: str
    status: Literal["offered", "accepted", "declined", "taken", "withdrawn", "failed"]
    round: int


class AppointmentOut(BaseModel):
    """A home visit booked to the hour: ``day`` and ``hour`` (Paris time) of its one-hour window."""

    status: Literal[
        "pending", "proposed", "confirmed", "en_route", "done", "impossible", "moved", "cancelled"
    ]
    day: str | None
    hour: int | None
    proposal: int
    confirmed_at: str | None
    en_route_at: str | None
    reminded_at: str | None


class CaseDetail(CaseSummary):
    contact_name: str | None
    contact_phone: str | None
    address: str | None
    postal_code: str | None
    slot: str | None
    consent: Consent | None
    prescription: Prescription | None
    insurance: Insurance | None = Field(default=None, description="Asked after the phone; optional.")
    tracking_number: str | None
    tracking_url: str | None
    cancel_reason: str | None
    first_response_at: str | None
    done_at: str | None
    conversation: ConversationOut
    notes: list[Note]
    messages: list[MessageOut]
    mine: bool
    optician: OpticianBrief | None
    offers: list[Offer]
    window: ReplyWindow | None = Field(description="WhatsApp cases only.")
    appointment: AppointmentOut | None = Field(default=None, description="Home visits an optician took.")


class Canned(BaseModel):
    id: str
    title: str
    text: str


class JournalLine(BaseModel):
    """Who did what to whose personal data, and when; never the data itself."""

    id: int
    at: str
    actor: str
    action: str
    detail: str | None
    case: str | None = Field(description="The case's reference, while it keeps its data.")
    case_id: str | None
    client_of: str | None = Field(description="A line about a client: their newest case kept.")
    anonymised: bool


class Journal(BaseModel):
    lines: list[JournalLine]
    before: int | None = Field(description="The next (older) page: ?before=<this>; null at the end.")


def case_summary(row: CaseSummaryRow, now: datetime, overdue_after: timedelta) -> CaseSummary:
    return CaseSummary(**_summary_fields(row, now, overdue_after))


def case_detail(
    row: CaseDetailRow,
    now: datetime,
    overdue_after: timedelta,
    *,
    slot: str | None,
    consent: ConsentRow | None,
    notes: list[NoteRow],
    messages: list[TranscriptLine],
    mine: bool,
    optician: OpticianRow | None,
    offers: list[OfferRow],
    window: ReplyWindow | None,
    appointment: AppointmentView | None = None,
) -> CaseDetail:
    """A case with its client's details, transcript, notes and offers (the case's page)."""
    prescription = None
    if row.prescription_path:
        prescription = Prescription(
            url=f"/api/console/cases/{row.public_id}/prescription", kind=_file_kind(row.prescription_path)
        )
    return CaseDetail(
        **_summary_fields(row, now, overdue_after),
        contact_name=row.contact_name,
        contact_phone=row.contact_phone,
        address=row.address,
        postal_code=row.postal_code,
        slot=slot,
        consent=None
        if consent is None
        else Consent(
            purpose=consent.purpose,
            wording_version=consent.wording_version,
            given_at=consent.given_at.isoformat(),
        ),
        prescription=prescription,
        insurance=insurance_of(row),
        tracking_number=row.tracking_number,
        tracking_url=tracking_url(row.tracking_number),
        cancel_reason=row.cancel_reason,
        first_response_at=iso(row.first_response_at),
        done_at=iso(row.done_at),
        conversation=ConversationOut(owner=row.owner, operator=row.operator),
        notes=[Note(author=n.author, text=n.text, created_at=n.created_at.isoformat()) for n in notes],
        messages=[message_out(m) for m in messages],
        mine=mine,
        optician=None if optician is None else OpticianBrief(name=optician.name, phone=optician.phone),
        offers=[Offer(optician=o.optician, status=o.status, round=o.round) for o in offers],
        window=window,
        appointment=None if appointment is None else appointment_out(appointment),
    )


_INSURANCE_STATUSES: dict[str, Literal["insured", "none", "skipped"]] = {
    "insured": "insured",
    "none": "none",
    "skipped": "skipped",
}


def _file_kind(path: str) -> Literal["image", "pdf"]:
    return "pdf" if path.endswith(".pdf.enc") else "image"


def insurance_of(row: CaseDetailRow) -> Insurance | None:
    """The insurance as the case's page shows it; the card is a link to its own route."""
    status = _INSURANCE_STATUSES.get(row.insurance_status or "")
    if status is None:
        return None
    listed = known(row.insurer)
    card = None
    if row.insurance_card_path:
        card = InsuranceCard(
            url=f"/api/console/cases/{row.public_id}/insurance-card", kind=_file_kind(row.insurance_card_path)
        )
    return Insurance(
        status=status,
        insurer=row.insurer,
        listed=listed is not None,
        kind=None if listed is None else listed.kind,
        card=card,
    )


def appointment_out(view: AppointmentView) -> AppointmentOut:
    return AppointmentOut(
        status=view.status,
        day=view.day.isoformat() if view.day else None,
        hour=view.hour,
        proposal=view.proposal,
        confirmed_at=iso(view.confirmed_at),
        en_route_at=iso(view.en_route_at),
        reminded_at=iso(view.reminded_at),
    )


def _summary_fields(row: CaseSummaryRow, now: datetime, overdue_after: timedelta) -> dict[str, object]:
    waiting = now - row.created_at
    mobilised = row.priority_rank == 0
    return {
        "id": row.public_id,
        "reference": row.reference,
        "status": row.status,
        "kind": row.kind,
        "need": row.need,
        "urgent": row.urgent,
        "mode": row.mode,
        "priority": row.priority,
        "mobilised": mobilised,
        "department": row.department,
        "channel": row.channel,
        "created_at": row.created_at.isoformat(),
        "waiting_s": max(0, int(waiting.total_seconds())),
        "claimed_by": row.claimed_by,
        "overdue": mobilised and row.status == "queued" and waiting > overdue_after,
        "reachable": not row.unreachable,
        # A home visit nobody took in time, or the optician could not serve: act now.
        "no_taker": row.no_taker_at is not None and row.optician_id is None and row.status in OPEN_STATES,
        # The client wrote after hand-off and no operator has answered since (cleared by a reply).
        "client_wrote_at": iso(row.client_wrote_at),
        "reopened_at": iso(row.reopened_at),  # the client's message reopened a closed case
        "anonymised": row.anonymised_at is not None,
    }


def message_out(line: TranscriptLine) -> MessageOut:
    return MessageOut(
        id=line.id,
        direction=line.direction,
        author=line.author,
        operator=line.operator,
        text=line.text,
        created_at=line.created_at.isoformat(),
        sent_at=iso(line.sent_at),
        failed_at=iso(line.failed_at),
        error=line.last_error,
        delivered_at=iso(line.delivered_at),
        read_at=iso(line.read_at),
        via=line.via,  # "template": sent outside WhatsApp's 24-hour window
    )


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def tracking_url(number: str | None) -> str | None:
    return TRACKING_URL.format(number=quote(number)) if number else None
