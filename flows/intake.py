"""The client's intake conversation as a table-driven state machine (``transitions``).

The machine is built once per process; each message triggers one of its events on a short-lived
:class:`IntakeModel` wrapping the stored conversation. The table below is also the source of the
generated diagram in ``docs/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from transitions import EventData, MachineError

from flows import parsing
from flows.answers import case_fields, missing_fields, render_summary, slot_label
from flows.catalog import Catalog
from flows.commands import Command
from flows.departments import name_of as department_name
from flows.intake_table import FIELD_OF_STEP, build_machine
from flows.steps import SLOT_LABEL, STEPS, ChoiceSpec, Hint, Step, channel_phone_choice, match_label
from flows.types import (
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
    Levels,
    RecordConsent,
    Reply,
    ServiceLevel,
    WaitlistDetails,
    as_level,
    next_language,
    stricter,
)

CONSENT_WORDING_VERSION = "visit-consent-v1"
MAX_MISSES = 3
MAX_TEXT = 4096
WEB_CHAT = "webchat"
# The need buttons offered in normal service only (in crisis, said in words they are "other").
NORMAL_ONLY_NEEDS = frozenset(("renewal", "lenses"))
# Asked once the client has joined the waitlist (issue 15).
JOIN_QUESTIONS = frozenset(("waitlist_department", "waitlist_contact"))
# The waitlist's reasons, and the levels that serve them: "suspended" (an emergency stopped by a
# national suspension) and "suspended_local" (by its department's) are served from crisis on; the
# others — "not_urgent", "no_prescription", "other" (a routine need) — by normal service only.
SERVED_FROM_CRISIS = frozenset(("suspended", "suspended_local"))
EMERGENCY_NEEDS = frozenset(("broken", "lost", "unsuitable"))
GREETING: dict[ServiceLevel, str] = {
    "normal": "level.greeting_normal",
    "crisis": "greeting",
    "suspended": "level.greeting_suspended",
}


def department_in(answers: dict[str, Any]) -> str | None:
    """The client's department as far as the conversation knows it: their address's, else the one
    they gave the waitlist."""
    address = answers.get("address") or {}
    postal_code = address.get("postal_code") if isinstance(address, dict) else None
    if postal_code:
        return parsing.department_of(str(postal_code))
    department = answers.get("waitlist_department")
    return department if isinstance(department, str) else None


def level_for(answers: dict[str, Any], levels: Levels) -> ServiceLevel:
    """The level in force now for this client: their department's once it is known; before, the
    most open level in force anywhere (the address re-checks it)."""
    department = department_in(answers)
    return levels.of(department) if department is not None else levels.mildest()


def in_normal_service(answers: dict[str, Any], levels: Levels) -> bool:
    """A routine need is taken: the conversation began in normal service, or the level in force
    for the client is normal now (a switch to normal lets a conversation in at once)."""
    return as_level(answers.get("level")) == "normal" or level_for(answers, levels) == "normal"


def served(reason: object, level: ServiceLevel) -> bool:
    """Whether ``level`` takes a request that was sent to the waitlist for ``reason``."""
    return level == "normal" or (level == "crisis" and reason in SERVED_FROM_CRISIS)


@dataclass(frozen=True, slots=True)
class Understood:
    """How the flow reads a client's free text at a step: a global ``command`` ("annuler",
    "/aide"), or an answer — the ``event`` it fires and the ``value`` it records — from the step's
    own reader, or from the number or the label of one of the step's buttons (``choice``); or no
    answer, but the reader knows why (``hint``, a catalogue key said before asking again)."""

    command: tuple[str, str | None] | None = None
    event: str | None = None
    value: Any = None
    choice: str | None = None
    hint: str | None = None


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
    def has_prescription(self, event: EventData) -> bool:
        return bool(self.answers.get("prescription"))

    def is_visit(self, event: EventData) -> bool:
        return bool(self.answers.get("mode") == "visit")

    @property
    def level(self) -> ServiceLevel:
        """The level this conversation goes through: the national one when it started (a
        conversation begun before levels existed went through the crisis gate)."""
        return as_level(self.answers.get("level"))

    @property
    def current(self) -> ServiceLevel:
        """The level in force now for this client (:func:`level_for`)."""
        return level_for(self.answers, self.ctx.levels)

    def in_normal(self, event: EventData) -> bool:
        return in_normal_service(self.answers, self.ctx.levels)

    def suspended_now(self, event: EventData) -> bool:
        return self.current == "suspended"

    def locked_out(self, event: EventData) -> bool:
        return self._lockout(event) is not None

    def department_unknown(self, event: EventData) -> bool:
        return self._department() is None

    def needs_contact(self, event: EventData) -> bool:
        """A web chat client cannot be reached once the page is closed: asked how to tell them."""
        return self.ctx.channel == WEB_CHAT

    def _department(self) -> str | None:
        return department_in(self.answers)

    def _lockout(self, event: EventData) -> tuple[str, str] | None:
        """(reason, department) when the level in force in the client's department does not take
        this request: a local lockdown, a department stricter than the most open one the
        conversation was offered, or a switch since it started. An emergency is taken in crisis;
        a routine request (or one said not urgent) in normal service only."""
        source = event.transition.source if event.transition else None
        value = event.kwargs.get("value")
        if source in ("visit_address", "shipping_address") and isinstance(value, dict):
            department = parsing.department_of(str(value.get("postal_code") or ""))
        else:
            department = self._department()
        if department is None:
            return None
        here = self.ctx.levels.of(department)
        urgent = self.answers.get("urgent") is True
        if here == "normal" or (here == "crisis" and urgent):
            return None
        if here == "suspended" and urgent:  # the reason says crisis would take it
            local = any(code == department for code, _ in self.ctx.levels.departments)
            return ("suspended_local" if local else "suspended", department)
        return ("not_urgent", department)

    def ready_for_summary(self, event: EventData) -> bool:
        if not self.answers.get("editing"):
            return False
        trial = dict(self.answers)
        field = FIELD_OF_STEP.get(event.transition.source) if event.transition else None
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
        field = FIELD_OF_STEP[event.transition.source]
        value = event.kwargs.get("value")
        skipped = field == "insurance" and value == {"status": "skipped"}
        if skipped and self.answers.get("editing") and self.answers.get("insurance"):
            return  # "Passer" while changing it: as it was
        self.answers[field] = value
        if field == "mode" and value == "shipment":
            self.answers.pop("slot", None)
            self.answers.pop("consent", None)
        if field == "insurance":  # a new answer: the card of an earlier one is not this one's
            self.answers.pop("insurance_card", None)

    def receive(self, event: EventData) -> None:
        self.record(event)
        self.say("prescription.received")

    def receive_card(self, event: EventData) -> None:
        """A photo of the insurance card: enough by itself (the name is on it)."""
        self.answers["insurance_card"] = event.kwargs.get("value")
        at_question = event.transition is not None and event.transition.source == "insurance"
        if at_question or (self.answers.get("insurance") or {}).get("status") != "insured":
            # A photo answering the question itself is a new answer: an earlier name goes.
            self.answers["insurance"] = {"status": "insured", "name": None}
        self.say("insurance_card.received")

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

    def explain_suspended(self, event: EventData) -> None:
        """Suspended: the need is asked first, so the waitlist's reason says which level will take
        it — "suspended" for an emergency (crisis on), "other" for a routine need (normal)."""
        need = event.event.name
        self.answers["need"] = need
        self.answers["waitlist_reason"] = "suspended" if need in EMERGENCY_NEEDS else "other"
        self.say("level.suspended_explain")

    def explain_local(self, event: EventData) -> None:
        """The department's level stops the request here: what the client said is kept (the
        address too), the waitlist is offered."""
        lockout = self._lockout(event)
        assert lockout is not None
        assert event.transition is not None
        reason, department = lockout
        if event.transition.source in FIELD_OF_STEP:
            self.record(event)
        self.answers["waitlist_reason"] = reason
        place = department_name(department) or department
        suspended = self.ctx.levels.of(department) == "suspended"
        key = "level.local_suspended" if suspended else "level.local_crisis"
        self.say(key, department=place)

    def take_request(self, event: EventData) -> None:
        """Normal service: a routine need, or an emergency said not urgent, is an ordinary request."""
        assert event.transition is not None
        source = event.transition.source
        if source == "need":  # the event is the need ("other" carries no value of its own)
            self.answers["need"] = event.kwargs.get("value") or event.event.name
        elif source == "prescription":  # no new prescription: the optician checks the sight
            self.answers["need"] = "renewal"
            self.answers.pop("prescription", None)
        self.answers["urgent"] = False
        self.say("level.request_taken")

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
        # Not urgent, and past the gate: an ordinary request of normal service.
        kind: Literal["emergency", "request"] = "emergency" if self.answers.get("urgent") else "request"
        self.result.effects.append(CreateCase(kind, reference, case_fields(self.answers)))
        self.answers["reference"] = reference
        self.convo.owner = "queue"
        self.say("handoff.done" if kind == "emergency" else "level.handoff_request", reference=reference)

    def call_advisor(self, event: EventData) -> None:
        reference = self.ctx.new_reference()
        self.result.effects.append(CreateCase("advisor", reference, case_fields(self.answers)))
        self.answers["reference"] = reference
        self.convo.owner = "queue"
        self.say("handoff.advisor", reference=reference)

    def join_waitlist(self, event: EventData) -> None:
        reason = self.answers.get("waitlist_reason", "other")
        self.result.effects.append(JoinWaitlist(reason, self._department()))
        if self.ctx.channel == WEB_CHAT:  # not reachable here once the page is closed: asked next
            self.say("level.joined_webchat")
        elif reason in SERVED_FROM_CRISIS:  # told when emergencies are taken again, not "normal"
            self.say("level.joined_emergency")
        else:
            self.say("waitlist.joined")
        if event.transition is not None and event.transition.dest == "ended":
            self.convo.owner = "closed"

    def waitlist_department(self, event: EventData) -> None:
        department = event.kwargs.get("value")
        if department is not None:
            self.answers["waitlist_department"] = department
        self.result.effects.append(WaitlistDetails(department=department))
        self.say("waitlist_department.noted")
        self._waitlist_end(event)

    def waitlist_contact(self, event: EventData) -> None:
        kind, value = event.kwargs.get("value") or (None, None)
        if kind == "email":
            self.result.effects.append(WaitlistDetails(contact_email=value))
        elif kind == "phone":
            self.result.effects.append(WaitlistDetails(contact_phone=value))
        self.say("waitlist_contact.noted")
        self._waitlist_end(event)

    def waitlist_done(self, event: EventData) -> None:
        self._waitlist_end(event)

    def _waitlist_end(self, event: EventData) -> None:
        if event.transition is not None and event.transition.dest == "ended":
            self.convo.owner = "closed"
            self.say("waitlist.done")

    def decline(self, event: EventData) -> None:
        self.convo.owner = "closed"
        self.say("waitlist.declined")

    def restart(self, event: EventData) -> None:
        self.convo.answers = {"level": self.ctx.levels.mildest()}
        self.say("restarted")
        if self.current == "suspended":
            self.say("level.suspended_explain")

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
        elif model.state == "waitlist_offer" and self._resumed(model):
            self._resume(model, said, text)
        elif model.state in JOIN_QUESTIONS and not self._answers_question(model, said, text):
            if self._resumed(model):
                self._resume(model, said, text)
            else:  # a message that is no answer ends the questions: a fresh conversation
                convo.answers, convo.misses, model.state = {}, 0, "greeting"
                self._greet(model, said, text)
        else:
            self._dispatch(model, said, text)
        convo.state = model.state
        return result

    def _resume(self, model: IntakeModel, said: ClientInput, text: str) -> None:
        """The service now takes what sent this client to the waitlist (offered, or joined and
        asked where they wait): they are told, and their message is read as a fresh need."""
        model.convo.answers, model.convo.misses = {"level": model.current}, 0
        model.state = "need"
        model.say("level.resumed")
        command = parsing.parse_command(text) if said.choice is None and text else None
        if command is not None:
            self._command(model, command)
        elif said.media is not None:
            self._keep_media(model, said.media)
        elif said.choice is not None or not text or not self._read(model, text, numbers=False):
            self._ask(model)

    @staticmethod
    def _resumed(model: IntakeModel) -> bool:
        """The level in force for this client now takes what sent them to the waitlist."""
        return served(model.answers.get("waitlist_reason"), model.current)

    def _answers_question(self, model: IntakeModel, said: ClientInput, text: str) -> bool:
        """At the waitlist's join-time questions (the client is already on the list), whether the
        message is one of their answers, or tries to be (a mistyped number or address: asked
        again), or is a button, a file, a command. Any other message ends them (a need said once
        service resumes is not read as a wrong postal code)."""
        if said.text is None or said.choice is not None or self._command_at(model.state, text, model.ctx):
            return True
        if "@" in text or any(c.isdigit() for c in text):
            return True
        understood = self._reading(
            model.state, text, model.ctx, model.convo.language, model.answers, numbers=True
        )
        return understood is not None

    def _greet(self, model: IntakeModel, said: ClientInput, text: str) -> None:
        """Greet, then read the first message as an answer to the need question when it is one.
        The greeting follows the most open level in force (the address re-checks the client's
        department's, and the greeting says so when the national level is stricter); suspended
        everywhere, the need is asked, then the waitlist offered."""
        level = model.ctx.levels.mildest()
        model.answers["level"] = level
        model.say(GREETING[level])
        if stricter(model.ctx.levels.national, level):
            model.say("level.greeting_varies")
        self._fire(model, "begin", None)
        if said.media is not None:  # a prescription sent before anything else: keep it
            self._keep_media(model, said.media)
            return
        command = parsing.parse_command(text) if said.choice is None and text else None
        if command is not None and command[0] not in ("restart", "help"):
            self._command(model, command)
        elif (
            command is not None
            or said.choice is not None
            or not text
            or not self._read(model, text, numbers=False)  # no options were shown yet
        ):
            self._ask(model)

    # --- input routing ---------------------------------------------------------------------------

    def _dispatch(self, model: IntakeModel, said: ClientInput, text: str) -> None:
        if said.choice is not None:
            self._press(model, said.choice, said.step)
        elif said.unsupported is not None:
            model.say("prescription.refused_file" if said.unsupported == "file" else "unsupported")
            self._ask(model)
        elif said.media is not None:
            if model.state in STEPS and STEPS[model.state].expects == "photo":
                self._fire(model, "received", said.media)
                self._ask(model)
            elif model.state == "need":
                self._keep_media(model, said.media)
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
            command = self._command_at(model.state, text, model.ctx)
            if command is not None:
                self._command(model, command)
            elif not self._read(model, text):
                self._miss(model)

    @staticmethod
    def _command_at(state: str, text: str, ctx: FlowContext) -> tuple[Command, str | None] | None:
        """A global command, unless the step reads those words as its own answer
        (``Step.own_commands``) and does read them."""
        command = parsing.parse_command(text)
        step = STEPS.get(state)
        if command is None or step is None or command[0] not in step.own_commands:
            return command
        return None if isinstance(step.read(text, ctx), tuple) else command

    def _keep_media(self, model: IntakeModel, media: str) -> None:
        """A file before the need is known: most likely the new prescription; used if it is."""
        model.answers["prescription"] = media
        model.say("media_kept")
        self._ask(model)

    def _press(self, model: IntakeModel, value: str, step: str | None) -> None:
        # The number the channel knows *now*: an older number's button is refused like any other;
        # so is a button made for a moment that is over (a half-day pressed the next day).
        spec = self._choice(model.state, value, model.ctx)
        if step != model.state or (spec is None and value != "advisor"):
            made = STEPS[model.state].made if step == model.state and model.state in STEPS else None
            gone = made is not None and made.rebuild(value) is not None
            model.say(made.gone if made is not None and gone else "stale_button")
            self._ask(model)
        elif spec is None:
            self._fire(model, "advisor", None)
        else:
            self._fire(model, spec.event, spec.data)
            self._ask(model)

    def understand(
        self, state: str, text: str, ctx: FlowContext, language: Language, answers: dict[str, Any]
    ) -> Understood | None:
        """What ``text`` means at step ``state``, as :meth:`handle` reads it: a global command,
        else an answer (None: not understood, the step is asked again, maybe saying why). Pure;
        the corpus of ``tests/corpus/`` measures it (``python -m bench nlu``)."""
        command = self._command_at(state, text, ctx)
        if command is not None:
            return Understood(command=command)
        understood = self._reading(state, text, ctx, language, answers, numbers=True)
        return None if understood is None or understood.hint is not None else understood

    def _reading(
        self,
        state: str,
        text: str,
        ctx: FlowContext,
        language: Language,
        answers: dict[str, Any],
        *,
        numbers: bool,
    ) -> Understood | None:
        """The step's own reader, then a choice's number, then a choice's label."""
        step = STEPS.get(state)
        if step is None:
            return None
        reading = step.read(text, ctx)
        if isinstance(reading, Hint):  # a moment said, but not one to book: no button's number
            return Understood(hint=reading.key)
        if reading is not None:
            return Understood(event=reading[0], value=reading[1])
        offered = self._offered_at(step, answers, ctx)
        index = parsing.parse_choice_number(text, len(offered)) if numbers else None
        value: str | None
        if index is not None:
            value = offered[index].value
        else:
            labels = {c.value: self._label(language, c) for c in offered}
            value = match_label(text, labels) if labels else None
        spec = next((c for c in offered if c.value == value), None)
        if spec is None:
            return None
        return Understood(event=spec.event, value=spec.data, choice=spec.value)

    def _read(self, model: IntakeModel, text: str, *, numbers: bool = True) -> bool:
        """Try the step's own reader, then a choice number, then a choice label."""
        understood = self._reading(
            model.state, text, model.ctx, model.convo.language, model.answers, numbers=numbers
        )
        if understood is None:
            return False
        if understood.hint is not None:
            self._miss(model, understood.hint)
            return True
        if understood.choice is not None:
            self._press(model, understood.choice, model.state)
            return True
        assert understood.event is not None
        if not self._fire(model, understood.event, understood.value):
            return False
        self._ask(model)
        return True

    def _command(self, model: IntakeModel, command: tuple[str, str | None]) -> None:
        name, argument = command
        if name == "new_request":  # during the intake, a new request is a fresh start
            name = "restart"
        if name == "help":
            model.say("help")
            self._ask(model)
        elif name == "language":
            self._switch_language(model, argument)
            self._ask(model)
        elif name == "my_data":
            model.result.effects.append(ExportData())
            self._ask(model)
        elif name == "join_network":
            model.say("join.link", url=model.ctx.join_url)
            self._ask(model)
        else:
            self._fire(model, name, None)
            self._ask(model)

    def _switch_language(self, model: IntakeModel, target: str | None) -> None:
        model.convo.language = next_language(model.convo.language, target)
        model.say("language_switched")

    def _miss(self, model: IntakeModel, hint: str | None = None) -> None:
        """Not understood: ask again with the step's hint, or the reader's reason (``hint``)."""
        model.convo.misses += 1
        step = STEPS.get(model.state)
        if step is None:
            return
        if model.convo.misses >= MAX_MISSES:
            self._ask(model, key="advisor_offer", with_advisor=True)
        else:
            self._ask(model, key=hint or step.hint)

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
        question = step.question
        if step.name == "need" and in_normal_service(model.answers, model.ctx.levels):
            question = "level.need_question"
        elif step.name == "waitlist_offer" and model.answers.get("waitlist_reason") in SERVED_FROM_CRISIS:
            question = "level.waitlist_question_emergency"  # not "when normal service resumes"
        text = self.catalog.text(language, question)
        if key is not None:
            text = f"{self.catalog.text(language, key)}\n{text}"
        if model.state == "summary":
            model.answers.pop("editing", None)
            text = f"{render_summary(self.catalog, language, model.answers)}\n\n{text}"
        offered = self._offered(model, step)
        choices = tuple(Choice(c.value, self._label(language, c)) for c in offered)
        if with_advisor and all(c.value != "advisor" for c in offered):
            choices += (Choice("advisor", self.catalog.text(language, "choice.advisor")),)
        model.result.replies.append(Reply(key or question, text, choices, model.state, step.expects))

    def _offered(self, model: IntakeModel, step: Step) -> tuple[ChoiceSpec, ...]:
        return self._offered_at(step, model.answers, model.ctx)

    def _offered_at(self, step: Step, answers: dict[str, Any], ctx: FlowContext) -> tuple[ChoiceSpec, ...]:
        if step.name == "summary" and answers.get("mode") != "visit":
            return tuple(c for c in step.choices if c.value != "change_slot")
        if step.name == "need" and not in_normal_service(answers, ctx.levels):
            return tuple(c for c in step.choices if c.value not in NORMAL_ONLY_NEEDS)
        return self._choices(step, ctx)

    @staticmethod
    def _choices(step: Step, ctx: FlowContext) -> tuple[ChoiceSpec, ...]:
        """The step's buttons: the number the channel knows first where the step offers it, then
        the buttons made from the context (the next half-days), then the fixed ones."""
        known = channel_phone_choice(ctx.channel_phone) if step.offers_channel_phone else None
        made = step.made.offer(ctx) if step.made is not None else ()
        return (*((known,) if known is not None else ()), *made, *step.choices)

    def _label(self, language: str, spec: ChoiceSpec) -> str:
        if spec.label == SLOT_LABEL:
            return slot_label(self.catalog, language, spec.data)
        return self.catalog.text(language, spec.label, **dict(spec.label_values))

    def choice_label(self, step: str | None, value: str, language: str) -> str | None:
        """The label of a pressed button, as the client saw it (for the transcript)."""
        if value == "advisor":
            return self.catalog.text(language, "choice.advisor")
        # A number's or a half-day's button is labelled with what was pressed, still valid or not.
        found = STEPS.get(step or "")
        if found is None:
            return None
        spec = next((c for c in found.choices if c.value == value), None)
        if spec is None and found.offers_channel_phone:
            spec = channel_phone_choice(value)
        if spec is None and found.made is not None:
            spec = found.made.rebuild(value)
        return None if spec is None else self._label(language, spec)

    def _choice(self, state: str, value: str, ctx: FlowContext) -> ChoiceSpec | None:
        step = STEPS.get(state)
        if step is None:
            return None
        return next((c for c in self._choices(step, ctx) if c.value == value), None)
