"""What the tests of ``optibot doctor`` share: a deployment's settings pointing at the fakes (every
check green), a stand-in Redis that answers the protocol, and running the command as a thread of
the test (the fakes serve on the test's loop) or as a separate process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bot.doctor import run
from tests.e2e.servers import ROOT, free_port
from tests.fakes import telegram as tg
from tests.fakes import whatsapp as wa

WEBHOOK_SECRET = "doctor-webhook-secret-0123456789"
# Settings a test's environment must not leak into the doctor's (the machine's own .env or exports).
OWN = (
    "DATABASE_",
    "OPTIBOT_",
    "WEB_",
    "TELEGRAM_",
    "WHATSAPP_",
    "PUBLIC_URL",
    "METRICS_",
    "RATE_LIMIT_",
    "AUTO_",
)


@dataclass
class Doctored:
    code: int
    out: str

    def line(self, area: str) -> str:
        """The one line of ``area`` (its words as printed, e.g. "Database" or "Base de données")."""
        found = [line for line in self.out.splitlines() if f"  {area}:" in line or f"  {area} :" in line]
        assert len(found) == 1, f"{len(found)} lines for {area!r}:\n{self.out}"
        return found[0]

    def failed(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.startswith(("FAILED", "ÉCHEC"))]


@contextlib.contextmanager
def environment(values: dict[str, str], workdir: Path) -> Iterator[None]:
    """``values`` as the whole of the service's environment, in ``workdir`` (no .env there)."""
    saved = dict(os.environ)
    before = Path.cwd()
    for key in list(os.environ):
        if key.startswith(OWN):
            del os.environ[key]
    os.environ.update(values)
    os.chdir(workdir)
    try:
        yield
    finally:
        os.chdir(before)
        os.environ.clear()
        os.environ.update(saved)


async def doctor(
    values: dict[str, str], workdir: Path, lang: str | None = "en", seconds: float = 10.0
) -> Doctored:
    """``optibot doctor`` in a thread, the settings being exactly ``values``."""
    out = io.StringIO()
    with environment(values, workdir):
        code = await asyncio.to_thread(run, argparse.Namespace(lang=lang, timeout=seconds), out)
    return Doctored(code, out.getvalue())


async def doctor_process(values: dict[str, str], workdir: Path, *args: str) -> Doctored:
    """``python -m bot.cli doctor ARGS`` as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN)}
    env.update(values)
    env["PYTHONPATH"] = str(ROOT)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "doctor", *args,
        cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert b"Traceback" not in err, err.decode()
    assert process.returncode is not None
    return Doctored(process.returncode, out.decode())


HELLO = (
    b"%7\r\n+server\r\n+redis\r\n+version\r\n+7.2.0\r\n+proto\r\n:3\r\n+id\r\n:1\r\n"
    b"+mode\r\n+standalone\r\n+role\r\n+master\r\n+modules\r\n*0\r\n"
)


class FakeRedis:
    """Speaks enough of the Redis protocol (RESP) for a PING: +PONG to PING, the greeting to HELLO,
    +OK to anything else."""

    def __init__(self) -> None:
        self.pings = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeRedis:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                header = await reader.readline()
                if not header.startswith(b"*"):
                    break
                words = []
                for _ in range(int(header[1:])):
                    size = int((await reader.readline())[1:])
                    words.append((await reader.readexactly(size + 2))[:-2])
                if words and words[0].upper() == b"PING":
                    self.pings += 1
                    writer.write(b"+PONG\r\n")
                elif words and words[0].upper() == b"HELLO":  # redis-py speaks RESP3 first
                    writer.write(HELLO)
                else:
                    writer.write(b"+OK\r\n")
                await writer.drain()
        writer.close()


@dataclass
class Deployment:
    """The fakes a good deployment's settings point at, and those settings."""

    telegram: tg.FakeTelegram
    whatsapp: wa.FakeWhatsApp
    redis: FakeRedis
    values: dict[str, str]
    workdir: Path


@contextlib.asynccontextmanager
async def deployment(database_url: str, workdir: Path) -> AsyncIterator[Deployment]:
    data = workdir / "data"
    data.mkdir()
    public = f"http://127.0.0.1:{free_port()}"
    async with tg.FakeTelegram() as telegram, wa.FakeWhatsApp() as whatsapp, FakeRedis() as redis:
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{telegram.base_url}/bot{tg.TOKEN}/setWebhook",
                json={"url": f"{public}/webhooks/telegram", "secret_token": WEBHOOK_SECRET},
            )
            assert answer.json()["ok"], answer.text
        values = {
            "DATABASE_URL": database_url,
            "OPTIBOT_DATA_DIR": str(data),
            "OPTIBOT_FILE_KEY": Fernet.generate_key().decode(),
            "TELEGRAM_BOT_TOKEN": tg.TOKEN,
            "TELEGRAM_API_URL": telegram.base_url,
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PUBLIC_URL": public,
            "WHATSAPP_ACCESS_TOKEN": wa.TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": wa.PHONE_NUMBER_ID,
            "WHATSAPP_APP_SECRET": wa.APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": wa.VERIFY_TOKEN,
            "WHATSAPP_API_URL": whatsapp.base_url,
            "WHATSAPP_BUSINESS_ACCOUNT_ID": wa.WABA_ID,
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(free_port()),
            "RATE_LIMIT_STORAGE": f"redis://127.0.0.1:{redis.port}/0",
        }
        yield Deployment(telegram, whatsapp, redis, values, workdir)
