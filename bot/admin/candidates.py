"""``optibot candidates list [--json]``: opticians who asked to join the network."""

from __future__ import annotations

import argparse
import json
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
    from bot.app import build, opened

    async with opened(build(settings)) as services:
        found = await services.recruitment.candidates()
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0
    if not found:
        print("aucune candidature")
        return 0
    rows = [
        (
            c["id"],
            c["status"],
            c["created_at"][:10],
            ",".join(c["departments"]),
            c["name"],
            c["phone"],
            c["email"],
            f"{c['registration_kind']} {c['registration']}",
            "kit" if c["has_kit"] else "sans kit",
        )
        for c in found
    ]
    header = ("id", "statut", "reçue", "départements", "nom", "téléphone", "e-mail", "n° pro", "kit")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
    return 0
