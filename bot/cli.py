"""optibot: run the service, chat in the terminal, manage the database, cases, console accounts
and clients' personal data."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.settings import Settings
from flows.lifecycle import CASE_STATES
from flows.types import as_language

DEFAULT_TERMINAL_USER = "local"
GRACEFUL_SHUTDOWN_SECONDS = 3  # open web chat streams must not hold a stop forever
ADMIN_COMMANDS = (
    "levels",
    "waitlist",
    "report",
    "candidates",
    "requests",
    "announce",
    "slots",
)  # modules of bot/admin


def _admin_modules() -> list[Any]:
    import importlib

    return [importlib.import_module(f"bot.admin.{name}") for name in ADMIN_COMMANDS]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optibot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="serve the web app (web chat, API, /healthz)")
    run.add_argument("--host", default=None, help="default: WEB_HOST or 127.0.0.1")
    run.add_argument("--port", type=int, default=None, help="default: WEB_PORT or 8000")

    chat = commands.add_parser("chat", help="chat with the bot in the terminal (one line per message)")
    chat.add_argument("--user", default=DEFAULT_TERMINAL_USER, help="the client's id (default: local)")
    chat.add_argument("--lang", choices=("fr", "en"), default=None, help="start in this language")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations")

    cases = commands.add_parser("cases", help="cases")
    case_commands = cases.add_subparsers(dest="cases_command", required=True)
    listing = case_commands.add_parser("list", help="list cases, queue order (priority, then age)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.add_argument("--status", default=None, choices=CASE_STATES, help="only this status")

    kits = commands.add_parser("kits", help="the opticians' protection kits")
    kit_commands = kits.add_subparsers(dest="kits_command", required=True)
    kit_list = kit_commands.add_parser("list", help="opticians whose kit expires soon or has expired")
    kit_list.add_argument("--within", type=int, default=14, metavar="DAYS", help="days ahead (default: 14)")
    kit_list.add_argument("--json", action="store_true", help="print a JSON array")

    ops = commands.add_parser("operators", help="console accounts")
    op_commands = ops.add_subparsers(dest="operators_command", required=True)
    add = op_commands.add_parser("add", help="create an account (password from stdin, or asked twice)")
    add.add_argument("name")
    add.add_argument("--role", choices=("operator", "network", "admin"), default="operator")
    op_commands.add_parser("list", help="list accounts")
    password = op_commands.add_parser("password", help="set a new password (ends the sessions)")
    password.add_argument("name")
    disable = op_commands.add_parser("disable", help="disable an account (ends its sessions)")
    disable.add_argument("name")
    enable = op_commands.add_parser("enable", help="enable an account again")
    enable.add_argument("name")

    clients = commands.add_parser("clients", help="a client's personal data (data-protection officer)")
    client_commands = clients.add_subparsers(dest="clients_command", required=True)
    find = client_commands.add_parser("find", help="find clients by phone number or case reference")
    find.add_argument("query", nargs="+", metavar="PHONE|REFERENCE", help='"06 12 34 56 78" or OB-ABC123')
    find.add_argument("--json", action="store_true", help="print a JSON array")
    export = client_commands.add_parser("export", help="write a client's whole record as JSON (journaled)")
    export.add_argument("client_id", type=int, metavar="ID")
    export.add_argument(
        "--out", type=Path, default=None, help="a new file only you can read (default: stdout)"
    )
    erase = client_commands.add_parser("erase", help="erase a client's personal data (asks first)")
    erase.add_argument("client_id", type=int, metavar="ID")
    erase.add_argument("--yes", action="store_true", help="do not ask (scripts)")

    purge = commands.add_parser("purge", help="remove what is past its retention delay")
    purge.add_argument("--dry-run", action="store_true", help="count what would go, remove nothing")

    for module in _admin_modules():
        module.add(commands)

    from bot.doctor import add as add_doctor

    add_doctor(commands)
    diagram = commands.add_parser("diagram", help="write the flows' mermaid diagrams to docs/")
    diagram.add_argument("--out", type=Path, default=Path("docs"), help="folder (default: docs)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "diagram":
        return _diagram(args.out)
    if args.command == "doctor":  # reads the settings itself: a bad one is a line of its verdict
        from bot.doctor import run as doctor

        return doctor(args)
    from pydantic import ValidationError

    from bot.app import load_settings

    try:
        settings = load_settings()
    except ValidationError as error:
        # Said plainly, without the values (a setting may be a secret): never a traceback.
        for problem in error.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in problem["loc"]).upper() or "settings"
            message = str(problem["msg"]).removeprefix("Value error, ")
            print(f"optibot: {where}: {message}", file=sys.stderr)
        return 2
    if args.command == "run":
        return _run(settings, args.host, args.port)
    if args.command == "chat":
        return asyncio.run(_chat(settings, args.user, args.lang))
    if args.command == "db":
        return asyncio.run(_upgrade(settings))
    if args.command == "cases":
        return asyncio.run(_cases(settings, args.json, args.status))
    if args.command == "kits":
        return asyncio.run(_kits(settings, args.within, args.json))
    if args.command == "operators":
        return asyncio.run(_operators(settings, args))
    if args.command == "clients":
        from bot.officer import clients

        return asyncio.run(clients(settings, args))
    for module in _admin_modules():
        if args.command == module.COMMAND:
            code: int = asyncio.run(module.run(settings, args))
            return code
    if args.command == "purge":
        from bot.officer import purge

        return asyncio.run(purge(settings, dry_run=args.dry_run))
    return 2


def _diagram(folder: Path) -> int:
    from flows.diagram import diagrams

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in diagrams().items():
        (folder / name).write_text(text, encoding="utf-8")
        print(folder / name)
    return 0


def _run(settings: Settings, host: str | None, port: int | None) -> int:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from bot.throttle import proxy_options
    from bot.web.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host or settings.web_host,
        port=port or settings.web_port,
        log_level=settings.optibot_log_level.lower(),
        # JSON: uvicorn's lines go through our root handler (bot/logs.py) instead of its own.
        log_config=None if settings.optibot_log_format == "json" else LOGGING_CONFIG,
        access_log=False,  # request lines can carry personal data in query strings
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **proxy_options(settings),  # X-Forwarded-For only from FORWARDED_ALLOW_IPS
    )
    server = uvicorn.Server(config)
    # As uvicorn.run does (a SIGINT is raised again once the server has stopped gracefully).
    loops = config.get_loop_factory()
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loops) as runner:
        runner.run(_serve(server, app.state.services.metrics, settings))
    return 0 if server.started else 3  # uvicorn's own code for a failed start


async def _serve(server: Any, metrics: Any, settings: Settings) -> None:
    """The public app and, beside it in the same loop, /metrics on its own listener."""
    from bot.metrics_http import start_metrics, stop_metrics

    listener = await start_metrics(metrics, settings.metrics_host, settings.metrics_port)
    try:
        await server.serve()
    finally:
        await stop_metrics(listener)


async def _chat(settings: Settings, user: str, language: str | None) -> int:
    from bot.app import build, running
    from bot.channels.terminal import TerminalChannel, chat

    # Bytes that are not valid in the terminal's encoding must not end the chat.
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")
    channel = TerminalChannel(sys.stdout)
    services = build(settings, [channel])
    if sys.stdin.isatty():
        banner = {
            "en": "optibot — type your message (Ctrl-D to quit)",
            "fr": "optibot — écrivez votre message (Ctrl-D pour quitter)",
        }
        channel.notice(banner[as_language(language)] + "\n")
    async with running(services, deliver=False, freeze_gc=True, retention=False):
        await chat(
            services.engine,
            services.sender,
            channel,
            user=user,
            language="en" if language == "en" else ("fr" if language == "fr" else None),
        )
    return 0


async def _upgrade(settings: Settings) -> int:
    from bot.app import build
    from storage.migrate import upgrade

    services = build(settings)
    try:
        before, after = await upgrade(services.database)
    finally:
        await services.database.dispose()
    if before == after:
        print(f"database is up to date at {after}")
    else:
        print(f"database migrated from {before or '(empty)'} to {after}")
    return 0


async def _cases(settings: Settings, as_json: bool, status: str | None) -> int:
    from bot.app import build, opened
    from storage.cases import list_cases

    async with opened(build(settings)) as services:
        found = await list_cases(services.database, status)
    if as_json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        print(_table(found))
    return 0


async def _kits(settings: Settings, within: int, as_json: bool) -> int:
    from dataclasses import asdict

    from bot.app import build, opened

    if within < 0:
        print("optibot: --within: a number of days, 0 or more", file=sys.stderr)
        return 2
    async with opened(build(settings)) as services:
        found = [asdict(kit) for kit in await services.dispatch.kits.to_renew(within)]
    if as_json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    elif not found:
        print(f"no kit expires within {within} days")
    else:
        print(_table(found, _KIT_COLUMNS))
    return 0


def _read_password() -> str:
    """From standard input when it is not a terminal (scripts), else asked twice, unseen."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise SystemExit("the two passwords differ")
    return first


async def _operators(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build, opened
    from bot.console.auth import AccountError

    async with opened(build(settings)) as services:
        accounts = services.accounts
        command = args.operators_command
        try:
            if command == "add":
                operator = await accounts.add(args.name, _read_password(), args.role)
                print(f"operator {operator.name} ({operator.role}) added")
            elif command == "password":
                await accounts.set_password(args.name, _read_password())
                print(f"password of {args.name} changed")
            elif command in ("disable", "enable"):
                await accounts.set_active(args.name, active=command == "enable")
                print(f"{args.name} {command}d")
            else:
                for operator, active in await accounts.everyone():
                    print(f"{operator.name}\t{operator.role}\t{'active' if active else 'disabled'}")
        except AccountError as error:
            print(f"optibot: {error}", file=sys.stderr)
            return 1
    return 0


_COLUMNS = (
    "reference", "status", "kind", "need", "urgent", "mode", "priority", "postal_code", "channel",
    "reachable", "created_at",
)  # fmt: skip


_KIT_COLUMNS = ("name", "departments", "kit_expires_on", "days_left", "active", "linked", "reminded")


def _table(rows: list[dict[str, Any]], columns: Sequence[str] = _COLUMNS) -> str:
    if not rows:
        return "no cases"
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)[:19]


if __name__ == "__main__":
    raise SystemExit(main())
