"""The console's members' desk routes (issue 16), under /api/console:
the Réseau queue: members' requests (list, read, claim, release, reply, notes, status, outcome).
Documented in docs/CONSOLE.md. Staff of the ``network`` role and admins only.

FOUNDATION STUB: helper B fills this in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from bot.app import Services


def build_router(services: Services) -> APIRouter:
    return APIRouter(prefix="/api/console", tags=["console"])
