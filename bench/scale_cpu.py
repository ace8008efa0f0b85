"""CPU accounting of the scale-out benchmark (psutil): the seconds of CPU each group of processes
used during a timed run, as a share of one core (100 % = one core busy for the whole run).

Groups: each service process, PostgreSQL's backends serving the benchmark's database (found in
``pg_stat_activity``; a backend started during the run counts from its start), PostgreSQL's own
background processes (WAL writer, checkpointer...: shared with whatever else uses the server), the
fakes, the load generator (this process), and the whole machine (every core, other users included).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psutil
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


def _cpu(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(times.user + times.system)


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


async def postgres_pids(database: AsyncEngine, name: str) -> tuple[list[int], list[int]]:
    """(backends connected to the database ``name``, the server's background processes)."""
    query = sa.text("SELECT pid, datname, backend_type FROM pg_stat_activity")
    async with database.connect() as connection:
        rows = (await connection.execute(query)).all()
    own = [r.pid for r in rows if r.datname == name]
    background = [r.pid for r in rows if r.datname is None and r.backend_type != "client backend"]
    return own, background


@dataclass
class Snapshot:
    at: float
    machine: float
    groups: dict[str, dict[int, float]] = field(default_factory=dict)


def snapshot(groups: dict[str, list[int]]) -> Snapshot:
    taken = Snapshot(time.perf_counter(), _machine_busy())
    for name, pids in groups.items():
        taken.groups[name] = {pid: cpu for pid in pids if (cpu := _cpu(pid)) is not None}
    return taken


def shares(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU % of one core per group between two snapshots (a process first seen in ``after`` counts
    all its CPU: it started during the run), and ``machine`` for every core."""
    wall = after.at - before.at
    result = {}
    for name, now in after.groups.items():
        then = before.groups.get(name, {})
        used = sum(cpu - then.get(pid, 0.0) for pid, cpu in now.items())
        result[name] = 100 * used / wall
    result["machine"] = 100 * (after.machine - before.machine) / wall
    return result


async def commits(database: AsyncEngine, name: str) -> int:
    """Transactions committed in the database ``name`` so far (PostgreSQL's statistics)."""
    query = sa.text("SELECT xact_commit FROM pg_stat_database WHERE datname = :name")
    async with database.connect() as connection:
        return int(await connection.scalar(query, {"name": name}) or 0)
