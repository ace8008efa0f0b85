"""What the bot does with a client's messages once their request is handed off, as a table.

After the hand-off an advisor speaks for the service; the bot keeps the client's rights and a few
commands working at every point of the case's life, without ever restarting the greeting:

- anything the client writes joins the case's transcript (``relay``); a case done or cancelled a
  few days ago is reopened by it (``flows.lifecycle.follow_up_of`` decides), and the bot says once
  that an advisor will answer, with a "Nouvelle demande" button;
- "annuler" asks for a confirmation, then cancels the case (the console sees it live);
- "conseiller", "aide", "langue", "mes données", "supprimer mes données" (confirmed) keep working;
- "nouvelle demande" (a command or the button) closes this conversation and starts a new one;
- the buttons of a visit's proposed hour ("Je confirme", "Proposer un autre moment", their step
  ``rdv.<case>.<proposal>``) go to dispatch (``AppointmentAnswer``), which checks and answers them;
- a short request in words to move the visit's hour ("je voudrais décaler le rdv", "can we move the
  appointment?"), when it has one, reaches the case like any message and asks "Voulez-vous déplacer
  le rendez-vous ?" first: only a yes moves it. A negated one, or one about another thing (the
  address, the door code, a name, a phone...), is only a message for the advisors.

Like the intake, the machine is built once and fires events on a short-lived model per message;
the engine applies the effects (``RelayToCase``, ``CancelCase``, ``NewRequest``, ``ExportData``,
``EraseData``) in the message's transaction. ``flows/diagram.py`` draws this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine, MachineError

from flows import parsing
from flows.catalog import Catalog
from flows.text import _fold
from flows.types import (
    AppointmentAnswer,
    CancelCase,
    Choice,
    ClientInput,
    ConversationState,
    EraseData,
    ExportData,
    FlowResult,
    NewRequest,
    RelayToCase,
    Reply,
    next_language,
)

# The step of the client's answer to a visit's proposed hour: "rdv.<case public id>.<proposal>".
APPOINTMENT_STEP = "rdv"
MOVE = "rdv_move"  # the value of "Déplacer le rendez-vous", and what a yes to the question sends
# "Annuler la visite" pressed in another conversation than the case's (the client started a new
# request since): the question's buttons name the case themselves (see bot/conversation.py).
CANCEL_YES, CANCEL_NO = "rdv_cancel_yes", "rdv_cancel_no"
# The questions the follow-up asks (its states that wait for an answer).
_ASKING = ["cancel_asked", "move_asked", "erase_asked"]

FOLLOW_UP_STATES = ["handed_off", "cancel_asked", "move_asked", "erase_asked", "ended", "new_request"]

FOLLOW_UP_TRANSITIONS: list[dict[str, Any]] = [
    # What the client writes reaches the case; a pending question is dropped (they moved on).
    {"trigger": "message", "source": "handed_off", "dest": None, "after": "relay"},
    {"trigger": "message", "source": [*_ASKING], "dest": "handed_off", "after": "relay"},
    {"trigger": "advisor", "source": "*", "dest": "handed_off", "after": "relay_to_advisor"},
    {"trigger": "appointment", "source": "*", "dest": "handed_off", "after": "answer_appointment"},
    {
        "trigger": "cancel",
        "source": ["handed_off", *_ASKING],
        "dest": "cancel_asked",
        "conditions": "case_is_open",
        "after": "ask_cancel",
    },
    {"trigger": "cancel", "source": "*", "dest": "handed_off", "after": "nothing_to_cancel"},
    {"trigger": "yes", "source": "cancel_asked", "dest": "ended", "after": "cancel_case"},
    {"trigger": "no", "source": "cancel_asked", "dest": "handed_off", "after": "keep_case"},
    # Words asking to move the visit's hour: the message reaches the case, and a yes moves it.
    {
        "trigger": "move",
        "source": ["handed_off", *_ASKING],
        "dest": "move_asked",
        "conditions": "has_hour",
        "after": "ask_move",
    },
    {"trigger": "yes", "source": "move_asked", "dest": "handed_off", "after": "move_appointment"},
    {"trigger": "no", "source": "move_asked", "dest": "handed_off", "after": "keep_appointment"},
    {"trigger": "delete_data", "source": "*", "dest": "erase_asked", "after": "ask_erase"},
    {"trigger": "erase", "source": "erase_asked", "dest": "ended", "after": "erase"},
    {"trigger": "keep", "source": "erase_asked", "dest": "handed_off", "after": "keep_data"},
    {"trigger": "new_request", "source": "*", "dest": "new_request", "after": "start_new"},
    {"trigger": "my_data", "source": "*", "dest": None, "after": "export"},
    {"trigger": "help", "source": "*", "dest": None, "after": "help"},
    {"trigger": "language", "source": "*", "dest": None, "after": "switch_language"},
]

# The buttons of each question the bot asks after hand-off: value → event.
_BUTTONS: dict[str, dict[str, str]] = {
    "handed_off": {"new_request": "new_request"},
    "cancel_asked": {"yes": "yes", "no": "no"},
    "move_asked": {"yes": "yes", "no": "no"},
    "erase_asked": {"erase": "erase", "keep": "keep"},
}
# The values of a proposed hour's buttons and their labels (what dispatch writes on them).
_APPOINTMENT_LABELS = {
    "rdv_ok": "appointment.confirm",
    "rdv_other": "appointment.other",
    "rdv_move": "appointment.move",
    "rdv_cancel": "appointment.cancel",
    CANCEL_YES: "followup.cancel_confirm",
    CANCEL_NO: "followup.cancel_keep",
}
# Words that cancel the visit's appointment ("annuler le rdv": the case's cancellation, confirmed
# first), read on folded text.
_APPOINTMENT_NOUN = r"(?:rdv|rendez ?vous|visite|heure|creneau|appointment|visit)"
_CANCEL_WORDS = re.compile(rf"\b(?:annul|cancel)\w*\b.*\b{_APPOINTMENT_NOUN}\b")
# A request to move the visit's hour is short, names the appointment within a few words of a verb
# in the infinitive, the imperative or a noun ("décaler le rdv", "un report de la visite", "move
# the appointment"), or is that verb alone ("déplacer", as the reminder says); a past participle
# ("j'ai changé d'avis"), a negation, or another thing named (the address, the door code...) makes
# it a message for the advisors: a miss costs a question, a misreading moves a visit.
_MOVE_VERBS = frozenset(
    {
        *(
            f"{stem}{end}"
            for stem in ("deplac", "decal", "report", "chang", "modifi")
            for end in ("er", "ez", "ons")
        ),
        *("report", "changement", "modification", "decalage", "deplacement"),
        *("move", "moving", "reschedule", "rescheduling", "postpone", "change", "shift"),
    }
)
_APPOINTMENT_WORDS = frozenset(
    {"rdv", "rendez", "rendezvous", "visite", "heure", "horaire", "creneau", "appointment", "visit", "time"}
)
_NEGATIONS = frozenset(
    {
        "pas",
        "ne",
        "n",
        "jamais",
        "sans",
        "ni",
        "non",
        "not",
        "no",
        "never",
        "don",
        "dont",
        "t",
        "cant",
        "cannot",
    }
)
# Before the verb, a past tense: "j'ai changé l'heure" (folded "change") is news, not a request.
_AUXILIARIES = frozenset(
    {"ai", "jai", "a", "as", "avez", "avons", "ont", "est", "suis", "ete", "have", "has", "had", "was"}
)
_OTHER_THINGS = frozenset(
    {
        *("adresse", "address", "code", "digicode", "porte", "door", "interphone", "etage", "floor"),
        *("batiment", "appartement", "lieu", "nom", "name", "numero", "number", "telephone", "phone"),
        *("tel", "portable", "mail", "email", "avis", "mind", "opticien", "opticienne", "optician"),
    }
)
_WORDS = "words"  # an event's value when a sentence, not a command or a button, raised it
_MOVE_BARE = frozenset({"deplacer", "decaler", "reporter", "move", "reschedule", "postpone"})
_MOVE_MAX_WORDS = 12  # longer, the message says more than "move it": the advisors read it
_MOVE_REACH = 3  # words between the verb and the appointment ("changer l'heure du rdv")
_COMMAND_EVENTS = {
    "cancel": "cancel",
    "help": "help",
    "language": "language",
    "advisor": "advisor",
    "my_data": "my_data",
    "delete_data": "delete_data",
    "restart": "new_request",
    "new_request": "new_request",
}


@dataclass(frozen=True, slots=True)
class CaseView:
    """The case of the conversation as the follow-up reads it; ``has_hour``: its visit has an hour
    proposed or confirmed, which the client may ask to move."""

    reference: str
    open: bool
    has_hour: bool = False


class FollowUpModel:
    """One handed-off conversation while one message is handled; the machine's callbacks."""

    def __init__(self, convo: ConversationState, case: CaseView, flow: FollowUpFlow, result: FlowResult):
        self.convo = convo
        self.case = case
        self.state = convo.state if convo.state in _ASKING else "handed_off"
        self.flow = flow
        self.result = result
        self.pressed: ClientInput | None = None  # a button of the visit's proposed hour

    def say(self, key: str, choices: tuple[tuple[str, str], ...] = (), step: str | None = None) -> None:
        language = self.convo.language
        text = self.flow.catalog.text(language, key, reference=self.case.reference)
        offered = tuple(Choice(value, self.flow.catalog.text(language, label)) for value, label in choices)
        self.result.replies.append(Reply(key, text, offered, step))

    def offer_new_request(self, key: str) -> None:
        self.say(key, (("new_request", "followup.new_request"),), "handed_off")

    # guards
    def case_is_open(self, event: EventData) -> bool:
        return self.case.open

    def has_hour(self, event: EventData) -> bool:
        return self.case.open and self.case.has_hour

    # actions
    def relay(self, event: EventData) -> None:
        reopen = not self.case.open
        self.result.effects.append(RelayToCase(reopen=reopen))
        if reopen:  # back in the queue: the bot says so once
            self.convo.owner = "queue"
            self.convo.notice_sent = True
            self.offer_new_request("followup.reopened")
        elif self.convo.owner == "queue" and not self.convo.notice_sent:
            self.convo.notice_sent = True  # an operator talking with the client answers himself
            self.offer_new_request("followup.notice")

    def relay_to_advisor(self, event: EventData) -> None:
        self.relay(event)
        if not self.result.replies:
            self.say("followup.advisor")

    def answer_appointment(self, event: EventData) -> None:
        """Dispatch checks the proposal the button answers and says what came of it."""
        if self.pressed is not None and self.pressed.choice is not None:
            self.result.effects.append(AppointmentAnswer(self.pressed.choice, self.pressed.step))

    def ask_cancel(self, event: EventData) -> None:
        if event.kwargs.get("value") == _WORDS:
            self.relay(event)
        choices = (("yes", "followup.cancel_confirm"), ("no", "followup.cancel_keep"))
        self.say("followup.cancel_question", choices, "cancel_asked")

    def ask_move(self, event: EventData) -> None:
        """The request reaches the case like any message; the visit moves only on a yes."""
        self.relay(event)
        choices = (("yes", "followup.move_confirm"), ("no", "followup.move_keep"))
        self.say("followup.move_question", choices, "move_asked")

    def move_appointment(self, event: EventData) -> None:
        self.result.effects.append(AppointmentAnswer(MOVE))

    def keep_appointment(self, event: EventData) -> None:
        self.say("followup.move_kept")

    def nothing_to_cancel(self, event: EventData) -> None:
        self.offer_new_request("followup.already_closed")

    def cancel_case(self, event: EventData) -> None:
        self.result.effects.append(CancelCase())
        self.convo.owner = "closed"
        self.say("followup.cancelled")

    def keep_case(self, event: EventData) -> None:
        self.say("followup.kept")

    def ask_erase(self, event: EventData) -> None:
        choices = (("erase", "delete.confirm"), ("keep", "delete.keep"))
        self.say("delete.question", choices, "erase_asked")

    def erase(self, event: EventData) -> None:
        self.result.effects.append(EraseData())
        self.convo.answers = {}
        self.convo.owner = "closed"
        self.say("delete.done")

    def keep_data(self, event: EventData) -> None:
        self.say("followup.data_kept")

    def start_new(self, event: EventData) -> None:
        self.result.effects.append(NewRequest())
        self.convo.owner = "closed"

    def export(self, event: EventData) -> None:
        self.result.effects.append(ExportData())

    def help(self, event: EventData) -> None:
        self.offer_new_request("followup.help")

    def switch_language(self, event: EventData) -> None:
        self.convo.language = next_language(self.convo.language, event.kwargs.get("value"))
        self.say("language_switched")


class FollowUpFlow:
    """Reads a client's message after hand-off: pure, like :class:`flows.intake.IntakeFlow`."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.machine = Machine(
            model=None,
            states=FOLLOW_UP_STATES,
            transitions=FOLLOW_UP_TRANSITIONS,
            initial="handed_off",
            auto_transitions=False,
            send_event=True,
        )

    def handle(self, convo: ConversationState, case: CaseView, said: ClientInput) -> FlowResult:
        result = FlowResult()
        model = FollowUpModel(convo, case, self, result)
        event, value = self._event(model.state, said)
        if event == "appointment":
            model.pressed = said
        if event == "stale":
            model.say("stale_button")
        elif not self._fire(model, event, value):
            self._fire(model, "message", None)
        convo.state = model.state
        return result

    def appointment_label(self, said: ClientInput, language: str) -> str | None:
        """The label of a pressed button of a visit's proposed hour (for the transcript), or None."""
        if not (said.step or "").startswith(f"{APPOINTMENT_STEP}.") or said.choice not in _APPOINTMENT_LABELS:
            return None
        return self.catalog.text(language, _APPOINTMENT_LABELS[said.choice])

    def _event(self, state: str, said: ClientInput) -> tuple[str, str | None]:
        if said.choice is not None:
            if (said.step or "").startswith(f"{APPOINTMENT_STEP}."):
                return ("cancel", None) if said.choice == "rdv_cancel" else ("appointment", None)
            event = _BUTTONS.get(state, {}).get(said.choice)
            if said.step != state or event is None:
                # The notice's button stays valid while its conversation lasts.
                if said.choice == "new_request" and said.step == "handed_off":
                    return ("new_request", None)
                return ("stale", None)
            return (event, None)
        text = said.text or ""
        if not text:
            return ("message", None)
        command = parsing.parse_command(text)
        if command is not None:
            if state == "erase_asked" and command[0] == "cancel":
                return ("keep", None)  # "annuler" cancels the deletion, as in the intake
            return (_COMMAND_EVENTS.get(command[0], "message"), command[1])
        folded = _folded(text)
        if _CANCEL_WORDS.search(folded):
            return ("cancel", _WORDS)  # a sentence, not the command: it reaches the case too
        if asks_to_move(folded):
            return ("move", None)
        if state in _ASKING:
            answer = parsing.parse_yes_no(text)
            if answer is not None:
                if state == "erase_asked":
                    return ("erase" if answer else "keep", None)
                return ("yes" if answer else "no", None)
        return ("message", None)

    def _fire(self, model: FollowUpModel, event: str, value: str | None) -> bool:
        transition = self.machine.events.get(event)
        try:
            return transition is not None and bool(transition.trigger(model, value=value))
        except MachineError:
            return False


def appointment_case(said: ClientInput) -> str | None:
    """The public id of the case whose visit a pressed button answers (``rdv.<case>.<n>``), or None."""
    if said.choice is None:
        return None
    prefix, _, rest = (said.step or "").partition(".")
    case_id, _, number = rest.rpartition(".")
    return case_id if prefix == APPOINTMENT_STEP and case_id and number.isdigit() else None


def may_ask_to_move(text: str) -> bool:
    """Whether a client's text is a short request to move the visit's hour: the only reading for
    which the engine needs to know whether the visit has one (a query it skips otherwise)."""
    return asks_to_move(_folded(text))


def asks_to_move(folded: str) -> bool:
    """Whether folded text is a short request to move the visit's hour (see ``_MOVE_VERBS``)."""
    words = re.findall(r"[a-z0-9]+", folded)
    if not words or len(words) > _MOVE_MAX_WORDS:
        return False
    if _NEGATIONS.intersection(words) or _OTHER_THINGS.intersection(words):
        return False
    if len(words) == 1:
        return words[0] in _MOVE_BARE
    for start, word in enumerate(words):
        if word in _MOVE_VERBS and (start == 0 or words[start - 1] not in _AUXILIARIES):
            near = words[start + 1 : start + 2 + _MOVE_REACH]
            if _APPOINTMENT_WORDS.intersection(near):
                return True
    return False


def _folded(text: str) -> str:
    """Lower case, no accents (the readers' own folding), apostrophes and dashes as spaces."""
    return re.sub(r"[\s'’\-]+", " ", _fold(text)).strip()
