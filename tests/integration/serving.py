"""The whole app, as `optibot run` serves it, on a free port of the test's own process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from bot.app import Services
from bot.engine import utcnow
from bot.metrics_http import start_metrics, stop_metrics
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from bot.throttle import proxy_options
from bot.web.app import create_app
from tests.e2e.servers import free_port


@dataclass
class Service:
    services: Services
    base: str

    async def rows(self, table: sa.Table, *where: Any) -> list[Any]:
        async with self.services.database.connect() as connection:
            result = await connection.execute(sa.select(table).where(*where).order_by(table.c.id))
            return list(result.all())


@contextlib.asynccontextmanager
async def serve_app(
    database_url: str,
    tmp_path: Path,
    *,
    port: int | None = None,
    prepare: Callable[[FastAPI, Settings], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
    limiters: Callable[[], RateLimiter] | None = None,
    **overrides: Any,
) -> AsyncIterator[Service]:
    """The app under uvicorn as `optibot run` serves it; ``prepare`` adjusts it before it starts;
    ``clock``: the services' time (a :class:`tests.harness.RealClock` a test can shift)."""
    port = port or free_port()
    values: dict[str, Any] = {
        "database_url": database_url,
        "optibot_data_dir": tmp_path / "data",
        "metrics_port": None,  # a test asks for /metrics with metrics_port=free_port()
    }
    settings = Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]
    app = create_app(settings, clock=clock, limiters=limiters)
    if prepare is not None:
        prepare(app, settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **proxy_options(settings)
    )
    server = uvicorn.Server(config)
    listener = await start_metrics(app.state.services.metrics, "127.0.0.1", settings.metrics_port)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
        assert time.monotonic() < deadline, "the app did not start"
        await asyncio.sleep(0.02)
    try:
        yield Service(app.state.services, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task
        await stop_metrics(listener)
