"""The fault suite: bounded scenarios of what goes wrong in production, each printing its figures.

Every scenario is an async function ``(scale: Scale) -> Figures`` registered with :func:`scenario`.
``python -m bench.faults`` runs them all at the long scale and prints a table (``--only NAME`` and
``--short`` narrow it); ``tests/faults/`` runs the short scale as part of the test suite and asserts
the zeros. The figures of the long run are kept in ``docs/RELIABILITY.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

ScaleName = Literal["short", "long"]


@dataclass(frozen=True, slots=True)
class Scale:
    """How big a run is: ``short`` fits in the test suite (seconds), ``long`` is the README's command."""

    name: ScaleName

    def pick(self, short: int, long: int) -> int:
        return short if self.name == "short" else long


@dataclass(slots=True)
class Figures:
    """What one scenario measured. The four counters are the ones that must be zero."""

    scenario: str
    sent: int = 0  # inputs the scenario produced (messages, requests, updates)
    lost: int = 0  # acknowledged inputs with no effect (no stored message, no reply)
    duplicated: int = 0  # effects that happened twice without a crash to explain them
    out_of_order: int = 0  # recipients who read replies in another order than they were written
    server_errors: int = 0  # HTTP 5xx answered to an input that will never become valid
    repeats_after_crash: int = 0  # sends repeated because a process died between send and record
    extra: dict[str, float | int | str] = field(default_factory=dict)  # scenario-specific figures

    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order or self.server_errors)


Scenario = Callable[[Scale], Awaitable[Figures]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    """Register a scenario under ``name`` (its module must be imported by ``bench.faults.__main__``)."""

    def register(function: Scenario) -> Scenario:
        SCENARIOS[name] = function
        return function

    return register
