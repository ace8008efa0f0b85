"""What a client reads when they ask for their data ("mes données"): a summary in their language
(the whole record goes with it as a JSON document: ``bot/privacy.py``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.answers import case_fields, format_phone, format_slot
from flows.catalog import Catalog
from flows.types import as_language
from storage.conversations import OpenConversation
from storage.tables import cases, consents, identities, waitlist


def _details(catalog: Catalog, language: str, fields: dict[str, object]) -> str:
    lang = as_language(language)
    parts: list[str] = []
    if fields.get("need") in ("broken", "lost", "unsuitable", "other"):
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
    return ", ".join(parts) or "—"


async def client_export(connection: AsyncConnection, catalog: Catalog, convo: OpenConversation) -> str:
    """Everything stored about the client, written for them in their language."""
    lang = as_language(convo.language)
    lines: list[str] = []
    channels = await connection.execute(
        sa.select(identities.c.channel).where(identities.c.client_id == convo.client_id)
    )
    lines += [catalog.text(lang, "my_data.channel", channel=row.channel) for row in channels]
    found = await connection.execute(
        sa.select(cases).where(cases.c.client_id == convo.client_id).order_by(cases.c.id)
    )
    for case in found:
        fields = {
            "need": case.need,
            "mode": case.mode,
            "address": case.address,
            "name": case.contact_name,
            "phone": case.contact_phone,
        }
        if case.slot_date:
            fields["slot"] = {"date": case.slot_date.isoformat(), "part": case.slot_part}
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
    given = await connection.execute(
        sa.select(consents).where(consents.c.client_id == convo.client_id).order_by(consents.c.id)
    )
    for consent in given:
        lines.append(
            catalog.text(
                lang,
                "my_data.consent",
                version=consent.wording_version,
                date=consent.given_at.date().isoformat(),
            )
        )
    waiting = await connection.execute(
        sa.select(waitlist.c.created_at).where(waitlist.c.client_id == convo.client_id)
    )
    for entry in waiting:
        lines.append(catalog.text(lang, "my_data.waitlist", date=entry.created_at.date().isoformat()))
    current = case_fields(convo.answers)
    if any(current.get(k) for k in ("need", "mode", "address", "name", "phone")):
        lines.append(catalog.text(lang, "my_data.current", details=_details(catalog, lang, current)))
    header = catalog.text(lang, "my_data.header")
    if not lines:
        return f"{header}\n{catalog.text(lang, 'my_data.empty')}"
    return "\n".join([header, *lines])
