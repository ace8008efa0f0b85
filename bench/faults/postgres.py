"""``postgres-stop``: the database stops under load and comes back.

A private PostgreSQL server is started for the scenario (``initdb`` in a temporary folder, its own
port; never the shared server), migrated, and one ``optibot run`` serves Telegram webhooks on it
while clients write. PostgreSQL is stopped (``pg_ctl stop -m fast``: every connection cut) for 5 s
(short) or 30 s (long), then started again. Every message the service acknowledged must be answered;
webhooks during the outage are answered 503 (not stored: Telegram sends them again), which is
correct and counted in ``extra["http_503"]``, not as server errors. ``recovery_s``: from the restart
to the first webhook acknowledged again; ``settled_s``: until everything is answered.

PostgreSQL refuses to run as root: as root (CI), its commands run as the ``postgres`` user
(``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from bench.faults import Figures, Scale, scenario
from bench.faults.common import dsn, migrate, script
from bench.faults.processes import rig_on, settle_and_audit
from tests.e2e.servers import free_port

OWNER = "postgres"  # the account PostgreSQL runs as when this runs as root


def binaries() -> Path:
    """The folder of ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates = [Path("/usr/local/bin")]
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    found = shutil.which("pg_ctl")
    if found:
        candidates.insert(0, Path(found).parent)
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise RuntimeError("PostgreSQL's initdb, pg_ctl and postgres were not found")


class PrivatePostgres:
    """A throw-away PostgreSQL server on a free loopback port, in a temporary folder."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="optibot-pg-"))
        self.data = self.folder / "data"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/optibot"
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(OWNER)
            except KeyError:
                raise RuntimeError(
                    f"running as root and there is no {OWNER!r} user: PostgreSQL refuses to run as root"
                ) from None
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._as_owner = ["runuser", "-u", OWNER, "--"]

    async def _run(self, *command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            *self._as_owner,
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            log_file = self.folder / "postgres.log"
            log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {output.decode(errors='replace')[-2000:]}\n{log}")

    async def init(self) -> None:
        await self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip

    async def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        await self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "postgres.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    async def stop(self, mode: str = "fast") -> None:
        await self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    async def create_database(self) -> None:
        admin = await asyncpg.connect(dsn(self.url, "postgres"))
        try:
            await admin.execute('CREATE DATABASE "optibot"')
        finally:
            await admin.close()
        await migrate(self.url)

    async def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                await self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        await server.init()
        await server.start()
        await server.create_database()
        yield server
    finally:
        await server.destroy()


@scenario("postgres-stop")
async def postgres_stop(scale: Scale) -> Figures:
    clients = scale.pick(20, 60)
    outage = scale.pick(5, 30)
    before = scale.pick(2, 5)
    figures = Figures("postgres-stop")
    # The short outage must outlast the wait for a commit, so that webhooks are refused (503) and
    # sent again, as in the long one with the default wait (20 s).
    accept_timeout = scale.pick(2, 20)
    async with (
        private_postgres() as server,
        rig_on(server.url, 1, ENGINE_ACCEPT_TIMEOUT=str(accept_timeout)) as r,
    ):
        started = time.monotonic()
        chats = [740_000_000 + i for i in range(clients)]
        load = asyncio.gather(
            *(r.poster.burst(chat, script(i), pause=(0.3, 1.2)) for i, chat in enumerate(chats))
        )
        await asyncio.sleep(before)
        await server.stop()
        stopped_at = time.monotonic()
        await asyncio.sleep(outage)
        await server.start()
        restarted_at = time.monotonic()
        await load
        after = [t - restarted_at for t in r.traffic.ok_times if t >= restarted_at]
        figures.extra["outage_s"] = round(restarted_at - stopped_at, 1)
        figures.extra["accept_timeout_s"] = accept_timeout
        figures.extra["recovery_s"] = round(min(after), 2) if after else "n/a"
        figures.extra["acknowledged_s"] = round(time.monotonic() - started, 1)
        figures = await settle_and_audit(r, figures, [], started)
        if not r.processes[0].alive:
            raise RuntimeError(f"the service died:\n{r.processes[0].log_tail()}")
        return figures
