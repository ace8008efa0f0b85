"""Operator accounts, sign-in, sessions, CSRF and login throttling.

Passwords are hashed with argon2id. A session is a random token in an HttpOnly cookie; the database
keeps only its SHA-256, with a CSRF token the page sends back in ``X-CSRF-Token`` on every change.
Failed logins are counted per name and per address over a window; past the limit the answer is 429.
A successful login also leaves a long-lived signed device cookie naming the account (its public id):
an attempt carrying it for that name is not held by the per-name limits, so strangers failing on an
operator's name from anywhere cannot lock the operator out of their usual device; the per-address
limit and the device's own (bot/throttle.py) still hold.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storage import operators as store
from storage.database import Connection, Database

# operator: client cases; network: the federation's staff, the members' desk only (issue 16);
# admin: everything.
Role = Literal["operator", "network", "admin"]
ROLES: tuple[Role, ...] = ("operator", "network", "admin")
MIN_PASSWORD = 10
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_NAME = 5  # for one name from one address
MAX_FAILURES_PER_ADDRESS = 20  # for any names from one address
# For one name from anywhere: high, so that a stranger cannot easily lock an operator out.
MAX_FAILURES_PER_ACCOUNT = 50
SEEN_EVERY = timedelta(minutes=5)  # a session's last activity is written at most this often
DEVICE_DAYS = 180  # a device cookie vouches for an account this long after its last login there
DEVICE_ACCOUNTS = 8  # accounts remembered by one device (a shared desk), the latest kept

_hasher = PasswordHasher()  # argon2id, the library's current defaults
# Verified against when the name is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A refused account change (name taken, weak password...), said plainly."""


class ThrottledError(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed logins")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Operator:
    row_id: int
    id: str
    name: str
    role: Role

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    @property
    def network(self) -> bool:
        """May work the members' desk (the Réseau queue): network staff and admins."""
        return self.role in ("network", "admin")

    @property
    def clients(self) -> bool:
        """May see client cases and their data: operators and admins, never network staff."""
        return self.role in ("operator", "admin")


@dataclass(frozen=True, slots=True)
class Session:
    operator: Operator
    csrf: str
    token_hash: str


@dataclass(frozen=True, slots=True)
class Device:
    """A browser an operator signed in from: its random id and the accounts it vouches for
    (public id: time of the last login there, in seconds since the epoch)."""

    id: str
    accounts: dict[str, int]


class DeviceCookies:
    """Device cookies: ``base64url(JSON).base64url(HMAC-SHA256)``, signed with a key of the service
    (derived from the file key, so every process and restart agrees)."""

    def __init__(self, key: bytes, clock: Callable[[], datetime]) -> None:
        self._key = key
        self.clock = clock

    def read(self, value: str | None) -> Device | None:
        """The device of a cookie, with the accounts it still vouches for; None if absent or forged."""
        if not value or len(value) > 2048 or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        if not hmac.compare_digest(_b64(self._sign(body.encode())), signature):
            return None
        try:
            found = json.loads(_unb64(body))
            device, accounts = str(found["d"]), dict(found["a"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        oldest = self.clock().timestamp() - DEVICE_DAYS * 86400
        return Device(device, {str(a): int(t) for a, t in accounts.items() if int(t) >= oldest})

    def issue(self, device: Device | None, operator: Operator) -> str:
        """The cookie after ``operator`` signed in on ``device`` (a new device if None)."""
        accounts = dict(device.accounts) if device is not None else {}
        accounts[operator.id] = int(self.clock().timestamp())
        latest = sorted(accounts.items(), key=lambda item: item[1])[-DEVICE_ACCOUNTS:]
        payload = {"d": device.id if device is not None else secrets.token_urlsafe(16), "a": dict(latest)}
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{_b64(self._sign(body.encode()))}"

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_of(stored: str) -> Role:
    """A stored role; anything unknown reads as the least: an operator."""
    return next((role for role in ROLES if role == stored), "operator")


def _operator(row_id: int, public_id: str, name: str, role: str) -> Operator:
    return Operator(row_id, public_id, name, role_of(role))


class Accounts:
    """Accounts and sessions. Built once by the composition root."""

    def __init__(self, database: Database, clock: Callable[[], datetime], *, session_hours: int = 12) -> None:
        self.database = database
        self.clock = clock
        self.session_length = timedelta(hours=session_hours)

    # --- accounts --------------------------------------------------------------------------------

    async def add(self, name: str, password: str, role: Role) -> Operator:
        name = name.strip()
        if not (1 <= len(name) <= 64) or not name.isprintable():
            raise AccountError("a name is 1 to 64 printable characters")
        if role not in ROLES:
            raise AccountError(f"the role is one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
        public_id = secrets.token_urlsafe(12)
        password_hash, now = _hasher.hash(password), self.clock()
        async with self.database.begin() as connection:
            if await store.is_taken(connection, name):
                raise AccountError(f"the name {name!r} is taken")
            row_id = await store.add_operator(connection, public_id, name, role, password_hash, now)
        return Operator(row_id, public_id, name, role)

    async def set_password(self, name: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
        async with self.database.begin() as connection:
            if not await store.set_password_hash(connection, name, _hasher.hash(password)):
                raise AccountError(f"no operator named {name!r}")
            await store.end_sessions_of(connection, name)

    async def set_active(self, name: str, *, active: bool) -> None:
        async with self.database.begin() as connection:
            if not await store.set_active(connection, name, active=active):
                raise AccountError(f"no operator named {name!r}")
            if not active:
                await store.end_sessions_of(connection, name)

    async def everyone(self) -> list[tuple[Operator, bool]]:
        async with self.database.connect() as connection:
            rows = await store.all_operators(connection)
        return [(_operator(r.id, r.public_id, r.name, r.role), r.active) for r in rows]

    async def active(self) -> list[Operator]:
        return [operator for operator, active in await self.everyone() if active]

    # --- signing in ------------------------------------------------------------------------------

    async def login(
        self, name: str, password: str, address: str, device: Device | None = None
    ) -> tuple[str, Session] | None:
        """A new session (cookie token, session) for the right password; None otherwise.

        Every attempt is recorded before the password is checked, so parallel guesses count
        against each other; past the limits the attempt is refused (:class:`ThrottledError`)
        without checking the password. A success clears the name's failures from that address.
        An attempt from a ``device`` that vouches for the account is held by the per-address
        limit only (the device's own limit is the caller's: see bot/throttle.py).
        """
        now = self.clock()
        name = name.strip()[:64]
        address = address[:64]
        since = now - FAILURE_WINDOW
        async with self.database.begin() as connection:
            await store.forget_failures_before(connection, since)
            attempt = await store.record_attempt(connection, name, address, now)
        async with self.database.connect() as connection:
            row = await store.credentials(connection, name)
            vouched = device is not None and row is not None and row.public_id in device.accounts
            try:
                await _check_throttle(connection, name, address, since, now, per_name=not vouched)
            except ThrottledError:
                await store.forget_attempt(connection, attempt)
                await connection.commit()
                raise
        # argon2 takes tens of milliseconds of CPU: not on the event loop.
        stored = row.password_hash if row is not None else _DUMMY_HASH
        if not await asyncio.to_thread(_password_matches, stored, password) or row is None:
            return None  # the attempt stays recorded as a failure
        token = secrets.token_urlsafe(32)
        operator = _operator(row.id, row.public_id, row.name, row.role)
        session = Session(operator, secrets.token_urlsafe(24), token_hash(token))
        async with self.database.begin() as connection:
            await store.forget_failures_of(connection, name, address)
            await store.end_expired_sessions(connection, now)
            await store.open_session(
                connection, session.token_hash, row.id, session.csrf, now, now + self.session_length
            )
            if _hasher.check_needs_rehash(row.password_hash):
                await store.rehash_password(connection, row.id, _hasher.hash(password))
        return token, session

    async def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token, or None (expired, logged out, account disabled)."""
        if not token or len(token) > 128:
            return None
        now = self.clock()
        digest = token_hash(token)
        async with self.database.connect() as connection:
            row = await store.live_session(connection, digest, now)
        if row is None:
            return None
        if now - row.seen_at >= SEEN_EVERY:  # sliding expiry, written now and then
            async with self.database.begin() as connection:
                await store.extend_session(connection, digest, now, now + self.session_length)
        return Session(_operator(row.operator_id, row.public_id, row.name, row.role), row.csrf, digest)

    async def logout(self, session: Session) -> None:
        async with self.database.begin() as connection:
            await store.end_session(connection, session.token_hash)


async def _check_throttle(
    connection: Connection, name: str, address: str, since: datetime, now: datetime, *, per_name: bool = True
) -> None:
    """Refuse the attempt (:class:`ThrottledError`) past a limit of failures since ``since``:
    per name from this address, per address, per name from anywhere."""
    checks: list[tuple[str | None, str | None, int]] = [
        (name, address, MAX_FAILURES_PER_NAME),
        (None, address, MAX_FAILURES_PER_ADDRESS),
        (name, None, MAX_FAILURES_PER_ACCOUNT),
    ]
    if not per_name:  # the account's own device: a stranger's failures on the name must not lock it
        checks = checks[1:2]
    for of_name, of_address, limit in checks:
        found = await store.failures_since(connection, since, name=of_name, address=of_address)
        if found.count > limit and found.oldest is not None:
            raise ThrottledError(max(1, int((found.oldest + FAILURE_WINDOW - now).total_seconds()) + 1))


def csrf_matches(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), session.csrf.encode())


def _password_matches(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
