"""How video follow-ups are named and said (issue 16): a slot's ids and Jitsi room, the times staff
write, the dates and button labels a member reads (French, Paris time), and where a member is
reached. No database here: :mod:`bot.members.slots` and its parts use these words."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from bot.members.notices import MEMBERS_LANGUAGE, MemberChat, MemberNotices
from flows.types import SERVICE_TIME_ZONE


def new_public_id() -> str:
    return secrets.token_hex(5)


def new_room() -> str:
    """A Jitsi Meet room nobody can guess (96 random bits, lower case: Jitsi folds the case)."""
    return "optibot-" + secrets.token_hex(12)


_FRENCH = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T,]+(\d{1,2})\s*[:hH]\s*(\d{2})?)?$")


def parse_when(text: str) -> datetime | None:
    """A slot's start as staff write it: "2026-12-10 14:00" (Paris time), an ISO time with or
    without its offset ("2026-12-10T14:00+01:00"), or "10/12/2026 14h30"; None if not a time."""
    text = text.strip()
    found = _FRENCH.match(text)
    try:
        if found:
            day, month, year, hour, minute = found.groups()
            moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if (found and found.group(4) is None) or (not found and len(text) <= 10):
        return None  # a day without its hour
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SERVICE_TIME_ZONE)
    return moment


class SlotWords:
    """A slot's link, its date in a sentence and on a button, from the members' catalogue."""

    def __init__(self, notices: MemberNotices, jitsi_base_url: str) -> None:
        self.notices = notices
        self.jitsi_base_url = jitsi_base_url.rstrip("/")

    def link(self, room: str) -> str:
        return f"{self.jitsi_base_url}/{room}"

    def when(self, moment: datetime) -> str:
        """ "jeudi 10 décembre à 14h30" (Paris time, French)."""
        local = moment.astimezone(SERVICE_TIME_ZONE)
        catalog = self.notices.catalog
        weekday = catalog.raw(MEMBERS_LANGUAGE, "calendar.days")[local.weekday()]
        month = catalog.raw(MEMBERS_LANGUAGE, "calendar.months")[local.month - 1]
        number = catalog.text(MEMBERS_LANGUAGE, "calendar.first") if local.day == 1 else str(local.day)
        on = catalog.text(MEMBERS_LANGUAGE, "calendar.date", weekday=weekday, day=number, month=month)
        return self.notices.text("slots.when", date=on, hour=hour(local))

    def label(self, moment: datetime) -> str:
        """A button: "Jeu. 10/12 · 14h30" (24 characters at most: WhatsApp's list rows)."""
        local = moment.astimezone(SERVICE_TIME_ZONE)
        catalog = self.notices.catalog
        weekday = catalog.raw(MEMBERS_LANGUAGE, "calendar.short_days")[local.weekday()]
        day = catalog.text(
            MEMBERS_LANGUAGE, "calendar.short_date", weekday=weekday, day=local.day, month=local.month
        )
        return f"{day} · {hour(local)}"


def hour(local: datetime) -> str:
    return f"{local.hour}h{local.minute:02d}" if local.minute else f"{local.hour}h"


def chat_of(channel: str | None, telegram_chat: str | None, whatsapp: str | None) -> MemberChat | None:
    """Where to reach a member: the channel they took the slot on if still linked, else the other."""
    if channel == "whatsapp" and whatsapp:
        return MemberChat("whatsapp", whatsapp)
    if telegram_chat:
        return MemberChat("telegram", telegram_chat)
    if whatsapp:
        return MemberChat("whatsapp", whatsapp)
    return None
