"""The data-protection officer's commands: ``optibot clients find|export|erase`` and ``optibot purge``.

They use the privacy desk (``bot/privacy.py``) of services built but never started, like the other
maintenance commands; what they print is for the officer, in French.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.privacy import PrivacyDesk
from bot.settings import Settings
from flows.lifecycle import sources_of
from flows.parsing import parse_phone
from storage.privacy import client_summary, find_clients

REFERENCE = re.compile(r"OB-[0-9A-Z]{6}", re.IGNORECASE)
CONFIRMATIONS = ("oui", "yes")
# Purge.lines() names its counts in English (logs); the officer reads them in French.
PURGE_WORDS = {
    "inbox rows processed long ago": "messages reçus déjà traités (boîte de réception)",
    "clients erased (nothing live, inactive)": "clients inactifs sans dossier en cours (effacés)",
    "closed cases anonymised": "dossiers clos (anonymisés)",
    "prescription files deleted": "ordonnances de dossiers clos",
    "insurance card files deleted": "cartes de mutuelle de dossiers clos",
    "waitlist entries": "inscriptions sur la liste d'attente",
    "access journal lines": "lignes du journal d'accès",
    "webhooks set aside": "webhooks mis de côté (sans donnée personnelle)",
    "delivered goodbyes": "messages d'au revoir déjà remis",
    "candidates declined or left untouched": "candidatures refusées ou sans suite",
    "members' requests closed long ago": "demandes de membres closes depuis longtemps",
    "video follow-up slots started long ago": "créneaux de visio de suivi passés depuis longtemps",
    "messages to opticians and members sent long ago": "messages aux opticiens et aux membres, anciens",
}


@contextlib.asynccontextmanager
async def _privacy_desk(settings: Settings) -> AsyncIterator[PrivacyDesk]:
    """The privacy desk of services built but never started: no channel, no outbox, no sweep.
    Messages it writes (an optician told not to come) are sent by the running service."""
    from bot.app import build, opened

    async with opened(build(settings)) as services:
        yield services.engine.privacy


def _actor() -> str:
    """Who ran the command, for the access journal."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment nor in the password database
        return f"cli:uid{os.getuid()}"


async def clients(settings: Settings, args: argparse.Namespace) -> int:
    async with _privacy_desk(settings) as desk:
        if args.clients_command == "find":
            return await _find(desk, " ".join(args.query).strip(), as_json=args.json)
        async with desk.database.connect() as connection:
            summary = await client_summary(connection, args.client_id)
        if summary is None:
            print(f"optibot: aucun client n'a l'identifiant {args.client_id}", file=sys.stderr)
            return 1
        if args.clients_command == "export":
            return await _export(desk, args.client_id, args.out)
        return await _erase(desk, summary, confirmed=args.yes)


async def _find(desk: PrivacyDesk, query: str, *, as_json: bool) -> int:
    reference = query.upper() if REFERENCE.fullmatch(query) else None
    phone = None if reference else parse_phone(query)
    if reference is None and phone is None:
        print(
            "optibot: donnez un numéro de téléphone (06 12 34 56 78) ou une référence de dossier (OB-XXXXXX)",
            file=sys.stderr,
        )
        return 2
    async with desk.database.connect() as connection:
        ids = await find_clients(connection, reference, [phone] if phone else [])
        found = [s for s in [await client_summary(connection, i) for i in ids] if s is not None]
    if as_json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    elif not found:
        print("aucun client trouvé")
    else:
        for summary in found:
            print(_client_line(summary))
    return 0


def _client_line(summary: dict[str, Any]) -> str:
    cases = ", ".join(f"{c['reference']} ({c['status']}, {c['created_at'][:10]})" for c in summary["cases"])
    channels = ", ".join(summary["channels"]) or "aucun"
    return f"client {summary['id']}  canaux : {channels}  dossiers : {cases or 'aucun'}"


async def _export(desk: PrivacyDesk, client_id: int, out: Path | None) -> int:
    async with desk.database.connect() as connection:
        content = await desk.export_json(connection, client_id, desk.clock())
    text = content.decode() + "\n"
    if out is None:
        await desk.note(_actor(), "export", client_id=client_id, detail="cli")
        sys.stdout.write(text)
        return 0
    try:  # a new file, never one that exists (it could be readable by others)
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"optibot: {out} existe déjà : choisissez un autre nom", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"optibot: impossible de créer {out} : {error.strerror}", file=sys.stderr)
        return 1
    try:
        os.fchmod(descriptor, 0o600)  # exactly, whatever the umask
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            await desk.note(_actor(), "export", client_id=client_id, detail="cli")
            file.write(text)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):  # no half-written export, none unjournaled
            os.unlink(out)
        raise
    print(f"données du client {client_id} écrites dans {out} (lisible par vous seul)")
    return 0


async def _erase(desk: PrivacyDesk, summary: dict[str, Any], *, confirmed: bool) -> int:
    client_id = int(summary["id"])
    print(_client_line(summary))
    print(
        "Seront effacés : coordonnées, adresses, réponses, conversations, ordonnances et documents, "
        "consentements, liste d'attente. Les dossiers restent, anonymes, pour les statistiques."
    )
    if any(c["status"] in sources_of("erase") for c in summary["cases"]):
        print("Les dossiers en cours seront clos ; un opticien qui devait passer en sera prévenu.")
    if not confirmed:
        if not sys.stdin.isatty():
            print(
                "optibot: pas de terminal pour confirmer : rien n'a été effacé (--yes pour un script)",
                file=sys.stderr,
            )
            return 2
        try:
            answer = await asyncio.to_thread(
                input, "Effacer définitivement ? Tapez « oui » pour confirmer : "
            )
        except EOFError:
            answer = ""
        if answer.strip().lower() not in CONFIRMATIONS:
            print("Rien n'a été effacé.")
            return 1
    await desk.erase(client_id, actor=_actor(), detail="cli")
    print(f"Client {client_id} effacé.")
    return 0


async def purge(settings: Settings, *, dry_run: bool) -> int:
    async with _privacy_desk(settings) as desk:
        done = await desk.purge(dry_run=dry_run)
        policy = desk.policy
    print(
        f"Délais de conservation : boîte de réception {policy.inbox.days} j, dossiers {policy.cases.days} j, "
        f"ordonnances {policy.files.days} j, liste d'attente {policy.waitlist.days} j, "
        f"journal d'accès {policy.journal.days} j."
    )
    print("Simulation (--dry-run), serait supprimé ou anonymisé :" if dry_run else "Supprimé ou anonymisé :")
    for label, count in done.lines():
        print(f"  {PURGE_WORDS.get(label, label)} : {count}")
    print(f"  fichiers (ordonnances, exports, documents) : {len(done.files)}")
    if dry_run:
        print("Simulation : rien n'a été supprimé (relancez sans --dry-run pour purger).")
    return 0
