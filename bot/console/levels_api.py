"""The console's levels routes (issue 15), under /api/console; documented in docs/CONSOLE.md.

``GET /levels`` (signed in): the national level and the departments' own ones, with who set them
and when. ``PUT /levels/{scope}`` (admin, CSRF; scope ``national`` or a department's code) with
``{level, notify}`` and ``DELETE /levels/{department}?notify=`` (admin, CSRF): the switch, journaled;
with ``notify`` and a change that lets more clients in, the waitlist's broadcast starts.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from bot.console.guards import Changing, SignedIn, require_admin
from bot.levels import LEVELS, NATIONAL, CurrentLevels, LevelError, ScopeLevel, announce

if TYPE_CHECKING:
    from bot.app import Services


class LevelIn(BaseModel):
    level: str = Field(max_length=16)
    notify: bool = False


class ScopeOut(BaseModel):
    scope: str
    level: str
    set_by: str | None
    set_at: datetime | None


class LevelsOut(BaseModel):
    national: ScopeOut
    departments: list[ScopeOut]
    levels: list[str]  # the levels one may switch to, mildest first


class SwitchOut(BaseModel):
    levels: LevelsOut
    broadcast: str | None = None  # the public id of the waitlist's broadcast started, if any


def _scope(found: ScopeLevel) -> ScopeOut:
    return ScopeOut(scope=found.scope, level=found.level, set_by=found.set_by, set_at=found.set_at)


def levels_out(current: CurrentLevels) -> LevelsOut:
    return LevelsOut(
        national=_scope(current.national),
        departments=[_scope(d) for d in current.departments],
        levels=list(LEVELS),
    )


def build_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/console", tags=["console"])
    levels = services.levels

    @router.get("/levels")
    async def current_levels(session: SignedIn) -> LevelsOut:
        """The levels in force (any operator may read them: the topbar's badge)."""
        return levels_out(await levels.current())

    @router.put("/levels/{scope}", responses={403: {}, 422: {}})
    async def switch_level(scope: str, body: LevelIn, session: Changing) -> SwitchOut:
        """An admin switches the national level (``national``) or a department's."""
        require_admin(session)
        by = session.operator.name
        department = None if scope.strip().lower() == NATIONAL else scope.strip().upper()
        try:
            before, after = await levels.set(body.level, department=department, by=by)
        except LevelError as error:
            raise HTTPException(422, str(error)) from None
        started = None
        if body.notify:
            started = await announce(services.broadcasts, before, after, by=by, department=department)
        return SwitchOut(levels=levels_out(await levels.current()), broadcast=started)

    @router.delete("/levels/{department}", responses={403: {}, 404: {}, 422: {}})
    async def remove_level(
        department: str, session: Changing, notify: Annotated[bool, Query()] = False
    ) -> SwitchOut:
        """An admin removes a department's own level: it follows the national one again."""
        require_admin(session)
        by = session.operator.name
        try:
            changed = await levels.remove(department, by=by)
        except LevelError as error:
            raise HTTPException(422, str(error)) from None
        if changed is None:
            raise HTTPException(404, "ce département n'a pas de niveau propre")
        started = None
        if notify:
            before, after = changed
            started = await announce(
                services.broadcasts, before, after, by=by, department=department.strip().upper()
            )
        return SwitchOut(levels=levels_out(await levels.current()), broadcast=started)

    return router
