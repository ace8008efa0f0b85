"""``optibot candidates list [--json]``: opticians who asked to join the network."""

from __future__ import annotations

import argparse
from typing import Any

from bot.settings import Settings

COMMAND = "candidates"


def add(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        COMMAND, help="opticians who asked to join the network"
    )
    sub = parser.add_subparsers(dest="candidates_command", required=True)
    listing = sub.add_parser("list", help="the candidates, newest first")
    listing.add_argument("--json", action="store_true", help="print a JSON array")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError  # helper D
