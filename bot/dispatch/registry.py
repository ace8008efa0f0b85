"""The opticians' registry: the console adds and changes opticians and makes their linking codes;
an optician links their Telegram chat with a code, pauses or resumes offers, and lists the visits
they took (``/mescas``)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypedDict

from bot.dispatch.notices import Notices, service_day
from bot.errors import RefusedError
from flows.departments import DEPARTMENTS, place_of
from flows.parsing import parse_phone
from flows.types import Reply
from storage import opticians as registry
from storage.appointments import LIVE
from storage.database import Database
from storage.opticians import Optician, OpticianValues, TakenVisit

LINK_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class OpticianDetails:
    """An optician as the console enters them (checked and normalised by :meth:`Registry.save`)."""

    name: str
    phone: str
    departments: Sequence[str]
    kit_expires_on: date | None
    active: bool = True
    available: bool = True
    # The WhatsApp number whose messages are this optician's (issue 16): French or international
    # spellings, kept as WhatsApp's wa_id (digits with the country code); None or "": none.
    whatsapp: str | None = None


class OpticianSummary(TypedDict):
    """An optician as the console shows them (the JSON of the registry's API)."""

    id: str
    name: str
    phone: str
    departments: list[str]
    kit_expires_on: str | None
    kit_valid: bool
    active: bool
    available: bool
    linked: bool
    whatsapp: str | None  # wa_id digits ("33612345678"), or None


def summary(optician: Optician, today: date) -> OpticianSummary:
    kit = optician.kit_expires_on
    return {
        "id": optician.public_id,
        "name": optician.name,
        "phone": optician.phone,
        "departments": optician.departments,
        "kit_expires_on": kit.isoformat() if kit else None,
        "kit_valid": kit is not None and kit >= today,
        "active": optician.active,
        "available": optician.available,
        "linked": optician.telegram_chat is not None,
        "whatsapp": optician.whatsapp,
    }


def whatsapp_number(given: str | None) -> str | None:
    """An admin's spelling of a WhatsApp number as its wa_id: digits with the country code
    ("06 12 34 56 78", "+33 6 12 34 56 78", "0033 6…" → "33612345678"); None for an empty field.
    Raises :class:`RefusedError` (422) when it is not a phone number."""
    text = (given or "").strip()
    if not text:
        return None
    digits = text.lstrip("+")
    phone = parse_phone(text) or (
        parse_phone(f"+{digits}") if digits[:1].isdigit() and digits[:1] != "0" else None
    )
    if phone is None or not re.fullmatch(r"[\d\s().+/-]+", text):
        raise RefusedError(
            422, "numéro WhatsApp invalide : indiquez-le avec l'indicatif (ex. +33 6 12 34 56 78)"
        )
    return phone.lstrip("+")


def code_hash(code: str) -> str:
    """What is kept of a linking code."""
    return hashlib.sha256(code.encode()).hexdigest()


class Registry:
    """``notify`` wakes the outbox and the live views after a change."""

    def __init__(
        self, database: Database, notices: Notices, clock: Callable[[], datetime], notify: Callable[[], None]
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify

    # --- the console's side ------------------------------------------------------------------------

    async def opticians(self) -> list[OpticianSummary]:
        async with self.database.connect() as connection:
            found = await registry.list_opticians(connection)
        today = service_day(self.clock())
        return [summary(optician, today) for optician in found]

    async def save(self, public_id: str | None, given: OpticianDetails) -> OpticianSummary:
        """Add an optician (``public_id`` None) or change one."""
        departments = sorted({d.strip().upper() for d in given.departments if d.strip()})
        unknown = [d for d in departments if d not in DEPARTMENTS]
        if unknown or not departments:
            raise RefusedError(422, f"départements inconnus : {', '.join(unknown) or 'aucun'}")
        phone = parse_phone(given.phone) or ""
        name = given.name.strip()
        if not name or not phone:
            raise RefusedError(422, "indiquez un nom et un numéro de téléphone valable")
        whatsapp = whatsapp_number(given.whatsapp)
        now = self.clock()
        values: OpticianValues = {
            "name": name[:128],
            "phone": phone[:32],
            "departments": departments,
            "kit_expires_on": given.kit_expires_on,
            "active": given.active,
            "available": given.available,
            "whatsapp": whatsapp,
            "updated_at": now,
        }
        async with self.database.begin() as connection:
            if whatsapp is not None and await registry.whatsapp_taken(connection, whatsapp, public_id):
                raise RefusedError(409, "ce numéro WhatsApp est déjà celui d'un autre opticien")
            if public_id is None:
                saved = await registry.add_optician(connection, secrets.token_urlsafe(12), values)
            else:
                changed = await registry.change_optician(connection, public_id, values)
                if changed is None:
                    raise RefusedError(404, "opticien introuvable")
                saved = changed
        return summary(saved, service_day(self.clock()))

    async def new_link(self, public_id: str, created_by: str) -> tuple[str, datetime]:
        """A one-time code for ``/start optician_<code>``: single use, valid 24 hours."""
        code = secrets.token_urlsafe(18)
        now = self.clock()
        async with self.database.begin() as connection:
            optician_id = await registry.optician_id_of(connection, public_id)
            if optician_id is None:
                raise RefusedError(404, "opticien introuvable")
            await registry.add_link(
                connection,
                code_hash(code),
                optician_id,
                created_by=created_by,
                now=now,
                expires_at=now + LINK_LIFETIME,
            )
        return code, now + LINK_LIFETIME

    # --- the optician's side -----------------------------------------------------------------------

    async def link(self, chat: str, code: str) -> None:
        """``/start optician_<code>``: link this chat to the optician if the code is unused and fresh."""
        now = self.clock()
        async with self.database.begin() as connection:
            optician_id = await registry.use_link(connection, code_hash(code), now)
            if optician_id is None:
                await self.notices.tell_optician(connection, chat, "optician.link_invalid", now, case_id=None)
            else:
                name = await registry.link_chat(connection, optician_id, chat, now)
                await self.notices.tell_optician(
                    connection, chat, "optician.linked", now, case_id=None, name=name
                )
        self.notify()

    async def is_optician(self, chat: str) -> bool:
        async with self.database.connect() as connection:
            return await registry.is_linked(connection, chat)

    async def set_available(self, chat: str, *, available: bool) -> None:
        now = self.clock()
        async with self.database.begin() as connection:
            await registry.set_available(connection, chat, available=available, now=now)
            key = "optician.available" if available else "optician.unavailable"
            await self.notices.tell_optician(connection, chat, key, now, case_id=None)
        self.notify()

    def _status(self, visit: TakenVisit) -> str:
        """Where a taken visit stands for its optician: the hour to fix, proposed, confirmed…"""
        status = visit.appointment
        if status is None or status not in LIVE:  # (flows/texts: optician.status_<status>)
            return self.notices.text("optician.status_accepted")
        when = (
            self.notices.when(visit.day, visit.hour)
            if visit.day is not None and visit.hour is not None
            else "—"
        )
        return self.notices.text(f"optician.status_{status}", when=when)

    async def my_cases(self, chat: str) -> None:
        """``/mescas``: the optician's open visits, one message each (so each names its case), with
        no personal data — reference, half-day, place, status; the brief already gave the rest."""
        now = self.clock()
        notices = self.notices
        async with self.database.begin() as connection:
            visits = await registry.taken_visits(connection, chat)
            if not visits:
                await notices.tell_optician(connection, chat, "optician.no_cases", now, case_id=None)
            for index, visit in enumerate(visits):
                line = notices.text(
                    "optician.my_case",
                    reference=visit.reference,
                    slot=notices.slot(visit.slot_date, visit.slot_part),
                    place=place_of(visit.postal_code, visit.department) or "—",
                    status=self._status(visit),
                )
                if index == 0:
                    line = f"{notices.text('optician.my_cases')}\n{line}"
                reply = Reply("optician.my_cases", line)
                await notices.to_optician(connection, chat, reply, now, case_id=visit.case_id)
        self.notify()
