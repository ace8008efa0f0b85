"""The buttons an optician presses, as typed values: what each one packs into its choice value and
how a pressed one is read back.

The wire format (Telegram callback data ``<step>:<value>``) is ``offer:<offer id>.a`` (accept) or
``.d`` (decline), and ``visit:<case id>.done`` / ``.fail``, then ``visit:<case id>.<reason>``;
``visit:<case id>.route`` (on the way). The visit's hour: ``visit:<case id>.<yyyymmdd>.<hh>`` (a
one-hour window), ``visit:<case id>.<yyyymmdd>.am|pm`` (that half-day's windows) or
``visit:<case id>.more`` (other half-days). The client's answer to a proposal carries the case and
the proposal's number in its step, ``rdv.<case id>.<n>``, and ``rdv_ok`` or ``rdv_other`` as its
value; on a confirmed one, ``rdv_move`` or ``rdv_cancel`` (catalogue short labels exist for
WhatsApp's buttons). The channel joins step and value and splits them again; only this module
knows what a value holds. Anything else is refused, and what a button names is checked against
the database when it is pressed (the chat holds the case, the proposal is the current one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar, Literal, get_args

from bot.desk import OFFER_STEP, VISIT_STEP
from flows.followup import APPOINTMENT_STEP

FailReason = Literal["absent", "address", "other"]
VisitVerb = Literal["done", "fail", "route", "absent", "address", "other"]
HalfDay = Literal["am", "pm"]
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


@dataclass(frozen=True, slots=True)
class SlotPick:
    """The optician picks the visit's moment: a one-hour window (``day`` and ``hour``), a
    half-day whose windows to show (``day`` and ``part``), or other half-days (neither)."""

    case_id: str
    day: date | None = None
    hour: int | None = None
    part: HalfDay | None = None
    step: ClassVar[str] = VISIT_STEP

    def pack(self) -> str:
        if self.day is None:
            return f"{self.case_id}.{_MORE}"
        when = f"{self.hour:02d}" if self.hour is not None else self.part
        return f"{self.case_id}.{self.day:%Y%m%d}.{when}"


@dataclass(frozen=True, slots=True)
class ProposalAnswer:
    """The client's answer to proposal ``proposal`` of the case's appointment: confirmed, or
    another moment asked for."""

    case_id: str
    proposal: int
    confirm: bool

    @property
    def step(self) -> str:
        return f"{APPOINTMENT_STEP}.{self.case_id}.{self.proposal}"

    @property
    def value(self) -> str:
        return CONFIRM if self.confirm else ANOTHER_MOMENT


CONFIRM, ANOTHER_MOMENT = "rdv_ok", "rdv_other"
# On a confirmed appointment: move it (the optician proposes again), or cancel the visit (the
# follow-up's "annuler", confirmed first). Words do the same (flows/followup.py).
MOVE, CANCEL = "rdv_move", "rdv_cancel"
_MORE = "more"


def parse(step: str, value: str) -> OfferAnswer | VisitOutcome | SlotPick | None:
    """The button pressed, or None for a step or a value no button of ours carries."""
    target, _, verb = value.rpartition(".")
    if step == OFFER_STEP and verb in (_ACCEPT, _DECLINE):
        return OfferAnswer(target, accept=verb == _ACCEPT)
    if step == VISIT_STEP:
        for known in _VISIT_VERBS:
            if verb == known:
                return VisitOutcome(target, known)
        return _slot(value)
    return None


def _slot(value: str) -> SlotPick | None:
    parts = value.split(".")
    if len(parts) == 2 and parts[1] == _MORE and parts[0]:
        return SlotPick(parts[0])
    if len(parts) != 3 or not parts[0] or len(parts[1]) != 8 or not parts[1].isdigit():
        return None
    try:
        day = datetime.strptime(parts[1], "%Y%m%d").date()
    except ValueError:
        return None
    when = parts[2]
    if when == "am":
        return SlotPick(parts[0], day, part="am")
    if when == "pm":
        return SlotPick(parts[0], day, part="pm")
    if len(when) == 2 and when.isdigit():
        return SlotPick(parts[0], day, hour=int(when))
    return None


def parse_answer(step: str | None, value: str | None) -> ProposalAnswer | None:
    """The client's answer to a proposal, or None for anything no button of ours carries."""
    named = appointment_of_step(step)
    if named is None or value not in (CONFIRM, ANOTHER_MOMENT):
        return None
    return ProposalAnswer(named[0], named[1], confirm=value == CONFIRM)


def appointment_of_step(step: str | None) -> tuple[str, int] | None:
    """The case's public id and the proposal a client's button names (``rdv.<case>.<n>``)."""
    prefix, _, rest = (step or "").partition(".")
    case_id, _, number = rest.rpartition(".")
    if prefix != APPOINTMENT_STEP or not case_id or not number.isdigit() or len(number) > 4:
        return None
    return case_id, int(number)
