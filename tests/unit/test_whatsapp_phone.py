"""WhatsApp gives the number: the phone step offers the number the channel knows as a button."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.channels.whatsapp import render
from bot.rows import case_row, channel_phone
from flows.catalog import Catalog
from flows.intake import IntakeFlow
from flows.types import ClientInput, ConversationState, CreateCase, FlowContext, Language, Reply
from storage.conversations import OpenConversation

CATALOG = Catalog.load()
FLOW = IntakeFlow(CATALOG)
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
NUMBER = "+33612345678"
SHIPMENT = {
    "need": "broken",
    "urgent": True,
    "priority": "none",
    "mode": "shipment",
    "address": {"address": "Route du Port, 20000 Ajaccio", "postal_code": "20000"},
    "name": "Ange Pieri",
}


def context(phone: str | None = NUMBER) -> FlowContext:
    return FlowContext(now=NOW, new_reference=lambda: "OB-TEST01", channel_phone=phone)


def at_phone_step(language: Language = "fr") -> ConversationState:
    return ConversationState(state="contact_phone", language=language, answers=dict(SHIPMENT))


def ask(convo: ConversationState, phone: str | None = NUMBER) -> Reply:
    """The phone question as the flow puts it (the client's answer to the name question)."""
    convo.state = "contact_name"
    result = FLOW.handle(convo, ClientInput(text="Ange Pieri"), context(phone))
    assert convo.state == "contact_phone"
    return result.replies[-1]


@pytest.mark.parametrize(
    ("language", "label"),
    [("fr", "Utiliser ce numéro (06 12 34 56 78)"), ("en", "Use this number (06 12 34 56 78)")],
)
def test_the_phone_step_offers_the_number_the_channel_knows(language: Language, label: str) -> None:
    question = ask(at_phone_step(language))
    assert question.step == "contact_phone"
    assert [(c.value, c.label) for c in question.choices] == [(NUMBER, label)]
    assert question.expects == "phone"


@pytest.mark.parametrize("phone", [None, "+336", "+999999999999"])
def test_no_button_without_a_valid_number_from_the_channel(phone: str | None) -> None:
    assert ask(at_phone_step(), phone).choices == ()


def test_pressing_it_records_the_number_like_a_typed_one() -> None:
    pressed, typed = at_phone_step(), at_phone_step()
    FLOW.handle(pressed, ClientInput(choice=NUMBER, step="contact_phone"), context())
    FLOW.handle(typed, ClientInput(text="06 12 34 56 78"), context())
    assert pressed.state == typed.state == "insurance"  # the next question, then the summary
    assert pressed.answers["phone"] == typed.answers["phone"] == NUMBER
    assert FLOW.choice_label("contact_phone", NUMBER, "fr") == "Utiliser ce numéro (06 12 34 56 78)"


@pytest.mark.parametrize(
    ("value", "phone"),
    [
        ("+33698765432", NUMBER),  # not the number the channel knows
        ("+33698765432", "+33698765431"),  # nor an older number of the same channel
        (NUMBER, None),  # the channel knows no number (a business-scoped id): no such button
        ("06 12 34 56 78", NUMBER),  # only the E.164 value the button carries
    ],
)
def test_a_forged_or_stale_number_button_is_refused(value: str, phone: str | None) -> None:
    convo = at_phone_step()
    result = FLOW.handle(convo, ClientInput(choice=value, step="contact_phone"), context(phone))
    assert convo.state == "contact_phone"
    assert "phone" not in convo.answers
    assert [r.key for r in result.replies] == ["stale_button", "contact_phone.question"]
    assert [c.value for c in result.replies[-1].choices] == ([] if phone is None else [phone])


def test_a_number_button_pressed_at_another_step_is_refused() -> None:
    convo = ConversationState(state="contact_name", answers=dict(SHIPMENT))
    result = FLOW.handle(convo, ClientInput(choice=NUMBER, step="contact_phone"), context())
    assert convo.state == "contact_name"
    assert [r.key for r in result.replies] == ["stale_button", "contact_name.question"]


def test_another_number_can_still_be_typed_or_the_button_chosen_by_its_number() -> None:
    convo = at_phone_step()
    FLOW.handle(convo, ClientInput(text="07 81 22 33 44"), context())
    assert (convo.state, convo.answers["phone"]) == ("insurance", "+33781223344")
    convo = at_phone_step()
    FLOW.handle(convo, ClientInput(text="1"), context())  # the first (only) choice, by its number
    assert (convo.state, convo.answers["phone"]) == ("insurance", NUMBER)


def test_changing_the_phone_at_the_summary_offers_it_too() -> None:
    convo = at_phone_step()
    FLOW.handle(convo, ClientInput(text="07 81 22 33 44"), context())
    FLOW.handle(convo, ClientInput(text="non"), context())  # no insurance
    assert convo.state == "summary"
    result = FLOW.handle(convo, ClientInput(choice="change_phone", step="summary"), context())
    assert convo.state == "contact_phone"
    assert [c.value for c in result.replies[-1].choices] == [NUMBER]
    FLOW.handle(convo, ClientInput(choice=NUMBER, step="contact_phone"), context())
    assert (convo.state, convo.answers["phone"]) == ("summary", NUMBER)


def test_after_three_misses_the_number_and_an_advisor_are_offered() -> None:
    convo = at_phone_step()
    for _ in range(3):
        result = FLOW.handle(convo, ClientInput(text="je ne sais pas"), context())
    assert [c.value for c in result.replies[-1].choices] == [NUMBER, "advisor"]


@pytest.mark.parametrize(("language", "title"), [("fr", "Au 06 12 34 56 78"), ("en", "Use 06 12 34 56 78")])
def test_whatsapp_shows_it_as_a_reply_button_with_the_number(language: Language, title: str) -> None:
    question = ask(at_phone_step(language))
    payload = {**question.to_payload(), "language": language}
    [message] = render.messages(payload, CATALOG)
    interactive = message["interactive"]
    assert interactive["type"] == "button"
    buttons = [(b["reply"]["id"], b["reply"]["title"]) for b in interactive["action"]["buttons"]]
    assert buttons == [(f"contact_phone:{NUMBER}", title)]
    assert len(title) <= render.MAX_BUTTON_TITLE


def test_the_number_is_known_from_a_whatsapp_number_only() -> None:
    assert channel_phone("whatsapp", "33612345678") == NUMBER
    assert channel_phone("whatsapp", "FR.9f8e7d6c5b4a") is None  # a business-scoped user id
    assert channel_phone("whatsapp", "3" * 16) is None  # longer than any number
    assert channel_phone("telegram", "33612345678") is None
    assert channel_phone("web", "33612345678") is None


def _conversation(channel: str, user: str) -> OpenConversation:
    return OpenConversation(
        key=f"{channel}:{user}",
        channel=channel,
        user=user,
        client_id=1,
        identity_id=1,
        conversation_id=1,
        public_id="p",
        state="urgency",
        owner="bot",
        language="fr",
        answers={},
        misses=0,
        notice_sent=False,
    )


def _advisor_case(channel: str, user: str, **fields: Any) -> dict[str, Any]:
    effect = CreateCase("advisor", "OB-TEST01", {"need": "broken", **fields})
    return case_row(_conversation(channel, user), effect, NOW)


def test_an_advisor_case_from_whatsapp_carries_the_client_s_number() -> None:
    assert _advisor_case("whatsapp", "33612345678")["contact_phone"] == NUMBER
    assert _advisor_case("whatsapp", "33612345678", phone="+33781223344")["contact_phone"] == "+33781223344"
    assert _advisor_case("whatsapp", "FR.9f8e7d6c5b4a")["contact_phone"] is None
    assert _advisor_case("telegram", "33612345678")["contact_phone"] is None
