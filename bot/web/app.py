"""The FastAPI application served by ``optibot run``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from bot.app import Services, build, running
from bot.channels.webchat import FORM_OVERHEAD, WebChatChannel, build_router
from bot.channels.webchat_hub import WebChatHub
from bot.console import (
    announcements_api,
    levels_api,
    members_api,
    network_api,
    reports_api,
    slots_api,
    waitlist_api,
)
from bot.console.api import build_router as build_console_router
from bot.engine import utcnow
from bot.errors import RefusedError
from bot.ratelimit import RateLimiter
from bot.settings import Settings
from bot.web import join
from bot.web.guard import CSP, WEBHOOK_BYTES, Door, Guard
from bot.web.timing import AnswerTimer
from storage import set_aside
from storage.database import ping
from storage.text import clean_text

STATIC = resources.files("bot") / "web" / "static"
# The console shows client data: scripts and styles from this origin only, nothing inline. Every
# other page gets the same policy from the guard.
CONSOLE_CSP = CSP
# A 422 names what is wrong, briefly: never the input (it may be megabytes, or not encodable).
MAX_PROBLEMS = 5
MAX_PROBLEM_TEXT = 120
SET_ASIDE_WINDOW = timedelta(days=1)  # /healthz counts what was set aside over this long


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    limiters: Callable[[], RateLimiter] | None = None,
) -> FastAPI:
    """Build the services and the app; they start with the app's lifespan. ``clock``: tests move
    time; ``limiters``: benchmarks lift the chat channels' pacing (see :func:`bot.app.build`)."""
    hub = WebChatHub()
    services = build(
        settings,
        [WebChatChannel(hub)],
        telegram=True,
        whatsapp=True,
        clock=clock,
        limiters=limiters,
        browsers=hub,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(services, freeze_gc=True):
            yield

    app = FastAPI(
        title="optibot",
        version="0.1.0",
        summary="Emergency desk of a federation of mobile opticians",
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_middleware(
        Guard,
        doors=[
            Door("/api/chat/files", settings.max_upload_bytes + FORM_OVERHEAD, check_json=False),
            Door("/webhooks/", WEBHOOK_BYTES, check_json=False),
        ],
        hsts=settings.optibot_env == "production",
    )
    app.add_middleware(AnswerTimer, metrics=services.metrics)  # outermost: the time callers feel

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        """What is wrong with a request, short and always serialisable (not FastAPI's echo)."""
        return JSONResponse({"detail": problems(error.errors())}, status_code=422)

    @app.exception_handler(RefusedError)
    async def refused(request: Request, error: RefusedError) -> JSONResponse:
        """A refused action (console, registry): its status and reason, like an HTTPException."""
        return JSONResponse({"detail": error.detail}, status_code=error.status)

    # The Telegram webhook first: routes are matched in order, and it is the busiest.
    if services.telegram is not None and settings.telegram_mode == "webhook":
        app.include_router(services.telegram.router())
    app.include_router(
        build_router(
            services.engine,
            services.database,
            hub,
            services.catalog,
            secure_cookie=settings.web_chat_cookie_secure,
            export_link_minutes=settings.export_link_minutes,
            poll=services.live.poll_seconds,
        )
    )
    app.include_router(
        build_console_router(
            services.accounts,
            services.console,
            services.wakeup,
            secure_cookie=settings.console_cookie_secure,
            opticians=services.dispatch,
            bot_username=lambda: services.telegram.username if services.telegram else None,
        )
    )
    features = (
        levels_api,
        waitlist_api,
        reports_api,
        network_api,
        members_api,
        slots_api,
        announcements_api,
        join,
    )
    for feature in features:
        app.include_router(feature.build_router(services))
    if services.whatsapp is not None:
        app.include_router(services.whatsapp.router())
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/console", include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(
            str(STATIC / "console" / "index.html"),
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": CONSOLE_CSP,
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "same-origin",
            },
        )

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        """200 when the database answers; 503 otherwise."""
        return await _health(services)

    return app


def problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors without their input, their context as text, each text cut short."""

    def short(value: Any) -> str:
        return clean_text(str(value), MAX_PROBLEM_TEXT)

    found: list[dict[str, Any]] = []
    for error in list(errors)[:MAX_PROBLEMS]:
        problem: dict[str, Any] = {
            "loc": [part if isinstance(part, int) else short(part) for part in error.get("loc", ())][:8],
            "msg": short(error.get("msg", "")),
            "type": short(error.get("type", "")),
        }
        context = error.get("ctx")
        if isinstance(context, dict):
            problem["ctx"] = {short(k): short(v) for k, v in list(context.items())[:4]}
        found.append(problem)
    return found


async def _health(services: Services) -> JSONResponse:
    body: dict[str, Any] = {
        "status": "ok",
        "pending": services.engine.pipeline.pending(),
        # Rows this process leased again after a lease ran out unrecorded (a process died between
        # a send and its record): they may have reached the client twice (bot/outbox.py).
        "outbox_maybe_duplicates": services.sender.maybe_duplicates,
    }
    try:
        async with services.database.connect() as connection:
            await ping(connection)
            since = services.engine.clock() - SET_ASIDE_WINDOW
            body["set_aside"] = await set_aside.count_since(connection, since)
    except Exception as error:
        body.update(status="unavailable", error=type(error).__name__)
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
