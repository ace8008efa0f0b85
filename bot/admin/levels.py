"""``optibot level show|set normal|crisis|suspended [--department D] [--notify]`` and
``optibot level clear --department D`` (issue 15): the same service methods and journal as the
console (the actor is ``cli:<user>``). ``--notify``: when the switch lets more clients in, the
waitlist's broadcast starts (sent by the running service; ``optibot waitlist notify`` watches it).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from bot.settings import Settings

COMMAND = "level"
NAMES = {"normal": "normal", "crisis": "crise (urgences seulement)", "suspended": "suspendu"}


def add(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        COMMAND, help="the service level (normal, crisis, suspended)"
    )
    sub = parser.add_subparsers(dest="level_command", required=True)
    sub.add_parser("show", help="the national level and each department's")
    change = sub.add_parser("set", help="switch the level (journaled)")
    change.add_argument("level", choices=("normal", "crisis", "suspended"))
    change.add_argument("--department", default=None, help="only this department (e.g. 75, 2A, 971)")
    change.add_argument(
        "--notify", action="store_true", help="tell the waitlist if the switch lets more clients in"
    )
    clear = sub.add_parser("clear", help="a department follows the national level again (journaled)")
    clear.add_argument("--department", required=True, help="the department (e.g. 75, 2A, 971)")
    clear.add_argument(
        "--notify", action="store_true", help="tell the waitlist if the change lets more clients in"
    )


def actor() -> str:
    """Who ran the command, for the access journal (as ``bot/officer.py`` says it)."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (OSError, KeyError):
        return f"cli:uid{os.getuid()}"


def _when(value: Any) -> str:
    return "jamais" if value is None else f"{value.isoformat(timespec='minutes')}"


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build, opened
    from bot.levels import LevelError, announce

    async with opened(build(settings)) as services:
        levels = services.levels
        by = actor()
        try:
            if args.level_command == "set":
                before, after = await levels.set(args.level, department=args.department, by=by)
                department = None if args.department is None else args.department.strip().upper()
                where = "national" if department is None else f"département {department}"
                print(f"niveau {where} : {NAMES[before]} → {NAMES[after]}")
                if args.notify:
                    started = await announce(services.broadcasts, before, after, by=by, department=department)
                    print(
                        "liste d'attente : "
                        + (f"diffusion {started} lancée" if started else "rien à annoncer")
                    )
            elif args.level_command == "clear":
                changed = await levels.remove(args.department, by=by)
                department = args.department.strip().upper()
                if changed is None:
                    print(f"le département {department} suit déjà le niveau national")
                    return 0
                before, after = changed
                print(f"niveau département {department} : {NAMES[before]} → {NAMES[after]} (national)")
                if args.notify:
                    started = await announce(services.broadcasts, before, after, by=by, department=department)
                    print(
                        "liste d'attente : "
                        + (f"diffusion {started} lancée" if started else "rien à annoncer")
                    )
        except LevelError as error:
            print(f"optibot: {error}", file=sys.stderr)
            return 2
        current = await levels.current()
        national = current.national
        set_by = f" (par {national.set_by}, {_when(national.set_at)})" if national.set_by else " (par défaut)"
        print(f"national : {NAMES[national.level]}{set_by}")
        for found in current.departments:
            print(f"{found.scope:>3} : {NAMES[found.level]} (par {found.set_by}, {_when(found.set_at)})")
        return 0
