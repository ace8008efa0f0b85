"""The public "Rejoindre le réseau" page and its form's API (issue 15, recruitment)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from bot.app import Services


def build_router(services: Services) -> APIRouter:
    return APIRouter(tags=["join"])
