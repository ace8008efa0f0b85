"""The HTTP scenarios of the fault suite (``bench/faults/http/``) at the short scale.

Each runs the whole app on SQLite and on a scratch PostgreSQL database and prints its figures;
the lost, duplicated, out-of-order and 5xx counters must be zero, and so must the scenario's own
counters named in ``MUST_BE_ZERO``.
"""

from __future__ import annotations

import pytest

from bench.faults import SCENARIOS, Figures, Scale
from bench.faults.http import MUST_BE_ZERO, postgres_unreachable


def _check(figures: Figures) -> None:
    print(f"\n{figures}")
    assert figures.clean(), figures
    zeros = {key: figures.extra.get(key, 0) for key in MUST_BE_ZERO.get(figures.scenario, ())}
    assert not any(zeros.values()), zeros


@pytest.mark.parametrize(
    "name", ["redelivery-reorder", "storm-429-5xx", "poison-webhooks", "malformed-bodies", "flood"]
)
async def test_http_scenario(name: str) -> None:
    reason = await postgres_unreachable()
    if reason is not None:
        pytest.fail(f"the fault suite runs on PostgreSQL too, which is unreachable: {reason}")
    _check(await SCENARIOS[name](Scale("short")))
