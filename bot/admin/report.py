"""``optibot report --from DAY --to DAY [--department D] [--format text|csv|json|html] [--table T]``:
the figures the console's reports show, for the same period (bot/reports.py makes both)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.settings import Settings

COMMAND = "report"


def add(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        COMMAND, help="the federation's figures for a period"
    )
    parser.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD (Paris time)")
    parser.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD, included")
    parser.add_argument("--department", default=None, help="only this department")
    parser.add_argument("--format", choices=("text", "csv", "json", "html"), default="text")
    parser.add_argument(
        "--table",
        default=None,
        metavar="NAME",
        help="csv: only this table, as the console's CSV file (summary, needs, days…); default: every "
        "table, each under its name and title",
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build, opened
    from bot.reports import TABLE_NAMES, ReportError, as_csv, as_html, as_json, as_text, period_of, tables

    try:
        period = period_of(args.start, args.end, args.department)
    except ReportError as error:
        print(f"optibot: {error}", file=sys.stderr)
        return 2
    if args.table is not None and args.table not in TABLE_NAMES:
        print(f"optibot: --table: one of {', '.join(TABLE_NAMES)}", file=sys.stderr)
        return 2
    async with opened(build(settings)) as services:
        report = await services.reports.report(period)
    if args.format == "json":
        print(json.dumps(as_json(report), ensure_ascii=False, indent=2))
    elif args.format == "html":
        sys.stdout.write(as_html(report))
    elif args.format == "csv":
        chosen = [t for t in tables(report) if args.table in (None, t.name)]
        if args.table is not None:
            sys.stdout.write(as_csv(chosen[0]))
        else:
            sys.stdout.write("\r\n".join(f"{t.name}: {t.title}\r\n{as_csv(t)}" for t in chosen))
    else:
        print(as_text(report))
    return 0
