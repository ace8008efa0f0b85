"""``optibot doctor`` against the fakes: good settings give OK lines and exit 0; each bad setting
fails its own line (and only it) and the exit status; French and English; never a token printed."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from bot.doctor.verdicts import HIDDEN, Printer, Verdict, secrets_of
from bot.settings import Settings
from flows.catalog import Catalog
from storage.database import create_engine
from storage.migrate import alembic_config
from tests.e2e.servers import free_port
from tests.fakes import telegram as tg
from tests.fakes import whatsapp as wa
from tests.integration.doctor_setup import Deployment, Doctored, deployment, doctor, doctor_process

AREAS = (
    "Settings",
    "Database",
    "Data folder",
    "File key",
    "Telegram",
    "Telegram webhook",
    "WhatsApp",
    "Metrics",
    "Redis",
)
SECRETS = (tg.TOKEN, wa.TOKEN, wa.APP_SECRET, wa.VERIFY_TOKEN)


def assert_no_secret(result: Doctored, *more: str) -> None:
    for secret in (*SECRETS, *more):
        assert secret not in result.out, f"a secret was printed:\n{result.out}"


def only_failure(result: Doctored, area: str) -> str:
    """The failed line of ``area``, the only one; the command exited 1."""
    assert result.code == 1, result.out
    failed = result.failed()
    assert len(failed) == 1, f"expected {area} alone to fail:\n{result.out}"
    assert f"  {area}:" in failed[0], f"expected {area} alone to fail:\n{result.out}"
    assert_no_secret(result)
    return failed[0]


@pytest.fixture
async def good(database_url: str, tmp_path: Path) -> Deployment:  # type: ignore[misc]
    async with deployment(database_url, tmp_path) as found:
        yield found


async def test_good_settings_every_line_ok_and_exit_0(good: Deployment) -> None:
    result = await doctor(good.values, good.workdir)
    assert result.code == 0, result.out
    for area in AREAS:
        assert result.line(area).startswith("OK "), result.out
    templates = [line for line in result.out.splitlines() if "WhatsApp templates:" in line]
    assert len(templates) == 2, result.out
    assert all(line.startswith("OK ") for line in templates), result.out
    assert "All is well" in result.out
    assert good.redis.pings == 1
    assert good.telegram.calls("getMe")
    assert good.telegram.calls("getWebhookInfo")
    assert_no_secret(result, good.values["OPTIBOT_FILE_KEY"])


async def test_in_french_by_default_and_in_english_as_the_setting_says(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """As a user runs it: a separate process, the language from --lang or OPTIBOT_DEFAULT_LANGUAGE
    (on SQLite only: three processes are slow to start, the database changes nothing here)."""
    database = tmp_path / "optibot.db"
    database.write_bytes(sqlite_template.read_bytes())
    async with deployment(f"sqlite+aiosqlite:///{database}", tmp_path) as good:
        await _in_both_languages(good)


async def _in_both_languages(good: Deployment) -> None:
    french = await doctor_process(good.values, good.workdir)
    assert french.code == 0, french.out
    assert french.line("Base de données").startswith("OK "), french.out
    assert "Tout est en ordre" in french.out
    english = await doctor_process({**good.values, "OPTIBOT_DEFAULT_LANGUAGE": "en"}, good.workdir)
    assert english.line("Database").startswith("OK "), english.out
    assert "All is well" in english.out, english.out
    forced = await doctor_process(
        {**good.values, "OPTIBOT_DEFAULT_LANGUAGE": "en"}, good.workdir, "--lang", "fr"
    )
    assert "Tout est en ordre" in forced.out, forced.out
    for result in (french, english, forced):
        assert_no_secret(result)


async def test_nothing_optional_configured_is_not_a_failure(database_url: str, tmp_path: Path) -> None:
    result = await doctor(
        {"DATABASE_URL": database_url, "OPTIBOT_DATA_DIR": str(tmp_path / "data"), "METRICS_PORT": ""},
        tmp_path,
    )
    assert result.code == 0, result.out
    for area in ("Telegram", "WhatsApp", "Metrics", "Redis"):
        assert result.line(area).startswith("— "), result.out
    assert result.line("Data folder").startswith("WARNING "), result.out


async def test_a_wrong_telegram_token(good: Deployment) -> None:
    wrong = "987654321:" + "W" * 35
    result = await doctor({**good.values, "TELEGRAM_BOT_TOKEN": wrong}, good.workdir)
    assert "token refused" in only_failure(result, "Telegram")
    assert wrong not in result.out


async def test_telegram_not_answering_in_time(good: Deployment) -> None:
    good.telegram.hang_next("getMe", 30)
    result = await doctor(good.values, good.workdir, seconds=1)
    assert "no answer within 1 s" in only_failure(result, "Telegram")


async def test_a_webhook_telegram_cannot_reach(good: Deployment) -> None:
    await good.telegram.say(4242, "bonjour")  # pushed to PUBLIC_URL, where nothing listens
    await good.telegram.wait_for(lambda: bool(good.telegram.webhook_attempts))
    result = await doctor(good.values, good.workdir)
    line = only_failure(result, "Telegram webhook")
    assert "could not reach it" in line
    assert "Connection refused" in line
    assert "1 update(s) waiting" in line


async def test_a_webhook_registered_elsewhere(good: Deployment) -> None:
    result = await doctor({**good.values, "PUBLIC_URL": "https://elsewhere.example"}, good.workdir)
    assert "instead of https://elsewhere.example/webhooks/telegram" in only_failure(
        result, "Telegram webhook"
    )


async def test_an_unreachable_database(good: Deployment) -> None:
    closed = f"postgresql+asyncpg://postgres:{'pw-doctor-9'}@127.0.0.1:{free_port()}/nowhere"
    result = await doctor({**good.values, "DATABASE_URL": closed}, good.workdir)
    assert "unreachable (postgresql)" in only_failure(result, "Database")
    assert "pw-doctor-9" not in result.out


async def test_an_unmigrated_database(good: Deployment, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = await doctor({**good.values, "DATABASE_URL": f"sqlite+aiosqlite:///{empty}"}, good.workdir)
    assert "never migrated" in only_failure(result, "Database")
    with sqlite3.connect(empty) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [], "the doctor migrated the database"


async def test_a_database_behind_the_code(good: Deployment) -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    previous = scripts.get_revision(scripts.get_current_head()).down_revision
    engine = create_engine(good.values["DATABASE_URL"])
    async with engine.begin() as connection:
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": previous})
    await engine.dispose()
    result = await doctor(good.values, good.workdir)
    assert f"revision {previous}, expected" in only_failure(result, "Database")


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """No process may create a file in ``folder``, root included (immutable), until the end."""
    if os.geteuid() == 0:
        assert shutil.which("chattr"), "chattr (e2fsprogs) is needed to make a folder unwritable for root"
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)


async def test_an_unwritable_data_folder(good: Deployment) -> None:
    with unwritable(Path(good.values["OPTIBOT_DATA_DIR"])):
        result = await doctor(good.values, good.workdir)
    assert "is not writable" in only_failure(result, "Data folder")


async def test_a_file_key_that_is_not_a_key(good: Deployment) -> None:
    result = await doctor(
        {**good.values, "OPTIBOT_FILE_KEY": "not-a-fernet-key-but-long-enough"}, good.workdir
    )
    assert "not a valid Fernet key" in only_failure(result, "File key")
    assert "not-a-fernet-key-but-long-enough" not in result.out


async def test_a_bad_whatsapp_token(good: Deployment) -> None:
    wrong = "EAAJ" + "x" * 60
    result = await doctor({**good.values, "WHATSAPP_ACCESS_TOKEN": wrong}, good.workdir)
    assert "token refused by Meta" in only_failure(result, "WhatsApp")
    assert wrong not in result.out


async def test_a_phone_number_id_of_another_business(good: Deployment) -> None:
    result = await doctor({**good.values, "WHATSAPP_PHONE_NUMBER_ID": "100000000000001"}, good.workdir)
    assert "100000000000001 (WHATSAPP_PHONE_NUMBER_ID) is unknown" in only_failure(result, "WhatsApp")


async def test_a_missing_template_and_one_not_approved(good: Deployment) -> None:
    del good.whatsapp.templates[("optibot_follow_up", "en")]
    result = await doctor(good.values, good.workdir)
    assert '"optibot_follow_up" (en) not found' in only_failure(result, "WhatsApp templates")
    good.whatsapp.templates[("optibot_follow_up", "en")] = 1
    good.whatsapp.template_statuses[("optibot_suivi", "fr")] = "PENDING"
    result = await doctor(good.values, good.workdir)
    assert "(status PENDING)" in only_failure(result, "WhatsApp templates")


async def test_templates_found_past_the_first_page(good: Deployment) -> None:
    """Graph pages the listing: a template on the second page is found."""
    for index in range(150):
        good.whatsapp.templates[(f"aaa_other_{index:03}", "fr")] = 1
    result = await doctor(good.values, good.workdir)
    assert result.code == 0, result.out
    assert len(good.whatsapp.calls("GET", "/message_templates")) == 2


async def test_templates_not_checked_without_the_account_id(good: Deployment) -> None:
    values = {k: v for k, v in good.values.items() if k != "WHATSAPP_BUSINESS_ACCOUNT_ID"}
    result = await doctor(values, good.workdir)
    assert result.code == 0, result.out
    assert result.line("WhatsApp templates").startswith("WARNING "), result.out


async def test_a_metrics_port_taken_by_another_program_and_one_serving_metrics(good: Deployment) -> None:
    port = int(good.values["METRICS_PORT"])
    with socket.create_server(("127.0.0.1", port)):  # listens, answers nothing
        result = await doctor(good.values, good.workdir, seconds=2)
    assert "taken by another program" in only_failure(result, "Metrics")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="# HELP up x\n# TYPE up gauge\nup 1\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        result = await doctor(good.values, good.workdir)
    finally:
        await runner.cleanup()
    assert result.code == 0, result.out
    assert "already serves /metrics" in result.line("Metrics"), result.out


async def test_redis_unreachable(good: Deployment) -> None:
    result = await doctor(
        {**good.values, "RATE_LIMIT_STORAGE": f"redis://127.0.0.1:{free_port()}/0"}, good.workdir
    )
    assert "unreachable" in only_failure(result, "Redis")


async def test_settings_that_do_not_parse_are_said_without_their_values(good: Deployment) -> None:
    result = await doctor({**good.values, "WHATSAPP_PHONE_NUMBER_ID": "abc"}, good.workdir, lang="fr")
    assert result.code == 1
    assert result.failed() == [line for line in result.out.splitlines() if "Réglages :" in line], result.out
    assert "WHATSAPP_PHONE_NUMBER_ID" in result.out
    assert "ÉCHEC" in result.out
    assert_no_secret(result)
    await asyncio.sleep(0)


def test_a_secret_a_line_would_carry_is_hidden() -> None:
    """Whatever a driver's message says, the settings' secrets never reach the screen."""
    settings = Settings(
        database_url="postgresql+asyncpg://optibot:db-pass-0042@127.0.0.1/optibot",
        telegram_bot_token=tg.TOKEN,
        _env_file=None,  # type: ignore[call-arg]
    )
    printer = Printer(Catalog.load(), "en", secrets_of(settings))
    error = f"refused for optibot:db-pass-0042 with {tg.TOKEN}"
    line = printer.line(Verdict("fail", "database", "database.unreachable", {"kind": "x", "error": error}))
    assert "db-pass-0042" not in line
    assert tg.TOKEN not in line
    assert HIDDEN in line
