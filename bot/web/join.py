"""The public "Rejoindre le réseau" page and its form's API (issue 15, recruitment).

``GET /rejoindre`` serves the page (bot/web/static/join.html, French with an English toggle);
``POST /api/join`` takes the form as JSON and answers ``201`` with a thank-you, or ``422`` with
``{"detail", "fields": {field: French sentence}}``. The endpoint is open to anyone, so:

* **size**: the body is read whole only up to :data:`JOIN_BYTES` (413 past it; the app's guard has
  already bounded the stream);
* **rate**: :data:`JOIN_PER_ADDRESS` per client address, counted before anything is checked, in the
  throttle's storage (shared by the processes with Redis); refusals are tallied as the web chat's;
* **cross-site requests**: the body must be ``application/json`` (a cross-site form cannot send that
  without a CORS preflight, which this app never grants), and a request whose ``Origin`` is another
  site, or that the browser marks ``Sec-Fetch-Site: cross-site``, is refused (403). No token: the page
  is static and a token would prove nothing more for an anonymous form;
* **privacy**: nothing of the form is logged, not even on failure (only the field names at fault
  are returned to the sender).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from limits import parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from pydantic import BaseModel, Field, ValidationError

from bot.recruitment import Application, ApplicationError
from bot.throttle import client_address, throttle_of
from flows.departments import DEPARTMENTS, name_of

if TYPE_CHECKING:
    from bot.app import Services

JOIN_BYTES = 16 * 1024
JOIN_PER_ADDRESS = "10/hour;30/day"
PAGE = "join.html"
THANKS = (
    "Merci ! Votre candidature est bien reçue. La fédération vous contactera par téléphone ou par "
    "e-mail pour la suite."
)


class JoinIn(BaseModel):
    """The form as sent; bounds only here (the meaning is checked by bot/recruitment.py)."""

    name: str = Field(default="", max_length=300)
    phone: str = Field(default="", max_length=64)
    email: str = Field(default="", max_length=300)
    departments: list[str] = Field(default_factory=list, max_length=101)
    registration: str = Field(default="", max_length=40)
    has_kit: bool | None = None


def _problem(status: int, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def _same_site(request: Request) -> bool:
    if request.headers.get("sec-fetch-site", "same-origin") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by some browsers on a same-origin request
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def build_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["join"])
    static = Path(__file__).parent / "static"
    limits = tuple(parse_many(JOIN_PER_ADDRESS))

    async def admitted(request: Request) -> int | None:
        """None, or the seconds to wait (the request is then counted as refused)."""
        throttle = throttle_of(request)
        limiter = MovingWindowRateLimiter(throttle.storage)
        address = client_address(request)
        for item in limits:
            if not await limiter.hit(item, throttle.namespace, "join", address):
                await throttle.refused("webchat")
                stats = await limiter.get_window_stats(item, throttle.namespace, "join", address)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    @router.get("/rejoindre", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(static / PAGE), headers={"Cache-Control": "no-cache"})

    @router.get("/api/join/departments")
    async def departments() -> list[dict[str, str]]:
        """The departments the form offers (code and name, in the official order)."""
        return [{"code": code, "name": name_of(code) or code} for code in DEPARTMENTS]

    @router.post("/api/join", status_code=201, responses={403: {}, 413: {}, 415: {}, 422: {}, 429: {}})
    async def join(request: Request) -> JSONResponse:
        """An optician's application to join the network."""
        if not _same_site(request):
            return _problem(403, "Envoyez le formulaire depuis la page « Rejoindre le réseau ».")
        wait = await admitted(request)
        if wait is not None:
            return JSONResponse(
                {"detail": "Trop d'envois depuis votre connexion : réessayez plus tard."},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _problem(415, "Le formulaire doit être envoyé en JSON.")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > JOIN_BYTES:
            return _problem(413, "Formulaire trop long.")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > JOIN_BYTES:
                return _problem(413, "Formulaire trop long.")
        try:
            given = JoinIn.model_validate_json(body)
        except ValidationError:
            return _problem(422, "Formulaire illisible : rechargez la page et réessayez.", fields={})
        application = Application(
            given.name, given.phone, given.email, given.departments, given.registration, given.has_kit
        )
        try:
            await services.recruitment.apply(application)
        except ApplicationError as error:
            return _problem(422, "Certains champs sont à corriger.", fields=error.problems)
        return JSONResponse({"message": THANKS}, status_code=201)

    return router
