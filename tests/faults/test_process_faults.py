"""The fault suite's process scenarios at the short scale (``python -m bench.faults --short``):
real ``optibot run`` processes on PostgreSQL against the fake Bot API, bursts across three of them,
SIGKILLs, a takeover after a death, and a private PostgreSQL server stopped under load.

Each prints its figures (``pytest -s`` shows them; a failure quotes them) and must be clean: nothing
acknowledged lost, no reply twice without a crash to explain it, every chat in the order written, no
5xx to a valid update.
"""

from __future__ import annotations

import pytest

from bench.faults import SCENARIOS, Figures, Scale
from bench.faults.__main__ import load_scenarios, table_header, table_line
from bench.faults.processes import TAKEOVER_TARGET
from tests.conftest import PostgresTemplate

load_scenarios()

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SHORT = Scale("short")
# At most this many replies sent again per SIGKILL: the sends a process had made and not recorded.
REPEATS_PER_KILL = 5
# The takeover target is about 10 s; the margin absorbs a loaded test machine.
TAKEOVER_MARGIN = 5.0


@pytest.fixture(autouse=True)
def _shared_postgres(postgres_template: PostgresTemplate | str) -> None:
    """The scenarios make their own databases; skip only where PostgreSQL is not required."""
    if isinstance(postgres_template, str):
        pytest.skip(postgres_template)


async def run(name: str) -> Figures:
    figures = await SCENARIOS[name](SHORT)
    print(f"\n{table_header()}\n{table_line(figures)}")
    return figures


async def test_bursts_across_three_processes_reach_every_chat_once_and_in_order() -> None:
    figures = await run("burst-3-processes")
    assert figures.clean(), table_line(figures)
    assert figures.repeats_after_crash == 0, table_line(figures)  # nothing was killed
    assert figures.sent > 0
    assert figures.extra["replies"] == figures.extra["sends"], table_line(figures)
    assert int(figures.extra["replies"]) >= figures.sent, table_line(figures)


async def test_sigkills_under_load_lose_nothing_and_repeat_little() -> None:
    figures = await run("sigkill")
    assert figures.clean(), table_line(figures)
    kills = int(figures.extra["kills"])
    assert kills == 3, table_line(figures)
    assert figures.repeats_after_crash <= REPEATS_PER_KILL * kills, table_line(figures)


async def test_a_dead_process_messages_are_answered_by_another_within_seconds() -> None:
    figures = await run("takeover")
    assert figures.clean(), table_line(figures)
    assert int(figures.extra["stranded"]) > 0, table_line(figures)
    takeover = figures.extra["takeover_s"]
    assert isinstance(takeover, float), table_line(figures)
    assert takeover <= TAKEOVER_TARGET + TAKEOVER_MARGIN, table_line(figures)


async def test_postgres_stopped_under_load_loses_nothing_and_recovers() -> None:
    figures = await run("postgres-stop")
    assert figures.clean(), table_line(figures)
    assert isinstance(figures.extra["recovery_s"], float), table_line(figures)
