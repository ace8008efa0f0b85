"""The console's reports routes (issue 15), under /api/console; documented in docs/CONSOLE.md.

Read by every signed-in account, operators and admins alike: a report holds counts and durations,
never a client's data, and the operators steer the day's work by it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from bot.console.guards import SignedIn
from bot.reports import TABLE_NAMES, Period, ReportDocument, ReportError, as_csv, document, period_of, tables

if TYPE_CHECKING:
    from bot.app import Services

_FROM = Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$", description="first Paris day, YYYY-MM-DD")
_TO = Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$", description="last Paris day, included")
_DEPARTMENT = Query(max_length=3, description="a department code (75, 2A, 971…)")


def _period(start: str, end: str, department: str | None) -> Period:
    try:
        return period_of(start, end, department)
    except ReportError as error:
        raise HTTPException(422, str(error)) from None


def build_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/console", tags=["console"])
    reports = services.reports

    @router.get("/reports")
    async def report(
        session: SignedIn,
        start: Annotated[str, _FROM],
        end: Annotated[str, _TO],
        department: Annotated[str | None, _DEPARTMENT] = None,
    ) -> ReportDocument:
        """The figures of the cases handed off from ``from`` to ``to`` (Paris days, included)."""
        return document(await reports.report(_period(start, end, department)))

    @router.get("/reports/{name}.csv", response_class=Response, responses={404: {}, 422: {}})
    async def report_csv(
        name: str,
        session: SignedIn,
        start: Annotated[str, _FROM],
        end: Annotated[str, _TO],
        department: Annotated[str | None, _DEPARTMENT] = None,
    ) -> Response:
        """One table of the report as a CSV file (its ``name``: summary, needs, days…)."""
        if name not in TABLE_NAMES:
            raise HTTPException(404, "tableau inconnu")
        period = _period(start, end, department)
        found = next(t for t in tables(await reports.report(period)) if t.name == name)
        return Response(
            as_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{csv_name(period, name)}"'},
        )

    return router


def csv_name(period: Period, table: str) -> str:
    """optibot-needs-2026-03-16-2026-03-22[-75].csv"""
    where = f"-{period.department}" if period.department else ""
    return f"optibot-{table}-{period.start.isoformat()}-{period.end.isoformat()}{where}.csv"
