"""``optibot waitlist list|notify`` as an admin runs them (separate processes), while the service
runs (in this process, with a real SMTP server): the same broadcast and journal as the console."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from storage.tables import access_journal, broadcasts
from tests.e2e.servers import ROOT, service_env
from tests.integration.serving import serve_app
from tests.integration.test_broadcasts import seed, smtp_server, smtp_settings


async def optibot(
    database_url: str, workdir: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=workdir,
        env={**service_env(database_url, workdir / "data"), "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_list_and_notify_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    crowd = await seed(
        database_url,
        telegram=0,
        whatsapp_open=0,
        whatsapp_closed=0,
        emails=4,
        phones=1,
        unreachable=0,
        level="crisis",
        reason="suspended",
    )
    code, out = await optibot(database_url, tmp_path, "waitlist", "list", "--json")
    assert code == 0, out
    listed = json.loads(out)
    assert len(listed) == 5
    assert sorted(",".join(e["contact"]) for e in listed) == ["e-mail"] * 4 + ["téléphone"]
    assert "@" not in out
    code, out = await optibot(database_url, tmp_path, "waitlist", "list")
    assert code == 0
    assert "5 en attente" in out

    code, out = await optibot(database_url, tmp_path, "waitlist", "notify", "--department", "7X")
    assert code == 2
    assert "département inconnu" in out

    with smtp_server() as (mailbox, port):
        smtp = {key.upper(): str(value) for key, value in smtp_settings(port).items()}
        smtp["SMTP_STARTTLS"] = "false"
        # Normal service is not announced while crisis is in force (review 3).
        code, out = await optibot(
            database_url, tmp_path, "waitlist", "notify", "--dry-run", "--level", "normal", env=smtp
        )
        assert code == 2, out
        assert "moins strict" in out
        # The dry run counts, sends nothing, starts nothing.
        code, out = await optibot(database_url, tmp_path, "waitlist", "notify", "--dry-run", env=smtp)
        assert code == 0, out
        assert "5 client(s) à prévenir (crisis): callback 1, email 4" in out
        async with serve_app(database_url, tmp_path, **smtp_settings(port)) as service:
            assert await service.rows(broadcasts) == []
            code, out = await optibot(
                database_url,
                tmp_path,
                "waitlist",
                "notify",
                "--department",
                "75",
                "--level",
                "crisis",
                env=smtp,
            )
            assert code == 0, out
            lines = out.strip().splitlines()
            assert lines[-1] == "terminé"
            assert "envoyés 4, échecs 0, à rappeler 1, restants 0 / 5" in lines[-2]
            assert sorted(rcpt for _, rcpt, _ in mailbox.received) == sorted(crowd.emails)
            (line,) = await service.rows(access_journal, access_journal.c.action == "broadcast")
            assert line.actor.startswith("cli:")
            assert " crisis 75 5" in line.detail
            # Told: nobody is left to tell but the client to call back.
            code, out = await optibot(database_url, tmp_path, "waitlist", "list")
            assert "1 en attente" in out
