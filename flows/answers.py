"""What the client's answers make: the fields of a case, what is missing, and how they read back."""

from __future__ import annotations

from datetime import date
from typing import Any

import phonenumbers

from flows import parsing, visit_calendar
from flows.catalog import Catalog

FRANCE_CALLING_CODE = 33

# The fields a complete emergency case needs, by service mode.
REQUIRED = {
    "visit": (
        "need",
        "urgent",
        "mode",
        "address",
        "postal_code",
        "slot",
        "name",
        "phone",
        "consent",
    ),
    "shipment": ("need", "urgent", "mode", "address", "postal_code", "name", "phone"),
}


def case_fields(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers a case is made of (partial for an advisor request)."""
    address = answers.get("address") or {}
    priority = answers.get("priority")
    insurance = answers.get("insurance") or {}
    return {
        "need": answers.get("need"),
        "urgent": answers.get("urgent"),
        "priority": None if priority in (None, "none") else priority,
        # A visit wanted but not consented to is not a visit (an advisor request stops there).
        "mode": answers.get("mode") if answers.get("mode") != "visit" or answers.get("consent") else None,
        "address": address.get("address") if address else None,
        "postal_code": address.get("postal_code") if address else None,
        "department": parsing.department_of(address["postal_code"]) if address else None,
        "slot": answers.get("slot"),
        "name": answers.get("name"),
        "phone": answers.get("phone"),
        "prescription": answers.get("prescription"),
        "consent": answers.get("consent"),
        "insurance": insurance.get("status"),
        "insurer": insurance.get("name"),
        "insurance_card": answers.get("insurance_card"),
    }


def format_phone(e164: str) -> str:
    """A stored E.164 number the way the client would write it (national form for France)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == FRANCE_CALLING_CODE
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return str(phonenumbers.format_number(number, style))


def missing_fields(answers: dict[str, Any]) -> list[str]:
    mode = answers.get("mode")
    if mode not in REQUIRED:
        return ["mode"]
    flat = {**answers, **(answers.get("address") or {})}
    missing = [f for f in REQUIRED[mode] if flat.get(f) in (None, "")]
    if answers.get("need") == "unsuitable" and not answers.get("prescription"):
        missing.append("prescription")
    return missing


def format_slot(catalog: Catalog, language: str, slot: dict[str, Any]) -> str:
    """A preferred half-day as the client reads it: "jeudi 27 novembre, matin"; as soon as possible:
    "dès que possible (à partir de jeudi 27 novembre, matin)", the first half-day when it was asked."""
    day = date.fromisoformat(slot["date"])
    weekday = catalog.raw(language, "calendar.days")[day.weekday()]
    month = catalog.raw(language, "calendar.months")[day.month - 1]
    number = catalog.text(language, "calendar.first") if day.day == 1 else str(day.day)
    when = catalog.text(language, "calendar.date", weekday=weekday, day=number, month=month)
    part = catalog.text(language, "visit_slot.morning" if slot["part"] == "am" else "visit_slot.afternoon")
    if slot.get("asap"):
        return catalog.text(language, "visit_slot.asap_from", when=f"{when}, {part}")
    return f"{when}, {part}"


def slot_label(catalog: Catalog, language: str, slot: dict[str, Any]) -> str:
    """A half-day's button: "Jeudi 27 novembre, matin"."""
    text = format_slot(catalog, language, {"date": slot["date"], "part": slot["part"]})
    return text[:1].upper() + text[1:]


def slot_short_label(catalog: Catalog, language: str, value: str) -> str | None:
    """A half-day's button by its value ("2026-11-27 am"), short enough for a WhatsApp list row
    ("Jeu. 27/11, matin"); None for any other value."""
    found = visit_calendar.parse_slot_value(value)
    if found is None:
        return None
    day, half = found
    weekday = catalog.raw(language, "calendar.short_days")[day.weekday()]
    when = catalog.text(
        language, "calendar.short_date", weekday=weekday, day=day.day, month=f"{day.month:02d}"
    )
    part = catalog.text(language, "visit_slot.morning" if half == "am" else "visit_slot.afternoon")
    return f"{when}, {part}"


def format_insurance(
    catalog: Catalog, language: str, status: str | None, insurer: str | None, card: bool
) -> str:
    """The insurance as the client, the operator and the optician read it: "MGEN (carte reçue)",
    "aucune", "non précisée"; "—" when it was not asked."""
    if status is None:
        return "—"
    if status != "insured":
        return catalog.text(language, f"insurance.status_{status}")
    name = insurer or catalog.text(language, "insurance.on_card")
    return catalog.text(language, "insurance.with_card", name=name) if card else name


def render_summary(catalog: Catalog, language: str, answers: dict[str, Any]) -> str:
    """Everything the client said, read back before the case is sent."""
    fields = case_fields(answers)

    def label(group: str, value: object) -> str:
        return catalog.text(language, f"{group}.{value}") if value is not None else "—"

    slot = ""
    if fields["mode"] == "visit" and fields["slot"]:
        slot = catalog.text(
            language, "summary.slot_line", slot=format_slot(catalog, language, fields["slot"])
        )
    body = catalog.text(
        language,
        "summary.body",
        need=label("need", fields["need"]),
        urgent=catalog.text(language, "choice.yes" if fields["urgent"] else "choice.no"),
        priority=label("priority", answers.get("priority", "none")),
        mode=label("mode", fields["mode"]),
        address=fields["address"] or "—",
        slot=slot,
        name=fields["name"] or "—",
        phone=format_phone(fields["phone"]) if fields["phone"] else "—",
        insurance=format_insurance(
            catalog, language, fields["insurance"], fields["insurer"], bool(fields["insurance_card"])
        ),
    )
    return f"{catalog.text(language, 'summary.intro')}\n{body}"
