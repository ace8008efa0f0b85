"""Live events across two processes: client → operator and operator → client latency with many
streams open, and the database's idle load, pushed (LISTEN/NOTIFY) against the old 2 s polling.

``python -m bench --only live`` (or ``python -m bench.live_bench``). For each mode, on a fresh
scratch PostgreSQL database: two app processes (``create_app`` under uvicorn, as ``optibot run``
serves it; ``--mode poll`` switches the listener off in them: the streams then read every 2 s, the
code before issue 17); ``STREAMS_CONSOLE`` console streams and ``STREAMS_CHAT`` web chat streams
open, spread over both. ``PAIRS`` of them are measured: a client who went through the intake and an
operator who claimed the case, always on different processes (the client posts to and streams from
one, the operator works on the other). Per round every pair exchanges ``EXCHANGES`` times:
the client writes (timed until the operator's stream shows it), the operator replies (timed until
the client's stream shows it). Idle: with every stream open and nothing happening, the database's
transactions a second (``pg_stat_database``: xact_commit + xact_rollback of the scratch database;
pg_stat_statements is not installed) over ``IDLE_WINDOW`` seconds, ``IDLE_WINDOWS`` times, first
with no stream open (the processes' own loops), then with all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.common import free_port, percentile

STREAMS_CONSOLE = 50
STREAMS_CHAT = 200
PAIRS = 10
EXCHANGES = 10
ROUNDS = 3
IDLE_WINDOW = 20.0
IDLE_WINDOWS = 3
TARGET_P99_MS = 200.0
POOL = 6  # per process (up to twice that with the overflow), plus its listener
PASSWORD = "correct horse battery staple"
INTAKE = [
    "bonjour",
    "j'ai perdu mes lunettes",
    "oui",
    "non",
    "par la poste",
    "8 avenue Jean Jaurès 69007 Lyon",
    "Jean Dupont",
    "06 98 76 54 32",
    "Malakoff Humanis",
    "je l'ai pas sur moi",
    "oui",
]
NO_LIMIT = {
    "web_chat_messages_per_browser": "",
    "web_chat_messages_per_address": "",
    "web_chat_uploads_per_browser": "",
    "web_chat_uploads_per_address": "",
    "web_chat_new_chats_per_address": "",
    "console_login_failures_per_device": "",
}


# --- one app process -------------------------------------------------------------------------------


def serve(url: str, port: int, data: str, mode: str) -> None:
    import uvicorn

    import bot.live
    from bot.settings import Settings
    from bot.web.app import create_app

    if mode == "poll":  # the code before issue 17: no listener, every stream reads every 2 s
        bot.live.supports_notify = lambda url: False  # type: ignore[assignment]
    values: dict[str, Any] = {
        "database_url": url,
        "optibot_data_dir": Path(data),
        "auto_migrate": False,
        "metrics_port": None,
        # Two processes and the other jobs of the machine share PostgreSQL's 100 connections.
        "db_pool_size": POOL,
        **NO_LIMIT,
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _spawn(url: str, port: int, data: str, mode: str) -> subprocess.Popen[bytes]:
    command = ["--serve", f"--url={url}", f"--port={port}", f"--data={data}", f"--mode={mode}"]
    return subprocess.Popen([sys.executable, "-m", "bench.live_bench", *command])


@contextlib.asynccontextmanager
async def processes(url: str, mode: str, count: int = 2) -> AsyncIterator[list[str]]:
    ports = [free_port() for _ in range(count)]
    with tempfile.TemporaryDirectory() as data:
        children = [_spawn(url, port, f"{data}/p{port}", mode) for port in ports]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                for base in bases:
                    deadline = time.monotonic() + 60
                    while True:
                        with contextlib.suppress(httpx.HTTPError):
                            if (await http.get(f"{base}/healthz")).status_code == 200:
                                break
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"{base} did not start")
                        await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # the listeners connect
            yield bases
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:  # a stream still open keeps uvicorn waiting
                    child.kill()
                    child.wait()


# --- streams ----------------------------------------------------------------------------------------


class Stream:
    """An SSE stream read in the background; ``expect(token)`` resolves when an event's data holds it."""

    def __init__(self, http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> None:
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.ready = asyncio.Event()
        self.events = 0
        self.task = asyncio.create_task(self._read(http, path, params))

    async def _read(self, http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> None:
        async with http.stream("GET", path, params=params, timeout=None) as stream:
            assert stream.status_code == 200, stream.status_code
            self.ready.set()
            async for line in stream.aiter_lines():
                if not line.startswith("data: "):
                    continue
                self.events += 1
                for token, waiter in list(self.waiters.items()):
                    if token in line and not waiter.done():
                        waiter.set_result(time.perf_counter())

    def expect(self, token: str) -> asyncio.Future[float]:
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[token] = waiter
        return waiter

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self.task


class Browser:
    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=30)
        self.stream: Stream | None = None
        self.cookie = ""

    async def open(self) -> None:
        history = await self.http.get("/api/chat/history")
        self.cookie = history.cookies.get("optibot_chat") or self.http.cookies.get("optibot_chat") or ""
        self.stream = Stream(self.http, "/api/chat/events", {"after": history.json()["cursor"]})
        await self.stream.ready.wait()

    async def say(self, text: str) -> None:
        answer = await self.http.post("/api/chat/messages", json={"id": uuid.uuid4().hex, "text": text})
        assert answer.status_code == 202, answer.text


class Operator:
    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=30)
        self.csrf = ""
        self.stream: Stream | None = None

    async def login(self, name: str) -> None:
        answer = await self.http.post("/api/console/login", json={"name": name, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        self.csrf = answer.json()["csrf"]

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"/api/console{path}", json=body, headers={"X-CSRF-Token": self.csrf})

    async def watch(self, case: str | None = None) -> None:
        self.stream = Stream(self.http, "/api/console/events", {"case": case} if case else {})
        await self.stream.ready.wait()


# --- the database -----------------------------------------------------------------------------------


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return (parsed.set(database=database) if database else parsed).render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str) -> AsyncIterator[str]:
    from bot.console.auth import Accounts
    from bot.engine import utcnow
    from storage.database import create_engine
    from storage.migrate import upgrade

    name = f"optibot_live_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(_dsn(admin_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        database = create_engine(url)
        await upgrade(database)
        accounts = Accounts(database, utcnow)
        for i in range(STREAMS_CONSOLE):
            await accounts.add(f"op{i}", PASSWORD, "operator")
        await database.dispose()
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def transactions(admin: asyncpg.Connection, name: str) -> int:
    """The database's transactions so far (read from another database: not counted in)."""
    row = await admin.fetchrow(
        "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1", name
    )
    return int(row["n"])


async def idle_rate(admin: asyncpg.Connection, name: str) -> list[float]:
    rates = []
    for _ in range(IDLE_WINDOWS):
        await admin.execute("SELECT pg_stat_clear_snapshot()")
        before = await transactions(admin, name)
        await asyncio.sleep(IDLE_WINDOW)
        await admin.execute("SELECT pg_stat_clear_snapshot()")
        rates.append((await transactions(admin, name) - before) / IDLE_WINDOW)
    return rates


# --- one mode ----------------------------------------------------------------------------------------


async def case_of(url: str, cookie: str) -> str:
    from bot.channels.webchat import user_of

    connection = await asyncpg.connect(_dsn(url))
    try:
        found = await connection.fetchval(
            "SELECT c.public_id FROM cases c JOIN messages m ON m.conversation_id = c.conversation_id"
            " WHERE m.channel = 'webchat' AND m.party = $1 ORDER BY c.id DESC LIMIT 1",
            user_of(cookie),
        )
    finally:
        await connection.close()
    return str(found)


async def intake(browser: Browser) -> None:
    assert browser.stream is not None
    for text in INTAKE:
        seen = browser.stream.events
        await browser.say(text)
        deadline = time.monotonic() + 30
        while browser.stream.events == seen:
            assert time.monotonic() < deadline, "no reply to the intake"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the rest of the replies to this answer


async def exchange(browser: Browser, operator: Operator, case: str) -> tuple[float, float]:
    assert browser.stream is not None
    assert operator.stream is not None
    token = uuid.uuid4().hex[:12]
    seen = operator.stream.expect(f"q{token}")
    started = time.perf_counter()
    await browser.say(f"question q{token}")
    to_operator = (await asyncio.wait_for(seen, 30)) - started
    heard = browser.stream.expect(f"r{token}")
    started = time.perf_counter()
    answer = await operator.post(f"/cases/{case}/reply", {"text": f"réponse r{token}"})
    assert answer.status_code == 200, answer.text
    to_client = (await asyncio.wait_for(heard, 30)) - started
    return to_operator * 1000, to_client * 1000


async def run_mode(admin_url: str, mode: str) -> dict[str, Any]:
    async with scratch_database(admin_url) as url, processes(url, mode) as bases:
        name = make_url(url).database or ""
        admin = await asyncpg.connect(_dsn(admin_url))
        clients: list[httpx.AsyncClient] = []
        try:
            background = await idle_rate(admin, name)
            # The measured pairs: client on one process, operator on the other.
            browsers = [Browser(bases[i % 2]) for i in range(PAIRS)]
            for browser in browsers:
                await browser.open()
            await asyncio.gather(*(intake(b) for b in browsers))
            operators, cases = [], []
            for i, browser in enumerate(browsers):
                operator = Operator(bases[(i + 1) % 2])
                await operator.login(f"op{i}")
                case = await case_of(url, browser.cookie)
                assert (await operator.post(f"/cases/{case}/claim", {})).status_code == 200
                await operator.watch(case)
                operators.append(operator)
                cases.append(case)
            # The other streams, spread over both processes.
            watchers = [Operator(bases[i % 2]) for i in range(STREAMS_CONSOLE - PAIRS)]
            for i, watcher in enumerate(watchers):
                await watcher.login(f"op{PAIRS + i}")
            await asyncio.gather(*(w.watch() for w in watchers))
            others = [Browser(bases[i % 2]) for i in range(STREAMS_CHAT - PAIRS)]
            await asyncio.gather(*(b.open() for b in others))
            clients = [x.http for x in (*browsers, *operators, *watchers, *others)]
            await asyncio.sleep(3.0)
            idle = await idle_rate(admin, name)
            rounds = []
            for _ in range(ROUNDS):
                samples = await asyncio.gather(
                    *(_pair(b, o, c) for b, o, c in zip(browsers, operators, cases, strict=True))
                )
                c2o = [x for pair in samples for x, _ in pair]
                o2c = [y for pair in samples for _, y in pair]
                rounds.append(
                    {
                        "c2o_p50": percentile(c2o, 0.5),
                        "c2o_p99": percentile(c2o, 0.99),
                        "o2c_p50": percentile(o2c, 0.5),
                        "o2c_p99": percentile(o2c, 0.99),
                    }
                )
            streams = [s for s in (*(b.stream for b in (*browsers, *others)),) if s is not None]
            streams += [s for s in (*(o.stream for o in (*operators, *watchers)),) if s is not None]
            for stream in streams:
                await stream.close()
        finally:
            for http in clients:
                await http.aclose()
            await admin.close()
    return {
        "mode": mode,
        "rounds": rounds,
        "background_xact_per_s": background,
        "idle_xact_per_s": idle,
        **{key: statistics.median(r[key] for r in rounds) for key in rounds[0]},
    }


async def _pair(browser: Browser, operator: Operator, case: str) -> list[tuple[float, float]]:
    found = []
    for _ in range(EXCHANGES):
        found.append(await exchange(browser, operator, case))
        await asyncio.sleep(0.05)
    return found


def report(results: list[dict[str, Any]]) -> None:
    print(
        f"live events across 2 processes, {STREAMS_CONSOLE} console + {STREAMS_CHAT} web chat streams open,"
        f" {PAIRS} pairs x {EXCHANGES} exchanges, medians of {ROUNDS} rounds (machine shared: noisy)"
    )
    header = (
        f"{'mode':<6} {'c→o p50':>8} {'c→o p99':>8} {'o→c p50':>8} {'o→c p99':>8}"
        f" {'bg xact/s':>10} {'idle xact/s':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        background, idle = (
            statistics.median(r["background_xact_per_s"]),
            statistics.median(r["idle_xact_per_s"]),
        )
        print(
            f"{r['mode']:<6} {r['c2o_p50']:>8.1f} {r['c2o_p99']:>8.1f} {r['o2c_p50']:>8.1f}"
            f" {r['o2c_p99']:>8.1f} {background:>10.1f} {idle:>11.1f}"
        )
    by = {r["mode"]: r for r in results}
    if "poll" in by and "push" in by:
        before = statistics.median(by["poll"]["idle_xact_per_s"])
        after = statistics.median(by["push"]["idle_xact_per_s"])
        print(
            f"idle database transactions, push / poll: {after / before:.2f} ({after:.1f} vs {before:.1f} /s)"
        )
    if "push" in by:
        worst = max(by["push"]["c2o_p99"], by["push"]["o2c_p99"])
        verdict = "meets" if worst <= TARGET_P99_MS else "MISSES"
        print(
            f"push {verdict} the target (p99 <= {TARGET_P99_MS:.0f} ms both ways): worst p99 {worst:.1f} ms"
        )


async def run(admin_url: str, modes: list[str]) -> list[dict[str, Any]]:
    results = []
    for mode in modes:
        result = await run_mode(admin_url, mode)
        print(json.dumps(result), file=sys.stderr)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.live_bench")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument(
        "--url",
        default=os.environ.get(
            "OPTIBOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data", default="")
    parser.add_argument("--mode", choices=("poll", "push"), action="append")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.url, args.port, args.data, (args.mode or ["push"])[0])
        return
    report(asyncio.run(run(args.url, args.mode or ["poll", "push"])))


if __name__ == "__main__":
    main()
