"""``optibot slots``: video follow-up slots (issue 16),
with the same services and rules as the console.

FOUNDATION STUB: helper C fills this in.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.settings import Settings

COMMAND = "slots"


def add(commands: Any) -> None:
    commands.add_parser(COMMAND, help="video follow-up slots")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError
