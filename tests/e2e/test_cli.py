"""The ``optibot`` command line as a user runs it: separate processes, real databases."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from storage.database import create_engine
from storage.migrate import is_current
from storage.tables import messages, metadata
from tests.e2e.servers import ROOT, service_env
from tests.integration.test_conversations import tiny_png

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
    *args: str, database_url: str, workdir: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``optibot ARGS`` in ``workdir`` as a user would; checks the exit code."""
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
    assert done.returncode == 0, (
        f"optibot {command} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def lines(*typed: str) -> str:
    return "".join(f"{line}\n" for line in typed)


async def test_chat_whole_conversation_then_list_cases(database_url: str, tmp_path: Path) -> None:
    prescription = tmp_path / "ordonnance.png"
    prescription.write_bytes(tiny_png())
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
            "demain matin",
            "Marie Curie",
            "06 12 34 56 78",
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
    summary = out[out.index("Voici votre demande :") :]
    for shown in (
        "Plus adaptées (nouvelle ordonnance)",
        "Pompier",
        "Visite d'un opticien",
        "17 rue Oberkampf 75011 Paris",
        "Marie Curie",
        "06 12 34 56 78",
    ):
        assert shown in summary, shown
    assert "Ce bouton n'est plus valable" not in out
    assert "Je n'arrive pas à comprendre" not in out
    references = set(REFERENCE.findall(out))
    assert len(references) == 1, out[-600:]
    reference = references.pop()
    assert f"Votre demande est enregistrée sous la référence {reference}." in out
    stored = list((tmp_path / "data" / "prescriptions").glob("*.enc"))
    assert len(stored) == 1
    assert tiny_png() not in stored[0].read_bytes()  # encrypted at rest

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
