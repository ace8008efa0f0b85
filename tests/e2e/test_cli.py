"""The ``optibot`` command line as a user runs it: separate processes, real databases."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.officer import PURGE_WORDS
from storage.database import create_engine
from storage.migrate import is_current
from storage.privacy import Purge, find_clients
from storage.tables import access_journal, cases, clients, conversations, inbox, messages, metadata
from tests.e2e.servers import ROOT, service_env
from tests.harness import harness
from tests.integration.test_conversations import tiny_png
from tests.integration.test_telegram import INSURANCE_CARD

REFERENCE = re.compile(r"\bOB-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}\b")
FRENCH_GREETING = "Bonjour, vous êtes bien au service d'urgence des Opticiens Mobiles"
ENGLISH_GREETING = "Hello, this is the emergency desk of Les Opticiens Mobiles"
NEED_QUESTION_FR = (
    "Quelle est votre urgence ?\n"
    "  1. Lunettes cassées\n"
    "  2. Lunettes perdues\n"
    "  3. Plus adaptées (nouvelle ordonnance)\n"
    "  4. Autre chose\n"
)
NEED_QUESTION_EN = (
    "What is your emergency?\n"
    "  1. Broken glasses\n"
    "  2. Lost glasses\n"
    "  3. No longer suitable (new prescription)\n"
    "  4. Something else\n"
)
URGENCY_EN = "Is it urgent? For example: you have no spare pair, or you need them to work or drive."
PRIORITY_EN = "Are you one of the people mobilised against the epidemic? They are served first."


def optibot(
    *args: str, database_url: str, workdir: Path, stdin: str = "", expect: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run ``optibot ARGS`` in ``workdir`` as a user would; checks the exit code (``expect``)."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=workdir,
        env=service_env(database_url, workdir / "data"),
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    command = " ".join(args)
    assert done.returncode == expect, (
        f"optibot {command} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def lines(*typed: str) -> str:
    return "".join(f"{line}\n" for line in typed)


async def test_chat_whole_conversation_then_list_cases(database_url: str, tmp_path: Path) -> None:
    prescription = tmp_path / "ordonnance.png"
    prescription.write_bytes(tiny_png())
    card = tmp_path / "carte-mutuelle.jpg"
    card.write_bytes(INSURANCE_CARD)
    before = datetime.now(UTC)
    chat = optibot(
        "chat",
        database_url=database_url,
        workdir=tmp_path,
        stdin=lines(
            "Bonjour",
            "3",  # need: no longer suitable (new prescription)
            str(prescription),
            "1",  # urgent: yes
            "4",  # firefighter
            "1",  # an optician's visit
            "1",  # accept the visit (consent)
            "17 rue Oberkampf 75011 Paris",
            "dès que possible",  # any day of the week (the real clock: "demain" may be a Sunday)
            "Marie Curie",
            "06 12 34 56 78",
            "la MGEN",  # the insurer
            str(card),  # its card's photo
            "1",  # the summary is right: send it
        ),
    )
    after = datetime.now(UTC)
    out = chat.stdout
    assert out.startswith(FRENCH_GREETING), out[:300]
    assert NEED_QUESTION_FR in out
    assert "Ordonnance bien reçue, merci." in out  # the path was read as a file, not as text
    assert "  4. Pompier\n" in out
    assert "  1. J'accepte la visite\n" in out
    assert "  1. Pas de mutuelle\n" in out
    assert "Carte de mutuelle bien reçue, merci." in out  # the path was read as a file, not as a name
    summary = out[out.index("Voici votre demande :") :]
    for shown in (
        "Plus adaptées (nouvelle ordonnance)",
        "Pompier",
        "Visite d'un opticien",
        "17 rue Oberkampf 75011 Paris",
        "Marie Curie",
        "06 12 34 56 78",
        "Mutuelle : MGEN (carte reçue)",
    ):
        assert shown in summary, shown
    assert "Ce bouton n'est plus valable" not in out
    assert "Je n'arrive pas à comprendre" not in out
    references = set(REFERENCE.findall(out))
    assert len(references) == 1, out[-600:]
    reference = references.pop()
    assert f"Votre demande est enregistrée sous la référence {reference}." in out
    stored = list((tmp_path / "data" / "prescriptions").glob("*.enc"))
    assert len(stored) == 2  # the prescription and the insurance card
    for file in stored:
        assert tiny_png() not in file.read_bytes()  # encrypted at rest
        assert b"carte de mutuelle" not in file.read_bytes()

    listed = optibot("cases", "list", "--json", database_url=database_url, workdir=tmp_path)
    found = json.loads(listed.stdout)
    assert isinstance(found, list)
    assert len(found) == 1
    case = found[0]
    expected = {
        "reference": reference,
        "status": "queued",
        "kind": "emergency",
        "need": "unsuitable",
        "urgent": True,
        "mode": "visit",
        "priority": "firefighter",
        "postal_code": "75011",
    }
    assert {key: case.get(key) for key in expected} == expected
    created = datetime.fromisoformat(case["created_at"])
    if created.tzinfo is None:  # SQLite hands back UTC timestamps without their zone
        created = created.replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1), case["created_at"]
    # The listing carries no contact details.
    for private in ("Marie Curie", "Oberkampf", "12 34 56 78", "612345678"):
        assert private not in listed.stdout

    table = optibot("cases", "list", database_url=database_url, workdir=tmp_path).stdout
    header, rule, *rows = table.splitlines()
    assert header.split() == [
        "reference",
        "status",
        "kind",
        "need",
        "urgent",
        "mode",
        "priority",
        "postal_code",
        "channel",
        "reachable",
        "created_at",
    ]
    assert set(rule.replace(" ", "")) == {"-"}
    assert len(rows) == 1
    assert rows[0].split()[:10] == [
        reference,
        "queued",
        "emergency",
        "unsuitable",
        "yes",
        "visit",
        "firefighter",
        "75011",
        "terminal",
        "yes",
    ]


async def test_chat_language_and_separate_users(database_url: str, tmp_path: Path) -> None:
    first = optibot(
        "chat",
        "--user",
        "alice",
        "--lang",
        "en",
        database_url=database_url,
        workdir=tmp_path,
        stdin=lines("hello", "1"),
    ).stdout
    assert first.startswith(ENGLISH_GREETING), first[:300]
    assert NEED_QUESTION_EN in first
    assert FRENCH_GREETING not in first
    assert first.rstrip().endswith("  1. Yes\n  2. No")
    assert URGENCY_EN in first

    other = optibot(
        "chat", "--user", "bob", database_url=database_url, workdir=tmp_path, stdin=lines("bonjour")
    ).stdout
    assert other.startswith(FRENCH_GREETING), other[:300]  # a new conversation, not Alice's
    assert NEED_QUESTION_FR in other
    assert URGENCY_EN not in other

    again = optibot(
        "chat", "--user", "alice", database_url=database_url, workdir=tmp_path, stdin=lines("yes", "my data")
    ).stdout
    # Run 2 shows where run 1 stopped (the pending question), then goes on, in English.
    assert again.startswith(URGENCY_EN), again[:300]
    assert again.index(PRIORITY_EN) > again.index(URGENCY_EN)
    assert ENGLISH_GREETING not in again
    export = again[again.index("Here is the data we hold about you:") :]
    assert "Broken glasses" in export  # "1" at the need question meant broken glasses


async def test_db_upgrade_fresh_sqlite_twice(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'optibot.db'}"
    first = optibot("db", "upgrade", database_url=url, workdir=tmp_path)
    assert first.stdout.strip().startswith("database migrated from (empty) to ")
    second = optibot("db", "upgrade", database_url=url, workdir=tmp_path)
    assert second.stdout.strip().startswith("database is up to date at ")

    database = create_engine(url)
    try:
        assert await is_current(database)
        async with database.connect() as connection:
            names = await connection.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
    finally:
        await database.dispose()
    assert names == {*metadata.tables, "alembic_version"}


async def test_db_upgrade_on_a_current_database(database_url: str, tmp_path: Path) -> None:
    done = optibot("db", "upgrade", database_url=database_url, workdir=tmp_path)
    assert done.stdout.strip().startswith("database is up to date at ")


def test_diagram_matches_committed_docs(tmp_path: Path) -> None:
    out = tmp_path / "diagrams"
    done = optibot(
        "diagram",
        "--out",
        str(out),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        workdir=tmp_path,
    )
    for name in ("intake-flow.md", "case-lifecycle.md"):
        written = (out / name).read_text(encoding="utf-8")
        assert "stateDiagram-v2" in written
        assert written == (ROOT / "docs" / name).read_text(encoding="utf-8"), f"docs/{name} is stale"
        assert str(out / name) in done.stdout.splitlines()


async def test_chat_survives_nasty_lines(database_url: str, tmp_path: Path) -> None:
    emoji = "👓🚑😀🇫🇷👨‍👩‍👧‍👦🏳️‍🌈"
    control = "x\x00\x01\x07\x08\x1b[2J\x1b]0;title\x07\x7f\t\x0b\x0cy"
    typed = ["Bonjour", "a" * 50_000, emoji, control, "", "fin"]
    chat = optibot(
        "chat", "--user", "nasty", database_url=database_url, workdir=tmp_path, stdin=lines(*typed)
    )
    assert chat.stdout.startswith(FRENCH_GREETING)
    assert "Votre message est très long : je n'en ai lu que le début." in chat.stdout

    database = create_engine(database_url)
    try:
        async with database.connect() as connection:
            rows = (
                await connection.execute(
                    sa.select(messages).where(messages.c.party == "nasty").order_by(messages.c.id)
                )
            ).all()
    finally:
        await database.dispose()
    inbound = [r for r in rows if r.direction == "in"]
    assert [r.text for r in inbound][2:] == [emoji, control.replace("\x00", ""), "fin"]
    assert len(inbound) == len([t for t in typed if t])  # the empty line is not a message
    # Every message got at least one reply before the next one, and every reply was printed.
    directions = "".join("i" if r.direction == "in" else "o" for r in rows)
    assert re.fullmatch(r"(io+)+", directions), directions
    for reply in (r for r in rows if r.direction == "out"):
        assert reply.sent_at is not None
        assert reply.failed_at is None
        assert reply.text in chat.stdout


async def test_chat_path_that_does_not_exist_is_not_sent(database_url: str, tmp_path: Path) -> None:
    prescription = tmp_path / "mon ordonnance.png"
    prescription.write_bytes(tiny_png())
    typed = lines(
        "elles ne me conviennent plus, nouvelle ordonnance",
        str(tmp_path / "nope.png"),  # a typo in the path: told here, nothing sent to the bot
        str(prescription).replace(" ", "\\ "),  # dragged into a terminal: escaped space
    )
    done = optibot("chat", database_url=database_url, workdir=tmp_path, stdin=typed)
    assert "file not found" in done.stderr
    assert "Ordonnance bien reçue" in done.stdout
    assert "Sans nouvelle ordonnance" not in done.stdout  # the wrong path was not read as "no"


async def test_operator_accounts_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "operators", *args],
            cwd=tmp_path,
            env=service_env(database_url, tmp_path / "data"),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    added = run("add", "alice", "--role", "admin", stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    assert "alice (admin) added" in added.stdout
    weak = run("add", "bob", stdin="short\n")
    assert weak.returncode == 1
    assert "at least 10 characters" in weak.stderr
    assert "Traceback" not in weak.stderr
    taken = run("add", "alice", stdin="another long password\n")
    assert taken.returncode == 1
    assert "taken" in taken.stderr
    assert run("disable", "alice").returncode == 0
    assert run("list").stdout.split() == ["alice", "admin", "disabled"]
    assert run("disable", "nobody").returncode == 1


def test_a_wrong_setting_is_named_plainly_without_its_values(tmp_path: Path) -> None:
    env = service_env("sqlite+aiosqlite:///" + str(tmp_path / "x.db"), tmp_path / "data")
    env.update(
        TELEGRAM_BOT_TOKEN="123456:" + "A" * 35,
        TELEGRAM_MODE="webhook",
        TELEGRAM_WEBHOOK_SECRET="a-secret-that-must-not-print",
        OPTIBOT_FILE_KEY="another-secret-value",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "cases", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "PUBLIC_URL" in done.stderr
    assert "Traceback" not in done.stderr
    for secret in ("a-secret-that-must-not-print", "another-secret-value", "A" * 35):
        assert secret not in done.stderr + done.stdout


# --- the data-protection officer's commands -------------------------------------------------------

VISIT = [
    "bonjour",
    "mes lunettes sont cassées",
    "oui c'est urgent",
    "non",
    "à domicile",
    "j'accepte",
    "12 rue Oberkampf 75011 Paris",
    "dès que possible",  # any day of the week (the real clock: "demain" may be a Sunday)
    "Marie Curie",
    "06 12 34 56 78",
    "Mutuelle Saint-Christophe",  # an insurer the shipped list does not know
    "passer",  # no photo of the card
    "oui",
]
PHONE = "+33612345678"
PERSONAL = ("Marie Curie", "Oberkampf", PHONE.removeprefix("+33"), "Saint-Christophe")


async def _client_with_a_case(database_url: str, workdir: Path) -> tuple[int, str]:
    """Marie asks for a home visit through the engine, in the database and data folder the command
    line uses; returns her client id and her case's reference."""
    async with harness(database_url, workdir) as h:
        for text in VISIT:
            await h.send("marie", text=text)
        found = await h.rows(cases)
    assert [(c.status, c.contact_phone) for c in found] == [("queued", PHONE)]
    return int(found[0].client_id), str(found[0].reference)


async def _select(database_url: str, query: sa.Select[Any]) -> list[Any]:
    database = create_engine(database_url)
    try:
        async with database.connect() as connection:
            return list((await connection.execute(query)).all())
    finally:
        await database.dispose()


def _no_personal_data(*runs: subprocess.CompletedProcess[str]) -> None:
    for run in runs:
        for private in PERSONAL:
            assert private not in run.stderr, run.stderr


async def test_officer_finds_exports_and_erases_a_client(database_url: str, tmp_path: Path) -> None:
    client_id, reference = await _client_with_a_case(database_url, tmp_path)

    def cli(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return optibot("clients", *args, database_url=database_url, workdir=tmp_path, expect=expect)

    out = tmp_path / "export.json"
    # Independent of each other: run at once (the test is shorter; the desk allows it).
    with ThreadPoolExecutor() as pool:
        by_phone = pool.submit(cli, "find", "06 12 34 56 78", "--json")  # as a French person types it
        by_reference = pool.submit(cli, "find", reference.lower())  # whatever its case
        exported = pool.submit(cli, "export", str(client_id), "--out", str(out))
        refused = pool.submit(cli, "erase", str(client_id), expect=2)  # no terminal, and no --yes
    found = json.loads(by_phone.result().stdout)
    assert [(f["id"], [c["reference"] for c in f["cases"]]) for f in found] == [(client_id, [reference])]
    assert by_reference.result().stdout.splitlines() == [
        f"client {client_id}  canaux : script  dossiers : {reference} (queued, 2026-11-26)"
    ]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    record = json.loads(out.read_text(encoding="utf-8"))
    assert [(c["reference"], c["contact_name"]) for c in record["cases"]] == [(reference, "Marie Curie")]
    assert [c["insurer"] for c in record["cases"]] == ["Mutuelle Saint-Christophe"]
    assert "Marie Curie" not in exported.result().stdout  # the data went to the file only
    assert "--yes" in refused.result().stderr
    kept = await _select(database_url, sa.select(cases.c.reference, cases.c.contact_name))
    assert [tuple(row) for row in kept] == [(reference, "Marie Curie")]

    erased = cli("erase", str(client_id), "--yes")
    assert f"client {client_id}  canaux : script  dossiers : {reference}" in erased.stdout
    assert f"Client {client_id} effacé." in erased.stdout
    database = create_engine(database_url)
    try:
        async with database.connect() as connection:  # what `clients find` asks
            assert await find_clients(connection, reference, [PHONE]) == []
    finally:
        await database.dispose()
    left = await _select(database_url, sa.select(cases.c.reference, cases.c.contact_name, cases.c.insurer))
    assert [(row.contact_name, row.insurer) for row in left] == [(None, None)]
    assert not left[0].reference.startswith("OB-")
    journal = await _select(
        database_url,
        sa.select(access_journal.c.actor, access_journal.c.action, access_journal.c.detail)
        .where(access_journal.c.client_id == client_id, access_journal.c.actor.startswith("cli:"))
        .order_by(access_journal.c.id),
    )
    assert [(row.action, row.detail) for row in journal] == [("export", "cli"), ("erase", "cli")]
    assert all(len(row.actor) > len("cli:") for row in journal)
    _no_personal_data(*(f.result() for f in (by_phone, by_reference, exported, refused)), erased)


async def test_purge_dry_run_removes_nothing_then_purge_removes(database_url: str, tmp_path: Path) -> None:
    _, reference = await _client_with_a_case(database_url, tmp_path)
    long_ago = datetime.now(UTC) - timedelta(days=400)  # past every default delay
    database = create_engine(database_url)
    try:
        async with database.begin() as connection:
            await connection.execute(sa.update(clients).values(created_at=long_ago))
            await connection.execute(
                sa.update(conversations).values(created_at=long_ago, updated_at=long_ago)
            )
            await connection.execute(
                sa.update(cases).values(status="done", done_at=long_ago, updated_at=long_ago)
            )
            await connection.execute(sa.update(inbox).values(received_at=long_ago))
    finally:
        await database.dispose()
    received = len(await _select(database_url, sa.select(inbox.c.id)))
    assert received == len(VISIT)

    async def stored() -> list[Any]:
        return await _select(database_url, sa.select(cases.c.reference, cases.c.contact_phone))

    expected_counts = (
        "  clients inactifs sans dossier en cours (effacés) : 1\n",
        f"  messages reçus déjà traités (boîte de réception) : {received}\n",
    )
    dry = optibot("purge", "--dry-run", database_url=database_url, workdir=tmp_path)
    for line in expected_counts:
        assert line in dry.stdout, dry.stdout
    assert "rien n'a été supprimé" in dry.stdout
    assert [tuple(row) for row in await stored()] == [(reference, PHONE)]
    assert len(await _select(database_url, sa.select(inbox.c.id))) == received

    done = optibot("purge", database_url=database_url, workdir=tmp_path)
    for line in expected_counts:
        assert line in done.stdout, done.stdout
    assert "rien n'a été supprimé" not in done.stdout
    assert [row.contact_phone for row in await stored()] == [None]
    assert await _select(database_url, sa.select(inbox.c.id)) == []
    assert await _select(database_url, sa.select(messages.c.id).where(messages.c.party == "marie")) == []
    _no_personal_data(dry, done)


def test_an_unknown_client_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'optibot.db'}"
    unknown = optibot("clients", "export", "999999", database_url=url, workdir=tmp_path, expect=1)
    assert unknown.stderr.strip() == "optibot: aucun client n'a l'identifiant 999999"
    assert not unknown.stdout


def test_every_count_of_a_purge_is_said_in_french() -> None:
    assert {label for label, _ in Purge().lines()} == set(PURGE_WORDS)
