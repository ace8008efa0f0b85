"""The deployment's files (deploy/) copied into a temporary folder with what only the test machine
has substituted (certificate, ports, the venv's optibot), and the tools that check them. A missing
tool fails the test: CI installs nginx and caddy (.ci/run); systemd-analyze comes with systemd."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HOST = "optibot.example.fr"
OPTIBOT = "/opt/optibot/.venv/bin/optibot"


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is needed to check deploy/ (apt-get install {name}; .ci/run installs it)"
    return found


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for HOST and its key, valid a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def nginx_prefix(
    folder: Path, site: str, *, listen: int | None = None, upstreams: list[int] | None = None
) -> Path:
    """An nginx prefix in ``folder`` whose main config includes ``site`` (deploy/nginx/optibot.conf's
    text) with a test certificate; ``listen``: its https port (and no plain-http server),
    ``upstreams``: the processes' ports. Returns the main config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(folder)
    site = site.replace(f"/etc/letsencrypt/live/{HOST}/fullchain.pem", str(cert))
    site = site.replace(f"/etc/letsencrypt/live/{HOST}/privkey.pem", str(key))
    if listen is not None:
        site = re.sub(r"server \{\n    listen 80;.*?\n\}\n", "", site, count=1, flags=re.S)
        site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{listen} ssl http2;")
        site = site.replace("    listen [::]:443 ssl http2;\n", "")
        # Tells the test which process answered (the deployment itself does not need it).
        site = site.replace(
            f"server_name {HOST};", f"server_name {HOST};\n    add_header X-Upstream $upstream_addr always;"
        )
    if upstreams is not None:
        lines = "".join(f"    server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in upstreams)
        site = re.sub(r"(    server 127\.0\.0\.1:\d+ [^\n]*\n)+", lines, site, count=1)
    for sub in ("conf", "logs", "tmp"):
        (folder / sub).mkdir(exist_ok=True)
    (folder / "conf" / "optibot.conf").write_text(site)
    main = folder / "conf" / "nginx.conf"
    main.write_text(
        f"pid {folder}/nginx.pid;\n"
        f"error_log {folder}/logs/error.log;\n"
        "events {}\n"
        "http {\n"
        + "".join(
            f"    {kind}_temp_path {folder}/tmp/{kind};\n" for kind in ("proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    client_body_temp_path {folder}/tmp/body;\n"
        f"    include {folder}/conf/optibot.conf;\n"
        "}\n"
    )
    return main


def nginx_test(main: Path) -> subprocess.CompletedProcess[str]:
    prefix = main.parent.parent
    return subprocess.run(
        [tool("nginx"), "-t", "-p", str(prefix), "-c", str(main), "-e", str(prefix / "logs" / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
    )


def units_copy(folder: Path) -> Path:
    """deploy/systemd/ with ExecStart pointing at this venv's optibot (verify needs it to exist)."""
    optibot = Path(sys.executable).parent / "optibot"
    assert optibot.exists(), optibot
    for unit in (DEPLOY / "systemd").iterdir():
        (folder / unit.name).write_text(unit.read_text().replace(OPTIBOT, str(optibot)))
    return folder


def systemd_verify(folder: Path, *units: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("systemd-analyze"), "verify", *(str(folder / unit) for unit in units)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
    )


def caddy_validate(caddyfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("caddy"), "validate", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=caddyfile.parent,
        # Caddy's own storage (certificates, autosave) in the test's folder, not the home's.
        env={**os.environ, "XDG_DATA_HOME": str(caddyfile.parent), "XDG_CONFIG_HOME": str(caddyfile.parent)},
    )
