"""The console's levels routes (issue 15), under /api/console; documented in docs/CONSOLE.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from bot.app import Services


def build_router(services: Services) -> APIRouter:
    return APIRouter(prefix="/api/console", tags=["console"])
