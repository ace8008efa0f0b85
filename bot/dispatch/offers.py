"""Rounds of offers: a visit is offered to every optician who can serve it, withdrawn when the case
leaves home visits, and closed when one optician takes it; the sweep raises the no-taker alert
and, with automatic dispatch, offers new visit cases at hand-off.

An offer says what, when and where — the postal code and the department's name, from tables,
never a word the client wrote (``place_of``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.dispatch.buttons import OfferAnswer
from bot.dispatch.notices import Notices, service_day
from bot.logs import describe
from bot.signals import wait_set
from flows.departments import neighbours, place_of
from flows.lifecycle import move
from flows.types import Choice, Reply
from storage import appointments
from storage import offers as store
from storage.database import Connection, Database
from storage.offers import OfferStatus
from storage.opticians import eligible_opticians

log = logging.getLogger(__name__)

_NEEDS = ("broken", "lost", "unsuitable", "renewal", "lenses")  # an ordinary request too (issue 15)
# An optician whose offer was only closed (taken by another, withdrawn) may be offered the case
# again; one who declined, could not serve, or still has an open offer is not.
_MAY_BE_OFFERED_AGAIN = ("taken", "withdrawn")


class OfferRounds:
    """Offers, inside the caller's transaction (the console's action, the sweep's)."""

    def __init__(self, notices: Notices, clock: Callable[[], datetime]) -> None:
        self.notices = notices
        self.clock = clock

    async def offer(self, connection: Connection, case_id: int, *, wider: bool = False) -> int:
        """A round of offers for the case; returns how many.

        The first round goes to the case's department; a wider round adds its neighbours.
        Opticians already offered this case are not offered it again.
        """
        now = self.clock()
        notices = self.notices
        case = await store.case_to_offer(connection, case_id)
        zone = {case.department} if case.department else set()
        if wider and case.department:
            zone |= set(neighbours(case.department))
        earlier = await store.earlier_offers(connection, case_id)
        already = {o for o, offer in earlier.items() if offer.status not in _MAY_BE_OFFERED_AGAIN}
        candidates = await eligible_opticians(connection, service_day(now))
        chosen = [c for c in candidates if c.id not in already and zone & set(c.departments)]
        round_number = case.dispatch_round + 1
        await store.start_round(connection, case_id, round_number, now, reached=bool(chosen))
        if case.need in _NEEDS:
            need = notices.text(f"need.{case.need}")
        else:  # "other" (stored as no need): an ordinary request of normal service, said to be one
            need = notices.text("optician.other_request")
        # Where, from tables only: the client's address is free text and may hold anything.
        text = notices.text(
            "optician.offer",
            reference=case.reference,
            need=need,
            slot=notices.slot(case.slot_date, case.slot_part, asap=case.slot_asap),
            place=place_of(case.postal_code, case.department) or "—",
        )
        for candidate in chosen:
            offer_id = secrets.token_urlsafe(9)
            choices = (
                Choice(OfferAnswer(offer_id, accept=True).pack(), notices.text("optician.accept")),
                Choice(OfferAnswer(offer_id, accept=False).pack(), notices.text("optician.decline")),
            )
            reply = Reply("optician.offer", text, choices=choices, step=OfferAnswer.step)
            message_id = await notices.to_optician(
                connection, candidate.telegram_chat, reply, now, case_id=case_id
            )
            await store.record_offer(
                connection,
                case_id=case_id,
                optician_id=candidate.id,
                earlier=earlier.get(candidate.id),  # offered again after an earlier round closed
                public_id=offer_id,
                round_number=round_number,
                message_id=message_id,
                now=now,
            )
        return len(chosen)

    async def withdraw(self, connection: Connection, case_id: int) -> None:
        """The case left home visits (shipment, cancelled): open offers are withdrawn, its
        appointment cancelled, and an optician who had accepted it is told not to come."""
        now = self.clock()
        await self.close_offers(connection, case_id, "withdrawn", now)
        await appointments.cancel(connection, case_id, now)
        for offer in await store.accepted_offers(connection, case_id):
            await store.set_offer_status(connection, offer.id, "withdrawn", now)
            if offer.telegram_chat is not None:
                await self.notices.tell_optician(
                    connection,
                    offer.telegram_chat,
                    "optician.cancelled",
                    now,
                    case_id=case_id,
                    reference=offer.reference,
                )

    async def close_offers(
        self, connection: Connection, case_id: int, status: OfferStatus, now: datetime
    ) -> None:
        """Close the case's open offers; their messages are edited (or, if not sent yet, dropped)."""
        open_offers = await store.open_offers(connection, case_id)
        if not open_offers:
            return
        await store.close_offers(connection, [o.id for o in open_offers], status, now)
        key = "optician.taken" if status == "taken" else "optician.withdrawn"
        for offer in open_offers:
            reply = Reply(key, self.notices.text(key, reference=offer.reference))
            chat = offer.telegram_chat
            if offer.external_id is not None:
                edited = int(offer.external_id)
                await self.notices.to_optician(
                    connection, chat, reply, now, case_id=case_id, on_message=edited
                )
            elif (
                offer.message_id is not None
                and offer.sent_at is None
                and offer.failed_at is None
                and not await store.drop_unsent_offer(connection, offer.message_id, now)
            ):
                # Not sent yet: dropped, unless the outbox holds it right now (leased, maybe on its
                # way to Telegram): then the optician is told in a message of its own, which the
                # outbox sends after the offer (a recipient's messages go out in order).
                await self.notices.to_optician(connection, chat, reply, now, case_id=case_id)


class OfferSweep:
    """Forever: the no-taker alerts and automatic dispatch, on a commit or every ``interval``; then
    ``reminders`` (the visits' morning reminders due)."""

    def __init__(
        self,
        database: Database,
        rounds: OfferRounds,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        accept_within: timedelta,
        automatic: bool,
        reminders: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.database = database
        self.rounds = rounds
        self.clock = clock
        self.notify = notify
        self.accept_within = accept_within
        self.automatic = automatic
        self.reminders = reminders
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was committed (a new case, perhaps): look for work now."""
        self._wake.set()

    async def run(self, interval: float = 15.0) -> None:
        while True:
            try:
                await self.sweep_once()
                if self.reminders is not None:
                    await self.reminders()
            except Exception as error:
                log.error("dispatch sweep failed: %s", describe(error))
            await wait_set(self._wake, interval)
            self._wake.clear()

    async def sweep_once(self, now: datetime | None = None) -> int:
        """Raise the no-taker alert on visits nobody accepted in time; with automatic dispatch,
        offer new visit cases right after hand-off. Returns how many cases changed. ``now``: the
        time the sweep judges lateness by (the clock's by default)."""
        now = now or self.clock()
        async with self.database.begin() as connection:
            changed = await store.flag_untaken_visits(connection, now, self.accept_within)
            if self.automatic:
                fresh = await store.dispatch_new_visits(connection, move("auto_dispatch"), now)
                for case_id in fresh:
                    await self.rounds.offer(connection, case_id)
                changed += len(fresh)
        if changed:
            self.notify()
        return changed
