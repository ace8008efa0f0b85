"""The intake under each service level (issue 15), the flow alone (pure): what a switch during a
conversation does, and what a conversation begun before levels existed goes through."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flows.catalog import Catalog
from flows.intake import IntakeFlow
from flows.types import (
    ClientInput,
    ConversationState,
    CreateCase,
    Effect,
    FlowContext,
    JoinWaitlist,
    Levels,
    ServiceLevel,
)

FLOW = IntakeFlow(Catalog.load())
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
EFFECTS: list[Effect] = []  # what the last message asked the engine to record


def ctx(national: ServiceLevel = "crisis", **departments: ServiceLevel) -> FlowContext:
    local = tuple((code.removeprefix("d"), level) for code, level in departments.items())
    return FlowContext(now=NOW, new_reference=lambda: "OB-LEVEL", levels=Levels(national, local))


def say(convo: ConversationState, context: FlowContext, text: str | None = None, **said: Any) -> list[str]:
    result = FLOW.handle(convo, ClientInput(text=text, **said), context)
    EFFECTS[:] = result.effects
    return [reply.key for reply in result.replies]


def at_summary(level: ServiceLevel) -> ConversationState:
    """A routine request (contact lenses) taken in normal service, read back at the summary."""
    convo = ConversationState()
    normal = ctx(level)
    say(convo, normal, "je voudrais des lentilles")
    for text in (
        "par la poste",
        "8 avenue Jean Jaurès 69007 Lyon",
        "Jean Dupont",
        "06 98 76 54 32",
        "passer",
    ):
        say(convo, normal, text)
    assert convo.state == "summary"
    return convo


def test_a_request_begun_in_normal_service_is_booked_as_an_ordinary_request() -> None:
    convo = at_summary("normal")
    assert say(convo, ctx("normal"), "oui") == ["level.handoff_request"]
    (created,) = EFFECTS
    assert isinstance(created, CreateCase)
    assert (created.kind, created.fields["need"], created.fields["urgent"]) == ("request", "lenses", False)


def test_a_switch_to_crisis_before_the_summary_is_sent_stops_a_routine_request() -> None:
    convo = at_summary("normal")
    assert say(convo, ctx("crisis"), "oui") == ["level.local_crisis", "waitlist.question"]
    assert convo.state == "waitlist_offer"
    assert say(convo, ctx("crisis"), "oui") == ["waitlist.joined"]  # the department is known: 69
    (joined,) = EFFECTS
    assert joined == JoinWaitlist("not_urgent", "69")


def test_a_conversation_begun_before_levels_existed_goes_through_the_crisis_gate() -> None:
    convo = ConversationState(state="need", answers={})  # no "level" in its answers
    assert say(convo, ctx("normal"), "c'est pour un renouvellement") == ["other.explain", "waitlist.question"]


def test_restarting_under_a_suspended_service_comes_back_to_the_waitlist() -> None:
    convo = ConversationState()
    assert say(convo, ctx("crisis"), "mes lunettes sont cassées") == ["greeting", "urgency.question"]
    assert say(convo, ctx("suspended"), "recommencer") == [
        "restarted",
        "level.suspended_explain",
        "waitlist.question",
    ]
    assert convo.answers == {"level": "suspended", "waitlist_reason": "suspended"}


def test_an_emergency_is_taken_where_only_emergencies_are() -> None:
    convo = ConversationState()
    context = ctx("normal", d13="crisis")
    for text in ("mes lunettes sont cassées", "oui", "non", "par la poste"):
        say(convo, context, text)
    assert say(convo, context, "10 La Canebière 13001 Marseille") == ["contact_name.question"]


def test_commands_still_work_when_suspended() -> None:
    convo = ConversationState()
    assert say(convo, ctx("suspended"), "conseiller") == ["level.greeting_suspended", "handoff.advisor"]
    assert convo.owner == "queue"
