"""Shared fixtures: a fresh migrated database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from storage.database import create_engine
from storage.migrate import upgrade

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_URL = os.environ.get("OPTIBOT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _postgres_reachable() -> str | None:
    try:
        connection = await asyncpg.connect(_dsn(POSTGRES_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}"
    await connection.close()
    return None


class PostgresTemplate:
    """A migrated template database; each test gets a copy (CREATE DATABASE ... TEMPLATE)."""

    def __init__(self) -> None:
        self.name = f"optibot_tpl_{os.getpid()}_{secrets.token_hex(3)}"
        self.copies: list[str] = []

    async def create(self) -> None:
        admin = await asyncpg.connect(_dsn(POSTGRES_URL))
        try:
            await admin.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await admin.close()
        engine = create_engine(make_url(POSTGRES_URL).set(database=self.name).render_as_string(False))
        await upgrade(engine)
        await engine.dispose()

    async def copy(self) -> str:
        name = f"optibot_t_{os.getpid()}_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(_dsn(POSTGRES_URL))
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        finally:
            await admin.close()
        self.copies.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    async def drop(self, name: str) -> None:
        admin = await asyncpg.connect(_dsn(POSTGRES_URL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[PostgresTemplate | str]:
    """The template, or the reason PostgreSQL cannot be used (a failure under CI=true)."""
    reason = asyncio.run(_postgres_reachable())
    if reason is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {reason}")
        yield f"PostgreSQL unreachable at {POSTGRES_URL}: {reason}"
        return
    template = PostgresTemplate()
    asyncio.run(template.create())
    yield template
    asyncio.run(template.drop(template.name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"

    async def migrate() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return path


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_template: PostgresTemplate | str,
) -> AsyncIterator[str]:
    """A migrated, empty database of each kind, dropped after the test."""
    if request.param == "sqlite":
        path = tmp_path / "optibot.db"
        path.write_bytes(sqlite_template.read_bytes())
        yield f"sqlite+aiosqlite:///{path}"
        return
    if isinstance(postgres_template, str):
        pytest.skip(postgres_template)
    url = await postgres_template.copy()
    yield url
    await postgres_template.drop(make_url(url).database or "")


@pytest.fixture
async def postgres_url(postgres_template: PostgresTemplate | str) -> AsyncIterator[str]:
    """A migrated, empty PostgreSQL database, for what only PostgreSQL does (several processes)."""
    if isinstance(postgres_template, str):
        pytest.skip(postgres_template)
    url = await postgres_template.copy()
    yield url
    await postgres_template.drop(make_url(url).database or "")
