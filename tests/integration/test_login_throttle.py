"""The console's sign-in under guessing: strangers failing on an operator's name cannot lock the
operator out of their usual device, and forwarded addresses are believed only from a trusted proxy."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx

from bot.console.api import DEVICE_COOKIE
from bot.settings import Settings
from bot.throttle import Throttle
from tests.integration.throttled import serve_throttled

PASSWORD = "correct horse battery staple"
PROXY = {"forwarded_allow_ips": "127.0.0.1"}  # as behind a reverse proxy on the same host


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def _login(
    client: httpx.AsyncClient, name: str, password: str, address: str | None = None
) -> httpx.Response:
    headers = _from(address) if address else {}
    return await client.post("/api/console/login", json={"name": name, "password": password}, headers=headers)


async def test_strangers_failing_on_a_name_do_not_lock_out_its_device(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        serve_throttled(database_url, tmp_path, **PROXY) as app,
        httpx.AsyncClient(base_url=app.base, timeout=15) as device,
        httpx.AsyncClient(base_url=app.base, timeout=15) as stranger,
        httpx.AsyncClient(base_url=app.base, timeout=15) as elsewhere,
    ):
        await app.services.accounts.add("alice", PASSWORD, "operator")
        first = await _login(device, "alice", PASSWORD, "10.0.0.7")  # alice's usual browser
        assert first.status_code == 200
        cookie = first.cookies[DEVICE_COOKIE]
        answers = [await _login(stranger, "alice", f"guess {n}", f"203.0.113.{n}") for n in range(51)]
        assert [a.status_code for a in answers] == [401] * 50 + [429]  # one failure per address
        # The name is locked: the right password from a browser alice never used is refused...
        assert (await _login(elsewhere, "alice", PASSWORD, "10.0.0.7")).status_code == 429
        # ...and so it is with a forged device cookie...
        signature = cookie.split(".")[1]
        forged = json.dumps({"d": "x", "a": {first.json()["operator"]["id"]: 2_000_000_000}})
        forged_body = base64.urlsafe_b64encode(forged.encode()).rstrip(b"=").decode()
        elsewhere.cookies.set(DEVICE_COOKIE, f"{forged_body}.{signature}")
        assert (await _login(elsewhere, "alice", PASSWORD, "10.0.0.7")).status_code == 429
        # ...but alice's own device signs her in, from any address.
        again = await _login(device, "alice", PASSWORD, "198.51.100.9")
        assert again.status_code == 200, again.text
        assert again.json()["operator"]["name"] == "alice"
        assert (await device.get("/api/console/me")).status_code == 200
        # The device vouches for alice only: for bob's name it is a stranger (5 failures for a name
        # from one address lock the name there).
        await app.services.accounts.add("bob", PASSWORD, "operator")
        for _ in range(5):
            assert (await _login(stranger, "bob", "guess", "192.0.2.1")).status_code == 401
        assert (await _login(device, "bob", PASSWORD, "192.0.2.1")).status_code == 429
        assert (await _login(device, "alice", PASSWORD, "192.0.2.1")).status_code == 200


async def test_a_device_has_a_limit_of_its_own(database_url: str, tmp_path: Path) -> None:
    """With the device cookie, guessing from rotating addresses still stops after a few tries."""
    async with (
        serve_throttled(database_url, tmp_path, **PROXY) as app,
        httpx.AsyncClient(base_url=app.base, timeout=15) as device,
    ):
        await app.services.accounts.add("alice", PASSWORD, "operator")
        assert (await _login(device, "alice", PASSWORD, "10.0.0.7")).status_code == 200
        codes = [(await _login(device, "alice", "wrong", f"203.0.113.{n}")).status_code for n in range(6)]
        assert codes == [401] * 5 + [429]  # CONSOLE_LOGIN_FAILURES_PER_DEVICE: 5 in 15 minutes
        refused = await _login(device, "alice", PASSWORD, "203.0.113.99")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0


async def test_a_right_password_on_the_device_forgets_its_failures(database_url: str, tmp_path: Path) -> None:
    async with (
        serve_throttled(database_url, tmp_path, **PROXY) as app,
        httpx.AsyncClient(base_url=app.base, timeout=15) as device,
    ):
        await app.services.accounts.add("alice", PASSWORD, "operator")
        assert (await _login(device, "alice", PASSWORD, "10.0.0.7")).status_code == 200
        for _ in range(3):
            for n in range(4):
                assert (await _login(device, "alice", "typo", f"203.0.113.{n}")).status_code == 401
            assert (await _login(device, "alice", PASSWORD, "203.0.113.50")).status_code == 200


async def test_forwarded_addresses_are_believed_only_from_a_trusted_proxy(
    database_url: str, tmp_path: Path
) -> None:
    """By default no peer is a trusted proxy: rotating X-Forwarded-For from 127.0.0.1 is one address
    (20 failures for any names, then 429); behind FORWARDED_ALLOW_IPS it is what the proxy says."""
    for settings, expected in (({}, [401] * 20 + [429] * 5), (PROXY, [401] * 25)):
        async with (
            serve_throttled(database_url, tmp_path, **settings) as app,
            httpx.AsyncClient(base_url=app.base, timeout=15) as client,
        ):
            codes = [
                (await _login(client, f"name{n}", "guess", f"198.51.100.{n}")).status_code for n in range(25)
            ]
            assert codes == expected, settings


async def test_the_device_cookie_is_for_the_login_only_and_locked_down(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        serve_throttled(database_url, tmp_path, console_cookie_secure=True) as app,
        httpx.AsyncClient(base_url=app.base, timeout=15) as client,
    ):
        await app.services.accounts.add("alice", PASSWORD, "operator")
        response = await _login(client, "alice", PASSWORD)
        device = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{DEVICE_COOKIE}="))
        attributes = {a.strip().split("=")[0].lower(): a.strip() for a in device.split(";")[1:]}
        assert {"httponly", "secure", "samesite", "path", "max-age"} <= set(attributes)
        assert attributes["samesite"].lower() == "samesite=strict"
        assert attributes["path"] == "Path=/api/console/login"
        assert int(attributes["max-age"].split("=")[1]) >= 90 * 86400
        assert "alice" not in device  # it names the account by its public id only


async def test_memory_throttle_counts_refused_logins(tmp_path: Path) -> None:
    """The refusals' tally the console shows counts sign-ins refused too."""
    throttle = Throttle.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    for _ in range(6):
        await throttle.device_attempt("a-device")
    assert (await throttle.refused_last_hour())["login"] == 1
