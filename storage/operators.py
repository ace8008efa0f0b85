"""The console's operators: their accounts, their sessions, and the failed sign-ins counted against
guessing (``bot/console/auth.py`` decides; this module reads and writes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import console_sessions, login_failures, operators


@dataclass(frozen=True, slots=True)
class OperatorRow:
    id: int
    public_id: str
    name: str
    role: str
    active: bool


@dataclass(frozen=True, slots=True)
class Credentials:
    """An active operator, with the hash their password is checked against."""

    id: int
    public_id: str
    name: str
    role: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A live session's operator, CSRF token and last activity."""

    operator_id: int
    public_id: str
    name: str
    role: str
    csrf: str
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Failures:
    """Failed sign-ins matching a check since a time: how many, and the oldest."""

    count: int
    oldest: datetime | None


# What names an operator (``bot.console.auth.Operator``).
_ACCOUNT = (operators.c.id, operators.c.public_id, operators.c.name, operators.c.role)


# --- accounts ------------------------------------------------------------------------------------


async def is_taken(connection: AsyncConnection, name: str) -> bool:
    return await connection.scalar(sa.select(operators.c.id).where(operators.c.name == name)) is not None


async def add_operator(
    connection: AsyncConnection, public_id: str, name: str, role: str, password_hash: str, now: datetime
) -> int:
    """A new account; its row id."""
    row_id = await connection.scalar(
        sa.insert(operators)
        .values(public_id=public_id, name=name, role=role, password_hash=password_hash, created_at=now)
        .returning(operators.c.id)
    )
    return int(row_id or 0)


async def set_password_hash(connection: AsyncConnection, name: str, password_hash: str) -> bool:
    """False if there is no operator of that name."""
    result = await connection.execute(
        sa.update(operators).where(operators.c.name == name).values(password_hash=password_hash)
    )
    return bool(result.rowcount)


async def rehash_password(connection: AsyncConnection, operator_id: int, password_hash: str) -> None:
    """The same password, hashed with the hasher's current parameters."""
    await connection.execute(
        sa.update(operators).where(operators.c.id == operator_id).values(password_hash=password_hash)
    )


async def set_active(connection: AsyncConnection, name: str, *, active: bool) -> bool:
    """False if there is no operator of that name."""
    result = await connection.execute(
        sa.update(operators).where(operators.c.name == name).values(active=active)
    )
    return bool(result.rowcount)


async def all_operators(connection: AsyncConnection) -> list[OperatorRow]:
    """Every account, active or not, by name."""
    rows = await connection.execute(sa.select(*_ACCOUNT, operators.c.active).order_by(operators.c.name))
    return [OperatorRow(r.id, r.public_id, r.name, r.role, bool(r.active)) for r in rows]


async def credentials(connection: AsyncConnection, name: str) -> Credentials | None:
    """The active operator of that name, or None."""
    row = (
        await connection.execute(
            sa.select(*_ACCOUNT, operators.c.password_hash).where(
                operators.c.name == name, operators.c.active.is_(True)
            )
        )
    ).first()
    return None if row is None else Credentials(row.id, row.public_id, row.name, row.role, row.password_hash)


# --- sessions ------------------------------------------------------------------------------------


async def open_session(
    connection: AsyncConnection,
    token_hash: str,
    operator_id: int,
    csrf: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await connection.execute(
        sa.insert(console_sessions).values(
            token_hash=token_hash,
            operator_id=operator_id,
            csrf=csrf,
            created_at=now,
            seen_at=now,
            expires_at=expires_at,
        )
    )


async def live_session(connection: AsyncConnection, token_hash: str, now: datetime) -> SessionRow | None:
    """The session of this token if it has not expired and its operator is active."""
    row = (
        await connection.execute(
            sa.select(*_ACCOUNT, console_sessions.c.csrf, console_sessions.c.seen_at)
            .join(operators, operators.c.id == console_sessions.c.operator_id)
            .where(
                console_sessions.c.token_hash == token_hash,
                console_sessions.c.expires_at > now,
                operators.c.active.is_(True),
            )
        )
    ).first()
    if row is None:
        return None
    return SessionRow(row.id, row.public_id, row.name, row.role, row.csrf, row.seen_at)


async def extend_session(
    connection: AsyncConnection, token_hash: str, now: datetime, expires_at: datetime
) -> None:
    await connection.execute(
        sa.update(console_sessions)
        .where(console_sessions.c.token_hash == token_hash)
        .values(seen_at=now, expires_at=expires_at)
    )


async def end_session(connection: AsyncConnection, token_hash: str) -> None:
    await connection.execute(sa.delete(console_sessions).where(console_sessions.c.token_hash == token_hash))


async def end_sessions_of(connection: AsyncConnection, name: str) -> None:
    """Every session of the operator of that name ends."""
    ids = sa.select(operators.c.id).where(operators.c.name == name).scalar_subquery()
    await connection.execute(sa.delete(console_sessions).where(console_sessions.c.operator_id == ids))


async def end_expired_sessions(connection: AsyncConnection, now: datetime) -> None:
    await connection.execute(sa.delete(console_sessions).where(console_sessions.c.expires_at < now))


# --- failed sign-ins -----------------------------------------------------------------------------


async def forget_failures_before(connection: AsyncConnection, since: datetime) -> None:
    await connection.execute(sa.delete(login_failures).where(login_failures.c.at < since))


async def record_attempt(connection: AsyncConnection, name: str, address: str, now: datetime) -> int:
    """A sign-in attempt, counted as a failure until it succeeds; its row id."""
    attempt = await connection.scalar(
        sa.insert(login_failures).values(name=name, address=address, at=now).returning(login_failures.c.id)
    )
    return int(attempt or 0)


async def forget_attempt(connection: AsyncConnection, attempt: int) -> None:
    await connection.execute(sa.delete(login_failures).where(login_failures.c.id == attempt))


async def forget_failures_of(connection: AsyncConnection, name: str, address: str) -> None:
    """A success clears the name's failures from that address."""
    await connection.execute(
        sa.delete(login_failures).where(login_failures.c.name == name, login_failures.c.address == address)
    )


async def failures_since(
    connection: AsyncConnection, since: datetime, *, name: str | None = None, address: str | None = None
) -> Failures:
    """Failed sign-ins since ``since`` for this name and/or address."""
    where = []
    if name is not None:
        where.append(login_failures.c.name == name)
    if address is not None:
        where.append(login_failures.c.address == address)
    where.append(login_failures.c.at >= since)
    found = (
        await connection.execute(sa.select(sa.func.count(), sa.func.min(login_failures.c.at)).where(*where))
    ).one()
    return Failures(int(found[0]), found[1])
