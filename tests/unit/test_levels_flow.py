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
    assert say(convo, ctx("crisis"), "c'est pour un renouvellement") == ["other.explain", "waitlist.question"]
    # ... unless the service is normal now: a switch to normal lets it in (review, point 4)
    convo = ConversationState(state="need", answers={})
    assert say(convo, ctx("normal"), "c'est pour un renouvellement") == [
        "level.request_taken",
        "mode.question",
    ]


def test_restarting_under_a_suspended_service_comes_back_to_the_waitlist() -> None:
    convo = ConversationState()
    assert say(convo, ctx("crisis"), "mes lunettes sont cassées") == ["greeting", "urgency.question"]
    assert say(convo, ctx("suspended"), "recommencer") == [
        "restarted",
        "level.suspended_explain",
        "need.question",
    ]
    assert convo.answers == {"level": "suspended"}
    assert say(convo, ctx("suspended"), "mes lunettes sont cassées") == [
        "level.suspended_explain",
        "level.waitlist_question_emergency",  # told when emergencies are taken, not normal service
    ]
    assert convo.state == "waitlist_offer"


def test_suspended_the_need_is_asked_first_and_the_reason_says_which_level_takes_it() -> None:
    """Review, point 8: an emergency waits for crisis ("suspended"), a routine need for normal
    service ("other"): a crisis restart does not call back a client it would refuse again."""
    for text, reason in (
        ("j'ai perdu mes lunettes", "suspended"),
        ("elles ne me conviennent plus", "suspended"),
        ("c'est pour un renouvellement", "other"),
        ("autre chose", "other"),
    ):
        convo = ConversationState()
        assert say(convo, ctx("suspended"), "bonjour") == ["level.greeting_suspended", "need.question"]
        question = "level.waitlist_question_emergency" if reason == "suspended" else "waitlist.question"
        assert say(convo, ctx("suspended"), text) == ["level.suspended_explain", question], text
        say(convo, ctx("suspended"), "oui")
        assert [JoinWaitlist(reason, None)] == EFFECTS, text
    # A routine need's client is not let in by crisis; an emergency's is.
    convo = ConversationState()
    say(convo, ctx("suspended"), "renouvellement")
    assert say(convo, ctx("crisis"), "oui") == ["waitlist.joined", "waitlist_department.question"]
    convo = ConversationState()
    say(convo, ctx("suspended"), "mes lunettes sont cassées")
    assert say(convo, ctx("crisis"), "oui") == ["level.resumed", "need.question"]


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


# --- after review (issue 15, point 1): a department's level both ways, nobody stuck ----------------


def shipped_to(convo: ConversationState, context: FlowContext, address: str) -> list[str]:
    say(convo, context, "par la poste")
    return say(convo, context, address)


def test_a_department_in_normal_service_takes_a_renewal_while_the_country_is_in_crisis() -> None:
    context = ctx("crisis", d75="normal")
    convo = ConversationState()
    assert say(convo, context, "renouvellement") == [
        "level.greeting_normal",
        "level.greeting_varies",  # the country is stricter: checked at the address
        "level.request_taken",
        "mode.question",
    ]
    assert shipped_to(convo, context, "12 rue Oberkampf 75011 Paris") == ["contact_name.question"]
    # elsewhere, the country's crisis applies at the address: a routine request waits
    convo = ConversationState()
    say(convo, context, "renouvellement")
    assert shipped_to(convo, context, "3 rue de Siam 29200 Brest") == [
        "level.local_crisis",
        "waitlist.question",
    ]
    say(convo, context, "oui")
    assert [JoinWaitlist("not_urgent", "29")] == EFFECTS


def test_a_broken_pair_said_not_urgent_is_taken_where_the_department_is_normal() -> None:
    context = ctx("crisis", d75="normal")
    convo = ConversationState()
    say(convo, context, "mes lunettes sont cassées")
    assert say(convo, context, "non") == ["level.request_taken", "mode.question"]
    assert shipped_to(convo, context, "12 rue Oberkampf 75011 Paris") == ["contact_name.question"]
    for text in ("Jean Dupont", "06 98 76 54 32", "passer"):
        say(convo, context, text)
    assert say(convo, context, "oui") == ["level.handoff_request"]
    (created,) = EFFECTS
    assert isinstance(created, CreateCase)
    assert created.kind == "request"


def test_a_country_suspended_with_one_department_in_crisis_takes_that_department_s_emergencies() -> None:
    context = ctx("suspended", d13="crisis")
    convo = ConversationState()
    assert say(convo, context, "mes lunettes sont cassées") == [
        "greeting",
        "level.greeting_varies",
        "urgency.question",
    ]
    for text in ("oui", "non"):
        say(convo, context, text)
    assert shipped_to(convo, context, "10 La Canebière 13001 Marseille") == ["contact_name.question"]
    # an emergency elsewhere is stopped at the address, as one crisis would take
    convo = ConversationState()
    for text in ("mes lunettes sont cassées", "oui", "non"):
        say(convo, context, text)
    assert shipped_to(convo, context, "3 rue de Siam 29200 Brest") == [
        "level.local_suspended",
        "level.waitlist_question_emergency",
    ]
    say(convo, context, "oui")
    assert [JoinWaitlist("suspended", "29")] == EFFECTS


def test_a_routine_request_stopped_by_a_suspension_waits_for_normal_service() -> None:
    context = ctx("normal", d29="suspended")
    convo = ConversationState()
    say(convo, context, "des lentilles")
    assert shipped_to(convo, context, "3 rue de Siam 29200 Brest") == [
        "level.local_suspended",
        "waitlist.question",
    ]
    say(convo, context, "oui")
    assert [JoinWaitlist("not_urgent", "29")] == EFFECTS  # not "suspended_local": crisis won't take it


def test_a_switch_to_normal_lets_a_conversation_begun_in_crisis_in_at_once() -> None:
    convo = ConversationState()
    say(convo, ctx("crisis"), "mes lunettes sont cassées")
    assert say(convo, ctx("normal"), "non") == ["level.request_taken", "mode.question"]


def test_a_client_at_the_waitlist_questions_when_service_resumes_is_not_stuck() -> None:
    convo = ConversationState()
    say(convo, ctx("crisis"), "autre chose")
    say(convo, ctx("crisis"), "oui")
    assert convo.state == "waitlist_department"
    # still in crisis: a new emergency is not read as a wrong postal code; it starts afresh
    assert say(convo, ctx("crisis"), "mes lunettes sont cassées") == ["greeting", "urgency.question"]
    assert EFFECTS == []
    assert convo.answers["need"] == "broken"
    # normal service now: the client who waited is let in, their message read as a need
    convo = ConversationState()
    say(convo, ctx("crisis"), "autre chose")
    say(convo, ctx("crisis"), "oui")
    assert say(convo, ctx("normal"), "renouvellement") == [
        "level.resumed",
        "level.request_taken",
        "mode.question",
    ]
    # a mistyped answer is asked again; an answer to the question is still an answer
    convo = ConversationState()
    say(convo, ctx("crisis"), "autre chose")
    say(convo, ctx("crisis"), "oui")
    assert say(convo, ctx("crisis"), "999") == ["waitlist_department.hint"]
    convo = ConversationState()
    say(convo, ctx("crisis"), "autre chose")
    say(convo, ctx("crisis"), "oui")
    assert say(convo, ctx("crisis"), "29200") == ["waitlist_department.noted", "waitlist.done"]


def test_a_conversation_begun_while_suspended_restarts_at_the_need_once_service_resumes() -> None:
    convo = ConversationState()
    say(convo, ctx("suspended"), "mes lunettes sont cassées")
    assert convo.state == "waitlist_offer"
    assert say(convo, ctx("crisis"), "j'ai perdu mes lunettes") == ["level.resumed", "urgency.question"]
    convo = ConversationState()
    say(convo, ctx("suspended"), "mes lunettes sont cassées")
    assert say(convo, ctx("crisis"), "oui") == ["level.resumed", "need.question"]
    assert EFFECTS == []  # no suspended entry filed while service is open
    # still suspended where the client waits: the questions go on
    convo = ConversationState()
    say(convo, ctx("suspended"), "mes lunettes sont cassées")
    say(convo, ctx("suspended"), "oui")
    assert say(convo, ctx("suspended", d13="crisis"), "29") == ["waitlist_department.noted", "waitlist.done"]


def test_the_joined_text_says_how_and_when_the_client_will_be_told() -> None:
    """Review, point 9: a web chat client is not told "here"; an emergency waiting for crisis is
    not told "when normal service resumes"."""
    for channel, text, key in (
        ("telegram", "autre chose", "waitlist.joined"),
        ("telegram", "mes lunettes sont cassées", "level.joined_emergency"),
        ("webchat", "mes lunettes sont cassées", "level.joined_webchat"),
        ("webchat", "autre chose", "level.joined_webchat"),
    ):
        context = FlowContext(
            now=NOW, new_reference=lambda: "OB-LEVEL", levels=Levels("suspended"), channel=channel
        )
        convo = ConversationState()
        say(convo, context, text)
        assert say(convo, context, "oui")[0] == key, (channel, text)
