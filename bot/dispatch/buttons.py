"""The buttons an optician presses, as typed values: what each one packs into its choice value and
how a pressed one is read back.

The wire format (Telegram callback data ``<step>:<value>``) is ``offer:<offer id>.a`` (accept) or
``.d`` (decline), and ``visit:<case id>.done`` / ``.fail``, then ``visit:<case id>.<reason>``. The
channel joins step and value and splits them again; only this module knows what a value holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from bot.desk import OFFER_STEP, VISIT_STEP

FailReason = Literal["absent", "address", "other"]
VisitVerb = Literal["done", "fail", "absent", "address", "other"]
FAIL_REASONS: tuple[FailReason, ...] = get_args(FailReason)
_VISIT_VERBS: tuple[VisitVerb, ...] = get_args(VisitVerb)
_ACCEPT, _DECLINE = "a", "d"


@dataclass(frozen=True, slots=True)
class OfferAnswer:
    """A visit offered: accepted, or declined (``offer_id``: the offer's public id)."""

    offer_id: str
    accept: bool
    step: ClassVar[str] = OFFER_STEP

    def pack(self) -> str:
        return f"{self.offer_id}.{_ACCEPT if self.accept else _DECLINE}"


@dataclass(frozen=True, slots=True)
class VisitOutcome:
    """A visit's outcome: done, failed (which asks why), or the reason it failed (``case_id``: the
    case's public id)."""

    case_id: str
    verb: VisitVerb
    step: ClassVar[str] = VISIT_STEP

    def pack(self) -> str:
        return f"{self.case_id}.{self.verb}"


def parse(step: str, value: str) -> OfferAnswer | VisitOutcome | None:
    """The button pressed, or None for a step or a value no button of ours carries."""
    target, _, verb = value.rpartition(".")
    if step == OFFER_STEP and verb in (_ACCEPT, _DECLINE):
        return OfferAnswer(target, accept=verb == _ACCEPT)
    if step == VISIT_STEP:
        for known in _VISIT_VERBS:
            if verb == known:
                return VisitOutcome(target, known)
    return None
