"""The service level (issue 15): *normal* (every need, booked as ordinary requests), *crisis*
(emergencies only, mobilised workers first) or *suspended* (no new requests: the waitlist),
national and per department (a local lockdown). Stored in ``service_levels``
(storage/levels.py), read by every process's engine, switched by an admin (console, CLI), journaled.

There is no cache: the engine reads the levels in each batch's transaction (one small query), so a
switch committed by any process applies to the next message every process handles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.signals import Commits
from flows.departments import DEPARTMENTS
from flows.types import DEFAULT_LEVEL as DEFAULT_LEVEL
from flows.types import LEVELS as LEVELS
from flows.types import Levels, as_level, stricter
from flows.types import ServiceLevel as Level
from storage import levels as store
from storage.database import Connection, Database
from storage.privacy import record_access

NATIONAL = "national"
JOURNAL_ACTION = "service_level"

__all__ = [
    "DEFAULT_LEVEL",
    "LEVELS",
    "NATIONAL",
    "CurrentLevels",
    "Level",
    "LevelError",
    "ScopeLevel",
    "ServiceLevels",
    "announce",
]


class LevelError(ValueError):
    """An unknown level or department (the message names which, for a polite answer)."""


@dataclass(frozen=True, slots=True)
class ScopeLevel:
    """One scope's level as the console and the CLI show it (``set_by`` None: never set)."""

    scope: str
    level: Level
    set_by: str | None
    set_at: datetime | None


@dataclass(frozen=True, slots=True)
class CurrentLevels:
    national: ScopeLevel
    departments: tuple[ScopeLevel, ...]

    def as_levels(self) -> Levels:
        return Levels(self.national.level, tuple((d.scope, d.level) for d in self.departments))


def check_level(level: str) -> Level:
    if level not in LEVELS:
        raise LevelError(f"unknown level {level!r} (normal, crisis, suspended)")
    return as_level(level)


def check_department(department: str) -> str:
    code = department.strip().upper()
    if code not in DEPARTMENTS:
        raise LevelError(f"unknown department {department!r} (e.g. 75, 2A, 971)")
    return code


async def read_levels(connection: Connection) -> Levels:
    """The levels in force, for the flows (the engine calls this in each batch's transaction)."""
    return _current(await store.read_levels(connection)).as_levels()


class BatchLevels:
    """The levels as one batch's transaction reads them: at most once, and only if a message of
    the batch reaches the intake (a follow-up of a case never needs them)."""

    __slots__ = ("_connection", "_read")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._read: Levels | None = None

    async def get(self) -> Levels:
        if self._read is None:
            self._read = await read_levels(self._connection)
        return self._read


def _current(rows: list[store.LevelRow]) -> CurrentLevels:
    national = ScopeLevel(NATIONAL, DEFAULT_LEVEL, None, None)
    departments: list[ScopeLevel] = []
    for row in rows:
        found = ScopeLevel(row.scope, as_level(row.level), row.set_by, row.set_at)
        if row.scope == NATIONAL:
            national = found
        else:
            departments.append(found)
    return CurrentLevels(national, tuple(departments))


class ServiceLevels:
    """Reads and switches the levels; the console and the CLI call the same methods."""

    def __init__(self, database: Database, clock: Callable[[], datetime], commits: Commits) -> None:
        self.database = database
        self.clock = clock
        self.commits = commits

    async def current(self) -> CurrentLevels:
        """The national level and the departments' own ones, with who set them and when."""
        async with self.database.connect() as connection:
            return _current(await store.read_levels(connection))

    async def level_for(self, department: str | None) -> Level:
        return (await self.current()).as_levels().of(department)

    async def set(self, level: str, *, department: str | None, by: str) -> tuple[Level, Level]:
        """Switch a scope's level (journaled: who, and e.g. "normal 75"); returns (before, after)."""
        wanted = check_level(level)
        scope = NATIONAL if department is None else check_department(department)
        async with self.database.begin() as connection:
            levels = _current(await store.read_levels(connection)).as_levels()
            before = levels.national if department is None else levels.of(scope)
            now = self.clock()
            await store.set_level(connection, scope, wanted, by, now)
            await record_access(connection, now, by, JOURNAL_ACTION, detail=f"{wanted} {scope}")
        self.commits()
        return before, wanted

    async def remove(self, department: str, *, by: str) -> tuple[Level, Level] | None:
        """Remove a department's own level (it follows the national one again); journaled.
        Returns (before, after), or None when the department had no level of its own."""
        scope = check_department(department)
        async with self.database.begin() as connection:
            levels = _current(await store.read_levels(connection)).as_levels()
            before = levels.of(scope)
            if not await store.remove_level(connection, scope):
                return None
            await record_access(connection, self.clock(), by, JOURNAL_ACTION, detail=f"national {scope}")
        self.commits()
        return before, levels.national


class Announcer(Protocol):
    """The waitlist's broadcasts (``bot/broadcasts.py``), as a level switch starts one."""

    async def start(
        self, *, by: str, trigger: str, level: str, department: str | None = None
    ) -> str | None: ...


def lets_more_in(before: Level, after: Level) -> bool:
    """suspended → crisis or normal, crisis → normal: clients waiting may now be served."""
    return stricter(before, after)


async def announce(
    broadcasts: Announcer, before: Level, after: Level, *, by: str, department: str | None
) -> str | None:
    """The one place a level switch tells the waitlist: when it lets more clients in, the
    broadcast to those waiting (of ``department``, or all) starts; its public id, or None."""
    if not lets_more_in(before, after):
        return None
    return await broadcasts.start(by=by, trigger="level", level=after, department=department)
