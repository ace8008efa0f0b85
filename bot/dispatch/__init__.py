"""Home visits: the opticians' registry, Telegram linking, push offers and first-accept dispatch.

A dispatched visit case is offered, in rounds, to every optician who can serve it (active,
available, protection kit valid, covering the case's department; a wider round adds the
neighbouring departments). The first Accept wins; the winner gets the address, and the client is
told who is coming and when. The parts:

- :mod:`bot.dispatch.registry`: opticians, linking codes, availability, ``/mescas``;
- :mod:`bot.dispatch.offers`: rounds of offers, withdrawal, the no-taker sweep;
- :mod:`bot.dispatch.answers`: an optician's answers (offers, visit outcomes);
- :mod:`bot.dispatch.booking`: the visit booked to the hour (the optician proposes, the client
  confirms), its windows (:mod:`bot.dispatch.windows`), its .ics file (:mod:`bot.dispatch.calendar`)
  and morning reminder (:mod:`bot.dispatch.reminders`);
- :mod:`bot.dispatch.kits`: the protection kits' expiry reminders and the kits to renew;
- :mod:`bot.dispatch.buttons`: what the optician's buttons carry;
- :mod:`bot.dispatch.notices`: every message, through the one reply path.

:class:`Dispatch` composes them for the composition root; it is the :class:`bot.desk.OpticianDesk`
a chat channel is given, and the offers service the console is given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.dispatch.answers import OpticianAnswers
from bot.dispatch.booking import Booking
from bot.dispatch.kits import KitReminders
from bot.dispatch.notices import Notices
from bot.dispatch.offers import OfferRounds, OfferSweep
from bot.dispatch.registry import OpticianDetails, OpticianSummary, Registry, code_hash
from bot.dispatch.reminders import Reminders
from flows.catalog import Catalog
from storage import appointments
from storage.database import Connection, Database
from storage.files import FileStore

__all__ = ["Dispatch", "OpticianDetails", "OpticianSummary", "code_hash"]


class Dispatch:
    """Built once by the composition root; ``notify`` wakes the outbox and the live views."""

    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        accept_within: timedelta = timedelta(minutes=20),
        automatic: bool = False,
        reminder_hour: int = 7,
        files: FileStore | None = None,
    ) -> None:
        notices = Notices(catalog)
        self.registry = Registry(database, notices, clock, notify)
        self.rounds = OfferRounds(notices, clock)
        self.booking = Booking(database, notices, clock, notify, reminder_hour=reminder_hour, files=files)
        self.reminders = Reminders(database, self.booking, clock, notify)
        self.kits = KitReminders(database, notices, clock, notify)
        self.answers = OpticianAnswers(database, notices, self.rounds, self.booking, clock, notify)
        self.sweep = OfferSweep(
            database,
            self.rounds,
            clock,
            notify,
            accept_within=accept_within,
            automatic=automatic,
            reminders=self._reminders,
        )

    # --- the console: the registry and the offers of a case ----------------------------------------

    async def opticians(self) -> list[OpticianSummary]:
        return await self.registry.opticians()

    async def save(self, public_id: str | None, given: OpticianDetails) -> OpticianSummary:
        return await self.registry.save(public_id, given)

    async def new_link(self, public_id: str, created_by: str) -> tuple[str, datetime]:
        return await self.registry.new_link(public_id, created_by)

    async def offer(self, connection: Connection, case_id: int, *, wider: bool = False) -> int:
        return await self.rounds.offer(connection, case_id, wider=wider)

    async def withdraw(self, connection: Connection, case_id: int) -> None:
        booked = await appointments.appointment_of(connection, case_id)
        await self.rounds.withdraw(connection, case_id)
        if booked is not None:  # a confirmed visit leaves the optician's calendar
            await self.booking.withdrawn(connection, booked, self.booking.clock())

    # --- a chat channel: the opticians' desk (bot.desk.OpticianDesk) --------------------------------

    async def link(self, chat: str, code: str) -> None:
        await self.registry.link(chat, code)

    async def is_optician(self, chat: str) -> bool:
        return await self.registry.is_optician(chat)

    async def set_available(self, chat: str, *, available: bool) -> None:
        await self.registry.set_available(chat, available=available)

    async def my_cases(self, chat: str) -> None:
        await self.registry.my_cases(chat)

    async def answer(self, chat: str, step: str, value: str, on_message: int | None) -> None:
        await self.answers.answer(chat, step, value, on_message)

    # --- the service: the sweep --------------------------------------------------------------------

    def wake(self) -> None:
        self.sweep.wake()

    async def run(self, interval: float = 15.0) -> None:
        await self.sweep.run(interval)

    async def sweep_once(self, now: datetime | None = None) -> int:
        return await self.sweep.sweep_once(now)

    async def remind(self, now: datetime | None = None) -> int:
        """The morning reminders due (see :mod:`bot.dispatch.reminders`)."""
        return await self.reminders.remind(now)

    async def _reminders(self) -> int:
        """What the sweep sends after its offers: the visits' reminders, the kits' (either failing
        does not hold back the other)."""
        try:
            visits = await self.reminders.remind()
        finally:
            kits = await self.kits.remind()
        return visits + kits
