"""The federation's figures for a period (issue 15): volumes, waiting times, acceptance delays,
no-taker rates, per-day series; the same numbers in the console, the CSV exports and
``optibot report``.

A report covers the cases *handed off* (``cases.created_at``) from the first day's midnight to the
midnight after the last day, in Paris time, and optionally one department (``cases.department``).
Every figure is defined once, here and in ``storage/reports.py``; :func:`tables` lays a report out
as tables (title, columns, rows) that the console, the CSV files, the text and the HTML page all
show, so they cannot disagree. A report names no one: codes, counts and durations only.

Percentiles are *nearest-rank*: of n durations sorted, p50 is the ⌈n/2⌉-th and p90 the
⌈0.9·n⌉-th, so a percentile is always a duration that was really measured.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from flows.departments import DEPARTMENTS, name_of
from flows.lifecycle import PRIORITY_RANK
from flows.types import SERVICE_TIME_ZONE
from storage import reports as store
from storage.database import Database

MAX_DAYS = 366  # the longest period a report covers (a leap year)
UNKNOWN = "unknown"  # the code of a value the case never got (an advisor case has no need)
# The mobilised workers' priority codes (health, food retail, delivery, firefighter, other): the
# queue ranks their emergencies first. A case is mobilised by its priority, whatever its kind.
MOBILISED = tuple(PRIORITY_RANK)

Cell = str | int | float | None


class ReportError(ValueError):
    """A period or a department a report cannot be made for; the message says why, politely."""


@dataclass(frozen=True, slots=True)
class Period:
    """From ``start`` to ``end`` (both included, Paris days), in ``department`` or everywhere."""

    start: date
    end: date
    department: str | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def window(self) -> store.Window:
        """The instants the period covers: the first day's midnight in Paris, to the midnight after
        the last day (a case at 23:30 UTC on a winter evening belongs to the next Paris day)."""
        return store.Window(
            midnight(self.start), midnight(self.end + timedelta(days=1)), self.department, mobilised=MOBILISED
        )

    def bounds(self) -> list[datetime]:
        """The instants the period's second, third… days begin (Paris midnights)."""
        return [midnight(self.start + timedelta(days=n)) for n in range(1, self.days)]


def midnight(day: date) -> datetime:
    """The instant (UTC) a Paris day begins."""
    return datetime.combine(day, time(0), tzinfo=SERVICE_TIME_ZONE).astimezone(UTC)


def paris_day(instant: datetime) -> date:
    return instant.astimezone(SERVICE_TIME_ZONE).date()


def period_of(start: str | date, end: str | date, department: str | None = None) -> Period:
    """A checked period: days as ``YYYY-MM-DD`` (or dates), ``start`` ≤ ``end``, at most
    :data:`MAX_DAYS` days, a known department code (``75``, ``2A``, ``971``; case ignored) or none."""
    first, last = _day(start, "de début"), _day(end, "de fin")
    if first > last:
        raise ReportError("La date de début doit précéder la date de fin (ou lui être égale).")
    if (last - first).days + 1 > MAX_DAYS:
        raise ReportError(f"La période ne peut pas dépasser {MAX_DAYS} jours.")
    code = None
    if department is not None and department.strip():
        code = department.strip().upper()
        if code not in DEPARTMENTS:
            raise ReportError("Département inconnu : indiquez un code comme 75, 2A ou 971.")
    return Period(first, last, code)


def _day(value: str | date, which: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ReportError(f"La date {which} doit s'écrire AAAA-MM-JJ (par exemple 2026-03-16).") from None


# --- what a report holds ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Count:
    """How many cases have this value (``code``: as stored; ``label``: in words)."""

    code: str
    label: str
    cases: int


@dataclass(frozen=True, slots=True)
class ClaimDelay:
    """Hand-off to the first claim by an operator, for one group of clients: how many cases were
    claimed, the median and 90th percentile in seconds (None when none was), how many were not."""

    group: str  # mobilised | others | all
    label: str
    claimed: int
    p50_s: int | None
    p90_s: int | None
    unclaimed: int


@dataclass(frozen=True, slots=True)
class AcceptanceDelay:
    """The visits an optician took, from the offer to the first accept (an accept later reported
    impossible, or withdrawn, counts: see ``storage.reports.acceptances``)."""

    accepted: int
    p50_s: int | None
    p90_s: int | None


@dataclass(frozen=True, slots=True)
class Visits:
    """The visit cases an optician took, by how the visit ended (see ``storage.reports``)."""

    done: int
    impossible: int
    outcomes: list[Count]


@dataclass(frozen=True, slots=True)
class DispatchFigures:
    """The cases offered to the opticians: taken, no taker, pending; the no-taker rate is
    ``no_taker / offered`` (None when nothing was offered)."""

    offered: int
    taken: int
    no_taker: int
    pending: int
    no_taker_rate: float | None


@dataclass(frozen=True, slots=True)
class WaitlistFigures:
    """Clients who joined the waitlist in the period (still on it: erased clients leave it), and
    how many wait now (not told yet, whenever they joined)."""

    joined: int
    waiting_now: int


@dataclass(frozen=True, slots=True)
class Day:
    """One Paris day of the period: the cases handed off, by kind (emergencies, ordinary requests of
    normal service, advisor cases) and priority; waitlist joins."""

    day: date
    cases: int
    emergency: int
    requests: int
    advisor: int
    mobilised: int
    others: int
    waitlist_joins: int


@dataclass(frozen=True, slots=True)
class Report:
    start: date
    end: date
    department: str | None
    department_name: str | None
    generated_at: datetime
    cases: int
    mobilised: int
    others: int
    by_kind: list[Count]
    by_need: list[Count]
    by_channel: list[Count]
    by_mode: list[Count]
    by_priority: list[Count]
    by_outcome: list[Count]
    claim: list[ClaimDelay]
    acceptance: AcceptanceDelay
    visits: Visits
    dispatch: DispatchFigures
    waitlist: WaitlistFigures
    days: list[Day]


@dataclass(frozen=True, slots=True)
class Table:
    """A report's table as every output shows it; ``name`` names its CSV file."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """What the console's API and ``optibot report --format json`` give: the figures, and the tables."""

    report: Report
    tables: list[Table]


# --- words ------------------------------------------------------------------------------------------

# In the staff's words (French, as the console); a value not listed here shows as its code.
KINDS = {"emergency": "Urgence", "request": "Demande ordinaire", "advisor": "Conseiller"}
NEEDS = {
    "broken": "Lunettes cassées",
    "lost": "Lunettes perdues",
    "unsuitable": "Plus adaptées",
    "renewal": "Renouvellement",  # normal service only (issue 15)
    "lenses": "Lentilles de contact",  # normal service only
    "other": "Autre chose",
}
CHANNELS = {"telegram": "Telegram", "whatsapp": "WhatsApp", "webchat": "Web chat"}
MODES = {"visit": "Visite à domicile", "shipment": "Envoi par Chronopost"}
PRIORITIES = {
    "health": "Soignant(e) / santé",
    "food_retail": "Commerce alimentaire",
    "delivery": "Livreur / livreuse",
    "firefighter": "Pompier",
    "other": "Autre mobilisé(e)",
    "none": "Non mobilisé(e)",
}
OUTCOMES = {
    "queued": "En file d'attente",
    "claimed": "Pris en charge",
    "dispatched": "Chez les opticiens (visite)",
    "done": "Terminé",
    "cancelled": "Annulé",
}
VISIT_OUTCOMES = {
    "done": "Visite faite",
    "failed:absent": "Impossible : client absent",
    "failed:address": "Impossible : adresse introuvable",
    "failed:other": "Impossible : autre empêchement",
    "cancelled": "Visite annulée",
    "open": "Visite en cours",
}
GROUPS = {"mobilised": "Mobilisés", "others": "Autres", "all": "Tous"}


def _counts(found: dict[str | None, int], words: dict[str, str]) -> list[Count]:
    """Every known value (0 included, in the words' order), then the others found, then the
    cases without a value."""
    rows = [Count(code, label, found.get(code, 0)) for code, label in words.items()]
    extra = sorted(str(code) for code in found if code is not None and code not in words)
    rows += [Count(code, code, found[code]) for code in extra]
    if found.get(None):
        rows.append(Count(UNKNOWN, "Non renseigné", found[None]))
    return rows


def percentile(values: Sequence[float], p: int) -> int | None:
    """The nearest-rank ``p``-th percentile of ``values`` in whole seconds; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered) / 100))
    return round(ordered[rank - 1])


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


# --- the service ------------------------------------------------------------------------------------


class Reports:
    """Makes reports from the database, as of the clock's now."""

    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.clock = clock

    async def report(self, period: Period) -> Report:
        window, bounds = period.window(), period.bounds()
        async with self.database.connect() as connection:
            await store.read_as_one(connection)
            by = {
                dimension: await store.cases_by(connection, window, dimension)
                for dimension in store.DIMENSIONS
            }
            counted = await store.case_counts(connection, window, bounds)
            claimed = await store.claims(connection, window)
            accepted = await store.acceptances(connection, window)
            visits = await store.visit_outcomes(connection, window)
            dispatch = await store.dispatch_results(connection, window)
            joins = await store.waitlist_joins(connection, window, bounds)
            waiting = await store.waiting_now(connection, window)
        total = sum(c.cases for c in counted)
        mobilised = sum(c.cases for c in counted if c.mobilised)
        unclaimed = {
            group: sum(c.cases for c in counted if not c.claimed and c.mobilised == (group == "mobilised"))
            for group in ("mobilised", "others")
        }
        return Report(
            start=period.start,
            end=period.end,
            department=period.department,
            department_name=name_of(period.department) if period.department else None,
            generated_at=self.clock().astimezone(UTC),
            cases=total,
            mobilised=mobilised,
            others=total - mobilised,
            by_kind=_counts(by["kind"], KINDS),
            by_need=_counts(by["need"], NEEDS),
            by_channel=_counts(by["channel"], CHANNELS),
            by_mode=_counts(by["mode"], MODES),
            by_priority=_counts(by["priority"], PRIORITIES),
            by_outcome=_counts(by["status"], OUTCOMES),
            claim=[
                _claim_delay("mobilised", [c for c in claimed if c.mobilised], unclaimed["mobilised"]),
                _claim_delay("others", [c for c in claimed if not c.mobilised], unclaimed["others"]),
                _claim_delay("all", claimed, sum(unclaimed.values())),
            ],
            acceptance=_acceptance(accepted),
            visits=_visits(visits),
            dispatch=_dispatch(dispatch),
            waitlist=WaitlistFigures(joined=sum(joins.values()), waiting_now=waiting),
            days=_days(period, counted, joins),
        )


def _claim_delay(group: str, claimed: Sequence[store.Claim], unclaimed: int) -> ClaimDelay:
    waits = [_seconds(c.created_at, c.claimed_at) for c in claimed]
    return ClaimDelay(
        group=group,
        label=GROUPS[group],
        claimed=len(waits),
        p50_s=percentile(waits, 50),
        p90_s=percentile(waits, 90),
        unclaimed=unclaimed,
    )


def _acceptance(accepted: Sequence[store.Acceptance]) -> AcceptanceDelay:
    waits = [_seconds(a.offered_at, a.accepted_at) for a in accepted]
    return AcceptanceDelay(len(waits), percentile(waits, 50), percentile(waits, 90))


def _visits(found: dict[str, int]) -> Visits:
    widened: dict[str | None, int] = dict(found.items())
    outcomes = _counts(widened, VISIT_OUTCOMES)
    impossible = sum(c.cases for c in outcomes if c.code.startswith("failed:"))
    return Visits(done=found.get("done", 0), impossible=impossible, outcomes=outcomes)


def _dispatch(found: dict[str, int]) -> DispatchFigures:
    taken, no_taker, pending = found.get("taken", 0), found.get("no_taker", 0), found.get("pending", 0)
    offered = taken + no_taker + pending
    rate = round(no_taker / offered, 4) if offered else None
    return DispatchFigures(offered, taken, no_taker, pending, rate)


def _days(period: Period, counted: Sequence[store.CaseCount], joins: dict[int, int]) -> list[Day]:
    """Every day of the period, zeros included (``counted`` and ``joins`` by day index)."""

    def total(day: int, *, kind: str | None = None, mobilised: bool | None = None) -> int:
        return sum(
            c.cases
            for c in counted
            if c.day == day and kind in (None, c.kind) and mobilised in (None, c.mobilised)
        )

    return [
        Day(
            day=period.start + timedelta(days=n),
            cases=total(n),
            emergency=total(n, kind="emergency"),
            requests=total(n, kind="request"),
            advisor=total(n, kind="advisor"),
            mobilised=total(n, mobilised=True),
            others=total(n, mobilised=False),
            waitlist_joins=joins.get(n, 0),
        )
        for n in range(period.days)
    ]


# --- the tables every output shows ---------------------------------------------------------------


def minutes(seconds: int | None) -> float | None:
    """Seconds as minutes, to the tenth, a half rounded up (None stays None): exactly as the
    console's figure cards round the same seconds (``Math.round(seconds / 6) / 10``)."""
    return None if seconds is None else math.floor(seconds / 6 + 0.5) / 10


def _count_table(name: str, title: str, what: str, counts: Sequence[Count]) -> Table:
    return Table(name, title, [what, "code", "dossiers"], [[c.label, c.code, c.cases] for c in counts])


def tables(report: Report) -> list[Table]:
    """The report as tables, in the order every output shows them."""
    dispatch, waitlist = report.dispatch, report.waitlist
    rate = None if dispatch.no_taker_rate is None else round(100 * dispatch.no_taker_rate, 1)
    summary: list[list[Cell]] = [
        ["Dossiers transmis", report.cases],
        ["dont mobilisés", report.mobilised],
        ["dont autres", report.others],
        ["Prise en charge, médiane, mobilisés (min)", minutes(report.claim[0].p50_s)],
        ["Prise en charge, médiane, autres (min)", minutes(report.claim[1].p50_s)],
        ["Acceptation d'une visite, médiane (min)", minutes(report.acceptance.p50_s)],
        ["Visites faites", report.visits.done],
        ["Visites impossibles", report.visits.impossible],
        ["Taux sans preneur (%)", rate],
        ["Inscrits sur la liste d'attente", waitlist.joined],
        ["En attente aujourd'hui", waitlist.waiting_now],
    ]
    return [
        Table("summary", "Chiffres clés", ["indicateur", "valeur"], summary),
        _count_table("kinds", "Dossiers par type", "type", report.by_kind),
        _count_table("needs", "Dossiers par besoin", "besoin", report.by_need),
        _count_table("channels", "Dossiers par canal", "canal", report.by_channel),
        _count_table("modes", "Dossiers par mode de service", "mode", report.by_mode),
        _count_table("priorities", "Dossiers par priorité", "priorité", report.by_priority),
        _count_table("outcomes", "Dossiers par état actuel", "état", report.by_outcome),
        Table(
            "claim_delays",
            "Délai de la transmission à la prise en charge",
            ["groupe", "pris en charge", "médiane (min)", "90e centile (min)", "jamais pris en charge"],
            [[d.label, d.claimed, minutes(d.p50_s), minutes(d.p90_s), d.unclaimed] for d in report.claim],
        ),
        Table(
            "acceptance_delays",
            "Délai de la proposition à l'acceptation par un opticien",
            ["offres acceptées", "médiane (min)", "90e centile (min)"],
            [
                [
                    report.acceptance.accepted,
                    minutes(report.acceptance.p50_s),
                    minutes(report.acceptance.p90_s),
                ]
            ],
        ),
        _count_table("visits", "Visites prises par un opticien, par issue", "issue", report.visits.outcomes),
        Table(
            "dispatch",
            "Visites proposées aux opticiens",
            ["proposées", "prises", "sans preneur", "en attente", "taux sans preneur (%)"],
            [[dispatch.offered, dispatch.taken, dispatch.no_taker, dispatch.pending, rate]],
        ),
        Table(
            "waitlist",
            "Liste d'attente",
            ["inscrits sur la période", "en attente aujourd'hui"],
            [[waitlist.joined, waitlist.waiting_now]],
        ),
        Table(
            "days",
            "Par jour",
            [
                "jour",
                "dossiers",
                "urgences",
                "demandes ordinaires",
                "conseiller",
                "mobilisés",
                "autres",
                "inscrits liste d'attente",
            ],
            [
                [
                    d.day.isoformat(),
                    d.cases,
                    d.emergency,
                    d.requests,
                    d.advisor,
                    d.mobilised,
                    d.others,
                    d.waitlist_joins,
                ]
                for d in report.days
            ],
        ),
    ]


TABLE_NAMES = (
    "summary", "kinds", "needs", "channels", "modes", "priorities", "outcomes", "claim_delays",
    "acceptance_delays", "visits", "dispatch", "waitlist", "days",
)  # fmt: skip


def document(report: Report) -> ReportDocument:
    return ReportDocument(report, tables(report))


@cache
def _serialiser() -> TypeAdapter[ReportDocument]:
    return TypeAdapter(ReportDocument)  # built on first use: nothing is created at import time


def as_json(report: Report) -> dict[str, Any]:
    """The document as JSON values, exactly as the console's API sends it."""
    found: dict[str, Any] = _serialiser().dump_python(document(report), mode="json")
    return found


def _cell(value: Cell) -> str:
    return "" if value is None else str(value)


def as_csv(table: Table) -> str:
    """One table as CSV (comma-separated, a header row, UTF-8; an empty cell for no value)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows([_cell(v) for v in row] for row in table.rows)
    return out.getvalue()


def heading(report: Report) -> str:
    where = "toute la France"
    if report.department:
        where = f"département {report.department}"
        if report.department_name:
            where += f" ({report.department_name})"
    return f"Rapport du {report.start.isoformat()} au {report.end.isoformat()}, {where}"


def as_text(report: Report) -> str:
    """Every table, columns aligned, for a terminal."""
    parts = [heading(report), ""]
    for table in tables(report):
        cells = [[_cell(v) or "-" for v in row] for row in table.rows]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(table.columns)]
        parts.append(table.title)
        parts.append("  ".join(c.ljust(w) for c, w in zip(table.columns, widths, strict=True)).rstrip())
        parts.append("  ".join("-" * w for w in widths))
        parts += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
        parts.append("")
    return "\n".join(parts)


_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733}"
    "table{border-collapse:collapse;margin:0 0 1.5rem}"
    "th,td{border:1px solid #c5ccd6;padding:.25rem .6rem;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#eef1f5}"
    "caption{text-align:left;font-weight:600;margin-bottom:.3rem}"
)


def as_html(report: Report) -> str:
    """A self-contained page with every table (no script, no outside file)."""
    title = html.escape(heading(report))
    out = [
        "<!doctype html>",
        '<html lang="fr"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_PAGE_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    for table in tables(report):
        out.append(f'<table id="{table.name}"><caption>{html.escape(table.title)}</caption>')
        out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in table.columns) + "</tr>")
        for row in table.rows:
            cells = (
                f'<td class="n">{v}</td>'
                if isinstance(v, int | float)
                else f"<td>{html.escape(_cell(v))}</td>"
                for v in row
            )
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
