"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_console_browser import CHROMIUM, IN_CI


@pytest.fixture
def chromium() -> Path:
    """The Debian Chromium; without it the test is skipped, except under CI=true where it fails."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} is missing: the console's browser test needs Debian's chromium package"
        if IN_CI:
            pytest.fail(f"{reason} (required under CI=true)")
        pytest.skip(reason)
    return CHROMIUM
