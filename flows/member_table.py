"""The members' request flow's table (issue 16): its states, what moves between them, the buttons
of each question, and what goes in and out of the flow (the session, the effects) — data only.

``flows/members.py`` runs it with ``transitions``; ``flows/diagram.py`` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flows.types import Reply

# The kinds of help a member may ask for (their labels: flows/texts/<lang>/members.toml).
KINDS = (
    "state_aid",  # aides de l'État / fonds de solidarité
    "short_time",  # chômage partiel
    "guaranteed_loan",  # prêt garanti
    "commission_advance",  # avance sur commissions (an amount)
    "royalty_deferral",  # report de redevances (months)
    "video",  # visio de suivi
    "other",
)

# Buttons' steps (bot.desk.MEMBER_STEP_PREFIX is "m."): the menu's stay valid at any time, the
# others only while the session is at that state.
MENU_STEP = "m.menu"
KIND_STEP = "m.kind"
DOCUMENT_STEP = "m.document"
SUMMARY_STEP = "m.summary"
CHANGE_STEP = "m.change"
MENU_CHOICES = (
    ("request", "member.menu_request"),
    ("video", "member.menu_video"),
    ("account", "member.menu_account"),
)

IDLE = "idle"
_ASKING = ["kind", "amount", "months", "details", "document", "summary", "change"]
MEMBER_STATES = [IDLE, *_ASKING]


def _row(
    trigger: str, source: str | list[str], dest: str | None, after: str | list[str], if_: str = ""
) -> dict[str, Any]:
    """One transition: ``dest`` None stays at the step; ``if_`` names the guard, if any."""
    row: dict[str, Any] = {"trigger": trigger, "source": source, "dest": dest, "after": after}
    if if_:
        row["conditions"] = if_
    return row


# trigger, from, to, then, if
MEMBER_TRANSITIONS: list[dict[str, Any]] = [
    _row("open_menu", "*", IDLE, "show_menu"),
    _row("start", "*", "kind", "start_request"),
    _row("video", "*", IDLE, "offer_video"),
    _row("account", "*", None, "show_account"),
    _row("choose_kind", "kind", "amount", "ask", "wants_amount"),
    _row("choose_kind", "kind", "months", "ask", "wants_months"),
    _row("choose_kind", "kind", "summary", "ask", "details_known"),
    _row("choose_kind", "kind", "details", "ask"),
    _row("give_amount", "amount", "summary", "ask", "details_known"),
    _row("give_amount", "amount", "details", "ask"),
    _row("give_months", "months", "summary", "ask", "details_known"),
    _row("give_months", "months", "details", "ask"),
    _row("give_details", "details", "summary", "ask", "document_decided"),
    _row("give_details", "details", "document", "ask"),
    _row("attach", "details", None, "document_early"),
    _row("attach", "document", "summary", ["attach_document", "ask"]),
    _row("skip_document", "document", "summary", "ask"),
    _row("confirm", "summary", IDLE, "submit"),
    _row("change", "summary", "change", "ask"),
    _row("change_kind", "change", "kind", "ask"),
    _row("change_details", "change", "details", "ask"),
    _row("change_document", "change", "document", "ask"),
    _row("cancel", _ASKING, IDLE, "cancel_request"),
    _row("cancel", IDLE, None, "nothing_to_cancel"),
    _row("message", IDLE, None, "relay", "has_open_request"),
    _row("message", IDLE, None, "show_menu"),
    _row("miss", _ASKING, None, "ask_again", "may_retry"),
    _row("miss", _ASKING, IDLE, "give_up"),
    _row("miss", IDLE, None, "show_menu"),
    _row("help", "*", None, "help"),
    _row("stale", "*", None, "refuse_stale"),
]

# The buttons of each question: value → event.
BUTTONS: dict[str, dict[str, str]] = {
    "kind": dict.fromkeys(KINDS, "choose_kind"),
    "document": {"skip": "skip_document"},
    "summary": {"send": "confirm", "change": "change", "cancel": "cancel"},
    "change": {"kind": "change_kind", "details": "change_details", "document": "change_document"},
}
MENU_EVENTS = {"request": "start", "video": "video", "account": "account"}
# The members' own commands (slash commands, and their words).
MEMBER_COMMANDS = {
    "/menu": "open_menu",
    "/start": "open_menu",
    "/accompagnement": "start",
    "/demande": "start",
    "/moncompte": "account",
}
MENU_WORDS = frozenset({"menu", "le menu", "retour au menu", "revenir au menu", "main menu", "accueil"})
COMMAND_EVENTS = {"cancel": "cancel", "help": "help", "restart": "start", "new_request": "start"}


# --- effects the desk applies -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    """The member confirmed their request: the desk creates it (status new) with a reference."""

    kind: str
    details: str
    amount_cents: int | None = None
    months: int | None = None
    document_path: str | None = None
    document_name: str | None = None


@dataclass(frozen=True, slots=True)
class OfferVideo:
    """ "Réserver une visio de suivi": the desk offers the free slots (bot/members/slots.py)."""


@dataclass(frozen=True, slots=True)
class ShowAccount:
    """ "Mon compte" or ``/moncompte``: the member's record (bot/members/account.py)."""


@dataclass(frozen=True, slots=True)
class RelayToRequest:
    """Free text outside a flow: it joins the member's open request as an "in" message."""

    text: str


@dataclass(frozen=True, slots=True)
class DiscardFile:
    """A file the member sent that no request keeps (not at the document step, or replaced)."""

    path: str


MemberEffect = SubmitRequest | OfferVideo | ShowAccount | RelayToRequest | DiscardFile


@dataclass(slots=True)
class MemberSession:
    """Where a member stands (``member_sessions``): the state, what was gathered, misses at this step."""

    state: str = IDLE
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def misses(self) -> int:
        return int(self.data.get("misses", 0))


@dataclass(frozen=True, slots=True)
class MemberContext:
    """What the flow may know of the outside world: the member's open request, if any."""

    open_reference: str | None = None


@dataclass(slots=True)
class MemberResult:
    replies: list[Reply] = field(default_factory=list)
    effects: list[MemberEffect] = field(default_factory=list)
