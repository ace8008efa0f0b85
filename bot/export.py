"""What a client reads when they ask for their data ("mes données"): a summary in their language
(the whole record goes with it as a JSON document: ``bot/privacy.py``)."""

from __future__ import annotations

from flows.answers import case_fields, format_insurance, format_phone, format_slot
from flows.catalog import Catalog
from flows.departments import name_of as department_name
from flows.types import as_language
from storage.appointments import appointments_of_client
from storage.conversations import OpenConversation
from storage.database import Connection
from storage.privacy.records import client_overview


def _details(catalog: Catalog, language: str, fields: dict[str, object]) -> str:
    lang = as_language(language)
    parts: list[str] = []
    if fields.get("need") in ("broken", "lost", "unsuitable", "renewal", "lenses", "other"):
        parts.append(catalog.text(lang, f"need.{fields['need']}"))
    if fields.get("mode") in ("visit", "shipment"):
        parts.append(catalog.text(lang, f"mode.{fields['mode']}"))
    for name in ("address", "name"):
        if fields.get(name):
            parts.append(str(fields[name]))
    if fields.get("phone"):
        parts.append(format_phone(str(fields["phone"])))
    slot = fields.get("slot")
    if isinstance(slot, dict) and slot.get("date"):
        parts.append(format_slot(catalog, lang, slot))
    insurance = fields.get("insurance")
    if isinstance(insurance, str):  # the question answered (not asked of older cases)
        insurer = fields.get("insurer")
        said = format_insurance(
            catalog,
            lang,
            insurance,
            insurer if isinstance(insurer, str) else None,
            bool(fields.get("insurance_card")),
        )
        parts.append(catalog.text(lang, "insurance_staff.my_data", insurance=said))
    return ", ".join(parts) or "—"


async def client_export(connection: Connection, catalog: Catalog, convo: OpenConversation) -> str:
    """Everything stored about the client, written for them in their language."""
    lang = as_language(convo.language)
    stored = await client_overview(connection, convo.client_id)
    booked = await appointments_of_client(connection, convo.client_id)
    lines = [catalog.text(lang, "my_data.channel", channel=channel) for channel in stored.channels]
    for case in stored.cases:
        fields: dict[str, object] = {
            "need": case.need,
            "mode": case.mode,
            "address": case.address,
            "name": case.contact_name,
            "phone": case.contact_phone,
            "insurance": case.insurance_status,
            "insurer": case.insurer,
            "insurance_card": case.insurance_card_path,
        }
        if case.slot_date:
            fields["slot"] = {
                "date": case.slot_date.isoformat(),
                "part": case.slot_part,
                "asap": case.slot_asap,
            }
        lines.append(
            catalog.text(
                lang,
                "my_data.case",
                reference=case.reference,
                status=catalog.text(lang, f"status.{case.status}"),
                date=case.created_at.date().isoformat(),
                details=_details(catalog, lang, fields),
            )
        )
        if case.reference in booked:
            status, day, hour = booked[case.reference]
            lines.append(
                catalog.text(
                    lang,
                    "my_data.appointment",
                    reference=case.reference,
                    date=day.isoformat(),
                    start=hour,
                    end=hour + 1,
                    status=catalog.text(lang, f"appointment_status.{status}"),
                )
            )
    for version, given_at in stored.consents:
        lines.append(catalog.text(lang, "my_data.consent", version=version, date=given_at.date().isoformat()))
    for entry in stored.waitlist:
        lines.append(catalog.text(lang, "my_data.waitlist", date=entry.joined_at.date().isoformat()))
        # Where they wait and how to reach them, as they gave them when joining (issue 15).
        if entry.department is not None:
            place = department_name(entry.department) or entry.department
            lines.append(catalog.text(lang, "my_data.waitlist_department", department=place))
        reach = entry.contact_email or (format_phone(entry.contact_phone) if entry.contact_phone else None)
        if reach is not None:
            lines.append(catalog.text(lang, "my_data.waitlist_contact", contact=reach))
    current = case_fields(convo.answers)
    if any(current.get(k) for k in ("need", "mode", "address", "name", "phone")):
        lines.append(catalog.text(lang, "my_data.current", details=_details(catalog, lang, current)))
    header = catalog.text(lang, "my_data.header")
    if not lines:
        return f"{header}\n{catalog.text(lang, 'my_data.empty')}"
    return "\n".join([header, *lines])
