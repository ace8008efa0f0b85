"""The client's intake conversation as a table-driven state machine (``transitions``).

The machine is built once per process; each message triggers one of its events on a short-lived
:class:`IntakeModel` wrapping the stored conversation. The table below is also the source of the
generated diagram in ``docs/``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import phonenumbers
from transitions import EventData, Machine, MachineError

from flows import parsing
from flows.catalog import Catalog
from flows.steps import STEPS, ChoiceSpec, Step, match_label
from flows.types import (
    LANGUAGES,
    Choice,
    ClientInput,
    ConversationState,
    CreateCase,
    EraseData,
    ExportData,
    FlowContext,
    FlowResult,
    JoinWaitlist,
    Language,
    RecordConsent,
    Reply,
)

CONSENT_WORDING_VERSION = "visit-consent-v1"
MAX_MISSES = 3
MAX_TEXT = 4096
FRANCE_CALLING_CODE = 33
FINAL_STATES = ("handed_off", "ended")
STATES = ["greeting", *STEPS, *FINAL_STATES]

# Answer-taking steps that go straight back to the summary when the client is changing one field
# and everything the summary needs is already known.
_BACK_TO_SUMMARY = ("shipping_address", "visit_address", "visit_slot", "contact_name")

_FORWARD: list[dict[str, Any]] = [
    {"trigger": "begin", "source": "greeting", "dest": "need"},
    {"trigger": "broken", "source": "need", "dest": "urgency", "after": "record"},
    {"trigger": "lost", "source": "need", "dest": "urgency", "after": "record"},
    {"trigger": "unsuitable", "source": "need", "dest": "prescription", "after": "record"},
    {"trigger": "other", "source": "need", "dest": "waitlist_offer", "after": "explain_other"},
    {"trigger": "received", "source": "prescription", "dest": "urgency", "after": "receive"},
    {"trigger": "missing", "source": "prescription", "dest": "waitlist_offer", "after": "explain"},
    {"trigger": "yes", "source": "urgency", "dest": "priority", "after": "record"},
    {"trigger": "no", "source": "urgency", "dest": "waitlist_offer", "after": "explain"},
    {"trigger": "answered", "source": "priority", "dest": "mode", "after": "record"},
    {"trigger": "visit", "source": "mode", "dest": "visit_consent", "after": "record"},
    {"trigger": "shipment", "source": "mode", "dest": "shipping_address", "after": "record"},
    {"trigger": "yes", "source": "visit_consent", "dest": "visit_address", "after": "consent"},
    {
        "trigger": "no",
        "source": "visit_consent",
        "dest": "shipping_address",
        "after": "refuse_visit",
    },
    {"trigger": "given", "source": "visit_address", "dest": "visit_slot", "after": "record"},
    {"trigger": "given", "source": "visit_slot", "dest": "contact_name", "after": "record"},
    {"trigger": "given", "source": "shipping_address", "dest": "contact_name", "after": "record"},
    {"trigger": "given", "source": "contact_name", "dest": "contact_phone", "after": "record"},
    {"trigger": "given", "source": "contact_phone", "dest": "summary", "after": "record"},
    {"trigger": "confirm", "source": "summary", "dest": "handed_off", "after": "create_case"},
    {"trigger": "change_mode", "source": "summary", "dest": "mode", "after": "edit"},
    {
        "trigger": "change_address",
        "source": "summary",
        "dest": "visit_address",
        "conditions": "is_visit",
        "after": "edit",
    },
    {"trigger": "change_address", "source": "summary", "dest": "shipping_address", "after": "edit"},
    {
        "trigger": "change_slot",
        "source": "summary",
        "dest": "visit_slot",
        "conditions": "is_visit",
        "after": "edit",
    },
    {"trigger": "change_name", "source": "summary", "dest": "contact_name", "after": "edit"},
    {"trigger": "change_phone", "source": "summary", "dest": "contact_phone", "after": "edit"},
    {"trigger": "join", "source": "waitlist_offer", "dest": "ended", "after": "join_waitlist"},
    {"trigger": "decline", "source": "waitlist_offer", "dest": "ended", "after": "decline"},
    {"trigger": "erase", "source": "confirm_delete", "dest": "ended", "after": "erase"},
    {"trigger": "keep", "source": "confirm_delete", "dest": None, "after": "resume"},
]

_SHORTCUTS: list[dict[str, Any]] = [
    {
        "trigger": t["trigger"],
        "source": t["source"],
        "dest": "summary",
        "conditions": "ready_for_summary",
        "after": t["after"],
    }
    for t in _FORWARD
    if t["source"] in _BACK_TO_SUMMARY
    or (t["source"] in ("mode", "visit_consent") and t["dest"] == "shipping_address")
]

_GLOBAL: list[dict[str, Any]] = [
    {"trigger": "restart", "source": "*", "dest": "need", "after": "restart"},
    {"trigger": "cancel", "source": "*", "dest": "ended", "after": "cancel"},
    {"trigger": "advisor", "source": "*", "dest": "handed_off", "after": "call_advisor"},
    {"trigger": "delete_data", "source": "*", "dest": "confirm_delete", "after": "ask_delete"},
]

# Shortcuts are listed before the ordinary transitions they override: transitions tries them in order.
TRANSITIONS: list[dict[str, Any]] = _SHORTCUTS + _FORWARD + _GLOBAL

# The fields a complete emergency case needs, by service mode.
REQUIRED = {
    "visit": (
        "need",
        "urgent",
        "mode",
        "address",
        "postal_code",
        "slot",
        "name",
        "phone",
        "consent",
    ),
    "shipment": ("need", "urgent", "mode", "address", "postal_code", "name", "phone"),
}


def build_machine() -> Machine:
    """The one intake machine of a process; models are passed to its events per message."""
    return Machine(
        model=None,
        states=STATES,
        transitions=TRANSITIONS,
        initial="greeting",
        auto_transitions=False,
        send_event=True,
    )


def case_fields(answers: dict[str, Any]) -> dict[str, Any]:
    """The answers a case is made of (partial for an advisor request)."""
    address = answers.get("address") or {}
    priority = answers.get("priority")
    return {
        "need": answers.get("need"),
        "urgent": answers.get("urgent"),
        "priority": None if priority in (None, "none") else priority,
        "mode": answers.get("mode"),
        "address": address.get("address") if address else None,
        "postal_code": address.get("postal_code") if address else None,
        "department": parsing.department_of(address["postal_code"]) if address else None,
        "slot": answers.get("slot"),
        "name": answers.get("name"),
        "phone": answers.get("phone"),
        "prescription": answers.get("prescription"),
        "consent": answers.get("consent"),
    }


def format_phone(e164: str) -> str:
    """A stored E.164 number the way the client would write it (national form for France)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == FRANCE_CALLING_CODE
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return str(phonenumbers.format_number(number, style))


def missing_fields(answers: dict[str, Any]) -> list[str]:
    mode = answers.get("mode")
    if mode not in REQUIRED:
        return ["mode"]
    flat = {**answers, **(answers.get("address") or {})}
    missing = [f for f in REQUIRED[mode] if flat.get(f) in (None, "")]
    if answers.get("need") == "unsuitable" and not answers.get("prescription"):
        missing.append("prescription")
    return missing


class IntakeModel:
    """One conversation while one message is handled: the machine's callbacks live here."""

    def __init__(
        self, convo: ConversationState, ctx: FlowContext, flow: IntakeFlow, result: FlowResult
    ) -> None:
        self.convo = convo
        self.state = convo.state
        self.ctx = ctx
        self.flow = flow
        self.result = result

    @property
    def answers(self) -> dict[str, Any]:
        return self.convo.answers

    def say(self, key: str, **values: object) -> None:
        self.result.replies.append(Reply(key, self.flow.catalog.text(self.convo.language, key, **values)))

    # guards
    def is_visit(self, event: EventData) -> bool:
        return bool(self.answers.get("mode") == "visit")

    def ready_for_summary(self, event: EventData) -> bool:
        if not self.answers.get("editing"):
            return False
        trial = dict(self.answers)
        field = _FIELD_OF_STEP.get(event.transition.source) if event.transition else None
        if field is not None:
            trial[field] = event.kwargs.get("value")
            if field == "consent":
                trial["mode"] = "visit" if event.kwargs.get("value") else "shipment"
            if field == "mode" and trial["mode"] == "shipment":
                trial.pop("slot", None)
        return not missing_fields(trial)

    # actions
    def record(self, event: EventData) -> None:
        assert event.transition is not None
        field = _FIELD_OF_STEP[event.transition.source]
        value = event.kwargs.get("value")
        self.answers[field] = value
        if field == "mode" and value == "shipment":
            self.answers.pop("slot", None)

    def receive(self, event: EventData) -> None:
        self.record(event)
        self.say("prescription.received")

    def explain(self, event: EventData) -> None:
        assert event.transition is not None
        source = event.transition.source
        reason = {"urgency": "not_urgent", "prescription": "no_prescription"}[source]
        self.answers["waitlist_reason"] = reason
        if source == "urgency":
            self.answers["urgent"] = False
            self.say("urgency.not_urgent")
        else:
            self.say("prescription.none_explain")
        self.say("other.explain")

    def explain_other(self, event: EventData) -> None:
        self.answers["need"] = "other"
        self.answers["waitlist_reason"] = "other"
        self.say("other.explain")

    def consent(self, event: EventData) -> None:
        self.answers["mode"] = "visit"
        self.answers["consent"] = {
            "version": CONSENT_WORDING_VERSION,
            "given_at": self.ctx.now.isoformat(),
        }
        self.result.effects.append(RecordConsent("home_visit", CONSENT_WORDING_VERSION, self.ctx.now))

    def refuse_visit(self, event: EventData) -> None:
        self.answers["mode"] = "shipment"
        self.answers.pop("consent", None)
        self.answers.pop("slot", None)
        self.say("consent.refused")

    def edit(self, event: EventData) -> None:
        self.answers["editing"] = True

    def create_case(self, event: EventData) -> None:
        reference = self.ctx.new_reference()
        self.result.effects.append(CreateCase("emergency", reference, case_fields(self.answers)))
        self.answers["reference"] = reference
        self.convo.owner = "queue"
        self.say("handoff.done", reference=reference)

    def call_advisor(self, event: EventData) -> None:
        reference = self.ctx.new_reference()
        self.result.effects.append(CreateCase("advisor", reference, case_fields(self.answers)))
        self.answers["reference"] = reference
        self.convo.owner = "queue"
        self.say("handoff.advisor", reference=reference)

    def join_waitlist(self, event: EventData) -> None:
        self.result.effects.append(JoinWaitlist(self.answers.get("waitlist_reason", "other")))
        self.convo.owner = "closed"
        self.say("waitlist.joined")

    def decline(self, event: EventData) -> None:
        self.convo.owner = "closed"
        self.say("waitlist.declined")

    def restart(self, event: EventData) -> None:
        self.convo.answers = {}
        self.say("restarted")

    def cancel(self, event: EventData) -> None:
        self.convo.owner = "closed"
        self.say("cancelled")

    def ask_delete(self, event: EventData) -> None:
        source = event.transition.source if event.transition else None
        if source is not None and source != "confirm_delete":
            self.answers["resume_state"] = source

    def erase(self, event: EventData) -> None:
        self.result.effects.append(EraseData())
        self.convo.answers = {}
        self.convo.owner = "closed"
        self.say("delete.done")

    def resume(self, event: EventData) -> None:
        self.say("delete.kept")
        self.state = self.answers.pop("resume_state", "need")


_FIELD_OF_STEP = {
    "need": "need",
    "prescription": "prescription",
    "urgency": "urgent",
    "priority": "priority",
    "mode": "mode",
    "visit_consent": "consent",
    "visit_address": "address",
    "visit_slot": "slot",
    "shipping_address": "address",
    "contact_name": "name",
    "contact_phone": "phone",
}


class IntakeFlow:
    """Reads one client input against a conversation and says what to answer and what to record.

    Pure: no I/O. The engine persists the changed :class:`ConversationState`, the replies and the
    effects in one transaction.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.machine = build_machine()

    def handle(self, convo: ConversationState, said: ClientInput, ctx: FlowContext) -> FlowResult:
        result = FlowResult()
        model = IntakeModel(convo, ctx, self, result)
        text = (said.text or "")[:MAX_TEXT]
        if said.text is not None and len(said.text) > MAX_TEXT:
            model.say("too_long")
        if model.state == "greeting":
            self._greet(model, said, text)
        else:
            self._dispatch(model, said, text)
        convo.state = model.state
        return result

    def _greet(self, model: IntakeModel, said: ClientInput, text: str) -> None:
        """Greet, then read the first message as an answer to the need question when it is one."""
        model.say("greeting")
        self._fire(model, "begin", None)
        command = parsing.parse_command(text) if said.choice is None and text else None
        if command is not None and command[0] not in ("restart", "help"):
            self._command(model, command)
        elif command is not None or said.choice is not None or not text or not self._read(model, text):
            self._ask(model)

    # --- input routing ---------------------------------------------------------------------------

    def _dispatch(self, model: IntakeModel, said: ClientInput, text: str) -> None:
        if said.choice is not None:
            self._press(model, said.choice, said.step)
        elif said.unsupported is not None:
            model.say("prescription.refused_file" if said.unsupported == "file" else "unsupported")
            self._ask(model)
        elif said.media is not None:
            if model.state == "prescription":
                self._fire(model, "received", said.media)
                self._ask(model)
            else:
                model.say("unexpected_media")
                self._ask(model)
        elif said.contact_phone is not None and model.state == "contact_phone":
            phone = parsing.parse_phone(said.contact_phone)
            if phone is None:
                self._miss(model)
            else:
                self._fire(model, "given", phone)
                self._ask(model)
        else:
            command = parsing.parse_command(text)
            if command is not None:
                self._command(model, command)
            elif not self._read(model, text):
                self._miss(model)

    def _press(self, model: IntakeModel, value: str, step: str | None) -> None:
        spec = self._choice(model.state, value)
        if step != model.state or (spec is None and value != "advisor"):
            model.say("stale_button")
            self._ask(model)
        elif spec is None:
            self._fire(model, "advisor", None)
        else:
            self._fire(model, spec.event, spec.data)
            self._ask(model)

    def _read(self, model: IntakeModel, text: str) -> bool:
        """Try the step's own reader, then a choice number, then a choice label."""
        step = STEPS.get(model.state)
        if step is None:
            return False
        reading = step.read(text, model.ctx)
        if reading is None:
            offered = self._offered(model, step)
            index = parsing.parse_choice_number(text, len(offered))
            value: str | None
            if index is not None:
                value = offered[index].value
            else:
                labels = {c.value: c.label for c in offered}
                value = match_label(text, labels) if labels else None
            if value is None:
                return False
            self._press(model, value, model.state)
            return True
        event, data = reading
        if not self._fire(model, event, data):
            return False
        self._ask(model)
        return True

    def _command(self, model: IntakeModel, command: tuple[str, str | None]) -> None:
        name, argument = command
        if name == "help":
            model.say("help")
            self._ask(model)
        elif name == "language":
            self._switch_language(model, argument)
            self._ask(model)
        elif name == "my_data":
            model.result.effects.append(ExportData())
            self._ask(model)
        else:
            self._fire(model, name, None)
            self._ask(model)

    def _switch_language(self, model: IntakeModel, target: str | None) -> None:
        current = model.convo.language
        wanted = target if target in LANGUAGES else ("en" if current == "fr" else "fr")
        model.convo.language = "en" if wanted == "en" else "fr"
        model.say("language_switched")

    def _miss(self, model: IntakeModel) -> None:
        model.convo.misses += 1
        step = STEPS.get(model.state)
        if step is None:
            return
        if model.convo.misses >= MAX_MISSES:
            self._ask(model, key="advisor_offer", with_advisor=True)
        else:
            self._ask(model, key=step.hint)

    # --- machine ---------------------------------------------------------------------------------

    def _fire(self, model: IntakeModel, event: str, value: Any) -> bool:
        transition = self.machine.events.get(event)
        try:
            if transition is None or not transition.trigger(model, value=value):
                return False
        except MachineError:
            return False
        model.convo.misses = 0
        return True

    def _ask(self, model: IntakeModel, key: str | None = None, with_advisor: bool = False) -> None:
        """Put the current step's question, with its choices, unless the conversation is over."""
        step = STEPS.get(model.state)
        if step is None:
            return
        language: Language = model.convo.language
        text = self.catalog.text(language, step.question)
        if key is not None:
            text = f"{self.catalog.text(language, key)}\n{text}"
        if model.state == "summary":
            model.answers.pop("editing", None)
            text = f"{self._summary(model)}\n\n{text}"
        offered = self._offered(model, step)
        choices = tuple(Choice(c.value, self.catalog.text(language, c.label)) for c in offered)
        if with_advisor and all(c.value != "advisor" for c in offered):
            choices += (Choice("advisor", self.catalog.text(language, "choice.advisor")),)
        model.result.replies.append(Reply(key or step.question, text, choices, model.state, step.expects))

    def _offered(self, model: IntakeModel, step: Step) -> tuple[ChoiceSpec, ...]:
        if step.name == "summary" and model.answers.get("mode") != "visit":
            return tuple(c for c in step.choices if c.value != "change_slot")
        return step.choices

    def choice_label(self, step: str | None, value: str, language: str) -> str | None:
        """The label of a pressed button, as the client saw it (for the transcript)."""
        if value == "advisor":
            return self.catalog.text(language, "choice.advisor")
        spec = self._choice(step or "", value)
        return None if spec is None else self.catalog.text(language, spec.label)

    def _choice(self, state: str, value: str) -> ChoiceSpec | None:
        step = STEPS.get(state)
        if step is None:
            return None
        return next((c for c in step.choices if c.value == value), None)

    # --- summary ---------------------------------------------------------------------------------

    def _summary(self, model: IntakeModel) -> str:
        lang = model.convo.language
        answers = model.answers
        fields = case_fields(answers)

        def label(group: str, value: object) -> str:
            return self.catalog.text(lang, f"{group}.{value}") if value is not None else "—"

        slot = ""
        if fields["mode"] == "visit" and fields["slot"]:
            slot = self.catalog.text(lang, "summary.slot_line", slot=self.format_slot(lang, fields["slot"]))
        body = self.catalog.text(
            lang,
            "summary.body",
            need=label("need", fields["need"]),
            urgent=self.catalog.text(lang, "choice.yes" if fields["urgent"] else "choice.no"),
            priority=label("priority", answers.get("priority", "none")),
            mode=label("mode", fields["mode"]),
            address=fields["address"] or "—",
            slot=slot,
            name=fields["name"] or "—",
            phone=format_phone(fields["phone"]) if fields["phone"] else "—",
        )
        return f"{self.catalog.text(lang, 'summary.intro')}\n{body}"

    def format_slot(self, language: str, slot: dict[str, str]) -> str:
        day = date.fromisoformat(slot["date"])
        weekday = self.catalog.raw(language, "calendar.days")[day.weekday()]
        month = self.catalog.raw(language, "calendar.months")[day.month - 1]
        when = self.catalog.text(language, "calendar.date", weekday=weekday, day=day.day, month=month)
        part = self.catalog.text(
            language, "visit_slot.morning" if slot["part"] == "am" else "visit_slot.afternoon"
        )
        return f"{when}, {part}"
