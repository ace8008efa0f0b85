"""Logging set-up. Log lines carry ids and counts, never what a client wrote (names, phones...)."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Libraries that may print SQL parameters, request bodies or every transition stay at WARNING.
    for noisy in ("sqlalchemy.engine", "aiosqlite", "asyncpg", "httpx", "multipart", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
