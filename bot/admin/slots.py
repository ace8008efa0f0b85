"""``optibot slots add WHEN [--minutes N] [--by NAME]``, ``optibot slots list [--json]``,
``optibot slots cancel ID``: video follow-up slots (issue 16), with the same service and rules as
the console (journaled as ``cli:<user>``).

WHEN is Paris time, "2026-12-10 14:00" (or "10/12/2026 14h00"), or an ISO time with its offset; a
past time is refused. The running service (``optibot run``) offers the slots to members.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.admin.waitlist import actor
from bot.members.slots import SlotError, SlotView, parse_when
from bot.settings import Settings
from flows.types import SERVICE_TIME_ZONE

COMMAND = "slots"


def add(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(COMMAND, help="video follow-up slots")
    sub = parser.add_subparsers(dest="slots_command", required=True)
    publish = sub.add_parser("add", help="publish a slot members can take")
    publish.add_argument("when", metavar="WHEN", help='Paris time, "2026-12-10 14:00" (or ISO with offset)')
    publish.add_argument("--minutes", type=int, default=None, help="its length (default: VIDEO_SLOT_MINUTES)")
    publish.add_argument("--by", default=None, help="the staff member who holds it (default: you)")
    listing = sub.add_parser("list", help="the slots from today on")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    cancel = sub.add_parser("cancel", help="withdraw a slot before it starts (its member is told)")
    cancel.add_argument("id", help="the slot's id (as list shows it)")


def _row(view: SlotView) -> dict[str, Any]:
    return {
        "id": view.id,
        "starts_at": view.starts_at.isoformat(),
        "minutes": view.minutes,
        "staff": view.staff,
        "status": view.status,
        "member": view.member,
        "reference": view.reference,
        "link": view.link,
        "reminded_at": None if view.reminded_at is None else view.reminded_at.isoformat(),
    }


def _line(view: SlotView) -> str:
    local = view.starts_at.astimezone(SERVICE_TIME_ZONE)
    who = view.member or "-"
    start = f"{view.id}  {local:%Y-%m-%d %H:%M}  {view.minutes:3} min  {view.status:9}"
    return f"{start}  {view.staff}  {who}  {view.link}"


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build, opened

    when = parse_when(args.when) if args.slots_command == "add" else None
    if args.slots_command == "add" and when is None:
        print(f'optibot: heure illisible : {args.when[:40]} (ex. "2026-12-10 14:00")', file=sys.stderr)
        return 2
    async with opened(build(settings)) as services:
        slots = services.members.slots
        if args.slots_command == "list":
            found = await slots.listing()
            if args.json:
                print(json.dumps([_row(v) for v in found], ensure_ascii=False, indent=2))
            elif not found:
                print("aucun créneau")
            else:
                for view in found:
                    print(_line(view))
            return 0
        if args.slots_command == "cancel":
            try:
                view = await slots.cancel(args.id, by=actor())
            except LookupError:
                print(f"optibot: créneau inconnu : {args.id[:32]}", file=sys.stderr)
                return 2
            except SlotError as error:
                print(f"optibot: {error}", file=sys.stderr)
                return 1
            print(f"créneau {view.id} annulé")
            return 0
        assert when is not None
        try:
            made = await slots.publish([when], minutes=args.minutes, staff=args.by or actor(), by=actor())
        except SlotError as error:
            print(f"optibot: {error}", file=sys.stderr)
            return 2
        for view in made:
            print(_line(view))
        return 0
