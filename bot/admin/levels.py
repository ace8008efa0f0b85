"""``optibot level show|set normal|crisis|suspended [--department D]`` (issue 15)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.settings import Settings

COMMAND = "level"


def add(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        COMMAND, help="the service level (normal, crisis, suspended)"
    )
    sub = parser.add_subparsers(dest="level_command", required=True)
    sub.add_parser("show", help="the national level and each department's")
    change = sub.add_parser("set", help="switch the level (journaled)")
    change.add_argument("level", choices=("normal", "crisis", "suspended"))
    change.add_argument("--department", default=None, help="only this department (e.g. 75, 2A, 971)")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError  # helper A
