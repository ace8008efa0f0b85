"""``optibot requests``: members' requests (the Réseau queue) (issue 16),
with the same services and rules as the console.

FOUNDATION STUB: helper B fills this in.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.settings import Settings

COMMAND = "requests"


def add(commands: Any) -> None:
    commands.add_parser(COMMAND, help="members' requests (the Réseau queue)")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError
