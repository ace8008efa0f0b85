"""The deployment example (deploy/) is checked by the tools that read it: nginx -t, caddy validate,
systemd-analyze verify; its files agree with each other and with the settings; and a real nginx
with it in front of two `optibot run` processes on PostgreSQL spreads requests over both and passes
the web chat's event stream through unbuffered."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.settings import Settings
from tests.e2e.servers import free_port, service_process
from tests.integration.deploy_tools import (
    DEPLOY,
    caddy_validate,
    nginx_prefix,
    nginx_test,
    systemd_verify,
    tool,
    units_copy,
)

SITE = (DEPLOY / "nginx" / "optibot.conf").read_text()
CADDYFILE = (DEPLOY / "caddy" / "Caddyfile").read_text()
UNITS = ("optibot@8001.service", "optibot@8002.service", "optibot-migrate.service", "optibot.target")


def test_the_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    done = nginx_test(nginx_prefix(tmp_path, SITE))
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_the_caddyfile_passes_caddy_validate(tmp_path: Path) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(CADDYFILE)
    done = caddy_validate(caddyfile)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


def test_the_systemd_units_pass_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    done = systemd_verify(units_copy(tmp_path), *UNITS)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # an unknown or unparsable line is only a warning


def test_the_files_agree_on_the_processes_and_keep_metrics_private() -> None:
    """The target's instances are the proxies' upstreams; no metrics port is proxied; the env
    file names only real settings and leaves each process's ports to its unit."""
    target = (DEPLOY / "systemd" / "optibot.target").read_text()
    wants = re.search(r"^Wants=(.*)$", target, flags=re.M)
    assert wants is not None, target
    ports = set(re.findall(r"optibot@(\d+)\.service", wants.group(1)))
    assert ports, target
    assert set(re.findall(r"server 127\.0\.0\.1:(\d+)", SITE)) == ports
    caddy_upstreams = re.search(r"reverse_proxy ([^{]+)\{", CADDYFILE)
    assert caddy_upstreams is not None
    assert set(re.findall(r"127\.0\.0\.1:(\d+)", caddy_upstreams.group(1))) == ports
    unit = (DEPLOY / "systemd" / "optibot@.service").read_text()
    assert "METRICS_HOST=127.0.0.1" in unit
    assert "METRICS_PORT=1%i" in unit
    metrics_ports = {f"1{port}" for port in ports} | {"9108"}
    for proxy in (SITE, CADDYFILE):
        assert not metrics_ports & set(re.findall(r":(\d+)", proxy)), "a metrics port is behind the proxy"
    env = (DEPLOY / "optibot.env.example").read_text()
    names = re.findall(r"^([A-Z_]+)=", env, flags=re.M)
    fields = {name.upper() for name in Settings.model_fields}
    assert set(names) <= fields, set(names) - fields
    assert not {"WEB_PORT", "METRICS_PORT", "METRICS_HOST"} & set(names)
    assert "FORWARDED_ALLOW_IPS=127.0.0.1" in env


def test_the_ci_installs_the_tools() -> None:
    ci = (DEPLOY.parent / ".ci" / "run").read_text()
    assert "nginx" in ci
    assert "caddy" in ci
    tool("nginx")
    tool("caddy")
    tool("systemd-analyze")


def _read_until(lines: list[str], iterator: Iterator[str], marker: str, deadline: float) -> None:
    while not any(marker in line for line in lines):
        assert time.monotonic() < deadline, f"{marker!r} not received through nginx; got {lines}"
        lines.append(next(iterator))


@pytest.mark.timeout(300)
def test_nginx_in_front_of_two_processes(postgres_url: str, tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    listen = free_port()
    main = nginx_prefix(tmp_path / "nginx", SITE, listen=listen, upstreams=ports)
    assert nginx_test(main).returncode == 0
    env = {"FORWARDED_ALLOW_IPS": "127.0.0.1", "AUTO_MIGRATE": "false"}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with (
        service_process(
            postgres_url, tmp_path / "one", port=ports[0], env={**env, "METRICS_PORT": str(free_port())}
        ),
        service_process(
            postgres_url, tmp_path / "two", port=ports[1], env={**env, "METRICS_PORT": str(free_port())}
        ),
    ):
        nginx = subprocess.Popen(
            [tool("nginx"), "-p", str(main.parent.parent), "-c", str(main), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # its error log is in the prefix's logs/
        )
        try:
            _through_nginx(f"https://127.0.0.1:{listen}", ports)
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)


def _through_nginx(base: str, ports: list[int]) -> None:
    with httpx.Client(base_url=base, verify=False, timeout=30) as client:  # the test's own certificate
        deadline = time.monotonic() + 60
        while True:  # nginx is up when it answers
            try:
                client.get("/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        answered = {client.get("/healthz").headers["x-upstream"] for _ in range(6)}
        assert answered == {f"127.0.0.1:{port}" for port in ports}, answered
        assert client.get("/metrics").status_code == 404

        cursor = client.get("/api/chat/history").json()["cursor"]
        lines: list[str] = []
        with client.stream("GET", f"/api/chat/events?after={cursor}") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            # The stream's first bytes arrive while it stays open: nothing held in a buffer.
            received = stream.iter_lines()
            _read_until(lines, received, "retry:", time.monotonic() + 30)
            posted = client.post("/api/chat/messages", json={"id": uuid.uuid4().hex, "text": "bonjour"})
            assert posted.status_code == 202, posted.text
            _read_until(lines, received, "event: message", time.monotonic() + 60)
