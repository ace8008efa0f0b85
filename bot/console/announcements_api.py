"""The console's members' desk routes (issue 16), under /api/console:
announcements to members (preview, send, progress, cancel).
Documented in docs/CONSOLE.md. Staff of the ``network`` role and admins only.

FOUNDATION STUB: helper D fills this in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from bot.app import Services


def build_router(services: Services) -> APIRouter:
    return APIRouter(prefix="/api/console", tags=["console"])
