"""Who may call a console route: the session cookie (401 without), the CSRF token of changes (403
without), the role. Every console router (``bot/console/*api.py``) takes its guards here.

Roles (bot/console/auth.py): ``operator`` (client cases), ``network`` (the federation's staff: the
members' desk only, issue 16) and ``admin`` (everything). The client side is refused to network
staff in ONE place: ``SignedIn`` and ``Changing`` — what every client route takes — answer 403 to a
network account, so a client route added later is closed to them without a thought. The routes every
role shares (``/me``, ``/logout``, the live stream) and the members' desk take ``StaffSignedIn`` /
``StaffChanging``, which admit every role; the members' routes then call ``require_network``
(403 to operators).

- client routes: ``session: SignedIn`` on a read, ``session: Changing`` on a change (then
  ``require_admin(session)`` where only admins may);
- members' desk routes: ``session: NetworkSignedIn`` on a read, ``session: NetworkChanging`` on a
  change — the role checked as a dependency, so an operator gets 403 before the body is even read
  (``require_network(session)`` after ``StaffSignedIn`` does the same inside a route).

The accounts are the app's own (``request.app.state.services.accounts``, set by bot/web/app.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Cookie, Depends, Header, HTTPException, Request

from bot.console.auth import Accounts, Session, csrf_matches


def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.services.accounts
    return accounts


async def staff_signed_in(
    request: Request, optibot_console: Annotated[str | None, Cookie()] = None
) -> Session:
    """Any signed-in account, whatever its role (401 without a live session)."""
    session = await _accounts(request).session(optibot_console)
    if session is None:
        raise HTTPException(401, "connectez-vous")
    return session


async def staff_changing(
    session: Annotated[Session, Depends(staff_signed_in)],
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Session:
    """Any signed-in account, with the session's CSRF token (403 without)."""
    if not csrf_matches(session, x_csrf_token):
        raise HTTPException(403, "jeton CSRF absent ou faux")
    return session


def _clients_side(session: Session) -> Session:
    if not session.operator.clients:
        raise HTTPException(403, "réservé aux dossiers clients")
    return session


async def signed_in(session: Annotated[Session, Depends(staff_signed_in)]) -> Session:
    """An operator or an admin: the client side (network staff: 403)."""
    return _clients_side(session)


async def changing(session: Annotated[Session, Depends(staff_changing)]) -> Session:
    """An operator or an admin, with the CSRF token: a change on the client side."""
    return _clients_side(session)


SignedIn = Annotated[Session, Depends(signed_in)]
Changing = Annotated[Session, Depends(changing)]
StaffSignedIn = Annotated[Session, Depends(staff_signed_in)]
StaffChanging = Annotated[Session, Depends(staff_changing)]


def require_admin(session: Session) -> None:
    """403 unless the session is an admin's."""
    if not session.operator.admin:
        raise HTTPException(403, "réservé aux administrateurs")


def require_network(session: Session) -> None:
    """403 unless the session is network staff's or an admin's (the members' desk)."""
    if not session.operator.network:
        raise HTTPException(403, "réservé à l'équipe réseau")


async def network_signed_in(session: Annotated[Session, Depends(staff_signed_in)]) -> Session:
    """Network staff or an admin: the members' desk (operators: 403)."""
    require_network(session)
    return session


async def network_changing(session: Annotated[Session, Depends(staff_changing)]) -> Session:
    """Network staff or an admin, with the CSRF token: a change on the members' desk."""
    require_network(session)
    return session


NetworkSignedIn = Annotated[Session, Depends(network_signed_in)]
NetworkChanging = Annotated[Session, Depends(network_changing)]
