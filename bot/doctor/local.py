"""The checks of what a process needs on its own host: the database (reachable, migrated to the
newest revision; nothing is migrated), the data folder (writable) and the file key, the metrics
port (free, or serving /metrics), Redis when the limits are counted there."""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from pathlib import Path

import httpx

from bot.doctor.verdicts import Verdict, describe
from bot.settings import Settings
from storage.database import create_engine, ping, sqlite_file
from storage.files import key_state
from storage.migrate import head_revision, revisions


def warm_up(settings: Settings) -> None:
    """Load what the checks import lazily (the migration scripts, the Redis and Telegram clients)."""
    head_revision()
    if settings.rate_limit_storage.startswith(("redis://", "rediss://", "redis+unix://")):
        import redis.asyncio  # noqa: F401
    if settings.telegram_enabled:
        import bot.channels.telegram.client  # noqa: F401


async def database(settings: Settings, seconds: float) -> list[Verdict]:
    url = settings.database_url
    path = sqlite_file(url)
    if path is not None and not path.exists():
        # Connecting would create an empty file: say so instead.
        return [Verdict("fail", "database", "database.no_file", {"path": path})]
    engine = create_engine(url, pool_size=1, sqlite_synchronous=settings.sqlite_synchronous)
    kind = engine.dialect.name
    try:
        try:
            async with engine.connect() as connection:
                await ping(connection)
            current, head = await revisions(engine)
        except TimeoutError:
            raise
        except Exception as error:
            return [
                Verdict("fail", "database", "database.unreachable", {"kind": kind, "error": describe(error)})
            ]
    finally:
        await engine.dispose()
    if current is None:
        return [Verdict("fail", "database", "database.empty", {"kind": kind, "head": head})]
    if current != head:
        return [
            Verdict("fail", "database", "database.behind", {"kind": kind, "current": current, "head": head})
        ]
    return [Verdict("ok", "database", "database.ok", {"kind": kind, "head": head})]


async def data_folder(settings: Settings, seconds: float) -> list[Verdict]:
    root = settings.optibot_data_dir
    return [_folder(root), _key(root, settings.optibot_file_key)]


def _folder(root: Path) -> Verdict:
    if root.exists() and not root.is_dir():
        return Verdict("fail", "data", "data.not_folder", {"path": root})
    if not root.exists():
        parent = next((p for p in root.absolute().parents if p.exists()), Path("/"))
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return Verdict("warn", "data", "data.will_create", {"path": root})
        return Verdict("fail", "data", "data.cannot_create", {"path": root, "parent": parent})
    try:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-") as probe:
            probe.write(b"optibot doctor")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return Verdict("fail", "data", "data.not_writable", {"path": root, "error": describe(error)})
    return Verdict("ok", "data", "data.ok", {"path": root})


def _key(root: Path, key: str) -> Verdict:
    state = key_state(root, key)
    status = {"setting": "ok", "file": "ok", "none": "warn", "bad_setting": "fail", "bad_file": "fail"}[state]
    return Verdict(status, "key", f"key.{state}", {"path": root})  # type: ignore[arg-type]


async def metrics_port(settings: Settings, seconds: float) -> list[Verdict]:
    port, host = settings.metrics_port, settings.metrics_host
    if port is None:
        return [Verdict("off", "metrics", "metrics.off")]
    where = {"address": f"{host}:{port}"}
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return [
                    Verdict("fail", "metrics", "metrics.cannot_bind", {**where, "error": describe(error)})
                ]
        else:
            return [Verdict("ok", "metrics", "metrics.free", where)]
    # In use: by a running optibot (its /metrics answers), or by something else.
    url = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{port}/metrics"
    try:
        # Half the check's time: a program that holds the port but never answers is "taken".
        async with httpx.AsyncClient(timeout=seconds / 2) as http:
            answer = await http.get(url)
    except httpx.HTTPError:
        return [Verdict("fail", "metrics", "metrics.taken", where)]
    if answer.status_code == 200 and "# TYPE " in answer.text:
        return [Verdict("ok", "metrics", "metrics.serving", where)]
    return [Verdict("fail", "metrics", "metrics.taken", where)]


async def redis(settings: Settings, seconds: float) -> list[Verdict]:
    uri = settings.rate_limit_storage
    if not uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return [Verdict("off", "redis", "redis.memory")]
    from redis.asyncio import Redis

    client = Redis.from_url(uri.replace("redis+unix://", "unix://", 1), socket_connect_timeout=seconds)
    try:
        await client.ping()
    except TimeoutError:
        raise
    except Exception as error:
        return [Verdict("fail", "redis", "redis.unreachable", {"error": describe(error)})]
    finally:
        await client.aclose()
    return [Verdict("ok", "redis", "redis.ok")]
