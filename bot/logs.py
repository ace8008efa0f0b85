"""Logging set-up. Log lines carry ids and counts, never what a client wrote (names, phones...)."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

# Libraries that may print SQL parameters or request bodies, or that are chatty at INFO (every
# transition, every migration step in the middle of a terminal chat), stay at WARNING.
_NOISY = ("sqlalchemy.engine", "aiosqlite", "asyncpg", "httpx", "multipart", "transitions", "alembic")


def configure_logging(level: str = "INFO", form: str = "text", stream: TextIO | None = None) -> None:
    """``form`` text: one readable line per event; json: one JSON object per line
    (:class:`JsonFormatter`), for a log collector."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if form == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


# A LogRecord's own attributes; any other one was given through ``extra=`` and becomes a field.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the ``extra=``
    fields, and for an exception ``error`` as :func:`describe` says it (never its text, which may
    quote client data, nor a traceback). Uvicorn's access lines keep the method, the path without
    its query string, and the status: not the client's address."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            _, method, path, _, status = record.args
            entry["message"] = "request"
            entry.update(method=str(method), path=str(path).split("?", 1)[0], status=status)
        else:
            entry["message"] = record.getMessage()
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = describe(record.exc_info[1])
        return json.dumps(entry, ensure_ascii=False, default=str)


_PROJECT_PACKAGES = ("bot", "flows", "storage")


def describe(error: BaseException) -> str:
    """An error for the logs without its message, which may quote client data (a database's
    "Key (...)=(...) already exists" detail, a parser's input): its type, SQLSTATE, and where."""
    original = getattr(error, "orig", None)
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    kind = type(original).__name__ if original is not None else type(error).__name__
    frames = traceback.extract_tb(error.__traceback__)
    # Our own frames say where it happened; the innermost one, how (often inside a library).
    ours = [f for f in frames if Path(f.filename).parent.name in _PROJECT_PACKAGES][-4:]
    chosen = ours + frames[-1:] if frames and (not ours or ours[-1] is not frames[-1]) else ours
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(chosen))
    state = f" sqlstate={sqlstate}" if sqlstate else ""
    return f"{type(error).__name__}({kind}){state} at {where or '?'}"
