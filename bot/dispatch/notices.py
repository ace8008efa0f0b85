"""How dispatch speaks: to an optician's chat and to a case's client, each message an outbound row
of the transcript written through :func:`bot.replies.enqueue_reply` in the caller's transaction.

Every row about a case carries its ``case_id``: erasure finds them by it.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.replies import enqueue_reply
from flows.answers import format_slot
from flows.catalog import Catalog
from flows.types import SERVICE_TIME_ZONE, Reply, as_language
from storage.database import Connection
from storage.outbound import CaseRecipient, Recipient, client_of_case

OPTICIANS_CHANNEL = "telegram"  # an optician's chat (``opticians.telegram_chat``)
OPTICIANS_LANGUAGE = "fr"


def service_day(now: datetime) -> date:
    """The day in France: kits are valid through their expiry day there."""
    return now.astimezone(SERVICE_TIME_ZONE).date()


class Notices:
    """Built once by :class:`bot.dispatch.Dispatch`; shared by its parts."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def text(self, key: str, **values: object) -> str:
        """A text for the opticians (in French)."""
        return self.catalog.text(OPTICIANS_LANGUAGE, key, **values)

    def client_reply(self, language: str, key: str, **values: object) -> Reply:
        """The catalogue's text ``key`` for a client, in their language."""
        return Reply(key, self.catalog.text(as_language(language), key, **values))

    def slot(
        self,
        slot_date: date | None,
        part: str | None,
        language: str = OPTICIANS_LANGUAGE,
        *,
        asap: bool = False,
    ) -> str:
        """The visit's half-day as the reader reads it ("dès que possible (à partir de …)" when the
        client asked for the first one free), or a dash."""
        if slot_date is None or not part:
            return "—"
        return format_slot(
            self.catalog, language, {"date": slot_date.isoformat(), "part": part, "asap": asap}
        )

    def when(self, day: date, hour: int, language: str = OPTICIANS_LANGUAGE) -> str:
        """An appointment's day and hour: "vendredi 27 novembre entre 9h et 10h"."""
        catalog = self.catalog
        weekday = catalog.raw(language, "calendar.days")[day.weekday()]
        month = catalog.raw(language, "calendar.months")[day.month - 1]
        number = catalog.text(language, "calendar.first") if day.day == 1 else str(day.day)
        on = catalog.text(language, "calendar.date", weekday=weekday, day=number, month=month)
        return catalog.text(language, "appointment.when", date=on, start=hour, end=hour + 1)

    async def to_optician(
        self,
        connection: Connection,
        chat: str,
        reply: Reply,
        now: datetime,
        *,
        case_id: int | None,
        on_message: int | None = None,
    ) -> int:
        """A message to an optician's chat (in no conversation); ``on_message``: the message it
        replaces (the one whose button was pressed). Its row id. ``case_id`` is required: a row
        about a case must name it, or erasure would miss it."""
        to = Recipient(OPTICIANS_CHANNEL, chat, None, OPTICIANS_LANGUAGE, case_id)
        return await enqueue_reply(connection, to, reply, now, edit_message_id=on_message)

    async def tell_optician(
        self,
        connection: Connection,
        chat: str,
        key: str,
        now: datetime,
        *,
        case_id: int | None,
        on_message: int | None = None,
        **values: object,
    ) -> None:
        """The catalogue's text ``key`` to an optician's chat (see :meth:`to_optician`)."""
        reply = Reply(key, self.text(key, **values))
        await self.to_optician(connection, chat, reply, now, case_id=case_id, on_message=on_message)

    async def to_client(
        self, connection: Connection, case_id: int, reply: Reply, now: datetime
    ) -> CaseRecipient | None:
        """A message to the case's client on their channel, in their current conversation; who it
        went to (None if the case is gone)."""
        client = await client_of_case(connection, case_id)
        if client is not None:
            await enqueue_reply(connection, client.recipient, reply, now)
        return client
