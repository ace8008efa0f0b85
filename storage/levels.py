"""The service levels (issue 15): one row per scope, ``national`` or a department's code.

No row for a scope means "not set": the national level then defaults (``bot/levels.py``) and a
department follows the national level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import dialect_insert
from storage.tables import service_levels


@dataclass(frozen=True, slots=True)
class LevelRow:
    scope: str
    level: str
    set_by: str
    set_at: datetime


async def read_levels(connection: AsyncConnection) -> list[LevelRow]:
    """Every scope set, the national one first, then the departments by code (one small query)."""
    result = await connection.execute(
        sa.select(
            service_levels.c.scope, service_levels.c.level, service_levels.c.set_by, service_levels.c.set_at
        ).order_by(service_levels.c.scope)
    )
    rows = [LevelRow(r.scope, r.level, r.set_by, r.set_at) for r in result]
    return sorted(rows, key=lambda r: (r.scope != "national", r.scope))


async def set_level(connection: AsyncConnection, scope: str, level: str, set_by: str, now: datetime) -> None:
    """Set one scope's level: one upsert (two admins setting a scope never set before at the same
    moment: the later commit wins, neither fails)."""
    values = {"level": level, "set_by": set_by[:64], "set_at": now}
    statement = dialect_insert(service_levels, connection.dialect.name).values(scope=scope, **values)
    await connection.execute(statement.on_conflict_do_update(index_elements=["scope"], set_=values))


async def remove_level(connection: AsyncConnection, scope: str) -> bool:
    """Remove a scope's own level (a department then follows the national one); whether it was set."""
    removed = await connection.execute(sa.delete(service_levels).where(service_levels.c.scope == scope))
    return bool(removed.rowcount)
