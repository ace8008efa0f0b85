"""The follow-up reads what a client says about their visit's appointment: a proposal's buttons go
to dispatch, words that move it too, words that cancel it ask the case's cancellation first."""

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
LIVE = CaseView("OB-1", open=True)


def _said(
    text: str | None = None, *, choice: str | None = None, step: str | None = None, case: CaseView = LIVE
) -> tuple[FlowResult, ConversationState]:
    convo = ConversationState(state="handed_off", owner="queue", notice_sent=True)
    return FLOW.handle(convo, case, ClientInput(text=text, choice=choice, step=step)), convo


@pytest.mark.parametrize(
    "text",
    [
        "décaler le rendez-vous",
        "je voudrais déplacer le rdv svp",
        "Bonjour, on peut changer l'heure ?",
        "déplacer",
        "reporter",
        "can we reschedule the visit",
    ],
)
def test_words_that_move_the_appointment_go_to_dispatch(text: str) -> None:
    result, _ = _said(text)
    assert result.effects == [AppointmentAnswer("rdv_move")]
    assert result.replies == []  # dispatch says what came of it


@pytest.mark.parametrize(
    "text", ["je vais déplacer ma voiture", "merci pour le rendez-vous", "à tout à l'heure"]
)
def test_other_words_reach_the_case(text: str) -> None:
    result, _ = _said(text)
    assert result.effects == [RelayToCase()]


def test_moving_the_appointment_of_a_case_already_over_reaches_the_case() -> None:
    result, _ = _said("décaler le rendez-vous", case=CaseView("OB-1", open=False))
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
    assert asked.effects == []
    assert convo.state == "cancel_asked"
    assert "annuler" in asked.replies[0].text
    done = FLOW.handle(convo, LIVE, ClientInput(choice="yes", step="cancel_asked"))
    assert done.effects == [CancelCase()]
