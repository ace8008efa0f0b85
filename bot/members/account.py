"""A member's own record (issue 16): ``/moncompte`` (departments, kit expiry, open requests and
follow-ups) and ``/kit`` (a new kit expiry date, checked, which an admin then confirms).

Decisions (docs/MEMBERS.md): a date that reads well is recorded at once as *declared*
(``kit_declared_on``), with an "Annuler" button (step "m.kit") to withdraw it; it becomes the kit's
date only when an admin confirms it in the console (the kit reminders are then re-armed: they key
on the expiry date), or is refused; the member is told either way. A date is real, not past, and at
most three years ahead. Nothing of another member is ever read: every query is by the member's id.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from bot.desk import MEMBER_STEP_PREFIX
from bot.members.notices import MEMBERS_LANGUAGE, MemberChat, MemberNotices
from bot.members.slots import VideoSlots
from flows.types import SERVICE_TIME_ZONE, Choice, ClientInput, Reply
from storage import member_account as store
from storage.database import Connection, Database
from storage.privacy.journal import record_access

log = logging.getLogger(__name__)

KIT_STEP = MEMBER_STEP_PREFIX + "kit"  # "m.kit"
UNDO = "undo."  # "undo.20270331": withdraw that declared date
MAX_YEARS_AHEAD = 3
JOURNAL_ACTION = "member_kit"

_MONTHS = (
    ("janv", "jan"),
    ("fevr", "fev", "feb"),
    ("mars", "mar"),
    ("avri", "avr", "apr"),
    ("mai", "may"),
    ("juin", "jun"),
    ("juil", "jul"),
    ("aout", "aug"),
    ("sept", "sep"),
    ("octo", "oct"),
    ("nove", "nov"),
    ("dece", "dec"),
)
_ISO = re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b")
_NUMERIC = re.compile(r"\b(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4}|\d{2})\b")
_WORDS = re.compile(r"\b(\d{1,2})(?:er)?\s+([a-z]+)\.?\s+(\d{4}|\d{2})\b")


@dataclass(frozen=True, slots=True)
class KitDate:
    """What /kit read: a date, or why not (``empty``, ``unreadable``, ``no_such_day``)."""

    day: date | None
    problem: str | None = None


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _month(word: str) -> int | None:
    for number, prefixes in enumerate(_MONTHS, start=1):
        if any(word.startswith(prefix) for prefix in prefixes):
            return number
    return None


def parse_kit_date(text: str) -> KitDate:
    """ "31/03/2027", "31-03-27", "2027-03-31", "31 mars 2027", "1er août 2027" (after "/kit")."""
    folded = _fold(text).strip()
    folded = re.sub(r"^/kit(@\w+)?", "", folded).strip()
    if not folded:
        return KitDate(None, "empty")
    parts: tuple[int, int, int] | None = None
    if found := _ISO.search(folded):
        parts = (int(found[1]), int(found[2]), int(found[3]))
    elif found := _NUMERIC.search(folded):
        year = int(found[3]) + (2000 if len(found[3]) == 2 else 0)
        parts = (year, int(found[2]), int(found[1]))
    elif (found := _WORDS.search(folded)) and (month := _month(found[2])) is not None:
        parts = (int(found[3]) + (2000 if len(found[3]) == 2 else 0), month, int(found[1]))
    if parts is None:
        return KitDate(None, "unreadable")
    try:
        return KitDate(date(*parts))
    except ValueError:
        return KitDate(None, "no_such_day")


def check_kit_date(day: date, today: date) -> str | None:
    """Why a kit date is refused (``past``, ``too_far``), or None."""
    if day < today:
        return "past"
    try:
        limit = today.replace(year=today.year + MAX_YEARS_AHEAD)
    except ValueError:  # 29 February
        limit = date(today.year + MAX_YEARS_AHEAD, 2, 28)
    return "too_far" if day > limit else None


@dataclass(frozen=True, slots=True)
class DeclaredKitView:
    """A declared date, as the console lists them for an admin (ISO dates)."""

    optician_id: str
    name: str
    departments: list[str]
    kit_expires_on: str | None
    declared_on: str
    declared_at: datetime


class KitConflictError(Exception):
    """The member no longer has that date awaiting (decided, withdrawn or replaced meanwhile)."""


class MemberAccount:
    def __init__(
        self,
        database: Database,
        notices: MemberNotices,
        clock: Callable[[], datetime],
        notify: Callable[[], None],
        *,
        slots: VideoSlots,
    ) -> None:
        self.database = database
        self.notices = notices
        self.clock = clock
        self.notify = notify
        self.slots = slots

    def _date(self, day: date) -> str:
        """ "31 mars 2027"."""
        catalog = self.notices.catalog
        month = catalog.raw(MEMBERS_LANGUAGE, "calendar.months")[day.month - 1]
        number = catalog.text(MEMBERS_LANGUAGE, "calendar.first") if day.day == 1 else str(day.day)
        return self.notices.text("account.date", day=number, month=month, year=day.year)

    def _today(self, now: datetime) -> date:
        return now.astimezone(SERVICE_TIME_ZONE).date()

    def _kit(self, expires_on: date | None, today: date) -> str:
        if expires_on is None:
            return self.notices.text("account.kit_unknown")
        key = "account.kit_expired" if expires_on < today else "account.kit_until"
        return self.notices.text(key, date=self._date(expires_on))

    # --- /moncompte ---------------------------------------------------------------------------------

    async def show(self, to: MemberChat, optician_id: int) -> None:
        """The member's own record, in their chat: departments, kit (and a date awaiting an
        admin), availability, open requests, upcoming video follow-ups with their links."""
        async with self.database.begin() as connection:
            now = self.clock()
            record = await store.record(connection, optician_id)
            if record is None:
                return
            today = self._today(now)
            kit = self._kit(record.kit_expires_on, today)
            if record.kit_declared_on is not None:
                kit = self.notices.text(
                    "account.kit_pending", kit=kit, date=self._date(record.kit_declared_on)
                )
            availability = self.notices.text(
                "account.inactive"
                if not record.active
                else "account.available"
                if record.available
                else "account.unavailable"
            )
            requests = [
                self.notices.text(
                    "account.request_line",
                    reference=r.reference,
                    kind=self._label("account.kind", r.kind),
                    status=self._label("account.status", r.status),
                )
                for r in await store.open_requests(connection, optician_id)
            ]
            videos = [
                self.notices.text("account.video_line", when=when, link=link)
                for when, link in await self.slots.held(connection, optician_id, now)
            ]
            await self.notices.tell(
                connection,
                to,
                "account.summary",
                now,
                departments=", ".join(record.departments) or self.notices.text("account.no_department"),
                kit=kit,
                availability=availability,
                requests="\n".join(requests) or self.notices.text("account.no_request"),
                videos="\n".join(videos) or self.notices.text("account.no_video"),
            )
        self.notify()

    def _label(self, group: str, value: str) -> str:
        try:
            return self.notices.text(f"{group}.{value}")
        except KeyError:
            return value

    # --- /kit ---------------------------------------------------------------------------------------

    async def kit(self, to: MemberChat, optician_id: int, text: str) -> bool:
        """``/kit`` and the date (or the date alone, after being asked): True once the date is
        recorded (declared, awaiting an admin); False when it asked for the date (again)."""
        read = parse_kit_date(text)
        async with self.database.begin() as connection:
            now = self.clock()
            problem = read.problem or (
                None if read.day is None else check_kit_date(read.day, self._today(now))
            )
            if read.day is None or problem is not None:
                key = {
                    "empty": "account.kit_ask",
                    "no_such_day": "account.kit_no_such_day",
                    "past": "account.kit_past",
                    "too_far": "account.kit_too_far",
                }.get(problem or "", "account.kit_unreadable")
                await self.notices.tell(connection, to, key, now)
                recorded = False
            else:
                recorded = await self._declare(connection, to, optician_id, read.day, now)
        self.notify()
        return recorded

    async def _declare(
        self, connection: Connection, to: MemberChat, optician_id: int, day: date, now: datetime
    ) -> bool:
        record = await store.record(connection, optician_id)
        if record is None:
            return False
        if record.kit_expires_on == day:
            # The member corrects a date they declared: it no longer awaits an admin.
            if record.kit_declared_on is not None:
                await store.withdraw_kit(connection, optician_id, record.kit_declared_on, now)
            await self.notices.tell(connection, to, "account.kit_same", now, date=self._date(day))
            return True
        await store.declare_kit(connection, optician_id, day, now)
        text = self.notices.text(
            "account.kit_declared",
            date=self._date(day),
            current=self._kit(record.kit_expires_on, self._today(now)),
        )
        undo = Choice(f"{UNDO}{day:%Y%m%d}", self.notices.text("account.kit_undo_button"))
        await self.notices.to_member(
            connection, to, Reply("account.kit_declared", text, (undo,), KIT_STEP), now
        )
        log.info("a member declared a kit date")
        return True

    async def answer(
        self, to: MemberChat, optician_id: int, said: ClientInput, on_message: int | None
    ) -> None:
        """A "m.kit" button: "Annuler" withdraws the declared date if it still awaits an admin."""
        value = said.choice or ""
        day: date | None = None
        if said.step == KIT_STEP and value.startswith(UNDO):
            try:
                day = datetime.strptime(value.removeprefix(UNDO), "%Y%m%d").date()
            except ValueError:
                day = None
        async with self.database.begin() as connection:
            now = self.clock()
            if day is not None and await store.withdraw_kit(connection, optician_id, day, now):
                await self.notices.tell(
                    connection, to, "account.kit_undone", now, on_message=on_message, date=self._date(day)
                )
            else:
                await self.notices.tell(connection, to, "account.kit_not_undone", now, on_message=on_message)
        self.notify()

    # --- the admins' side (console) -----------------------------------------------------------------

    async def declared(self) -> list[DeclaredKitView]:
        async with self.database.connect() as connection:
            found = await store.declared_kits(connection)
        return [
            DeclaredKitView(
                k.public_id,
                k.name,
                k.departments,
                None if k.kit_expires_on is None else k.kit_expires_on.isoformat(),
                k.declared_on.isoformat(),
                k.declared_at,
            )
            for k in found
        ]

    async def decide(
        self, optician_public_id: str, declared_on: date, *, confirm: bool, by: str
    ) -> date | None:
        """An admin confirms (the date becomes the kit's) or refuses the date the member declared;
        the member is told; journaled. The kit's date now. LookupError: no such optician;
        KitConflictError: that date no longer awaits (decided, withdrawn or replaced meanwhile)."""
        async with self.database.begin() as connection:
            now = self.clock()
            if not await store.exists(connection, optician_public_id):
                raise LookupError(optician_public_id)
            decided = await store.decide_kit(
                connection, optician_public_id, declared_on, now, confirm=confirm
            )
            if decided is None:
                raise KitConflictError(optician_public_id)
            verb = "confirm" if confirm else "refuse"
            await record_access(connection, now, by, JOURNAL_ACTION, detail=f"{verb} {optician_public_id}")
            to = (
                MemberChat("telegram", decided.telegram_chat)
                if decided.telegram_chat
                else MemberChat("whatsapp", decided.whatsapp)
                if decided.whatsapp
                else None
            )
            if to is not None:
                if confirm:
                    await self.notices.tell(
                        connection, to, "account.kit_confirmed", now, date=self._date(declared_on)
                    )
                else:
                    current = self._kit(decided.kit_expires_on, self._today(now))
                    await self.notices.tell(
                        connection,
                        to,
                        "account.kit_refused",
                        now,
                        date=self._date(declared_on),
                        current=current,
                    )
        log.info(
            "declared kit date of optician %s: %s", optician_public_id, "confirmed" if confirm else "refused"
        )
        self.notify()
        return decided.kit_expires_on
