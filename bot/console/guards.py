"""Who may call a console route: the session cookie (401 without), the CSRF token of changes (403
without), the admin role. Every console router (``bot/console/*api.py``) takes its guards here:
``session: SignedIn`` on a read, ``session: Changing`` on a change, then ``require_admin(session)``.

The accounts are the app's own (``request.app.state.services.accounts``, set by bot/web/app.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Cookie, Depends, Header, HTTPException, Request

from bot.console.auth import Accounts, Session, csrf_matches


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.services.accounts
    return accounts


async def signed_in(request: Request, optibot_console: Annotated[str | None, Cookie()] = None) -> Session:
    session = await _accounts(request).session(optibot_console)
    if session is None:
        raise HTTPException(401, "connectez-vous")
    return session


async def changing(
    session: Annotated[Session, Depends(signed_in)],
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Session:
    if not csrf_matches(session, x_csrf_token):
        raise HTTPException(403, "jeton CSRF absent ou faux")
    return session


SignedIn = Annotated[Session, Depends(signed_in)]
Changing = Annotated[Session, Depends(changing)]


def require_admin(session: Session) -> None:
    """403 unless the session is an admin's."""
    if not session.operator.admin:
        raise HTTPException(403, "réservé aux administrateurs")
