"""``optibot level`` as an operations person runs it (issue 15): separate processes, real
databases; the switch is journaled as ``cli:<user>`` and the bot of another process follows it."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from storage.database import create_engine
from storage.tables import access_journal
from tests.e2e.test_cli import lines, optibot


async def journal(database_url: str) -> list[tuple[str, str | None]]:
    database = create_engine(database_url)
    try:
        async with database.connect() as connection:
            rows = await connection.execute(
                sa.select(access_journal.c.actor, access_journal.c.detail)
                .where(access_journal.c.action == "service_level")
                .order_by(access_journal.c.id)
            )
            return [(r.actor, r.detail) for r in rows]
    finally:
        await database.dispose()


async def test_level_show_set_clear_and_the_bot_follows(database_url: str, tmp_path: Path) -> None:
    def run(*args: str, expect: int = 0) -> str:
        return optibot(*args, database_url=database_url, workdir=tmp_path, expect=expect).stdout

    assert run("db", "upgrade") is not None
    assert run("level", "show") == "national : crise (urgences seulement) (par défaut)\n"

    switched = run("level", "set", "normal")
    assert switched.startswith("niveau national : crise (urgences seulement) → normal\n")
    assert "national : normal (par cli:" in switched
    chat = optibot("chat", database_url=database_url, workdir=tmp_path, stdin=lines("bonjour")).stdout
    assert "Le service fonctionne normalement" in chat
    assert "Que pouvons-nous faire pour vous ?" in chat
    assert "Renouvellement" in chat

    local = run("level", "set", "suspended", "--department", "2a")
    assert local.startswith("niveau département 2A : normal → suspendu\n")
    assert " 2A : suspendu (par cli:" in run("level", "show")

    refused = optibot(
        "level", "set", "normal", "--department", "99", database_url=database_url, workdir=tmp_path, expect=2
    )
    assert "unknown department '99'" in refused.stderr
    wrong = optibot("level", "set", "closed", database_url=database_url, workdir=tmp_path, expect=2)
    assert "invalid choice: 'closed'" in wrong.stderr

    cleared = run("level", "clear", "--department", "2A")
    assert cleared.startswith("niveau département 2A : suspendu → normal (national)\n")
    assert run("level", "clear", "--department", "2A").startswith("le département 2A suit déjà")

    found = await journal(database_url)
    assert [detail for _, detail in found] == ["normal national", "suspended 2A", "national 2A"]
    assert all(actor.startswith("cli:") for actor, _ in found)
