"""The README's promises: its two commands work on a fresh clone, and every setting is documented."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from bot.settings import Settings
from tests.e2e.servers import ROOT, free_port

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    assert "make run" in README
    assert "make test" in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    expected = {name.upper() for name in Settings.model_fields}
    assert listed == expected
    # Each setting has a comment line right above its block explaining it.
    assert example.count("\n#") >= len(expected) // 2


def test_make_run_on_a_fresh_clone(tmp_path: Path) -> None:
    """`git clone` then `make run`, as a new user would: venv, install, migrate, serve, chat."""
    clone = tmp_path / "optibot"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "OPTIBOT_", "WEB_"))}
    env.pop("VIRTUAL_ENV", None)
    log = (tmp_path / "make-run.log").open("wb")
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert process.poll() is None, (tmp_path / "make-run.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "make run did not serve within 10 minutes"
            time.sleep(0.5)
        with httpx.Client(base_url=base, timeout=10) as client:
            client.get("/api/chat/history").raise_for_status()
            body = {"id": uuid.uuid4().hex, "text": "mes lunettes sont cassées"}
            assert client.post("/api/chat/messages", json=body).status_code == 202
            with client.stream("GET", "/api/chat/events?after=0") as stream:
                data = next(line for line in stream.iter_lines() if line.startswith("data: "))
            assert "Opticiens Mobiles" in data
        assert (clone / "optibot.db").exists()  # the embedded default, created on first run
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
