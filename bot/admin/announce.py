"""``optibot announce --text-file F [--department D]... [--dry-run]``, ``optibot announce list``,
``optibot announce status ID``, ``optibot announce cancel ID``: announcements to members (issue 16),
with the same service and checks as the console (journaled as ``cli:<user>``).

Sending writes the announcement and its deliveries and prints its id: the running service
(``optibot run``) hands it to the outbox, as with ``optibot waitlist notify``. ``--dry-run`` prints
the preview (how many members by channel, and the message as they will read it) and sends nothing;
it exits as the send would (1: an identical announcement running; 2: no member there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.admin.waitlist import actor
from bot.errors import RefusedError
from bot.settings import Settings

COMMAND = "announce"
MAX_FILE_BYTES = 64 * 1024
CHANNEL_WORDS = {"telegram": "Telegram", "whatsapp": "WhatsApp", "unreachable": "injoignables"}


def add(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        COMMAND,
        help="send an announcement to members",
        description="Send an announcement to members (every member, or those of some departments); "
        "also: announce list, announce status ID, announce cancel ID.",
    )
    parser.add_argument(
        "action", nargs="*", metavar="list | status ID | cancel ID", help="list, or one announcement's"
    )
    parser.add_argument(
        "--text-file", type=Path, default=None, help="the message (UTF-8 text, 3,500 characters)"
    )
    parser.add_argument(
        "--department", action="append", default=None, help="only members of this department (repeatable)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the preview, send nothing")


def _read(path: Path) -> str | None:
    try:
        raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as error:
        print(f"optibot: fichier illisible : {path} ({error.strerror})", file=sys.stderr)
        return None
    if len(raw) > MAX_FILE_BYTES:
        print("optibot: fichier trop long", file=sys.stderr)
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        print("optibot: le fichier n'est pas du texte UTF-8", file=sys.stderr)
        return None


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build, opened

    action = list(args.action)
    if action and action[0] not in ("list", "status", "cancel"):
        print(f"optibot: action inconnue : {action[0][:20]} (list, status ID, cancel ID)", file=sys.stderr)
        return 2
    if action and action[0] in ("status", "cancel") and len(action) != 2:
        print(f"optibot: announce {action[0]} ID", file=sys.stderr)
        return 2
    if not action and args.text_file is None:
        print("optibot: --text-file F (le message) ou list / status ID / cancel ID", file=sys.stderr)
        return 2
    text = None
    if not action:
        text = _read(args.text_file)
        if text is None:
            return 2
    async with opened(build(settings)) as services:
        announcements = services.members.announcements
        try:
            if action and action[0] == "list":
                found = await announcements.recent()
                for p in found:
                    where = ",".join(p.departments) if p.departments else "tous"
                    print(
                        f"{p.public_id}  {p.created_at.isoformat()[:16]}  {p.status:9}  {where:12}  "
                        f"envoyés {p.sent}/{p.total}  {p.created_by}"
                    )
                if not found:
                    print("aucune annonce")
                return 0
            if action:
                public_id = action[1][:32]
                if await announcements.progress(public_id) is None:
                    print(f"optibot: annonce inconnue : {public_id}", file=sys.stderr)
                    return 2
                if action[0] == "cancel":
                    if not await announcements.cancel(public_id, by=actor()):
                        print("optibot: annonce déjà terminée", file=sys.stderr)
                        return 1
                    print(f"annonce {public_id} arrêtée")
                progress = await announcements.progress(public_id)
                assert progress is not None
                print(
                    f"{progress.status} : envoyés {progress.sent}, en file {progress.queued}, "
                    f"à envoyer {progress.pending}, échecs {progress.failed}, "
                    f"injoignables {progress.unreachable} / {progress.total}"
                )
                return 0
            assert text is not None
            preview = await announcements.preview(text, args.department)
            channels = ", ".join(f"{CHANNEL_WORDS.get(c, c)} {n}" for c, n in preview.channels.items())
            where = ",".join(preview.departments) if preview.departments else "tous les membres"
            print(f"{preview.total} membre(s) ({where}) : {channels}")
            if preview.whatsapp_template:
                print(f"dont WhatsApp hors fenêtre de 24 h (modèle approuvé) : {preview.whatsapp_template}")
            print("---")
            print(preview.message)
            print("---")
            if args.dry_run:
                await announcements.check(text, args.department)  # refused as the send would be
                return 0
            public_id = await announcements.send(text, args.department, by=actor())
        except RefusedError as error:
            print(f"optibot: {error.detail}", file=sys.stderr)
            return 2 if error.status == 422 else 1
        print(f"annonce {public_id} envoyée (le service en marche la remet aux membres)")
        print(public_id)
        return 0
