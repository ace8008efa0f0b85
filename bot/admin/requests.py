"""``optibot requests list|show``: members' requests (the Réseau queue, issue 16), with the same
service and rules as the console (bot/members/requests.py).

``list`` prints the open requests (or those of ``--status``, repeatable), new ones first then by
age; ``--json`` prints a JSON array whose items are exactly the console API's list items
(``GET /api/console/members/requests``). ``show REF`` prints one request (by its reference
``A-…`` or its id) with its member and thread. Every character a member typed is printed escaped
when it is not printable (a terminal's escape sequences cannot come through).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.settings import Settings

COMMAND = "requests"


def add(commands: Any) -> None:
    from bot.members.request_queries import STATUSES
    from flows.member_table import KINDS

    parser: argparse.ArgumentParser = commands.add_parser(
        COMMAND, help="members' requests (the Réseau queue)"
    )
    sub = parser.add_subparsers(dest="requests_command", required=True)
    listing = sub.add_parser("list", help="open requests, new first then by age")
    listing.add_argument("--json", action="store_true", help="print a JSON array (the console API's items)")
    listing.add_argument("--status", action="append", choices=STATUSES, help="only this status (repeatable)")
    listing.add_argument("--kind", choices=KINDS, default=None, help="only this kind of help")
    listing.add_argument("--department", default=None, help="only members covering this department")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (1-200)")
    show = sub.add_parser("show", help="one request with its member and thread")
    show.add_argument("reference", help="its reference (A-…) or id")
    show.add_argument("--json", action="store_true", help="print a JSON object (the console API's)")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build, opened
    from bot.errors import RefusedError

    async with opened(build(settings)) as services:
        requests = services.members.requests.queries
        try:
            if args.requests_command == "list":
                found = await requests.queue(
                    statuses=args.status or (),
                    kind=args.kind,
                    department=args.department.upper() if args.department else None,
                    limit=max(1, min(200, args.limit)),
                )
                items = [item.model_dump(mode="json") for item in found.requests]
                if args.json:
                    _print_json(items)
                    return 0
                _print_list(items)
                return 0
            detail = (await requests.detail(None, args.reference)).model_dump(mode="json")
        except RefusedError as refused:
            print(f"refusé : {refused.detail}", file=sys.stderr)
            return 1
    if args.json:
        _print_json(detail)
        return 0
    _print_detail(detail)
    return 0


def _clean(value: object) -> str:
    from bot.recruitment import printable

    return printable(str(value))


def _print_json(value: object) -> None:
    from bot.admin.candidates import _json_escape

    text = json.dumps(value, ensure_ascii=False, indent=2)
    # Still valid JSON: a non-printable character can only be inside a string, as \uXXXX.
    print("".join(c if c.isprintable() or c == "\n" else _json_escape(c) for c in text))


def _print_list(items: list[dict[str, Any]]) -> None:
    if not items:
        print("aucune demande")
        return
    for r in items:
        columns = (
            r["reference"],
            r["status"],
            r["created_at"][:16].replace("T", " "),
            r["kind"],
            ",".join(r["departments"]),
            r["member"],
            r["claimed_by"] or "-",
        )
        print("\t".join(_clean(c) for c in columns))


def _print_detail(d: dict[str, Any]) -> None:
    member = d["member_card"]
    print(
        f"{_clean(d['reference'])} · {d['kind']} · {d['status']}"
        + (f" · {d['outcome']}" if d["outcome"] else "")
    )
    print(
        f"membre : {_clean(member['name'])} · {_clean(member['phone'])} · {','.join(member['departments'])}"
    )
    print(f"tenue par : {_clean(d['claimed_by'] or '-')}")
    print(f"demande : {_clean(d['details'])}")
    for line in d["thread"]:
        when = line["at"][:16].replace("T", " ")
        print(f"  [{when}] {line['kind']} {_clean(line['author'])} : {_clean(line['text'])}")
