"""``optibot announce``: send an announcement to members (issue 16),
with the same services and rules as the console.

FOUNDATION STUB: helper D fills this in.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.settings import Settings

COMMAND = "announce"


def add(commands: Any) -> None:
    commands.add_parser(COMMAND, help="send an announcement to members")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError
