"""The members' request flow (issue 16), a second ``transitions`` table beside the intake's: the
kind of help, what it needs (an amount, months), details, an optional document, a summary to
confirm, and a reference. Pure, like :class:`flows.followup.FollowUpFlow`: a member's session (state
and what was gathered) and what they said go in; the new state, the replies and the effects come
out, and the desk (``bot/members/desk.py``) persists them in ``member_sessions`` and applies the
effects in the message's transaction. Its table (states, transitions, buttons, effects) is
``flows/member_table.py``, which ``flows/diagram.py`` draws.

- ``idle``: no request under way; free text joins the member's open request (``RelayToRequest``),
  or, when they have none, the members' menu is shown;
- ``menu`` / ``annuler`` / ``aide`` work at every step; three misses at a step offer the menu;
- a button whose step is not the current one (an old message, a tampered payload) is refused
  politely with the current question again; the menu's own buttons stay valid at any time.
"""

from __future__ import annotations

from transitions import EventData, Machine, MachineError

from flows import parsing
from flows.catalog import Catalog
from flows.member_table import (
    BUTTONS,
    CHANGE_STEP,
    COMMAND_EVENTS,
    DOCUMENT_STEP,
    IDLE,
    KIND_STEP,
    KINDS,
    MEMBER_COMMANDS,
    MEMBER_STATES,
    MEMBER_TRANSITIONS,
    MENU_CHOICES,
    MENU_EVENTS,
    MENU_STEP,
    MENU_WORDS,
    SUMMARY_STEP,
    DiscardFile,
    MemberContext,
    MemberResult,
    MemberSession,
    OfferVideo,
    RelayToRequest,
    ShowAccount,
    SubmitRequest,
)
from flows.member_words import (
    CHANGE_WORDS,
    SEND_WORDS,
    SKIP_WORDS,
    fold_words,
    format_euros,
    parse_amount,
    parse_kind,
    parse_months,
)
from flows.types import Choice, ClientInput, Reply

MAX_MISSES = 3
MAX_DETAILS = 2000  # characters of details kept (a longer text is cut, and the member told)
MAX_ADVANCE_CENTS = 50_000 * 100  # an advance on commissions above this is not a chat request
MAX_MONTHS = 12
SUMMARY_DETAILS = 400  # characters of the details read back in the summary


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
        folded = fold_words(text)
        command = folded.split(" ", 1)[0].split("@", 1)[0] if folded.startswith("/") else ""
        if command in MEMBER_COMMANDS:
            rest = folded.split(" ", 1)[1] if " " in folded else ""
            kind = parse_kind(rest) if command in ("/accompagnement", "/demande") and rest else None
            return (MEMBER_COMMANDS[command], kind)
        if folded in MENU_WORDS:
            return ("open_menu", None)
        reading = parsing.parse_command(text)
        if reading is not None and reading[0] in COMMAND_EVENTS:
            return (COMMAND_EVENTS[reading[0]], None)
        return self._answer(model, state, text, folded)

    def _button(self, model: MemberModel, state: str, said: ClientInput) -> tuple[str, str | None]:
        value = said.choice or ""
        if said.step == MENU_STEP:  # the menu's buttons stay valid at any time
            return (MENU_EVENTS[value], None) if value in MENU_EVENTS else ("stale", None)
        event = BUTTONS.get(state, {}).get(value)
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
            if folded in SKIP_WORDS or parsing.parse_yes_no(text) is False:
                model.drop_document()
                data["document_decided"] = True
                return ("skip_document", None)
            model.hint = "member.document_unclear"
            return ("miss", None)
        if state == "summary":
            if folded in SEND_WORDS or parsing.parse_yes_no(text) is True:
                return ("confirm", None)
            if folded in CHANGE_WORDS or parsing.parse_yes_no(text) is False:
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
