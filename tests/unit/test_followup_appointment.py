"""The follow-up reads what a client says about their visit's appointment: a proposal's buttons go
to dispatch; a short request in words to move it asks first (the message reaches the case all the
same); words that cancel it ask the case's cancellation first, even while the deletion question is
pending."""

from __future__ import annotations

import pytest

from flows.catalog import Catalog
from flows.followup import CaseView, FollowUpFlow
from flows.types import (
    AppointmentAnswer,
    CancelCase,
    ClientInput,
    ConversationState,
    FlowResult,
    RelayToCase,
)

FLOW = FollowUpFlow(Catalog.load())
LIVE = CaseView("OB-1", open=True, has_hour=True)  # a visit with an hour proposed or confirmed


def _said(
    text: str | None = None,
    *,
    choice: str | None = None,
    step: str | None = None,
    case: CaseView = LIVE,
    state: str = "handed_off",
) -> tuple[FlowResult, ConversationState]:
    convo = ConversationState(state=state, owner="queue", notice_sent=True)
    return FLOW.handle(convo, case, ClientInput(text=text, choice=choice, step=step)), convo


REQUESTS_TO_MOVE = [
    "je voudrais décaler le rdv",
    "on peut reporter la visite ?",
    "can we move the appointment?",
    "bonjour, je voudrais déplacer le rdv svp",
    "Bonjour, on peut changer l'heure ?",
    "déplacer",
    "reporter",
    "can we reschedule the visit",
]


@pytest.mark.parametrize("text", REQUESTS_TO_MOVE)
def test_a_request_to_move_the_appointment_reaches_the_case_and_asks_first(text: str) -> None:
    result, convo = _said(text)
    assert result.effects == [RelayToCase()]  # "le client a écrit": the advisors see it too
    (question,) = result.replies
    assert (question.key, question.text) == (
        "followup.move_question",
        "Voulez-vous déplacer le rendez-vous ?",
    )
    assert [c.label for c in question.choices] == ["Oui", "Non"]
    assert (question.step, convo.state) == ("move_asked", "move_asked")


@pytest.mark.parametrize("yes", [ClientInput(choice="yes", step="move_asked"), ClientInput(text="oui")])
def test_only_a_yes_moves_the_appointment(yes: ClientInput) -> None:
    _, convo = _said("je voudrais décaler le rdv")
    moved = FLOW.handle(convo, LIVE, yes)
    assert moved.effects == [AppointmentAnswer("rdv_move")]
    assert moved.replies == []  # dispatch says what came of it
    assert convo.state == "handed_off"


@pytest.mark.parametrize("no", [ClientInput(choice="no", step="move_asked"), ClientInput(text="non merci")])
def test_a_no_keeps_the_appointment(no: ClientInput) -> None:
    _, convo = _said("je voudrais décaler le rdv")
    kept = FLOW.handle(convo, LIVE, no)
    assert kept.effects == []
    assert [r.key for r in kept.replies] == ["followup.move_kept"]
    assert convo.state == "handed_off"


def test_something_else_written_instead_of_an_answer_reaches_the_case() -> None:
    _, convo = _said("je voudrais décaler le rdv")
    result = FLOW.handle(convo, LIVE, ClientInput(text="en fait je serai chez ma fille ce jour-là"))
    assert result.effects == [RelayToCase()]
    assert convo.state == "handed_off"


@pytest.mark.parametrize(
    "text",
    [
        # The reviewer's five: a negation, another thing changed, news, not requests.
        "pas besoin de décaler le rendez-vous",
        "je voudrais changer l'adresse de la visite",
        "j'ai changé d'avis, la visite de demain me va",
        "mon mari a modifié le code de la porte pour la visite",
        "I moved last year, is the visit at my new address?",
        # And others.
        "changer l'adresse du rdv",
        "déplacer le rdv chez ma fille, autre adresse",
        "changer le nom sur le rdv",
        "je ne veux pas reporter le rdv",
        "j'ai changé l'heure du rdv dans mon agenda",
        "don't move the appointment please",
        "peut-on changer d'opticien pour la visite ?",
        "je vais déplacer ma voiture",
        "merci pour le rendez-vous",
        "à tout à l'heure",
        "bonjour, pour la visite de demain il faudra sonner deux fois, l'interphone est en panne"
        " depuis lundi, et décaler un peu le rendez-vous si possible",
    ],
)
def test_other_words_only_reach_the_case(text: str) -> None:
    result, convo = _said(text)
    assert result.effects == [RelayToCase()]
    assert result.replies == []
    assert convo.state == "handed_off"


def test_a_request_to_move_without_an_hour_to_move_only_reaches_the_case() -> None:
    result, convo = _said("je voudrais décaler le rdv", case=CaseView("OB-1", open=True, has_hour=False))
    assert (result.effects, result.replies, convo.state) == ([RelayToCase()], [], "handed_off")


def test_moving_the_appointment_of_a_case_already_over_reaches_the_case() -> None:
    result, _ = _said("décaler le rendez-vous", case=CaseView("OB-1", open=False, has_hour=True))
    assert result.effects == [RelayToCase(reopen=True)]


def test_a_proposal_s_buttons_go_to_dispatch_as_pressed() -> None:
    result, _ = _said(choice="rdv_ok", step="rdv.k1.2")
    assert result.effects == [AppointmentAnswer("rdv_ok", "rdv.k1.2")]
    assert (
        FLOW.appointment_label(ClientInput(choice="rdv_other", step="rdv.k1.2"), "fr")
        == "Proposer un autre moment"
    )
    assert FLOW.appointment_label(ClientInput(choice="rdv_other", step="need"), "fr") is None


@pytest.mark.parametrize(
    "said",
    [ClientInput(text="annuler le rendez-vous"), ClientInput(choice="rdv_cancel", step="rdv.k1.2")],
)
def test_cancelling_the_appointment_asks_first_then_cancels_the_case(said: ClientInput) -> None:
    convo = ConversationState(state="handed_off", owner="queue", notice_sent=True)
    asked = FLOW.handle(convo, LIVE, said)
    assert asked.effects == ([] if said.choice else [RelayToCase()])  # words reach the case
    assert convo.state == "cancel_asked"
    assert "annuler" in asked.replies[0].text
    done = FLOW.handle(convo, LIVE, ClientInput(choice="yes", step="cancel_asked"))
    assert done.effects == [CancelCase()]


@pytest.mark.parametrize(
    "said",
    [ClientInput(text="annuler le rdv"), ClientInput(choice="rdv_cancel", step="rdv.k1.2")],
)
def test_cancelling_the_visit_while_the_deletion_question_is_pending_asks_to_cancel(
    said: ClientInput,
) -> None:
    convo = ConversationState(state="erase_asked", owner="queue", notice_sent=True)
    asked = FLOW.handle(convo, LIVE, said)
    assert [r.key for r in asked.replies] == ["followup.cancel_question"]
    assert convo.state == "cancel_asked"
    done = FLOW.handle(convo, LIVE, ClientInput(choice="yes", step="cancel_asked"))
    assert done.effects == [CancelCase()]


def test_a_bare_annuler_at_the_deletion_question_keeps_the_data_as_in_the_intake() -> None:
    result, convo = _said("annuler", state="erase_asked")
    assert [r.key for r in result.replies] == ["followup.data_kept"]
    assert (result.effects, convo.state) == ([], "handed_off")


def test_cancel_words_reach_the_case_too() -> None:
    result, convo = _said("je voudrais annuler le rendez-vous")
    assert result.effects == [RelayToCase()]
    assert convo.state == "cancel_asked"
