"""The public "Rejoindre le réseau" page and its form's API (issue 15, recruitment).

``GET /rejoindre`` serves the page (bot/web/static/join.html, French with an English toggle);
``POST /api/join`` takes the form as JSON and answers ``201`` with a thank-you, or ``422`` with
``{"detail", "fields": {field: French sentence}}``. The endpoint is open to anyone, so:

* **size**: the body is read whole only up to :data:`JOIN_BYTES` (413 past it; the app's guard has
  already bounded the stream);
* **rate**: :data:`JOIN_PER_ADDRESS` per client address (an IPv6 address counts with its whole /64:
  one subscriber's network), and :data:`JOIN_PER_HOUR` for everyone together, counted before anything
  is checked, in the throttle's storage (shared by the processes with Redis); refusals are tallied as
  the web chat's;
* **cross-site requests**: the body must be ``application/json`` (a cross-site form cannot send that
  without a CORS preflight, which this app never grants). ``Sec-Fetch-Site: same-origin`` is enough;
  ``cross-site`` is refused (403); otherwise an ``Origin``, when sent, must be the service's own:
  PUBLIC_URL's origin when set (behind a proxy that rewrites ``Host``), else the ``Host`` asked. No
  token: the page is static and a token would prove nothing more for an anonymous form;
* **privacy**: nothing of the form is logged, not even on failure (only the field names at fault
  are returned to the sender).
"""

from __future__ import annotations

import ipaddress
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
JOIN_PER_HOUR = "200/hour"  # every address together: a flood from many addresses stops here
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


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, the default port left out."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + ("" if port is None or port == default else f":{port}")


def same_site(request: Request, public_url: str) -> bool:
    """Whether the request comes from this service's own page (see the module)."""
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site == "same-origin":
        return True
    if fetch_site == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by some browsers on a same-origin request
    if public_url:
        return _origin(origin) == _origin(public_url) != ""
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def address_key(address: str) -> str:
    """The rate limit's key for a client address: an IPv6 address's /64 network (a subscriber is
    given a whole /64 and picks any address in it), an IPv4 address as it is."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def build_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["join"])
    static = Path(__file__).parent / "static"
    checks = [(item, "join") for item in parse_many(JOIN_PER_ADDRESS)]
    checks += [(item, "join-all") for item in parse_many(JOIN_PER_HOUR)]
    public_url = services.settings.public_url

    async def admitted(request: Request) -> tuple[int, str] | None:
        """None, or the seconds to wait and which limit (the request is then counted as refused)."""
        throttle = throttle_of(request)
        limiter = MovingWindowRateLimiter(throttle.storage)
        address = address_key(client_address(request))
        for item, scope in checks:
            key = (throttle.namespace, scope) + ((address,) if scope == "join" else ())
            if not await limiter.hit(item, *key):
                await throttle.refused("webchat")
                stats = await limiter.get_window_stats(item, *key)
                return max(1, math.ceil(stats.reset_time - time.time())), scope
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
        if not same_site(request, public_url):
            return _problem(403, "Envoyez le formulaire depuis la page « Rejoindre le réseau ».")
        refused = await admitted(request)
        if refused is not None:
            wait, scope = refused
            detail = (
                "Trop d'envois depuis votre connexion : réessayez plus tard."
                if scope == "join"
                else "Trop de candidatures en ce moment : réessayez dans une heure."
            )
            return JSONResponse({"detail": detail}, status_code=429, headers={"Retry-After": str(wait)})
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
