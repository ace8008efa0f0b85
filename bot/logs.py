"""Logging set-up. Log lines carry ids and counts, never what a client wrote (names, phones...)."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

# Libraries that may print SQL parameters or request bodies, or that are chatty at INFO (every
# transition, every migration step in the middle of a terminal chat), stay at WARNING.
_NOISY = ("sqlalchemy.engine", "aiosqlite", "asyncpg", "httpx", "multipart", "transitions", "alembic")


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
