"""``optibot waitlist list [--json]``, ``optibot waitlist notify [--department D] [--dry-run]``."""

from __future__ import annotations

import argparse
from typing import Any

from bot.settings import Settings

COMMAND = "waitlist"


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


async def run(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError  # helper B
