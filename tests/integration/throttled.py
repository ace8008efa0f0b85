"""The app as `optibot run` serves it, with its limits: uvicorn's forwarded-address options from the
settings, and the limits' counts under a namespace of the test's own (a shared Redis stays clean)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from bot.settings import Settings
from bot.throttle import Throttle
from tests.integration.serving import Service, serve_app


@contextlib.asynccontextmanager
async def serve_throttled(
    database_url: str, tmp_path: Path, *, namespace: str | None = None, **overrides: Any
) -> AsyncIterator[Service]:
    def prepare(app: FastAPI, settings: Settings) -> None:
        app.state.throttle = Throttle.from_settings(
            settings, namespace=namespace or f"test-{secrets.token_hex(6)}"
        )

    async with serve_app(database_url, tmp_path, prepare=prepare, **overrides) as service:
        yield service
