"""The intake flow on its own (no I/O): catalogues, diagrams, and a Hypothesis stateful test."""

from __future__ import annotations

import itertools
import re
import string
from datetime import UTC, datetime
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from flows.answers import missing_fields
from flows.catalog import Catalog
from flows.diagram import diagrams
from flows.intake import IntakeFlow
from flows.intake_table import STATES
from flows.lifecycle import (
    OPEN_STATES,
    CaseLifecycle,
    InvalidCaseTransitionError,
    Move,
    move,
    priority_rank,
    sources_of,
)
from flows.steps import STEPS
from flows.types import ClientInput, ConversationState, CreateCase, EraseData, FlowContext, RecordConsent

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog.load()
FLOW = IntakeFlow(CATALOG)
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def _variables(text: object) -> set[str]:
    return set(re.findall(r"{(\w+)}", text)) if isinstance(text, str) else set()


def test_catalogues_have_the_same_keys_and_variables() -> None:
    french, english = CATALOG.keys("fr"), CATALOG.keys("en")
    assert french == english
    for key in french:
        assert _variables(CATALOG.raw("fr", key)) == _variables(CATALOG.raw("en", key)), key


def test_every_key_the_flow_uses_exists() -> None:
    used = {s.question for s in STEPS.values()} | {s.hint for s in STEPS.values()}
    used |= {c.label for s in STEPS.values() for c in s.choices}
    assert used <= CATALOG.keys("fr")


def test_committed_diagrams_are_current() -> None:
    for name, text in diagrams().items():
        committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert committed == text, f"docs/{name} is stale: run `optibot diagram`"


def test_case_lifecycle() -> None:
    life = CaseLifecycle()
    assert life.next_status("queued", "claim") == "claimed"
    assert life.next_status("claimed", "release") == "queued"
    assert life.next_status("claimed", "dispatch") == "dispatched"
    assert life.next_status("dispatched", "complete") == "done"
    assert life.next_status("dispatched", "cancel") == "cancelled"
    for status, action in [("queued", "dispatch"), ("done", "cancel"), ("cancelled", "claim")]:
        try:
            life.next_status(status, action)
        except InvalidCaseTransitionError:
            continue
        raise AssertionError(f"{action} from {status} should be refused")
    assert sources_of("claim") == ("queued",)
    assert set(sources_of("cancel")) == {"queued", "claimed", "dispatched"}


def test_mobilised_workers_rank_first_in_the_queue() -> None:
    """The queue's SQL orders by this rank, then age (``cases.priority_rank``)."""
    for mobilised in ("health", "firefighter", "food_retail", "delivery", "other"):
        assert priority_rank(mobilised) == 0
    for other in (None, "", "none", "student"):
        assert priority_rank(other) == 1


def test_every_status_change_is_a_move_of_the_table() -> None:
    """``move`` is what ``storage.cases.move_case`` applies: an action the table does not know is
    refused there, before any SQL."""
    assert move("claim") == Move("claim", ("queued",), "claimed")
    assert move("to_shipment") == Move("to_shipment", ("claimed", "dispatched"), "claimed")
    assert set(move("erase").sources) == set(OPEN_STATES)
    with pytest.raises(InvalidCaseTransitionError):
        move("teleport")


# --- any sequence of inputs -----------------------------------------------------------------------

GOOD_ANSWERS = {
    "need": ["mes lunettes sont cassées", "j'ai perdu mes lunettes", "autre chose"],
    "prescription": ["je n'ai pas d'ordonnance"],
    "urgency": ["oui", "non"],
    "priority": ["infirmière", "non", "pompier"],
    "mode": ["à domicile", "par la poste"],
    "visit_consent": ["oui", "non"],
    "visit_address": ["12 rue de la Paix 75002 Paris"],
    "visit_slot": ["demain matin", "lundi après-midi"],
    "shipping_address": ["Route du Port 20000 Ajaccio"],
    "contact_name": ["Marie Curie"],
    "contact_phone": ["06 12 34 56 78"],
    "insurance": ["non", "la MGEN", "Mutuelle Saint-Christophe", "passer", "oui"],
    "insurance_card": ["passer", "non"],
    "summary": ["oui", "changer l'adresse", "changer la mutuelle"],
    "waitlist_offer": ["oui", "non"],
    "confirm_delete": ["non"],
}
COMMANDS = ["aide", "recommencer", "english", "français", "mes données", "supprimer mes données"]
nasty_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=string.printable, max_size=50),
    st.sampled_from(["", " ", "\x00", "😀" * 500, "x" * 50_000, "\u202eRTL", "1", "99"]),
)
references = (f"OB-H{i:05d}" for i in itertools.count())


class ConversationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.convo = ConversationState()
        self.context = FlowContext(now=NOW, new_reference=lambda: next(references))
        self.consented = False
        self.cases: list[tuple[CreateCase, dict[str, object]]] = []
        self.last_choices: list[tuple[str, str | None]] = []

    def _say(self, said: ClientInput) -> None:
        if self.convo.owner != "bot":
            self.convo = ConversationState()  # a closed conversation: the next message starts anew
            self.consented = False
        result = FLOW.handle(self.convo, said, self.context)
        assert result.replies, "every input gets an answer"
        for effect in result.effects:
            if isinstance(effect, RecordConsent):
                self.consented = True
            if isinstance(effect, CreateCase):
                self.cases.append((effect, dict(self.convo.answers)))
                if effect.kind == "emergency" and effect.fields["mode"] == "visit":
                    assert self.consented, "visit case without a recorded consent"
                    assert effect.fields["consent"], "visit case without consent in its fields"
        last = result.replies[-1]
        self.last_choices = [(c.value, last.step) for c in last.choices]

    @rule(text=nasty_text)
    def type_anything(self, text: str) -> None:
        self._say(ClientInput(text=text))

    @rule(data=st.data())
    def answer_well(self, data: st.DataObject) -> None:
        options = GOOD_ANSWERS.get(self.convo.state, ["bonjour"])
        self._say(ClientInput(text=data.draw(st.sampled_from(options))))

    @rule(data=st.data())
    def press_offered_button(self, data: st.DataObject) -> None:
        if self.last_choices:
            value, step = data.draw(st.sampled_from(self.last_choices))
            self._say(ClientInput(choice=value, step=step))

    @rule(value=st.text(max_size=70), step=st.sampled_from([*STATES, "", "x" * 70]))
    def press_forged_button(self, value: str, step: str) -> None:
        self._say(ClientInput(choice=value, step=step))

    @rule(command=st.sampled_from(COMMANDS))
    def command(self, command: str) -> None:
        self._say(ClientInput(text=command))

    @rule(kind=st.sampled_from(["sticker", "voice", "location", "file"]))
    def odd_content(self, kind: str) -> None:
        self._say(ClientInput(unsupported=kind))

    @rule()
    def send_a_photo(self) -> None:
        self._say(ClientInput(media="prescriptions/x.png.enc"))

    @invariant()
    def state_is_valid(self) -> None:
        assert self.convo.state in STATES
        assert self.convo.owner in ("bot", "queue", "closed")
        assert self.convo.language in ("fr", "en")
        if self.convo.state in STEPS:
            assert self.convo.owner == "bot"

    @invariant()
    def cases_are_complete(self) -> None:
        for effect, answers in self.cases:
            assert effect.reference.startswith("OB-")
            if effect.kind == "emergency":
                assert missing_fields(answers) == [], missing_fields(answers)
                assert effect.fields["need"] in ("broken", "lost", "unsuitable")
                assert effect.fields["urgent"] is True
                # The insurance question comes before the summary: always answered, consistently.
                status, insurer, card = (effect.fields[k] for k in ("insurance", "insurer", "insurance_card"))
                assert status in ("insured", "none", "skipped"), status
                if status != "insured":
                    assert insurer is None, (status, insurer)
                    assert card is None, (status, card)
                elif insurer is None:
                    assert card is not None, "an insurer neither named nor on a card"


TestAnySequenceOfInputs = ConversationMachine.TestCase
TestAnySequenceOfInputs.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_a_half_day_that_is_over_or_too_far_is_not_taken() -> None:
    from flows.steps import STEPS, Hint

    read = STEPS["visit_slot"].read
    afternoon = FlowContext(now=datetime(2026, 11, 26, 15, 0, tzinfo=UTC), new_reference=lambda: "x")
    assert read("ce matin", afternoon) == Hint("visit_slot.past")  # 16:00 in Paris: the morning is over
    assert read("cet après-midi", afternoon) == ("given", {"date": "2026-11-26", "part": "pm"})
    assert read("aujourd'hui", afternoon) == ("given", {"date": "2026-11-26", "part": "pm"})
    assert read("demain matin", afternoon) == ("given", {"date": "2026-11-27", "part": "am"})
    assert read("le 26 novembre 2027 matin", afternoon) == Hint("visit_slot.too_far")
    late_evening = FlowContext(now=datetime(2026, 11, 26, 23, 30, tzinfo=UTC), new_reference=lambda: "x")
    # 00:30 in Paris on the 27th: "demain" is the 28th
    assert read("demain matin", late_evening) == ("given", {"date": "2026-11-28", "part": "am"})


def test_dates_read_back_with_the_french_first() -> None:
    from flows.answers import format_slot

    assert format_slot(CATALOG, "fr", {"date": "2026-12-01", "part": "am"}) == "mardi 1er décembre, matin"
    assert format_slot(CATALOG, "en", {"date": "2026-12-01", "part": "pm"}) == "Tuesday 1 December, afternoon"


@pytest.mark.parametrize(
    ("text", "erased"),
    [
        ("supprimer", True),  # the question's own word: a yes, not the command once more
        ("Effacer", True),
        ("annuler", False),  # cancelling the deletion, not the whole request
        ("laisse tomber", False),
    ],
)
def test_the_deletion_question_reads_its_own_words_before_the_commands(text: str, erased: bool) -> None:
    convo = ConversationState(state="need")
    context = FlowContext(now=NOW, new_reference=lambda: "OB-DEL001")
    FLOW.handle(convo, ClientInput(text="supprimer mes données"), context)
    assert convo.state == "confirm_delete"
    result = FLOW.handle(convo, ClientInput(text=text), context)
    assert any(isinstance(effect, EraseData) for effect in result.effects) is erased
    if not erased:
        assert convo.state == "need"  # back to the question it was at
    # Elsewhere "annuler" is still the command that cancels the request.
    understood = FLOW.understand("need", "annuler", context, "fr", {})
    assert understood is not None
    assert understood.command == ("cancel", None)


def _at_the_insurance_question() -> tuple[ConversationState, FlowContext]:
    convo = ConversationState()
    context = FlowContext(now=NOW, new_reference=lambda: "OB-INS001")
    for text in ["perdu", "oui", "non", "envoi", "3 place Bellecour 69002 Lyon", "Paul Martin", "0612345678"]:
        FLOW.handle(convo, ClientInput(text=text), context)
    assert convo.state == "insurance"
    return convo, context


def test_a_new_insurance_answer_drops_the_card_of_the_earlier_one() -> None:
    convo, context = _at_the_insurance_question()
    FLOW.handle(convo, ClientInput(text="la MGEN"), context)
    assert convo.state == "insurance_card"
    result = FLOW.handle(convo, ClientInput(media="files/card.enc"), context)
    assert [r.key for r in result.replies] == ["insurance_card.received", "summary.question"]
    assert "• Mutuelle : MGEN (carte reçue)\n" in result.replies[-1].text
    FLOW.handle(convo, ClientInput(text="changer la mutuelle"), context)
    assert convo.state == "insurance"
    FLOW.handle(convo, ClientInput(text="Harmonie"), context)
    result = FLOW.handle(convo, ClientInput(choice="skip", step="insurance_card"), context)
    assert convo.state == "summary"
    assert "• Mutuelle : Harmonie Mutuelle\n" in result.replies[-1].text  # no "(carte reçue)"
    result = FLOW.handle(convo, ClientInput(text="oui"), context)
    (case,) = [e for e in result.effects if isinstance(e, CreateCase)]
    assert (case.fields["insurance"], case.fields["insurer"], case.fields["insurance_card"]) == (
        "insured",
        "Harmonie Mutuelle",
        None,
    )


def test_a_card_sent_as_the_new_answer_replaces_the_earlier_insurer() -> None:
    convo, context = _at_the_insurance_question()
    FLOW.handle(convo, ClientInput(text="la MGEN"), context)
    FLOW.handle(convo, ClientInput(choice="skip", step="insurance_card"), context)
    FLOW.handle(convo, ClientInput(text="changer la mutuelle"), context)
    assert convo.state == "insurance"
    result = FLOW.handle(convo, ClientInput(media="files/card.enc"), context)
    assert convo.state == "summary"
    assert "• Mutuelle : voir la carte (carte reçue)\n" in result.replies[-1].text  # not the MGEN
    assert convo.answers["insurance"] == {"status": "insured", "name": None}


def test_at_the_card_s_step_the_client_may_correct_the_insurance_itself() -> None:
    convo, context = _at_the_insurance_question()
    FLOW.handle(convo, ClientInput(text="la MGEN"), context)
    FLOW.handle(convo, ClientInput(text="MGEN"), context)  # said again: still the card's question
    assert convo.state == "insurance_card"
    FLOW.handle(convo, ClientInput(text="en fait c'est la MNT"), context)
    assert convo.state == "insurance_card"
    assert convo.answers["insurance"] == {"status": "insured", "name": "MNT"}
    result = FLOW.handle(convo, ClientInput(text="en fait je n'ai pas de mutuelle"), context)
    assert (convo.state, convo.answers["insurance"]) == ("summary", {"status": "none"})
    assert "• Mutuelle : aucune\n" in result.replies[-1].text


def test_a_name_said_with_no_card_at_hand_goes_straight_to_the_summary() -> None:
    convo, context = _at_the_insurance_question()
    FLOW.handle(convo, ClientInput(text="c'est la MGEN, je n'ai pas la carte sur moi"), context)
    assert (convo.state, convo.answers["insurance"]) == ("summary", {"status": "insured", "name": "MGEN"})


def test_skipping_while_changing_the_insurance_keeps_it_as_it_was() -> None:
    convo, context = _at_the_insurance_question()
    FLOW.handle(convo, ClientInput(text="la MGEN"), context)
    FLOW.handle(convo, ClientInput(media="files/card.enc"), context)
    FLOW.handle(convo, ClientInput(text="changer la mutuelle"), context)
    result = FLOW.handle(convo, ClientInput(choice="skip", step="insurance"), context)
    assert convo.state == "summary"
    assert convo.answers["insurance"] == {"status": "insured", "name": "MGEN"}
    assert convo.answers["insurance_card"] == "files/card.enc"
    assert "• Mutuelle : MGEN (carte reçue)\n" in result.replies[-1].text


def test_changing_the_phone_at_the_summary_does_not_ask_the_insurance_again() -> None:
    convo, context = _at_the_insurance_question()
    FLOW.handle(convo, ClientInput(choice="none", step="insurance"), context)
    assert convo.state == "summary"
    FLOW.handle(convo, ClientInput(choice="change_phone", step="summary"), context)
    assert convo.state == "contact_phone"
    result = FLOW.handle(convo, ClientInput(text="07 56 34 12 78"), context)
    assert [r.key for r in result.replies] == ["summary.question"]
    assert "• Mutuelle : aucune\n" in result.replies[-1].text
