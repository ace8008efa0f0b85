"""``optibot candidates list|set|note|register``: opticians who asked to join the network.

The same service methods, rules and journal as the console's "Candidatures" (the actor is
``cli:<user>``): ``set ID contacted|accepted|declined``, ``note ID TEXT`` (empty clears),
``register ID`` (accepted → registered: the optician's entry, and the one-time Telegram link and
command printed). ``list`` prints one page (``--limit``, ``--offset``) and says how many more match;
it shows the candidates' details, so each one listed is journaled (``view_candidate``);
every character a candidate typed is printed escaped when it is not printable (a terminal's escape
sequences cannot come through).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from bot.admin.levels import actor
from bot.settings import Settings

COMMAND = "candidates"
log = logging.getLogger(__name__)


def add(commands: Any) -> None:
    from bot.recruitment import MAX_PAGE, PAGE, STATUSES

    parser: argparse.ArgumentParser = commands.add_parser(
        COMMAND, help="opticians who asked to join the network"
    )
    sub = parser.add_subparsers(dest="candidates_command", required=True)
    listing = sub.add_parser("list", help="the candidates, newest first (one page)")
    listing.add_argument("--json", action="store_true", help="print a JSON object (candidates, total, more)")
    listing.add_argument("--status", action="append", choices=STATUSES, help="only this status (repeatable)")
    listing.add_argument("--department", default=None, help="only who named this department (e.g. 13)")
    listing.add_argument("--limit", type=int, default=PAGE, help=f"candidates per page (1-{MAX_PAGE})")
    listing.add_argument("--offset", type=int, default=0, help="skip this many (the next page)")
    move = sub.add_parser("set", help="move a candidate (journaled)")
    move.add_argument("id")
    move.add_argument("status", choices=("contacted", "accepted", "declined"))
    note = sub.add_parser("note", help="the staff's note on a candidate (journaled; empty clears)")
    note.add_argument("id")
    note.add_argument("text")
    register = sub.add_parser(
        "register", help="accepted → registered: the optician's entry and a Telegram link (journaled)"
    )
    register.add_argument("id")


async def bot_username(settings: Settings) -> str | None:
    """The bot's @name from Telegram (``getMe``), for the deep link; None without Telegram or when
    it does not answer within 10 seconds."""
    if not settings.telegram_enabled:
        return None
    from bot.channels.telegram.client import make_bot

    bot = make_bot(settings)
    try:
        async with asyncio.timeout(10):
            return (await bot.get_me()).username
    except Exception as error:  # the command is printed anyway
        log.warning("telegram: getMe failed (%s): the link is left out", type(error).__name__)
        return None
    finally:
        await bot.session.close()


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build, opened
    from bot.desk import LINK_PREFIX
    from bot.errors import RefusedError
    from bot.recruitment import view

    async with opened(build(settings)) as services:
        recruitment = services.recruitment
        by = actor()
        try:
            if args.candidates_command == "list":
                found, total = await recruitment.candidates(
                    args.status or (), args.department, limit=args.limit, offset=args.offset
                )
                # The list shows every candidate's details: each read is journaled, as the console's.
                await recruitment.viewed([c.public_id for c in found], by)
                return _print_list([view(c) for c in found], total, args)
            if args.candidates_command == "set":
                changed = await recruitment.move(args.id, args.status, by)
                print(f"candidature {changed['id']} : {changed['status']}")
                return 0
            if args.candidates_command == "note":
                changed = await recruitment.note(args.id, args.text, by)
                what = "effacée" if changed["note"] is None else "enregistrée"
                print(f"candidature {changed['id']} : note {what}")
                return 0
            registered, code, expires = await recruitment.register(args.id, by)
        except RefusedError as refused:
            print(f"refusé : {refused.detail}", file=sys.stderr)
            return 1
    username = await bot_username(settings)
    print(f"candidature {registered['id']} : inscrite, opticien {registered['optician']}")
    if username:
        print(f"lien Telegram : https://t.me/{username}?start={LINK_PREFIX}{code}")
    print(f"commande à taper dans le bot : /start {LINK_PREFIX}{code}")
    print(f"valable jusqu'au {expires.isoformat(timespec='minutes')}")
    return 0


def _json_escape(char: str) -> str:
    """``char`` as a JSON ``\\uXXXX`` escape (a surrogate pair past U+FFFF)."""
    units = char.encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2))


def _print_list(found: list[Any], total: int, args: argparse.Namespace) -> int:
    from bot.recruitment import printable

    more = max(0, total - args.offset - len(found))
    if args.json:
        text = json.dumps({"candidates": found, "total": total, "more": more}, ensure_ascii=False, indent=2)
        # Still valid JSON: a non-printable character can only be inside a string, as \uXXXX.
        print("".join(c if c.isprintable() or c == "\n" else _json_escape(c) for c in text))
        return 0
    if not found:
        print("aucune candidature" + (f" ({total} en tout)" if total else ""))
        return 0
    rows = [
        tuple(
            printable(str(value))
            for value in (
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
        )
        for c in found
    ]
    header = ("id", "statut", "reçue", "départements", "nom", "téléphone", "e-mail", "n° pro", "kit")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
    if more:
        print(f"… {more} de plus (--offset {args.offset + len(found)})")
    return 0
