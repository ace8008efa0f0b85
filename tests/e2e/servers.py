"""Start the real service (`optibot run`) as a separate process for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    own = ("DATABASE_", "OPTIBOT_", "WEB_", "TELEGRAM_", "WHATSAPP_", "PUBLIC_URL", "METRICS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    # No /metrics listener unless asked: processes started side by side must not race for 9108.
    env.update({"METRICS_PORT": "", **extra}, DATABASE_URL=database_url, OPTIBOT_DATA_DIR=str(data_dir))
    return env


def wait_until_healthy(base: str, process: subprocess.Popen[bytes], log: Path | None = None) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(log.read_text() if log else "service exited")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("service did not start")
        time.sleep(0.1)


@contextmanager
def service_process(
    database_url: str,
    workdir: Path,
    *,
    log_name: str = "server.log",
    port: int | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`optibot run` on a free port (healthy unless ``wait`` is false: the caller then waits,
    e.g. from a thread while its event loop serves a fake); yields its base URL and process."""
    port = port or free_port()
    log = (workdir / log_name).open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--port", str(port)],
        cwd=workdir,
        env=service_env(database_url, workdir / "data", **(env or {})),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if wait:
            wait_until_healthy(base, process, workdir / log_name)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def running_service(database_url: str, workdir: Path) -> Iterator[str]:
    """`optibot run` on a free port; yields its base URL."""
    with service_process(database_url, workdir) as (base, _):
        yield base
