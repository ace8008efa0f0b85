"""/rejoindre in the bot (issue 15, recruitment): an optician gets the public page's link, in
their language, and the intake goes on where it was."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.channels.telegram.render import bot_commands
from flows.catalog import Catalog
from flows.intake import IntakeFlow
from flows.parsing import parse_command
from flows.types import ClientInput, ConversationState, FlowContext

CATALOG = Catalog.load()
FLOW = IntakeFlow(CATALOG)
URL = "https://optibot.example.fr/rejoindre"


def _context() -> FlowContext:
    return FlowContext(now=datetime(2026, 12, 2, 8, tzinfo=UTC), new_reference=lambda: "OB-J", join_url=URL)


@pytest.mark.parametrize(
    "text", ["/rejoindre", "/join", "rejoindre le réseau", "Je suis opticienne", "je veux rejoindre", "join"]
)
def test_the_words_of_an_optician_who_wants_to_join_are_the_command(text: str) -> None:
    assert parse_command(text) == ("join_network", None)


@pytest.mark.parametrize("text", ["mes lunettes sont cassées", "je suis perdu", "opticien", "joindre"])
def test_other_words_are_not(text: str) -> None:
    assert parse_command(text) != ("join_network", None)


@pytest.mark.parametrize(("language", "words"), [("fr", "RPPS ou ADELI"), ("en", "RPPS or ADELI")])
def test_the_link_to_the_page_then_the_question_where_the_client_was(language: str, words: str) -> None:
    convo = ConversationState(language=language)
    FLOW.handle(convo, ClientInput(text="bonjour"), _context())
    assert convo.state == "need"
    replies = FLOW.handle(convo, ClientInput(text="/rejoindre"), _context()).replies
    assert [r.key for r in replies] == ["join.link", "need.question"]
    assert URL in replies[0].text
    assert words in replies[0].text
    assert convo.state == "need"


def test_the_telegram_menu_lists_it_in_both_languages() -> None:
    assert tuple(
        next(
            c.command
            for c in bot_commands(CATALOG, language)
            if "rejoindre" in c.command or c.command == "join"
        )
        for language in ("fr", "en")
    ) == ("rejoindre", "join")
