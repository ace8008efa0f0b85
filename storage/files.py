"""Prescription files: checked, encrypted at rest, stored under the data folder."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = ".file-key"
ACCEPTED = {b"\xff\xd8\xff": ".jpg", b"\x89PNG\r\n\x1a\n": ".png", b"%PDF-": ".pdf"}
# The media type of each accepted file, by the extension :func:`sniff` gives.
MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".pdf": "application/pdf"}


class RejectedFileError(ValueError):
    """Not a JPEG, PNG or PDF, or too large."""


def sniff(content: bytes) -> str:
    """The file's extension from its first bytes (never from the name the client gave)."""
    for magic, suffix in ACCEPTED.items():
        if content.startswith(magic):
            return suffix
    raise RejectedFileError("unsupported file type")


KeyState = Literal["setting", "file", "none", "bad_setting", "bad_file"]


def key_state(root: Path, key: str) -> KeyState:
    """Where the file key comes from and whether it is a Fernet key, without creating one:
    ``setting`` (OPTIBOT_FILE_KEY), ``file`` (the data folder's key file), ``none`` (one will be
    generated at the first start), or ``bad_…`` when it is not a valid key."""
    if key:
        return "setting" if _valid_key(key.encode()) else "bad_setting"
    path = root / KEY_FILE
    if not path.exists():
        return "none"
    try:
        return "file" if _valid_key(path.read_bytes().strip()) else "bad_file"
    except OSError:
        return "bad_file"


def _valid_key(key: bytes) -> bool:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        return False
    return True


class FileStore:
    """Stores files as ``<folder>/<random>.<ext>.enc`` and hands back that relative path."""

    def __init__(self, root: Path, key: str = "", max_bytes: int = 10 * 1024 * 1024) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._key = key.encode() if key else self._local_key()
        self._fernet = Fernet(self._key)

    def _local_key(self) -> bytes:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / KEY_FILE
        if not path.exists():
            key = Fernet.generate_key()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
        return path.read_bytes().strip()

    def derived_key(self, purpose: str) -> bytes:
        """A secret for another use (``purpose``), derived from the file key: the keyed hashes that
        stand in for raw ids (docs/PRIVACY.md). Rotating the file key changes it too."""
        return hmac.new(self._key, b"optibot:" + purpose.encode(), hashlib.sha256).digest()

    def save(self, content: bytes, folder: str = "prescriptions") -> str:
        if len(content) > self.max_bytes:
            raise RejectedFileError("file too large")
        return self._write(content, sniff(content), folder)

    def save_document(self, content: bytes, suffix: str, folder: str = "exports") -> str:
        """Store a document the service made itself (a client's data export), encrypted like the
        rest; its type is ours, so it is not sniffed. ``suffix`` is the extension (".json")."""
        return self._write(content, suffix, folder)

    def _write(self, content: bytes, suffix: str, folder: str) -> str:
        relative = f"{folder}/{secrets.token_hex(16)}{suffix}.enc"
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(self._fernet.encrypt(content))
        os.replace(temporary, target)
        return relative

    def _resolve(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if self.root.resolve() not in path.parents:
            raise RejectedFileError("path outside the data folder")
        return path

    def read(self, relative: str) -> bytes:
        try:
            return self._fernet.decrypt(self._resolve(relative).read_bytes())
        except InvalidToken as err:
            raise RejectedFileError("file cannot be decrypted") from err

    def delete(self, relative: str) -> None:
        self._resolve(relative).unlink(missing_ok=True)

    def older_than(self, folder: str, seconds: float, now: float) -> list[str]:
        """Files of ``folder`` last written more than ``seconds`` before ``now`` (a POSIX time)."""
        base = self.root / folder
        if not base.is_dir():
            return []
        return sorted(
            f"{folder}/{path.name}"
            for path in base.iterdir()
            if path.is_file() and now - path.stat().st_mtime > seconds
        )
