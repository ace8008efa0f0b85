"""The case lifecycle after hand-off, as a table-driven state machine (``transitions``).

``queued → claimed → dispatched → done``, plus ``cancelled``; the ``release`` action puts a claimed
case back in the queue (the "released" case is queued again). Operator actions (the console, next
issue) are to apply a transition as one conditional UPDATE whose WHERE clause is the action's source
statuses (:func:`sources_of`), so two operators racing cannot both win. Today cases are created
``queued`` and listed in :func:`queue_order_key` order by ``optibot cases list``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from transitions import Machine, MachineError

CaseStatus = Literal["queued", "claimed", "dispatched", "done", "cancelled"]
CASE_STATES: list[str] = ["queued", "claimed", "dispatched", "done", "cancelled"]
OPEN_STATES = ("queued", "claimed", "dispatched")

CASE_TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "claim", "source": "queued", "dest": "claimed"},
    {"trigger": "release", "source": "claimed", "dest": "queued"},
    {"trigger": "dispatch", "source": "claimed", "dest": "dispatched"},
    # Done straight from claimed: an advisor case, or a question answered, has nothing to dispatch.
    {"trigger": "complete", "source": ["claimed", "dispatched"], "dest": "done"},
    {"trigger": "cancel", "source": list(OPEN_STATES), "dest": "cancelled"},
    # Home visits: offered to the opticians as soon as handed off (DISPATCH_AT_HANDOFF), and back
    # to the operators when the optician who took it could not serve.
    {"trigger": "auto_dispatch", "source": "queued", "dest": "dispatched"},
    {"trigger": "visit_failed", "source": "dispatched", "dest": "claimed"},
]

# Mobilised workers first; within a rank, the oldest case first.
PRIORITY_RANK = {"health": 0, "firefighter": 0, "food_retail": 0, "delivery": 0, "other": 0}
NOT_MOBILISED_RANK = 1


class InvalidCaseTransitionError(ValueError):
    """The action does not apply to the case in its current status."""


@dataclass(slots=True)
class CaseModel:
    state: str


class CaseLifecycle:
    """Built once; says where an action takes a case and from which statuses it is allowed."""

    def __init__(self) -> None:
        self.machine = Machine(
            model=None,
            states=CASE_STATES,
            transitions=CASE_TRANSITIONS,
            initial="queued",
            auto_transitions=False,
        )

    def next_status(self, status: str, action: str) -> str:
        model = CaseModel(status)
        event = self.machine.events.get(action)
        try:
            if event is None or not event.trigger(model):
                raise InvalidCaseTransitionError(f"{action} is not allowed from {status}")
        except MachineError as err:
            raise InvalidCaseTransitionError(f"{action} is not allowed from {status}") from err
        return model.state


def sources_of(action: str) -> tuple[str, ...]:
    """The statuses an action may start from: the WHERE clause of its conditional UPDATE."""
    found: list[str] = []
    for transition in CASE_TRANSITIONS:
        if transition["trigger"] == action:
            source = transition["source"]
            found.extend(source if isinstance(source, list) else [source])
    if not found:
        raise InvalidCaseTransitionError(f"unknown action {action}")
    return tuple(found)


def priority_rank(priority: str | None) -> int:
    return PRIORITY_RANK.get(priority or "", NOT_MOBILISED_RANK)


def queue_order_key(priority: str | None, created_at: datetime) -> tuple[int, datetime]:
    """Sort key of the operator queue: mobilised workers first, then age."""
    return (priority_rank(priority), created_at)
