"""The layering the code relies on, checked on its source (docs/ARCHITECTURE.md, "Layers").

Each rule here fails as soon as a module breaks it: a query written in ``bot/``, a channel that
imports a use case, a case status written outside the lifecycle's one writer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The composition root builds the database engine; the pipeline is the unit of work (it opens the
# transactions and classifies the database's errors). Nothing else in bot/ speaks SQLAlchemy.
SQLALCHEMY_ALLOWED = {"bot/app.py", "bot/pipeline.py"}


def _modules(folder: str) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / folder).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _importers(folder: str, prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, tree in _modules(folder):
        hits = sorted({i for i in _imports(tree) if i.startswith(prefixes)})
        if hits:
            found[name] = hits
    return found


def test_bot_holds_no_sqlalchemy_outside_the_root_and_the_unit_of_work() -> None:
    found = _importers("bot", ("sqlalchemy",))
    assert set(found) <= SQLALCHEMY_ALLOWED, {k: v for k, v in found.items() if k not in SQLALCHEMY_ALLOWED}


def test_only_storage_knows_the_tables() -> None:
    assert _importers("bot", ("storage.tables",)) == {}


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("flows", ("bot", "storage", "sqlalchemy", "fastapi", "aiogram", "httpx")),
        ("storage", ("bot", "flows")),
        ("bot/channels", ("bot.console", "bot.dispatch", "bot.web.app", "bot.app")),
        ("bot/console", ("bot.channels",)),
        ("bot/dispatch", ("bot.channels", "bot.console", "aiogram")),
    ],
)
def test_layers_import_only_downwards(folder: str, forbidden: tuple[str, ...]) -> None:
    assert _importers(folder, forbidden) == {}


def test_the_console_s_use_cases_reach_dispatch_through_a_port() -> None:
    """The console's reads and actions get the offers service as a Protocol (``VisitOffers``); only
    its HTTP router, which also serves the opticians' registry, names the dispatch package."""
    found = _importers("bot/console", ("bot.dispatch",))
    assert set(found) <= {"bot/console/api.py"}, found


@pytest.mark.parametrize(
    "translator", ["bot/channels/telegram/updates.py", "bot/channels/whatsapp/updates.py"]
)
def test_the_channels_translators_are_pure(translator: str) -> None:
    """Platform update → Inbound: no storage, no database, no use case (``storage.payloads`` only
    declares the shape of message payloads: no I/O)."""
    tree = ast.parse((ROOT / translator).read_text(encoding="utf-8"))
    impure = ("storage", "sqlalchemy", "bot.engine", "bot.dispatch", "bot.console")
    found = {i for i in _imports(tree) if i.startswith(impure) and not i.startswith("storage.payloads")}
    assert sorted(found) == []


def _update_target(call: ast.Call) -> str | None:
    """For ``sa.update(X).where(...).values(...)``, the name X (None for anything else)."""
    node: ast.expr = call.func
    while isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
        inner = node.value
        if isinstance(inner.func, ast.Attribute) and inner.func.attr == "update" and inner.args:
            target = inner.args[0]
            return target.id if isinstance(target, ast.Name) else None
        node = inner.func
    return None


def test_one_writer_of_a_case_status() -> None:
    """Every change of ``cases.status`` goes through ``storage.cases.move_case``, which applies a
    move of the lifecycle table (``flows.lifecycle.move``) as one conditional UPDATE."""
    writers = []
    for folder in ("bot", "storage"):
        for name, tree in _modules(folder):
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "values"
                    and any(k.arg == "status" for k in node.keywords)
                    and _update_target(node) == "cases"
                ):
                    writers.append(f"{name}:{node.lineno}")
    assert writers, "the lifecycle's writer was not found: this test no longer sees it"
    assert {w.split(":")[0] for w in writers} == {"storage/cases.py"}, writers


def test_no_wait_for_in_the_service() -> None:
    """``asyncio.wait_for`` can swallow a cancellation on Python 3.11 (bot.signals.wait_set): a
    background loop around it then outlives its shutdown, which waits for it forever."""
    found = [
        name
        for name, tree in _modules("bot")
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "wait_for"
    ]
    assert found == []
