"""Recruitment (issue 15): opticians who ask to join the network ("Rejoindre le réseau"), their
path new → contacted → accepted → registered (which creates the optician's entry and the
Telegram link), or declined; and the map of demand against coverage that says where to recruit.

"Où recruter" (docs/DECISIONS.md) counts the *visit* demand (cases asked as a home visit, or
offered to the opticians): a department's unmet demand is

* with nobody covering it today (a *gap*): its visits that no optician took;
* elsewhere: the larger of its visits that really found no taker (offered, never accepted, the
  no-taker alert up or turned into a shipment — the reports' rule) and its *strain excess*: when
  its visits per covering optician reach :data:`STRAIN_FACTOR` times the reference load and at
  least :data:`STRAIN_MINIMUM`, what exceeds the reference load. The reference load is judged
  WITHOUT the department itself (the visits of the *other* covered departments divided by their
  covering opticians), else, when no other department is covered, :data:`FALLBACK_DAILY_LOAD`
  visits per optician and per day of the period.

A covered department with unmet demand is *strained*. Sorted by unmet demand, gaps before strained
departments at equal figures, then by code.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from typing_extensions import TypedDict  # pydantic reads these as the API's answers (Python < 3.12)

from bot.dispatch import Dispatch, OpticianDetails
from bot.dispatch.notices import service_day
from bot.errors import RefusedError
from flows.departments import DEPARTMENTS, name_of
from flows.parsing import parse_phone
from flows.types import SERVICE_TIME_ZONE
from storage import candidates as store
from storage import coverage
from storage.candidates import Candidate, CandidateValues
from storage.database import Database
from storage.opticians import optician_id_of
from storage.privacy.journal import record_access

KIT_WINDOW = timedelta(days=14)  # kits expiring within this are shown as a risk
MAX_PERIOD_DAYS = 366
STRAIN_FACTOR = 3.0
STRAIN_MINIMUM = 3
FALLBACK_DAILY_LOAD = 1.0  # visits per optician and day, when no other department gives a reference
STATUSES = ("new", "contacted", "accepted", "registered", "declined")
Status = Literal["new", "contacted", "accepted", "registered", "declined"]
# Where a candidate may go from: registered only once accepted; declined from any open status.
MOVES: dict[str, tuple[str, ...]] = {
    "contacted": ("new",),
    "accepted": ("new", "contacted"),
    "registered": ("accepted",),
    "declined": ("new", "contacted", "accepted"),
}
Shade = Literal["idle", "ready", "covered", "strained", "gap"]
MAX_NOTE = 500
REGISTER_RETRY_AFTER = timedelta(minutes=2)  # a registration without its optician this long: crashed
PAGE = 100  # candidates per page (console and CLI)
MAX_PAGE = 500
MAX_DEPARTMENTS = 20
_EMAIL = re.compile(
    r"^[^@\s<>\"'(),;:]{1,64}@(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)


# --- checking the form ----------------------------------------------------------------------------

# Invisible or control characters (controls, format characters such as bidi overrides or zero-width
# joiners, line/paragraph separators, surrogates, private use): refused in every free text, so that
# nothing a candidate types can reorder or hide what the staff read in the console or a terminal.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})


def has_hidden(text: str) -> bool:
    """Whether ``text`` holds a control or format character (ordinary spaces are fine)."""
    return any(unicodedata.category(char) in _HIDDEN for char in text)


def printable(text: str) -> str:
    """``text`` for a terminal: every non-printable character escaped (``\\x1b``, ``\\u202e``)."""
    return "".join(
        char if char.isprintable() else (f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}")
        for char in text
    )


def luhn_valid(digits: str) -> bool:
    """The Luhn key: from the right, every second digit doubled (minus 9 past 9), the sum ends in 0."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def check_registration(text: str) -> str | None:
    """The professional registration number without spaces, or None when it is neither an RPPS
    number (11 digits, the last one the Luhn key of the first ten) nor an ADELI number (9 digits;
    its key is not published, so only the length and the digits are checked)."""
    digits = re.sub(r"[\s.\-]", "", text)
    if not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) == 11:
        return digits if luhn_valid(digits) else None
    if len(digits) == 9:
        return digits
    return None


def check_email(text: str) -> str | None:
    """The address, lower-cased, when it has the shape of one (name@domain.tld), else None."""
    address = text.strip().lower()
    return address if len(address) <= 254 and _EMAIL.match(address) else None


def check_departments(codes: Sequence[str]) -> list[str] | None:
    """The known department codes, sorted and without repeats; None when one is unknown or none given."""
    wanted = {str(code).strip().upper() for code in codes if str(code).strip()}
    wanted = {f"0{code}" if len(code) == 1 and code.isdigit() else code for code in wanted}
    if not wanted or len(wanted) > MAX_DEPARTMENTS or any(code not in DEPARTMENTS for code in wanted):
        return None
    return [code for code in DEPARTMENTS if code in wanted]


@dataclass(frozen=True, slots=True)
class Application:
    """The public form as sent (checked by :func:`check_application`)."""

    name: str
    phone: str
    email: str
    departments: Sequence[str]
    registration: str
    has_kit: bool | None


def check_application(
    given: Application, source: str = "web"
) -> tuple[CandidateValues | None, dict[str, str]]:
    """The values to store, or the problems: one French sentence per field that is wrong."""
    problems: dict[str, str] = {}
    name = " ".join(given.name.split())
    if not name or len(name) > 128:
        problems["name"] = "Indiquez votre nom et votre prénom (128 caractères au plus)."
    elif has_hidden(name):
        problems["name"] = "Votre nom contient des caractères invisibles ou de contrôle : retapez-le."
    phone = None if has_hidden(given.phone) or not given.phone.strip() else parse_phone(given.phone[:64])
    if phone is None:
        problems["phone"] = "Ce numéro de téléphone n'est pas valable : par exemple 06 12 34 56 78."
    email = None if has_hidden(given.email) else check_email(given.email[:300])
    if email is None:
        problems["email"] = "Cette adresse e-mail n'est pas valable : par exemple nom@exemple.fr."
    departments = check_departments(given.departments[:100])
    if departments is None:
        problems["departments"] = (
            f"Choisissez entre 1 et {MAX_DEPARTMENTS} départements parmi les départements français."
        )
    registration = None if has_hidden(given.registration) else check_registration(given.registration[:40])
    if registration is None:
        problems["registration"] = (
            "Numéro professionnel non valable : RPPS (11 chiffres) ou ADELI (9 chiffres)."
        )
    if given.has_kit is None:
        problems["has_kit"] = "Dites-nous si vous avez un kit de protection."
    if problems or phone is None or email is None or departments is None or registration is None:
        return None, problems
    values: CandidateValues = {
        "name": name,
        "phone": phone,
        "email": email,
        "departments": departments,
        "registration": registration,
        "has_kit": bool(given.has_kit),
        "source": source,
    }
    return values, {}


# --- what the console and the CLI show ------------------------------------------------------------


class CandidateView(TypedDict):
    id: str
    name: str
    phone: str
    email: str
    departments: list[str]
    registration: str
    registration_kind: Literal["RPPS", "ADELI"]
    has_kit: bool
    source: str
    status: str
    note: str | None
    optician: str | None
    created_at: str
    updated_at: str
    status_by: str | None


def view(candidate: Candidate) -> CandidateView:
    return {
        "id": candidate.public_id,
        "name": candidate.name,
        "phone": candidate.phone,
        "email": candidate.email,
        "departments": candidate.departments,
        "registration": candidate.registration,
        "registration_kind": "RPPS" if len(candidate.registration) == 11 else "ADELI",
        "has_kit": candidate.has_kit,
        "source": candidate.source,
        "status": candidate.status,
        "note": candidate.note,
        "optician": candidate.optician,
        "created_at": candidate.created_at.isoformat(),
        "updated_at": candidate.updated_at.isoformat(),
        "status_by": candidate.status_by,
    }


class CandidateSummary(TypedDict):
    """A candidate as the list shows it to every signed-in staff member: no contact details, no
    registration number, no note (an admin opens the details, journaled)."""

    id: str
    name: str
    departments: list[str]
    has_kit: bool
    status: str
    optician: str | None
    created_at: str
    updated_at: str
    status_by: str | None


def summary(candidate: Candidate) -> CandidateSummary:
    return {
        "id": candidate.public_id,
        "name": candidate.name,
        "departments": candidate.departments,
        "has_kit": candidate.has_kit,
        "status": candidate.status,
        "optician": candidate.optician,
        "created_at": candidate.created_at.isoformat(),
        "updated_at": candidate.updated_at.isoformat(),
        "status_by": candidate.status_by,
    }


class DepartmentRow(TypedDict):
    code: str
    name: str
    overseas: bool
    demand: int
    covering: int
    kits_expiring: int
    candidates: int
    shade: Shade
    visits: int  # the visit cases among the demand
    no_taker: int  # visits offered that nobody took (the reports' rule)
    unmet: int  # the demand without a taker ("où recruter"); 0 elsewhere


class CoverageView(TypedDict):
    start: str  # the period's first day (Paris)
    end: str  # its last day, included
    today: str
    reference_load: float | None  # cases per covering optician where there are some
    departments: list[DepartmentRow]
    recruit: list[DepartmentRow]  # "où recruter", most unmet demand first
    totals: dict[str, int]


def coverage_rows(
    demand: dict[str, int],
    covering: dict[str, int],
    kits: dict[str, int],
    candidates: dict[str, int],
    visits: dict[str, tuple[int, int, int]] | None = None,
    days: int = 30,
) -> tuple[list[DepartmentRow], list[DepartmentRow], float | None]:
    """Every department's row, the "où recruter" list and the reference load over all covered
    departments (shown; each department is judged against the others', see the module).
    ``visits``: per department ``(visits, taken, no_taker)``; ``days``: the period's length."""
    visits = visits or {}
    covered = [code for code in DEPARTMENTS if covering.get(code, 0) > 0]
    load_visits = sum(visits.get(code, (0, 0, 0))[0] for code in covered)
    load_opticians = sum(covering.get(code, 0) for code in covered)
    reference = load_visits / load_opticians if load_opticians and load_visits else None
    rows: list[DepartmentRow] = []
    for code in DEPARTMENTS:
        asked, cover = demand.get(code, 0), covering.get(code, 0)
        wanted, taken, no_taker = visits.get(code, (0, 0, 0))
        shade: Shade
        unmet = 0
        if asked == 0 and wanted == 0:
            shade = "ready" if cover else "idle"
        elif cover == 0:
            shade, unmet = "gap", wanted - taken
        else:
            others = load_opticians - cover
            judged = (load_visits - wanted) / others if others else FALLBACK_DAILY_LOAD * days
            excess = 0
            if wanted >= STRAIN_MINIMUM and wanted / cover >= STRAIN_FACTOR * judged:
                excess = max(1, round(wanted - cover * judged))
            unmet = max(no_taker, excess)
            shade = "strained" if unmet else "covered"
        rows.append(
            {
                "code": code,
                "name": name_of(code) or code,
                "overseas": len(code) == 3,
                "demand": asked,
                "covering": cover,
                "kits_expiring": kits.get(code, 0),
                "candidates": candidates.get(code, 0),
                "shade": shade,
                "visits": wanted,
                "no_taker": no_taker,
                "unmet": unmet,
            }
        )
    order = {code: index for index, code in enumerate(DEPARTMENTS)}
    recruit = sorted(
        (row for row in rows if row["unmet"] > 0),
        key=lambda row: (-row["unmet"], row["shade"] != "gap", order[row["code"]]),
    )
    return rows, recruit, reference


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SERVICE_TIME_ZONE)


class Recruitment:
    """Candidates and coverage. Changes are for admins (the routes and the CLI check it); each
    one is journaled (who, what, which candidate's id: never the candidate's data)."""

    def __init__(self, database: Database, clock: Callable[[], datetime], dispatch: Dispatch) -> None:
        self.database = database
        self.clock = clock
        self.dispatch = dispatch

    # --- the map ------------------------------------------------------------------------------

    def period(self, start: date | None, end: date | None) -> tuple[date, date]:
        """The period asked, by default the last 30 days (today included); 422 when it is upside
        down or longer than a year."""
        today = service_day(self.clock())
        end = end or today
        start = start or end - timedelta(days=29)
        if start > end:
            raise RefusedError(422, "la date de début est après la date de fin")
        if (end - start).days >= MAX_PERIOD_DAYS:
            raise RefusedError(422, f"une période de {MAX_PERIOD_DAYS} jours au plus")
        return start, end

    async def coverage(self, start: date | None = None, end: date | None = None) -> CoverageView:
        first, last = self.period(start, end)
        today = service_day(self.clock())
        async with self.database.connect() as connection:
            since, until = _midnight(first), _midnight(last + timedelta(days=1))
            asked = await coverage.demand(connection, since, until)
            visits = await coverage.visits(connection, since, until)
            cover = await coverage.covering(connection, today)
            kits = await coverage.kits_expiring(connection, today, today + KIT_WINDOW)
            pipeline = await coverage.candidates_in_pipeline(connection)
        rows, recruit, reference = coverage_rows(
            asked, cover, kits, pipeline, visits, (last - first).days + 1
        )
        return {
            "start": first.isoformat(),
            "end": last.isoformat(),
            "today": today.isoformat(),
            "reference_load": None if reference is None else round(reference, 2),
            "departments": rows,
            "recruit": recruit,
            "totals": {
                "demand": sum(r["demand"] for r in rows),
                "unmet": sum(r["unmet"] for r in recruit),
                "gaps": sum(1 for r in rows if r["shade"] == "gap"),
                "strained": sum(1 for r in rows if r["shade"] == "strained"),
            },
        }

    # --- candidates ---------------------------------------------------------------------------

    async def apply(self, given: Application, source: str = "web") -> Candidate:
        """Store an application from the public form; :class:`ApplicationError` lists what is wrong."""
        values, problems = check_application(given, source)
        if values is None:
            raise ApplicationError(problems)
        async with self.database.begin() as connection:
            return await store.add_candidate(connection, secrets.token_urlsafe(12), values, self.clock())

    async def candidates(
        self,
        statuses: Sequence[str] = (),
        department: str | None = None,
        *,
        limit: int = PAGE,
        offset: int = 0,
    ) -> tuple[list[Candidate], int]:
        """One page of candidates (newest first) and how many match in all; 422 for an unknown
        status or department."""
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise RefusedError(422, f"statut inconnu : {', '.join(unknown)}")
        if department is not None:
            code = department.strip().upper()
            code = f"0{code}" if len(code) == 1 and code.isdigit() else code
            if code not in DEPARTMENTS:
                raise RefusedError(422, "département inconnu")
            department = code
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise RefusedError(422, f"de 1 à {MAX_PAGE} candidatures par page")
        async with self.database.connect() as connection:
            return await store.list_candidates(
                connection, statuses=statuses, department=department, limit=limit, offset=offset
            )

    async def candidate(self, public_id: str, by: str | None = None) -> CandidateView:
        """A candidate's details; ``by``: an admin reads them, and the access journal says so
        (``view_candidate``, the candidate's id only)."""
        async with self.database.begin() as connection:
            found = await store.candidate(connection, public_id)
            if found is None:
                raise RefusedError(404, "candidature introuvable")
            if by is not None:
                await record_access(connection, self.clock(), by, "view_candidate", detail=public_id)
        return view(found)

    async def viewed(self, public_ids: Sequence[str], by: str) -> None:
        """Journal that ``by`` read these candidates' details (the CLI's list shows them all)."""
        now = self.clock()
        async with self.database.begin() as connection:
            for public_id in public_ids:
                await record_access(connection, now, by, "view_candidate", detail=public_id)

    async def move(self, public_id: str, target: str, by: str) -> CandidateView:
        """contacted, accepted or declined (registered: :meth:`register`); 409 when the candidate is
        no longer where the move starts from."""
        if target not in MOVES or target == "registered":
            raise RefusedError(422, f"statut impossible : {target}")
        now = self.clock()
        async with self.database.begin() as connection:
            current = await store.candidate(connection, public_id)
            if current is None:
                raise RefusedError(404, "candidature introuvable")
            if not await store.move_candidate(connection, public_id, MOVES[target], target, by=by, now=now):
                raise RefusedError(409, f"candidature déjà « {_LABELS[current.status]} »")
            await record_access(connection, now, by, "candidate", detail=f"{target} {public_id}")
        return await self.candidate(public_id)

    async def note(self, public_id: str, text: str, by: str) -> CandidateView:
        note = " ".join(text.split())[:MAX_NOTE] or None
        if note is not None and has_hidden(note):
            raise RefusedError(422, "la note contient des caractères invisibles ou de contrôle")
        now = self.clock()
        async with self.database.begin() as connection:
            if not await store.set_note(connection, public_id, note, now):
                raise RefusedError(404, "candidature introuvable")
            await record_access(connection, now, by, "candidate", detail=f"note {public_id}")
        return await self.candidate(public_id)

    async def register(self, public_id: str, by: str) -> tuple[CandidateView, str, datetime]:
        """accepted → registered: the optician's entry made through the registry (as the console's
        "Ajouter"), then a one-time linking code for their Telegram (as "Lier Telegram"). Returns
        the candidate, the code and when it expires.

        The status moves first (one conditional UPDATE: two admins cannot both register the same
        candidate); if the registry refuses the entry the move is undone. A registration left
        half-done by a crash (``registered`` without its optician for :data:`REGISTER_RETRY_AFTER`:
        sooner, another admin's may still be under way) can be done again: the retry claims it
        (one conditional UPDATE), links the optician the first attempt made if there is
        one (same name and phone, entered since), else makes it, then the code."""
        now = self.clock()
        async with self.database.begin() as connection:
            current = await store.candidate(connection, public_id)
            if current is None:
                raise RefusedError(404, "candidature introuvable")
            retry = current.status == "registered" and current.optician is None
            if retry and now - current.updated_at < REGISTER_RETRY_AFTER:
                raise RefusedError(409, "inscription en cours : réessayez dans quelques minutes")
            if retry:
                claimed = await store.claim_retry(connection, public_id, current.updated_at, by=by, now=now)
            else:
                claimed = await store.move_candidate(
                    connection, public_id, MOVES["registered"], "registered", by=by, now=now
                )
            if not claimed:
                raise RefusedError(409, f"candidature « {_LABELS[current.status]} » : acceptez-la d'abord")
            made = (
                await store.optician_like(connection, current.name, current.phone, current.updated_at)
                if retry
                else None
            )
        if made is None:
            try:
                saved = await self.dispatch.save(
                    None,
                    OpticianDetails(current.name, current.phone, current.departments, kit_expires_on=None),
                )
            except BaseException:
                if not retry:
                    async with self.database.begin() as connection:
                        await store.move_candidate(
                            connection, public_id, ("registered",), "accepted", by=by, now=now
                        )
                raise
            made = saved["id"]
        async with self.database.begin() as connection:
            optician_id = await optician_id_of(connection, made)
            if optician_id is not None:
                await store.set_optician(connection, public_id, optician_id, self.clock())
            await record_access(connection, now, by, "candidate", detail=f"registered {public_id}")
        # Last: should it fail, the optician is registered and "Lier Telegram" makes another code.
        code, expires = await self.dispatch.new_link(made, by)
        return await self.candidate(public_id), code, expires


_LABELS = {
    "new": "nouvelle",
    "contacted": "contactée",
    "accepted": "acceptée",
    "registered": "inscrite",
    "declined": "refusée",
}


class ApplicationError(ValueError):
    """An application with wrong fields: ``problems`` maps each field to a French sentence."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(problems)))  # field names only, never the values
        self.problems = problems
