"""The case lifecycle after hand-off, as a table-driven state machine (``transitions``).

``queued → claimed → dispatched → done``, plus ``cancelled``; the ``release`` action puts a claimed
case back in the queue (the "released" case is queued again). Every change of a case's status is a
transition of this table, applied as one conditional UPDATE whose WHERE clause is the action's
source statuses (:func:`sources_of`), so two actors racing cannot both win.

The client's side of a case's life is here too: a client who writes again within
``CASE_REOPEN_DAYS`` of their case being done or cancelled *reopens* it (as a help desk reopens a
resolved conversation), the client may cancel a live case (``client_cancel``), and erasing the
client's data closes a live case, kept as an anonymous statistic (``erase``). Where a client's
message goes is :func:`follow_up_of`; what the bot answers them after hand-off is the table of
``flows/followup.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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
    # A home visit no optician takes becomes a shipment, held by an operator (console).
    {"trigger": "to_shipment", "source": ["claimed", "dispatched"], "dest": "claimed"},
    # The client's side: writing again soon after the end reopens the case; "annuler" (confirmed)
    # cancels it; erasing their data closes it, kept as an anonymous statistic.
    {
        "trigger": "reopen",
        "source": ["done", "cancelled"],
        "dest": "queued",
        "conditions": "within_reopen_delay",
    },
    {"trigger": "client_cancel", "source": list(OPEN_STATES), "dest": "cancelled"},
    {"trigger": "erase", "source": list(OPEN_STATES), "dest": "cancelled"},
]

# Where a client's message goes once their conversation has a case (see :func:`follow_up_of`).
FollowUp = Literal["case", "reopen", "new"]

# Mobilised workers first; within a rank, the oldest case first.
PRIORITY_RANK = {"health": 0, "firefighter": 0, "food_retail": 0, "delivery": 0, "other": 0}
NOT_MOBILISED_RANK = 1
# An ordinary request of normal service (issue 15): after every emergency in the queue.
REQUEST_RANK = 2


class InvalidCaseTransitionError(ValueError):
    """The action does not apply to the case in its current status."""


@dataclass(slots=True)
class CaseModel:
    """A case while one action is tried on it; the guards read the rest."""

    state: str
    closed_at: datetime | None = None
    now: datetime | None = None
    reopen_within: timedelta = timedelta(0)

    def within_reopen_delay(self) -> bool:
        return (
            self.closed_at is not None
            and self.now is not None
            and self.now - self.closed_at <= self.reopen_within
        )


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

    def next_status(self, status: str, action: str, model: CaseModel | None = None) -> str:
        """Where ``action`` takes a case in ``status`` (``model`` carries what guards read)."""
        model = model or CaseModel(status)
        model.state = status
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


def destination_of(action: str) -> str:
    """The status an action takes a case to (one per action in the table)."""
    found = {t["dest"] for t in CASE_TRANSITIONS if t["trigger"] == action}
    if len(found) != 1:
        raise InvalidCaseTransitionError(f"unknown action {action}")
    return str(found.pop())


@dataclass(frozen=True, slots=True)
class Move:
    """One action of the table, as a conditional UPDATE applies it: from any of ``sources`` to
    ``destination`` (``storage.cases.move_case`` is the one writer of a case's status)."""

    action: str
    sources: tuple[str, ...]
    destination: str


def move(action: str) -> Move:
    """The table's move for ``action``; an action the table does not know is refused here."""
    return _MOVES[action] if action in _MOVES else Move(action, sources_of(action), destination_of(action))


def priority_rank(priority: str | None, kind: str = "emergency") -> int:
    """The queue's order: mobilised workers' emergencies, the other emergencies, then ordinary
    requests (an advisor's case ranks by the priority said, like an emergency)."""
    if kind == "request":
        return REQUEST_RANK
    return PRIORITY_RANK.get(priority or "", NOT_MOBILISED_RANK)


_MOVES: dict[str, Move] = {
    t["trigger"]: Move(t["trigger"], sources_of(t["trigger"]), destination_of(t["trigger"]))
    for t in CASE_TRANSITIONS
}


def follow_up_of(
    lifecycle: CaseLifecycle,
    status: str | None,
    closed_at: datetime | None,
    now: datetime,
    reopen_within: timedelta,
) -> FollowUp:
    """Where a client's message goes, given the case of their last conversation.

    A live case gets it (``case``); a case done or cancelled within ``reopen_within`` is reopened
    (``reopen``, the table's guarded ``reopen`` transition); otherwise, or with no case at all, a
    new conversation starts (``new``).
    """
    if status in OPEN_STATES:
        return "case"
    if status is None:
        return "new"
    model = CaseModel(status, closed_at=closed_at, now=now, reopen_within=reopen_within)
    try:
        lifecycle.next_status(status, "reopen", model)
    except InvalidCaseTransitionError:
        return "new"
    return "reopen"


# In someone's hands: an operator's (claimed), or an optician's on a home visit (dispatched); who
# holds such a case may act on it, another operator is told who has it.
HELD_STATES: tuple[str, ...] = ("claimed", "dispatched")
