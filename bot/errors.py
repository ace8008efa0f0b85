"""An action refused for a reason the person acting should read (console, registry)."""

from __future__ import annotations


class RefusedError(Exception):
    """RefusedError with the HTTP status to answer and the reason, in the reader's words (French)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
