"""``optibot waitlist list [--json]``, ``optibot waitlist notify [--department D] [--dry-run]``,
``optibot waitlist cancel ID``.

``notify`` starts a broadcast (journaled as ``cli:<user>``, like the console's "Prévenir") that
announces the current service level of the department (or the national one), then prints its
progress until it is done: the running service (``optibot run``) sends it, this command only
watches (Ctrl-C stops watching; the broadcast goes on).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from typing import Any

from bot.broadcasts import BroadcastError
from bot.settings import Settings
from flows.departments import DEPARTMENTS
from flows.types import as_level, stricter

COMMAND = "waitlist"
WATCH_SECONDS = 1.0


def add(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        COMMAND, help="clients waiting for the service to resume"
    )
    sub = parser.add_subparsers(dest="waitlist_command", required=True)
    listing = sub.add_parser("list", help="the clients waiting, oldest first")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    notify = sub.add_parser("notify", help="tell the waiting clients (prints the broadcast's progress)")
    notify.add_argument("--department", default=None, help="only clients of this department")
    notify.add_argument("--dry-run", action="store_true", help="count who would be told, send nothing")
    notify.add_argument(
        "--level",
        choices=("normal", "crisis"),
        default=None,
        help="the level announced (default: the department's current level)",
    )
    notify.add_argument("--again", action="store_true", help="also clients told by an earlier broadcast")
    cancel = sub.add_parser("cancel", help="stop a running broadcast (what is sent stays sent)")
    cancel.add_argument("id", help="the broadcast's id (as notify and the console show it)")


def actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"[:64]


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build, opened
    from storage import waitlist as waitlist_store
    from storage.waitlist import WaitlistFilter

    department = args.department.upper() if getattr(args, "department", None) else None
    if department is not None and department not in DEPARTMENTS:
        print(f"optibot: département inconnu : {args.department} (01…95, 2A, 2B, 971…976)", file=sys.stderr)
        return 2
    async with opened(build(settings)) as services:
        if args.waitlist_command == "list":
            async with services.database.connect() as connection:
                found = await waitlist_store.entries(connection, WaitlistFilter(told=False), 1_000_000)
            rows = [
                {
                    "since": e.since.isoformat(),
                    "reason": e.reason,
                    "department": e.department,
                    "channel": e.channel,
                    "language": e.language,
                    "contact": [k for k, has in (("e-mail", e.has_email), ("téléphone", e.has_phone)) if has],
                }
                for e in found
            ]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            elif not rows:
                print("personne n'attend")
            else:
                for e in found:
                    contact = ",".join(
                        k for k, has in (("e-mail", e.has_email), ("téléphone", e.has_phone)) if has
                    )
                    line = f"{e.since.isoformat()[:16]}  {e.department or '--':3}  {e.channel:9}  "
                    print(f"{line}{e.language}  {e.reason:12}  {contact or '-'}")
                print(f"{len(rows)} en attente")
            return 0
        broadcasts = services.broadcasts
        if args.waitlist_command == "cancel":
            if await broadcasts.progress(args.id) is None:
                print(f"optibot: diffusion inconnue : {args.id[:32]}", file=sys.stderr)
                return 2
            if not await broadcasts.cancel(args.id, by=actor()):
                print("optibot: diffusion déjà terminée", file=sys.stderr)
                return 1
            print(f"diffusion {args.id} arrêtée")
            return 0
        in_force = await services.levels.level_for(department)
        level = args.level or in_force
        if stricter(in_force, as_level(level)):
            print(
                f"optibot: niveau annoncé ({level}) moins strict que celui en vigueur ({in_force})",
                file=sys.stderr,
            )
            return 2
        if level not in ("normal", "crisis"):
            print(
                "optibot: le service est suspendu : rien à annoncer (--level normal|crisis)", file=sys.stderr
            )
            return 1
        preview = await broadcasts.preview(department=department, again=args.again, level=level)
        routes = ", ".join(f"{route} {n}" for route, n in sorted(preview.routes.items()))
        print(f"{preview.total} client(s) à prévenir ({level}){': ' + routes if routes else ''}")
        if args.dry_run or preview.total == 0:
            return 0
        try:
            public_id = await broadcasts.start(
                by=actor(), trigger="manual", level=level, department=department, again=args.again
            )
        except BroadcastError as error:
            print(f"optibot: {error}", file=sys.stderr)
            return 2
        if public_id is None:
            print("personne à prévenir")
            return 0
        print(f"diffusion {public_id} lancée (envoyée par le service en marche)")
        last = ""
        while True:
            progress = await broadcasts.progress(public_id)
            if progress is None:
                return 1
            line = (
                f"envoyés {progress.sent}, échecs {progress.failed}, à rappeler {progress.callback}, "
                f"restants {progress.remaining} / {progress.total}"
            )
            if line != last:
                print(line, flush=True)
                last = line
            if progress.status != "running":
                print("terminé" if progress.status == "done" else "arrêtée")
                return 0
            await asyncio.sleep(WATCH_SECONDS)
