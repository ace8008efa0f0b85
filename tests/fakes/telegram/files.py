"""The files the fake Bot API holds: what clients sent and what the bot uploaded, each with a ``file_id``, a
``file_unique_id`` and the path it is downloaded from (``/file/bot<token>/<path>``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass
class StoredFile:
    file_id: str
    unique_id: str
    path: str
    content: bytes


class FileStorage:
    """Files by id (``files``: id -> bytes, as the tests read them) and by download path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self._meta: dict[str, StoredFile] = {}
        self._paths: dict[str, str] = {}

    def store(self, folder: str, extension: str, content: bytes, *, prefix: str) -> StoredFile:
        """Keep ``content`` under a new id starting with ``prefix`` (Telegram's ids say the file's kind)."""
        file_id = prefix + secrets.token_urlsafe(48)
        stored = StoredFile(
            file_id=file_id,
            unique_id="AQAD" + secrets.token_urlsafe(9),
            path=f"{folder}/file_{len(self._meta)}.{extension}",
            content=content,
        )
        self._meta[file_id] = stored
        self._paths[stored.path] = file_id
        self.files[file_id] = content
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self._meta.get(file_id)

    def at(self, path: str) -> bytes | None:
        """The content downloaded from ``path``, if a file is there."""
        file_id = self._paths.get(path)
        return None if file_id is None else self.files[file_id]
