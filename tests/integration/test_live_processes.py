"""Live events pushed across processes (PostgreSQL LISTEN/NOTIFY): two apps on one database.

The streams' safety read is set to 600 s and the outbox sender of the process that should deliver
polls every 600 s too, so that within the few seconds each test waits only a notification from the
other process can explain what arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from storage import notify
from storage.tables import cases, messages
from tests.integration.serving import Service, serve_app
from tests.integration.test_console import PASSWORD, SHIPMENT, LiveStream, Staff

LONG = 600.0
PAYLOAD = re.compile(r"^[0-9a-f]{8}(;c)?(;w=(\*|[0-9a-f]{16}(,[0-9a-f]{16})*))?$")


@contextlib.asynccontextmanager
async def two_apps(url: str, tmp_path: Path) -> AsyncIterator[tuple[Service, Service]]:
    """A (whose outbox sender is stopped: it delivers nothing) and B (whose sender only runs when
    woken), both listening."""
    async with (
        serve_app(url, tmp_path / "a", live_safety_seconds=LONG) as a,
        serve_app(url, tmp_path / "b", live_safety_seconds=LONG) as b,
    ):
        for task in a.services.tasks:
            if task.get_name() == "optibot-outbox":
                task.cancel()
        b.services.sender.poll_interval = LONG
        await _until(lambda: a.services.live.listening and b.services.live.listening, "both listening")
        await a.services.accounts.add("bob", PASSWORD, "operator")
        yield a, b


class Chat:
    """A web chat client: posts to one app, reads its replies' stream from another."""

    def __init__(self, post_to: Service, stream_from: Service) -> None:
        self.post = httpx.AsyncClient(base_url=post_to.base, timeout=15)
        self.read = httpx.AsyncClient(base_url=stream_from.base, timeout=LONG)
        self.replies: list[str] = []
        self.arrived = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        first = await self.post.get("/api/chat/history")  # the cookie, shared by both clients
        self.read.cookies = self.post.cookies
        self.task = asyncio.create_task(self._stream(first.json()["cursor"]))

    async def _stream(self, cursor: int) -> None:
        async with self.read.stream("GET", "/api/chat/events", params={"after": cursor}) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    self.replies.append(line[6:])
                    self.arrived.set()

    async def say(self, text: str) -> None:
        response = await self.post.post("/api/chat/messages", json={"id": uuid.uuid4().hex, "text": text})
        assert response.status_code == 202, response.text

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self.task
        await self.post.aclose()
        await self.read.aclose()


async def _until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {within} s"
        await asyncio.sleep(0.02)


async def _delivered(app: Service, within: float = 10.0) -> None:
    """Every reply committed so far is sent (by B: A's sender is stopped)."""
    deadline = time.monotonic() + within
    while True:
        unsent = await app.rows(messages, messages.c.direction == "out", messages.c.sent_at.is_(None))
        if not unsent and app.services.engine.pipeline.pending() == 0:
            return
        assert time.monotonic() < deadline, f"{len(unsent)} replies unsent after {within} s"
        await asyncio.sleep(0.05)


async def _payloads(url: str) -> tuple[asyncpg.Connection, list[str]]:
    heard: list[str] = []
    spy = await asyncpg.connect(**notify.asyncpg_connect_args(url))
    await spy.add_listener(notify.CHANNEL, lambda _c, _p, _ch, payload: heard.append(payload))
    return spy, heard


async def _handed_off(chat: Chat, a: Service, b: Service) -> str:
    """The client writes the whole intake to A; B delivers each reply, A's stream shows it."""
    for text in SHIPMENT:
        seen = len(chat.replies)
        await chat.say(text)
        await _delivered(a)
        await _until(lambda seen=seen: len(chat.replies) > seen, "a reply on the client's stream")
    return str((await b.rows(cases))[-1].public_id)


async def test_a_message_accepted_by_one_process_wakes_the_other_ones_outbox_and_streams(
    postgres_url: str, tmp_path: Path
) -> None:
    spy, heard = await _payloads(postgres_url)
    async with two_apps(postgres_url, tmp_path) as (a, b):
        chat = Chat(post_to=a, stream_from=a)
        try:
            await chat.open()
            # A stores and answers; only B's outbox (woken by A's notification) sends the replies;
            # A's client stream hears of each through B's notification naming that browser.
            case_id = await _handed_off(chat, a, b)
            assert b.services.live.heard > 0
            assert a.services.live.heard > 0
            bob = Staff(b.base)
            assert (await bob.login("bob")).status_code == 200
            assert (await bob.post(f"/cases/{case_id}/claim")).status_code == 200
            live = LiveStream(bob, lambda event, data: event == "message", case=case_id)
            await live.ready()
            await chat.say("Il y a quelqu'un ?")  # accepted by A; B's operator sees it
            events = await live.end(10)
            assert events[-1][0] == "message"
            assert "quelqu'un" in events[-1][1]
            await bob.http.aclose()
        finally:
            await chat.close()
    await spy.close()
    assert heard
    assert all(PAYLOAD.fullmatch(payload) for payload in heard), heard
    said = " ".join(heard)
    assert not any(word in said for word in ("Jean", "Dupont", "06", "Lyon", "Jaurès"))


async def test_the_listener_reconnects_and_streams_poll_while_it_is_down(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_apps(postgres_url, tmp_path) as (a, b):
        chat = Chat(post_to=a, stream_from=a)
        try:
            await chat.open()
            case_id = await _handed_off(chat, a, b)
            bob = Staff(b.base)
            assert (await bob.login("bob")).status_code == 200
            assert (await bob.post(f"/cases/{case_id}/claim")).status_code == 200
            # B's listening connection is killed; it comes back only after 6 s.
            monkeypatch.setattr(notify, "FIRST_PAUSE", 6.0)
            live = LiveStream(bob, lambda event, data: event == "message", case=case_id)
            await live.ready()
            listener = b.services.live.listener
            assert listener is not None
            assert listener.server_pid is not None
            await _terminate(postgres_url, listener.server_pid)
            await _until(lambda: not b.services.live.listening, "B noticing its listener is gone")
            await chat.say("Toujours là ?")  # a change B cannot hear of
            events = await live.end(10)
            assert events[-1][0] == "message"
            assert "Toujours" in events[-1][1]
            assert not b.services.live.listening  # it came by the fallback poll, not a notification
            # Back: a change is pushed again (the safety read is 600 s away).
            await _until(lambda: b.services.live.listening, "B listening again", within=15)
            again = LiveStream(bob, lambda event, data: event == "message", case=case_id)
            await again.ready()
            await chat.say("Je patiente.")
            events = await again.end(10)
            assert events[-1][0] == "message"
            assert "patiente" in events[-1][1]
            await bob.http.aclose()
        finally:
            await chat.close()


async def test_sqlite_keeps_the_in_process_signal_and_the_two_second_poll(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'optibot.db'}"
    async with serve_app(url, tmp_path) as app:
        live = app.services.live
        assert not live.pushed
        assert not live.listening
        assert live.poll_seconds() == 2.0
        assert "optibot-live" not in {task.get_name() for task in app.services.tasks}


async def _terminate(url: str, pid: int) -> None:
    admin = await asyncpg.connect(**notify.asyncpg_connect_args(url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def _listening(listener: notify.Listener, states: list[bool]) -> None:
    task = asyncio.create_task(listener.run())
    try:
        await _until(lambda: True in states, "listening")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_listener_reads_the_url_as_the_pool_does(postgres_url: str) -> None:
    """Options SQLAlchemy's dialect takes for itself (here the statement cache, set to 0 behind a
    pooler) are not sent to the server as settings, which would refuse the connection for ever."""
    states: list[bool] = []
    url = f"{postgres_url}?prepared_statement_cache_size=0"
    args = notify.asyncpg_connect_args(url)
    assert "prepared_statement_cache_size" not in args
    await _listening(notify.Listener(args, lambda _payload: None, states.append), states)


async def test_an_unexpected_error_does_not_end_the_listener(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever ends a listening session, the listener connects again (the task never dies, so
    cross-process wake-ups come back and a shutdown does not trip on its error)."""
    states: list[bool] = []
    listener = notify.Listener(notify.asyncpg_connect_args(postgres_url), lambda _p: None, states.append)
    real = listener._listen
    failures = iter([RuntimeError("unexpected")])

    async def flaky(connection: asyncpg.Connection) -> None:
        for error in failures:
            raise error
        await real(connection)

    monkeypatch.setattr(listener, "_listen", flaky)
    monkeypatch.setattr(notify, "FIRST_PAUSE", 0.01)
    await _listening(listener, states)


async def test_a_command_tells_the_running_processes_what_it_committed(
    postgres_url: str, tmp_path: Path
) -> None:
    """A command of the command line (here: the service level switched) runs no publisher of its
    own: it announces its change once as it ends, so open consoles see it at once, not after their
    safety read."""
    from bot.app import build, opened
    from bot.settings import Settings

    spy, heard = await _payloads(postgres_url)
    try:
        settings = Settings(_env_file=None, database_url=postgres_url, optibot_data_dir=tmp_path / "d")  # type: ignore[call-arg]
        async with opened(build(settings), migrate=True) as services:
            await services.levels.set("crisis", department=None, by="cli:test")
        await _until(lambda: any(";c" in payload for payload in heard), "announced")
        assert all(PAYLOAD.match(payload) for payload in heard), heard
    finally:
        await spy.close()
