"""``optibot doctor``: checks the settings and what they point to, one verdict per line (French or
English), and exits non-zero when a check fails. Nothing is changed: no migration, no webhook set,
no key generated. Optional things left unconfigured (Telegram, WhatsApp, Redis, metrics) are said
"not configured", never a failure."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.doctor.verdicts import Check, Printer, Verdict, secrets_of, within
from bot.settings import Settings
from flows.catalog import Catalog

COMMAND = "doctor"
CHECK_SECONDS = 10.0


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(COMMAND, help="check the settings and what they point to (changes nothing)")
    doctor.add_argument(
        "--lang", choices=("fr", "en"), default=None, help="default: OPTIBOT_DEFAULT_LANGUAGE"
    )
    doctor.add_argument(
        "--timeout", type=float, default=CHECK_SECONDS, metavar="SECONDS", help="per check (default: 10)"
    )


class _Language(BaseSettings):
    """The language alone, readable even when the other settings are not."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")
    optibot_default_language: str = "fr"


def _language(chosen: str | None) -> str:
    if chosen:
        return chosen
    try:
        return "en" if _Language().optibot_default_language == "en" else "fr"
    except ValueError:
        return "fr"


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Print a line per check and a summary; 0 when nothing failed, 1 otherwise."""
    from pydantic import ValidationError

    catalog = Catalog.load()
    language = _language(args.lang)
    try:
        settings = Settings()
    except ValidationError as error:
        printer = Printer(catalog, language)
        verdicts = [
            Verdict("fail", "settings", "settings.invalid", {"problem": _problem(problem)})
            for problem in error.errors(include_input=False, include_url=False)
        ]
        _print(printer, verdicts, out)
        return 1
    printer = Printer(catalog, language, secrets_of(settings))
    verdicts = [Verdict("ok", "settings", "settings.ok"), *asyncio.run(_checks(settings, args.timeout))]
    _print(printer, verdicts, out)
    return 1 if any(verdict.status == "fail" for verdict in verdicts) else 0


def _problem(problem: object) -> str:
    details = problem if isinstance(problem, dict) else {}
    where = ".".join(str(part) for part in details.get("loc", ())).upper()
    message = str(details.get("msg", "")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


async def _checks(settings: Settings, seconds: float) -> list[Verdict]:
    # Imported before any check's clock starts: on a loaded host importing aiogram, Alembic's
    # scripts or redis can take seconds, which are not the service's answer time.
    from bot.doctor.channels import telegram, whatsapp
    from bot.doctor.local import data_folder, database, metrics_port, redis, warm_up

    warm_up(settings)

    checks: list[tuple[str, Check]] = [
        ("database", database),
        ("data", data_folder),
        ("telegram", telegram),
        ("whatsapp", whatsapp),
        ("metrics", metrics_port),
        ("redis", redis),
    ]
    found = await asyncio.gather(*(within(check, area, settings, seconds) for area, check in checks))
    return [verdict for verdicts in found for verdict in verdicts]


def _print(printer: Printer, verdicts: list[Verdict], out: TextIO) -> None:
    for verdict in verdicts:
        print(printer.line(verdict), file=out)
    print(printer.summary(verdicts), file=out)
