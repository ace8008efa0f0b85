"""The app as `optibot run` serves it, with its limits: uvicorn's forwarded-address options from the
settings, and the limits' counts under a namespace of the test's own (a shared Redis stays clean)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn

from bot.settings import Settings
from bot.throttle import Throttle, proxy_options
from bot.web.app import create_app
from tests.e2e.servers import free_port
from tests.integration.serving import Service


@contextlib.asynccontextmanager
async def serve_throttled(
    database_url: str, tmp_path: Path, *, namespace: str | None = None, **overrides: Any
) -> AsyncIterator[Service]:
    port = free_port()
    values: dict[str, Any] = {"database_url": database_url, "optibot_data_dir": tmp_path / "data"}
    settings = Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]
    app = create_app(settings)
    app.state.throttle = Throttle.from_settings(
        settings, namespace=namespace or f"test-{secrets.token_hex(6)}"
    )
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **proxy_options(settings)
    )
    server = uvicorn.Server(config)
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
