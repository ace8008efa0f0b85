"""The half-day question (issue 14, point 3): the calendar of bookable half-days, the reading of a
free-text answer against the contract, and the buttons made from the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.channels.whatsapp.render import MAX_ROW_TITLE, interactive
from flows.answers import format_slot, render_summary, slot_short_label
from flows.catalog import Catalog
from flows.intake import IntakeFlow
from flows.steps import STEPS, Hint
from flows.types import SERVICE_TIME_ZONE, ClientInput, ConversationState, FlowContext
from flows.visit_calendar import (
    MAX_DAYS_AHEAD,
    closed,
    easter,
    first_part,
    next_half_days,
    public_holidays,
    refusal,
)

CATALOG = Catalog.load()
FLOW = IntakeFlow(CATALOG)
# The corpus's reference moment: Wednesday 2 December 2026, 08:00 in Paris.
REFERENCE = datetime(2026, 12, 2, 8, 0, tzinfo=SERVICE_TIME_ZONE)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=SERVICE_TIME_ZONE)  # type: ignore[misc]


def ctx(now: datetime = REFERENCE) -> FlowContext:
    return FlowContext(now=now.astimezone(UTC), new_reference=lambda: "OB-SLOT")


# --- the calendar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "sunday"),
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
    ],
)
def test_easter_by_the_computus(year: int, sunday: date) -> None:
    assert easter(year) == sunday


def test_the_eleven_french_public_holidays() -> None:
    assert sorted(public_holidays(2026)) == [
        date(2026, 1, 1),
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 1),
        date(2026, 5, 8),
        date(2026, 5, 14),  # Ascension Thursday
        date(2026, 5, 25),  # Whit Monday
        date(2026, 7, 14),
        date(2026, 8, 15),
        date(2026, 11, 1),
        date(2026, 11, 11),
        date(2026, 12, 25),
    ]
    holidays_2027 = public_holidays(2027)
    assert {date(2027, 3, 29), date(2027, 5, 6), date(2027, 5, 17)} <= holidays_2027
    assert len(holidays_2027) == 11


def test_sundays_and_holidays_are_closed_other_days_open() -> None:
    assert closed(date(2026, 12, 6)) == "sunday"
    assert closed(date(2026, 12, 25)) == "holiday"
    assert closed(date(2027, 5, 6)) == "holiday"  # Ascension 2027
    assert closed(date(2026, 12, 5)) is None  # a Saturday is open
    assert closed(date(2026, 12, 24)) is None


def test_a_half_day_is_bookable_until_its_last_window_starts() -> None:
    day = date(2026, 12, 2)
    assert refusal(day, "am", paris(2026, 12, 2, 10, 59)) is None
    assert refusal(day, "am", paris(2026, 12, 2, 11, 0)) == "past"  # 11h–12h has started
    assert refusal(day, "pm", paris(2026, 12, 2, 16, 59)) is None
    assert refusal(day, "pm", paris(2026, 12, 2, 17, 0)) == "past"
    assert first_part(day, paris(2026, 12, 2, 11, 30)) == "pm"
    assert first_part(day, paris(2026, 12, 2, 17, 0)) is None
    assert next_half_days(paris(2026, 12, 2, 17, 30), 1) == [(date(2026, 12, 3), "am")]
    assert refusal(date(2027, 1, 30), "am", REFERENCE) is None  # 59 days
    assert refusal(date(2027, 2, 1), "am", REFERENCE) == "too_far"  # 61 days
    assert MAX_DAYS_AHEAD == 60


def test_the_next_four_half_days_skip_a_sunday_and_a_whit_monday() -> None:
    # Saturday 15 May 2027, 19:00: Sunday 16, then Whit Monday 17: Tuesday and Wednesday.
    assert next_half_days(paris(2027, 5, 15, 19, 0), 4) == [
        (date(2027, 5, 18), "am"),
        (date(2027, 5, 18), "pm"),
        (date(2027, 5, 19), "am"),
        (date(2027, 5, 19), "pm"),
    ]


def test_the_next_half_days_across_the_year_end() -> None:
    # Thursday 31 December 2026, 13:00: the afternoon, then 1 January (holiday) skipped, then the 2nd.
    assert next_half_days(paris(2026, 12, 31, 13, 0), 4) == [
        (date(2026, 12, 31), "pm"),
        (date(2027, 1, 2), "am"),
        (date(2027, 1, 2), "pm"),
        (date(2027, 1, 4), "am"),  # the 3rd is a Sunday
    ]


# --- the reader, row by row of the contract --------------------------------------------------------

READ = STEPS["visit_slot"].read
CONTRACT: list[tuple[str, Any]] = [
    *[
        (text, "asap")
        for text in (
            "dès que possible",
            "le plus tôt possible",
            "au plus vite",
            "asap",
            "n'importe quand",
            "quand vous voulez",
            "peu importe",
            "le plus vite possible",
            "urgent, au plus tôt",
            "as soon as possible",
        )
    ],
    ("aujourd'hui", "2026-12-02 am"),
    ("today", "2026-12-02 am"),
    ("ce matin", "2026-12-02 am"),
    ("cet après-midi", "2026-12-02 pm"),
    ("ce soir", "2026-12-02 pm"),
    ("cet aprem", "2026-12-02 pm"),
    ("demain", "2026-12-03 am"),
    ("demain après-midi", "2026-12-03 pm"),
    ("demain 14h", "2026-12-03 pm"),
    ("jeudi 10h", "2026-12-03 am"),
    ("tomorrow morning", "2026-12-03 am"),
    ("samedi", "2026-12-05 am"),
    ("saturday", "2026-12-05 am"),
    ("vendredi aprem", "2026-12-04 pm"),
    ("mercredi", "2026-12-09 am"),
    ("le 12", "2026-12-12 am"),
    ("12/12", "2026-12-12 am"),
    ("12 décembre", "2026-12-12 am"),
    ("le 12 après-midi", "2026-12-12 pm"),
    ("le 8", "2026-12-08 am"),
    ("dimanche", Hint("visit_slot.sunday")),
    ("le 25", Hint("visit_slot.holiday")),
    ("25/12", Hint("visit_slot.holiday")),
    ("noël", Hint("visit_slot.holiday")),
    ("hier", Hint("visit_slot.past")),
    ("1/12", Hint("visit_slot.past")),
    ("le 1er", Hint("visit_slot.holiday")),  # the next 1st is 1 January
    ("le 15 février", Hint("visit_slot.too_far")),
    ("en mars", None),
    ("lundi ou mardi", None),
    ("demain matin ou jeudi", None),
    ("je sais pas", None),
    ("bonjour", None),
    ("12 rue de la paix", None),
    # beyond the contract's rows
    ("le douze", "2026-12-12 am"),
    ("le vingt et un après-midi", "2026-12-21 pm"),
    ("dans 2 jours", "2026-12-04 am"),
    ("dans 80 jours", Hint("visit_slot.too_far")),
    ("ce mercredi", "2026-12-02 am"),  # said on a Wednesday: today
    ("samedi prochain", None),  # this Saturday or next week's?
    ("demain au plus tôt", "2026-12-03 am"),
    ("dès que possible, sinon lundi", None),
    ("demain 9h-12h", "2026-12-03 am"),
    ("aujourd'hui en fin de journée", "2026-12-02 pm"),
    ("le 12 rue de la Paix", None),
    ("pas demain", None),
    ("sam matin", "2026-12-05 am"),
    ("qd tu veux", "asap"),
    ("mon adresse", None),  # "mon" is no Monday
    ("dim", Hint("visit_slot.sunday")),
    ("lundi dernier", Hint("visit_slot.past")),  # gone by, not next Monday
    ("last monday", Hint("visit_slot.past")),
    ("pas ce matin, mais cet après-midi", "2026-12-02 pm"),  # the moment said instead
    ("pas demain, plutôt vendredi", "2026-12-04 am"),
    ("pas ce matin", None),  # refused, nothing said instead
]


@pytest.mark.parametrize(("text", "expected"), CONTRACT)
def test_the_reader_follows_the_contract(text: str, expected: Any) -> None:
    got = READ(text, ctx())
    if expected == "asap":
        assert got == ("given", {"date": "2026-12-02", "part": "am", "asap": True})
    elif isinstance(expected, str):
        day, part = expected.split()
        assert got == ("given", {"date": day, "part": part})
    else:
        assert got == expected


def test_as_soon_as_possible_is_the_first_half_day_free_when_said() -> None:
    saturday_evening = ctx(paris(2026, 12, 5, 19, 0))  # Sunday next: Monday morning
    assert READ("au plus vite", saturday_evening) == (
        "given",
        {"date": "2026-12-07", "part": "am", "asap": True},
    )
    assert READ("aujourd'hui", saturday_evening) == Hint("visit_slot.past")


# --- buttons, presses and the reasons said ---------------------------------------------------------


def at_slot(now: datetime = REFERENCE, language: Any = "fr") -> ConversationState:
    return ConversationState(state="visit_slot", language=language, answers={"mode": "visit"})


def ask(now: datetime = REFERENCE, language: Any = "fr") -> Any:
    convo = at_slot(now, language)
    return FLOW.handle(convo, ClientInput(text="je sais pas"), ctx(now)).replies[-1]


def test_the_question_offers_the_next_four_half_days_and_as_soon_as_possible() -> None:
    reply = ask()
    assert [(c.value, c.label) for c in reply.choices] == [
        ("2026-12-02 am", "Mercredi 2 décembre, matin"),
        ("2026-12-02 pm", "Mercredi 2 décembre, après-midi"),
        ("2026-12-03 am", "Jeudi 3 décembre, matin"),
        ("2026-12-03 pm", "Jeudi 3 décembre, après-midi"),
        ("asap", "Dès que possible"),
    ]
    english = ask(paris(2026, 12, 5, 13, 0), "en")  # Saturday afternoon: then Monday
    assert [c.label for c in english.choices] == [
        "Saturday 5 December, afternoon",
        "Monday 7 December, morning",
        "Monday 7 December, afternoon",
        "Tuesday 8 December, morning",
        "As soon as possible",
    ]
    assert all(len(f"visit_slot:{c.value}".encode()) <= 64 for c in reply.choices)  # Telegram's data


def press(value: str, now: datetime, convo: ConversationState | None = None) -> tuple[ConversationState, Any]:
    convo = convo or at_slot(now)
    result = FLOW.handle(convo, ClientInput(choice=value, step="visit_slot"), ctx(now))
    return convo, result


def test_a_pressed_half_day_is_recorded_and_as_soon_as_possible_takes_the_first() -> None:
    convo, _ = press("2026-12-03 pm", REFERENCE)
    assert convo.state == "contact_name"
    assert convo.answers["slot"] == {"date": "2026-12-03", "part": "pm"}
    convo, _result = press("asap", paris(2026, 12, 2, 12, 30))
    assert convo.answers["slot"] == {"date": "2026-12-02", "part": "pm", "asap": True}
    assert FLOW.choice_label("visit_slot", "2026-12-03 pm", "fr") == "Jeudi 3 décembre, après-midi"
    assert FLOW.choice_label("visit_slot", "asap", "en") == "As soon as possible"


def test_a_half_day_pressed_once_it_is_over_is_refused_and_asked_again_with_fresh_buttons() -> None:
    convo, result = press("2026-12-02 am", paris(2026, 12, 3, 9, 0))  # pressed the next morning
    assert convo.state == "visit_slot"
    assert "slot" not in convo.answers
    assert [r.key for r in result.replies] == ["visit_slot.gone", "visit_slot.question"]
    assert result.replies[-1].choices[0].value == "2026-12-03 am"
    # Still bookable the next day: taken.
    convo, result = press("2026-12-03 pm", paris(2026, 12, 3, 9, 0))
    assert convo.answers["slot"] == {"date": "2026-12-03", "part": "pm"}
    # A forged value (a holiday) and another step's button: refused.
    convo, result = press("2026-12-25 am", REFERENCE)
    assert convo.state == "visit_slot"
    assert result.replies[0].key == "visit_slot.gone"
    convo, result = press("not-a-slot", REFERENCE)
    assert result.replies[0].key == "stale_button"


@pytest.mark.parametrize(
    ("text", "key"),
    [("dimanche", "visit_slot.sunday"), ("noël", "visit_slot.holiday"), ("hier", "visit_slot.past"),
     ("le 15 février", "visit_slot.too_far"), ("lundi dernier", "visit_slot.past"),
     ("je sais pas", "visit_slot.hint")],
)  # fmt: skip
def test_a_moment_that_cannot_be_booked_is_refused_saying_why(text: str, key: str) -> None:
    convo = at_slot()
    result = FLOW.handle(convo, ClientInput(text=text), ctx())
    assert convo.state == "visit_slot"
    assert [r.key for r in result.replies] == [key]
    assert result.replies[0].text.startswith(CATALOG.text("fr", key))
    assert len(result.replies[0].choices) == 5
    assert FLOW.understand("visit_slot", text, ctx(), "fr", {}) is None


def test_typing_a_button_label_or_number_reads_as_pressing_it() -> None:
    for text, slot in [
        ("Jeudi 3 décembre, après-midi", {"date": "2026-12-03", "part": "pm"}),
        ("4", {"date": "2026-12-03", "part": "pm"}),
        ("5", {"date": "2026-12-02", "part": "am", "asap": True}),
    ]:
        convo = at_slot()
        FLOW.handle(convo, ClientInput(text=text), ctx())
        assert convo.answers["slot"] == slot, text


def test_as_soon_as_possible_reads_back_with_its_first_half_day() -> None:
    asap = {"date": "2026-12-03", "part": "am", "asap": True}
    assert format_slot(CATALOG, "fr", asap) == "dès que possible (à partir de jeudi 3 décembre, matin)"
    assert format_slot(CATALOG, "en", asap) == "as soon as possible (from Thursday 3 December, morning)"
    answers = {"mode": "visit", "consent": {"version": "v"}, "slot": asap}
    assert "Créneau souhaité : dès que possible (à partir de jeudi 3 décembre, matin)" in render_summary(
        CATALOG, "fr", answers
    )


def test_whatsapp_shows_the_half_days_as_a_list_within_its_limits() -> None:
    reply = ask(paris(2026, 9, 29, 13, 0))  # the longest labels: "Mercredi 30 septembre, après-midi"
    choices = [{"value": c.value, "label": c.label} for c in reply.choices]
    message: Any = interactive("Quelle demi-journée ?", choices, "visit_slot", CATALOG, "fr")
    rows = message["interactive"]["action"]["sections"][0]["rows"]
    assert [row["title"] for row in rows] == [
        "Mar. 29/09, après-midi",
        "Mer. 30/09, matin",
        "Mer. 30/09, après-midi",
        "Jeudi 1er octobre, matin",  # fits (24): kept whole
        "Dès que possible",
    ]
    assert all(len(row["title"]) <= MAX_ROW_TITLE for row in rows)
    assert rows[2]["description"] == "Mercredi 30 septembre, après-midi"
    assert slot_short_label(CATALOG, "en", "2026-09-30 pm") == "Wed 30/09, afternoon"
    assert slot_short_label(CATALOG, "fr", "asap") is None
