"""The members' request flow (issue 16), a second ``transitions`` table beside the intake's: the
kind of help, what it needs (an amount, months), details, an optional document, a summary to
confirm, and a reference. Pure, like :class:`flows.followup.FollowUpFlow`: a member's session (state
and what was gathered) and what they said go in; the new state, the replies and the effects come
out, and the desk (``bot/members/desk.py``) persists them in ``member_sessions`` and applies the
effects in the message's transaction. ``flows/diagram.py`` draws this table.

- ``idle``: no request under way; free text joins the member's open request (``RelayToRequest``),
  or, when they have none, the members' menu is shown;
- ``menu`` / ``annuler`` / ``aide`` work at every step; three misses at a step offer the menu;
- a button whose step is not the current one (an old message, a tampered payload) is refused
  politely with the current question again; the menu's own buttons stay valid at any time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from transitions import EventData, Machine, MachineError

from flows import parsing
from flows.catalog import Catalog
from flows.member_words import format_euros, parse_amount, parse_kind, parse_months
from flows.text import _fold
from flows.types import Choice, ClientInput, Reply

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

MAX_MISSES = 3
MAX_DETAILS = 2000  # characters of details kept (a longer text is cut, and the member told)
MAX_ADVANCE_CENTS = 50_000 * 100  # an advance on commissions above this is not a chat request
MAX_MONTHS = 12
SUMMARY_DETAILS = 400  # characters of the details read back in the summary

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
_BUTTONS: dict[str, dict[str, str]] = {
    "kind": dict.fromkeys(KINDS, "choose_kind"),
    "document": {"skip": "skip_document"},
    "summary": {"send": "confirm", "change": "change", "cancel": "cancel"},
    "change": {"kind": "change_kind", "details": "change_details", "document": "change_document"},
}
_MENU_EVENTS = {"request": "start", "video": "video", "account": "account"}
# The members' own commands (slash commands, and their words).
_MEMBER_COMMANDS = {
    "/menu": "open_menu",
    "/start": "open_menu",
    "/accompagnement": "start",
    "/demande": "start",
    "/moncompte": "account",
}
_MENU_WORDS = frozenset({"menu", "le menu", "retour au menu", "revenir au menu", "main menu", "accueil"})
_COMMAND_EVENTS = {"cancel": "cancel", "help": "help", "restart": "start", "new_request": "start"}


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


# --- free-text answers ------------------------------------------------------------------------

_SKIP_WORDS = frozenset(
    {
        "passer",
        "passe",
        "skip",
        "aucun",
        "aucune",
        "rien",
        "pas de document",
        "sans document",
        "non merci",
        "no",
    }
)
_SEND_WORDS = frozenset(
    {"envoyer", "envoie", "envoyez", "valider", "valide", "confirmer", "confirme", "send"}
)
_CHANGE_WORDS = frozenset({"modifier", "modifie", "changer", "change", "corriger", "edit"})


def _folded(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9/ ]+", " ", _fold(text[:200])).split())


# --- the model and the flow ---------------------------------------------------------------------


class MemberModel:
    """One member's session while one message is handled; the machine's callbacks."""

    def __init__(
        self, session: MemberSession, context: MemberContext, flow: MemberFlow, result: MemberResult
    ):
        self.session = session
        self.data = session.data
        self.context = context
        self.state = session.state if session.state in MEMBER_STATES else IDLE
        self.flow = flow
        self.result = result
        self.hint: str | None = None  # why the answer was not taken (a catalogue key)
        self.said: ClientInput = ClientInput()

    def text(self, key: str, **values: object) -> str:
        return self.flow.catalog.text("fr", key, **values)

    def say(
        self, key: str, choices: tuple[tuple[str, str], ...] = (), step: str | None = None, **values: object
    ) -> None:
        offered = tuple(Choice(value, self.text(label)) for value, label in choices)
        self.result.replies.append(Reply(key, self.text(key, **values), offered, step))

    def menu(self, key: str = "member.menu") -> None:
        self.say(key, MENU_CHOICES, MENU_STEP)

    # guards
    def wants_amount(self, event: EventData) -> bool:
        return self.data.get("kind") == "commission_advance"

    def wants_months(self, event: EventData) -> bool:
        return self.data.get("kind") == "royalty_deferral"

    def details_known(self, event: EventData) -> bool:
        return bool(self.data.get("details"))

    def document_decided(self, event: EventData) -> bool:
        return bool(self.data.get("document_decided"))

    def has_open_request(self, event: EventData) -> bool:
        return self.context.open_reference is not None

    def may_retry(self, event: EventData) -> bool:
        return self.session.misses + 1 < MAX_MISSES

    # the questions, by state
    def ask(self, event: EventData | None = None) -> None:
        state = self.state
        if state == "kind":
            choices = tuple((kind, f"member.kind.{kind}") for kind in KINDS)
            self.say("member.ask_kind", choices, KIND_STEP)
        elif state == "amount":
            self.say("member.ask_amount", maximum=format_euros(MAX_ADVANCE_CENTS))
        elif state == "months":
            self.say("member.ask_months", maximum=MAX_MONTHS)
        elif state == "details":
            self.say("member.ask_details", kind=self.text(f"member.kind.{self.data.get('kind', 'other')}"))
        elif state == "document":
            self.say("member.ask_document", (("skip", "member.skip_document"),), DOCUMENT_STEP)
        elif state == "summary":
            self.summary()
        elif state == "change":
            choices = (
                ("kind", "member.change_kind"),
                ("details", "member.change_details"),
                ("document", "member.change_document"),
            )
            self.say("member.ask_change", choices, CHANGE_STEP)
        else:
            self.menu()

    def summary(self) -> None:
        data = self.data
        lines = [self.text("member.summary_kind", kind=self.text(f"member.kind.{data['kind']}"))]
        if data.get("amount_cents") is not None:
            lines.append(self.text("member.summary_amount", amount=format_euros(int(data["amount_cents"]))))
        if data.get("months") is not None:
            lines.append(self.text("member.summary_months", months=int(data["months"])))
        details = str(data.get("details", ""))
        if len(details) > SUMMARY_DETAILS:
            details = details[: SUMMARY_DETAILS - 1].rstrip() + "…"
        lines.append(self.text("member.summary_details", details=details))
        document = data.get("document_name")
        lines.append(
            self.text("member.summary_document", name=document)
            if data.get("document_path")
            else self.text("member.summary_no_document")
        )
        choices = (("send", "member.send"), ("change", "member.change"), ("cancel", "member.cancel"))
        self.say("member.summary", choices, SUMMARY_STEP, lines="\n".join(lines))

    # actions
    def show_menu(self, event: EventData) -> None:
        self.drop_draft()  # the menu leaves a request under way: nothing resumes it
        if self.hint is not None:  # a file or a sticker outside a flow: why nothing was done with it
            self.say(self.hint)
        self.menu()

    def start_request(self, event: EventData) -> None:
        self.drop_draft()
        kind = event.kwargs.get("value")
        if kind in KINDS:  # "/accompagnement" said with the kind ("une avance sur commissions")
            self.data["kind"] = kind
            self.state = "kind"
            self.flow.fire(self, "choose_kind", kind)
            return
        self.ask()

    def offer_video(self, event: EventData) -> None:
        self.drop_draft()
        self.result.effects.append(OfferVideo())

    def show_account(self, event: EventData) -> None:
        self.result.effects.append(ShowAccount())

    def drop_draft(self) -> None:
        """The request under way is dropped: its document deleted, what was gathered forgotten."""
        self.drop_document()
        self.data.clear()

    def drop_document(self) -> None:
        path = self.data.pop("document_path", None)
        self.data.pop("document_name", None)
        if isinstance(path, str):
            self.result.effects.append(DiscardFile(path))

    def document_early(self, event: EventData) -> None:
        """A file sent while the details are asked: kept as the document; the details still asked."""
        self.keep_document()
        self.say("member.document_early")

    def attach_document(self, event: EventData) -> None:
        self.keep_document()

    def keep_document(self) -> None:
        self.drop_document()
        said = self.said
        if said.media is not None:
            self.data["document_path"] = said.media
            self.data["document_name"] = (said.media_name or "document")[:128]
        self.data["document_decided"] = True

    def submit(self, event: EventData) -> None:
        data = self.data
        self.result.effects.append(
            SubmitRequest(
                kind=str(data["kind"]),
                details=str(data["details"]),
                amount_cents=data.get("amount_cents"),
                months=data.get("months"),
                document_path=data.get("document_path"),
                document_name=data.get("document_name"),
            )
        )
        data.clear()  # the request keeps it now

    def cancel_request(self, event: EventData) -> None:
        self.drop_draft()
        self.menu("member.cancelled")

    def nothing_to_cancel(self, event: EventData) -> None:
        self.menu("member.nothing_to_cancel")

    def relay(self, event: EventData) -> None:
        self.result.effects.append(RelayToRequest(self.said.text or ""))

    def ask_again(self, event: EventData) -> None:
        self.data["misses"] = self.session.misses + 1
        if self.hint is not None:
            self.say(self.hint, maximum=format_euros(MAX_ADVANCE_CENTS), months=MAX_MONTHS)
        self.ask()

    def give_up(self, event: EventData) -> None:
        self.drop_draft()
        self.menu("member.gave_up")

    def help(self, event: EventData) -> None:
        self.say("member.help")
        self.ask()

    def refuse_stale(self, event: EventData) -> None:
        self.say("member.stale")
        self.ask()


class MemberFlow:
    """Reads a member's message: pure. The machine is built once; each message gets a model."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.machine = Machine(
            model=None,
            states=MEMBER_STATES,
            transitions=MEMBER_TRANSITIONS,
            initial=IDLE,
            auto_transitions=False,
            send_event=True,
        )

    def handle(self, session: MemberSession, context: MemberContext, said: ClientInput) -> MemberResult:
        result = MemberResult()
        model = MemberModel(session, context, self, result)
        model.said = said
        event, value = self._event(model, said)
        if said.media is not None and event != "attach":
            result.effects.append(DiscardFile(said.media))  # a file no step of the flow asked for
        before = model.state
        if not self.fire(model, event, value):
            self.fire(model, "miss", None)
        if event not in ("miss", "help", "stale") and (model.state != before or event == "attach"):
            session.data.pop("misses", None)
        session.state = model.state
        return result

    def fire(self, model: MemberModel, event: str, value: str | None) -> bool:
        transition = self.machine.events.get(event)
        try:
            return transition is not None and bool(transition.trigger(model, value=value))
        except MachineError:
            return False

    def _event(self, model: MemberModel, said: ClientInput) -> tuple[str, str | None]:
        state = model.state
        if said.choice is not None:
            return self._button(model, state, said)
        if said.media is not None:
            if state in ("details", "document"):
                return ("attach", None)
            model.hint = "member.unexpected_file"
            return ("miss", None)
        if said.unsupported is not None:
            model.hint = "member.unsupported_file" if said.unsupported == "file" else "member.unsupported"
            return ("miss", None)
        text = (said.text or "").strip()
        if not text:
            return ("miss", None)
        folded = _folded(text)
        command = folded.split(" ", 1)[0].split("@", 1)[0] if folded.startswith("/") else ""
        if command in _MEMBER_COMMANDS:
            rest = folded.split(" ", 1)[1] if " " in folded else ""
            kind = parse_kind(rest) if command in ("/accompagnement", "/demande") and rest else None
            return (_MEMBER_COMMANDS[command], kind)
        if folded in _MENU_WORDS:
            return ("open_menu", None)
        reading = parsing.parse_command(text)
        if reading is not None and reading[0] in _COMMAND_EVENTS:
            return (_COMMAND_EVENTS[reading[0]], None)
        return self._answer(model, state, text, folded)

    def _button(self, model: MemberModel, state: str, said: ClientInput) -> tuple[str, str | None]:
        value = said.choice or ""
        if said.step == MENU_STEP:  # the menu's buttons stay valid at any time
            return (_MENU_EVENTS[value], None) if value in _MENU_EVENTS else ("stale", None)
        event = _BUTTONS.get(state, {}).get(value)
        if said.step != f"m.{state}" or event is None:
            return ("stale", None)
        if event == "choose_kind":
            model.data["kind"] = value
            for field_name in ("amount_cents", "months"):
                model.data.pop(field_name, None)
        if event == "skip_document":
            model.drop_document()
            model.data["document_decided"] = True
        return (event, None)

    def _answer(self, model: MemberModel, state: str, text: str, folded: str) -> tuple[str, str | None]:
        data = model.data
        if state == IDLE:
            return ("message", None)
        if state == "kind":
            index = parsing.parse_choice_number(text, len(KINDS))
            kind = KINDS[index] if index is not None else parse_kind(text)
            if kind is None:
                model.hint = "member.kind_unclear"
                return ("miss", None)
            data["kind"] = kind
            data.pop("amount_cents", None)
            data.pop("months", None)
            return ("choose_kind", None)
        if state == "amount":
            amount = parse_amount(text)
            if amount is None:
                model.hint = "member.amount_unclear"
            elif amount <= 0:
                model.hint = "member.amount_not_positive"
            elif amount * 100 > MAX_ADVANCE_CENTS:
                model.hint = "member.amount_too_large"
            else:
                data["amount_cents"] = int((amount * 100).to_integral_value())
                return ("give_amount", None)
            return ("miss", None)
        if state == "months":
            months = parse_months(text)
            if months is None or not 1 <= months <= MAX_MONTHS:
                model.hint = "member.months_unclear"
                return ("miss", None)
            data["months"] = months
            return ("give_months", None)
        if state == "details":
            if len(text) > MAX_DETAILS:
                text = text[:MAX_DETAILS].rstrip()
                model.say("member.details_cut", limit=MAX_DETAILS)
            data["details"] = text
            return ("give_details", None)
        if state == "document":
            if folded in _SKIP_WORDS or parsing.parse_yes_no(text) is False:
                model.drop_document()
                data["document_decided"] = True
                return ("skip_document", None)
            model.hint = "member.document_unclear"
            return ("miss", None)
        if state == "summary":
            if folded in _SEND_WORDS or parsing.parse_yes_no(text) is True:
                return ("confirm", None)
            if folded in _CHANGE_WORDS or parsing.parse_yes_no(text) is False:
                return ("change", None)
            model.hint = "member.summary_unclear"
            return ("miss", None)
        if state == "change":
            index = parsing.parse_choice_number(text, 3)
            if index is not None:
                return (("change_kind", "change_details", "change_document")[index], None)
            kind_words = {"type", "genre", "nature", "kind"}
            if kind_words & set(folded.split()):
                return ("change_kind", None)
            if {"document", "fichier", "photo", "pdf", "piece"} & set(folded.split()):
                return ("change_document", None)
            if {"precisions", "details", "texte", "message", "description"} & set(folded.split()):
                return ("change_details", None)
            model.hint = "member.change_unclear"
            return ("miss", None)
        return ("miss", None)
