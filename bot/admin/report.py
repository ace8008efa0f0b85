"""``optibot report --from DAY --to DAY [--department D] [--format csv|json|html]``."""

from __future__ import annotations

import argparse
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


async def run(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError  # helper C
