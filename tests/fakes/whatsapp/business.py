"""What the fake Graph API says of the business itself: the phone number's node
(``GET /<phone_number_id>``) and the WhatsApp Business Account's templates
(``GET /<waba_id>/message_templates``, paged with ``limit`` and an ``after`` cursor, as Graph pages)."""

from __future__ import annotations

import base64

from tests.fakes.server import Json
from tests.fakes.whatsapp.api import GraphError

MAX_PAGE = 100


def phone_number_node(phone_number_id: str, display_phone_number: str, fields: str | None) -> Json:
    """The number's node: its id, and the fields asked for (Graph answers only those)."""
    known: Json = {
        "id": phone_number_id,
        "display_phone_number": f"+{display_phone_number}",
        "verified_name": "Les Opticiens Mobiles",
        "quality_rating": "GREEN",
        "code_verification_status": "VERIFIED",
    }
    wanted = [field for field in (fields or "verified_name,display_phone_number").split(",") if field]
    for field in wanted:
        if field not in known:
            raise GraphError(100, message=f"(#100) Tried accessing nonexisting field ({field})")
    return {field: known[field] for field in ("id", *wanted)}


def template_page(
    templates: dict[tuple[str, str], int],
    statuses: dict[tuple[str, str], str],
    query: dict[str, str],
) -> Json:
    """One page of the account's templates: ``{"data": [...], "paging": {...}}``; ``status`` is
    ``statuses``' entry for the template, APPROVED when it has none."""
    try:
        limit = int(query.get("limit", "25"))
    except ValueError:
        raise GraphError(100, "Param limit must be an integer") from None
    if not 1 <= limit <= MAX_PAGE * 10:
        raise GraphError(100, "Param limit must be between 1 and 1000")
    start = _decode(query["after"]) if "after" in query else 0
    every = sorted(templates)
    data = [
        {
            "name": name,
            "language": language,
            "status": statuses.get((name, language), "APPROVED"),
            "category": "UTILITY",
            "id": str(10**15 + index),
        }
        for index, (name, language) in enumerate(every[start : start + limit], start)
    ]
    page: Json = {"data": data}
    if data:
        page["paging"] = {"cursors": {"before": _encode(start), "after": _encode(start + len(data))}}
        if start + len(data) < len(every):
            page["paging"]["next"] = f"?limit={limit}&after={_encode(start + len(data))}"
    return page


def _encode(index: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:{index}".encode()).decode()


def _decode(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("cursor:"))
    except ValueError:
        raise GraphError(100, "Invalid cursor") from None
