"""The members' request flow on its own (no I/O): every transition, the readers, stale buttons."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flows.catalog import Catalog
from flows.member_table import (
    KINDS,
    MEMBER_TRANSITIONS,
    DiscardFile,
    MemberContext,
    MemberResult,
    MemberSession,
    OfferVideo,
    RelayToRequest,
    ShowAccount,
    SubmitRequest,
)
from flows.member_words import format_euros, parse_amount, parse_kind, parse_months
from flows.members import MemberFlow
from flows.types import ClientInput

FLOW = MemberFlow(Catalog.load())


class Member:
    def __init__(self, state: str = "idle", open_reference: str | None = None, **data: object) -> None:
        self.session = MemberSession(state, dict(data))
        self.context = MemberContext(open_reference)
        self.result = MemberResult()

    def says(self, text: str) -> list[str]:
        return self.said(ClientInput(text=text))

    def presses(self, value: str, step: str) -> list[str]:
        return self.said(ClientInput(choice=value, step=step))

    def sends(self, path: str, name: str = "bilan.pdf") -> list[str]:
        return self.said(ClientInput(media=path, media_name=name))

    def said(self, said: ClientInput) -> list[str]:
        self.result = FLOW.handle(self.session, self.context, said)
        return [r.key for r in self.result.replies]

    @property
    def state(self) -> str:
        return self.session.state


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("chômage partiel", "short_time"),
        ("chomage partiel svp", "short_time"),
        ("pret garanti", "guaranteed_loan"),
        ("un PGE", "guaranteed_loan"),
        ("une avance sur commissions", "commission_advance"),
        ("avance", "commission_advance"),
        ("report de redevances", "royalty_deferral"),
        ("report", "royalty_deferral"),
        ("fonds de solidarité", "state_aid"),
        ("les aides de l'État", "state_aid"),
        ("une visio", "video"),
        ("autre chose", "other"),
        ("je ne sais pas", None),
        ("une avance ou un report", None),  # two kinds: which one?
    ],
)
def test_the_kind_is_read_in_words(text: str, kind: str | None) -> None:
    assert parse_kind(text) == kind


@pytest.mark.parametrize(
    ("text", "euros"),
    [
        ("3 000 €", Decimal(3000)),
        ("3000", Decimal(3000)),
        ("3k", Decimal(3000)),
        ("3 K€", Decimal(3000)),
        ("1,5k", Decimal(1500)),
        ("3.000", Decimal(3000)),
        ("2 500,50 euros", Decimal("2500.50")),
        ("environ 4000 euros", Decimal(4000)),
        ("-5", Decimal(-5)),
        ("0", Decimal(0)),
        ("beaucoup", None),
        ("entre 2000 et 3000", None),
    ],
)
def test_an_amount_is_read_as_said(text: str, euros: Decimal | None) -> None:
    assert parse_amount(text) == euros


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("3", 3),
        ("3 mois", 3),
        ("six mois", 6),
        ("un an", 12),
        ("douze", 12),
        ("18 mois", 18),
        ("bientôt", None),
    ],
)
def test_months_are_read_as_said(text: str, months: int | None) -> None:
    assert parse_months(text) == months


def test_amounts_are_written_the_french_way() -> None:
    assert format_euros(300000) == "3 000 €"
    assert format_euros(250050) == "2 500,50 €"
    assert format_euros(500) == "5 €"


def test_free_text_outside_a_flow_shows_the_menu_or_joins_the_open_request() -> None:
    alone = Member()
    assert alone.says("bonjour") == ["member.menu"]
    assert alone.result.effects == []
    with_request = Member(open_reference="A-7K3Q9X")
    assert with_request.says("une précision") == []
    assert with_request.result.effects == [RelayToRequest("une précision")]
    assert with_request.says("/menu") == ["member.menu"]  # /menu always shows the menu
    assert with_request.says("menu") == ["member.menu"]


def test_the_menus_buttons_start_a_request_offer_slots_or_show_the_account_at_any_step() -> None:
    member = Member("details", kind="other", document_path="/data/d")
    assert member.presses("video", "m.menu") == []
    assert member.result.effects == [DiscardFile("/data/d"), OfferVideo()]  # the draft is dropped
    assert member.state == "idle"
    assert member.session.data == {}
    assert member.presses("account", "m.menu") == []
    assert member.result.effects == [ShowAccount()]
    assert member.says("/moncompte") == []
    assert member.result.effects == [ShowAccount()]
    assert member.presses("request", "m.menu") == ["member.ask_kind"]
    assert member.state == "kind"
    assert member.presses("nonsense", "m.menu") == ["member.stale", "member.ask_kind"]


@pytest.mark.parametrize(
    ("kind", "next_key", "state"),
    [
        ("commission_advance", "member.ask_amount", "amount"),
        ("royalty_deferral", "member.ask_months", "months"),
        *(
            (kind, "member.ask_details", "details")
            for kind in KINDS
            if kind not in ("commission_advance", "royalty_deferral")
        ),
    ],
)
def test_each_kind_asks_what_it_needs(kind: str, next_key: str, state: str) -> None:
    member = Member("kind")
    assert member.presses(kind, "m.kind") == [next_key]
    assert member.state == state


def test_a_whole_request_with_a_document() -> None:
    member = Member()
    assert member.says("/accompagnement") == ["member.ask_kind"]
    assert member.says("avance") == ["member.ask_amount"]
    assert member.says("0") == ["member.amount_not_positive", "member.ask_amount"]
    assert member.says("999 999 €") == ["member.amount_too_large", "member.ask_amount"]
    assert member.says("3 000 €") == ["member.ask_details"]
    assert member.sends("/data/one") == ["member.document_early"]  # a file before the details
    assert member.state == "details"
    assert member.says("Mes ventes ont chuté.") == ["member.summary"]  # the document is decided
    summary = member.result.replies[0]
    assert "3 000 €" in summary.text
    assert "bilan.pdf" in summary.text
    assert [c.value for c in summary.choices] == ["send", "change", "cancel"]
    assert member.presses("send", "m.summary") == []
    assert member.result.effects == [
        SubmitRequest("commission_advance", "Mes ventes ont chuté.", 300000, None, "/data/one", "bilan.pdf")
    ]
    assert member.state == "idle"
    assert member.session.data == {}


def test_a_document_replaced_or_skipped_is_discarded() -> None:
    member = Member("document", kind="other", details="x")
    assert member.sends("/data/one") == ["member.summary"]
    assert member.presses("change", "m.summary") == ["member.ask_change"]
    assert member.presses("document", "m.change") == ["member.ask_document"]
    assert member.sends("/data/two") == ["member.summary"]
    assert DiscardFile("/data/one") in member.result.effects
    assert member.presses("change", "m.summary") == ["member.ask_change"]
    assert member.presses("document", "m.change") == ["member.ask_document"]
    assert member.presses("skip", "m.document") == ["member.summary"]
    assert member.result.effects == [DiscardFile("/data/two")]
    assert "document_path" not in member.session.data


def test_a_file_nobody_asked_for_is_discarded() -> None:
    member = Member("amount", kind="commission_advance")
    assert member.sends("/data/x") == ["member.unexpected_file", "member.ask_amount"]
    assert member.result.effects == [DiscardFile("/data/x")]


def test_changing_the_kind_keeps_the_details_and_goes_back_to_the_summary() -> None:
    member = Member("summary", kind="state_aid", details="mes précisions", document_decided=True)
    assert member.presses("change", "m.summary") == ["member.ask_change"]
    assert member.presses("kind", "m.change") == ["member.ask_kind"]
    assert member.presses("royalty_deferral", "m.kind") == ["member.ask_months"]
    assert member.says("un an") == ["member.summary"]
    assert "12 mois" in member.result.replies[0].text
    assert member.says("modifier") == ["member.ask_change"]
    assert member.says("les précisions") == ["member.ask_details"]


def test_long_details_are_cut_and_the_member_told() -> None:
    member = Member("details", kind="other")
    assert member.says("x" * 2500) == ["member.details_cut", "member.ask_document"]
    assert len(member.session.data["details"]) == 2000


def test_cancel_menu_and_help_work_at_every_step() -> None:
    for state in ("kind", "amount", "months", "details", "document", "summary", "change"):
        member = Member(state, kind="commission_advance", details="d", document_path="/data/d")
        keys = member.says("aide")
        assert keys[0] == "member.help"
        assert member.state == state
        assert member.says("annuler") == ["member.cancelled"]
        assert member.state == "idle"
        assert DiscardFile("/data/d") in member.result.effects
        again = Member(state, kind="other", details="d", document_path="/data/d")
        assert again.says("menu") == ["member.menu"]
        assert again.state == "idle"
        assert again.result.effects == [DiscardFile("/data/d")]  # the draft is dropped with its file
        assert again.session.data == {}
    assert Member().says("annuler") == ["member.nothing_to_cancel"]


def test_three_misses_at_a_step_offer_the_menu() -> None:
    member = Member("months", kind="royalty_deferral")
    assert member.says("bientôt") == ["member.months_unclear", "member.ask_months"]
    assert member.says("13") == ["member.months_unclear", "member.ask_months"]
    assert member.says("peut-être") == ["member.gave_up"]
    assert member.state == "idle"
    assert member.session.data == {}


def test_an_answer_resets_the_misses() -> None:
    member = Member("months", kind="royalty_deferral")
    member.says("bientôt")
    member.says("bientôt")
    member.says("3")
    assert member.state == "details"
    assert member.session.misses == 0


@pytest.mark.parametrize(
    ("state", "value", "step"),
    [
        ("details", "short_time", "m.kind"),  # an old kind button, the details now asked
        ("kind", "bogus", "m.kind"),  # a value no button has
        ("summary", "send", "m.kind"),  # the right value under another step
        ("idle", "send", "m.summary"),  # a summary already sent
        ("document", "skip", "x.document"),  # a step that is not ours
    ],
)
def test_a_stale_or_tampered_button_is_refused_with_fresh_choices(state: str, value: str, step: str) -> None:
    member = Member(state, kind="other", details="d")
    keys = member.presses(value, step)
    assert keys[0] == "member.stale"
    assert len(keys) == 2  # the current question again (the menu outside a flow)
    assert member.state == state
    assert member.result.effects == []


def test_every_trigger_of_the_table_is_reached_by_a_test() -> None:
    # The table's triggers, each exercised above (a new one needs a test here).
    reached = {
        "open_menu", "start", "video", "account", "choose_kind", "give_amount", "give_months",
        "give_details", "attach", "skip_document", "confirm", "change", "change_kind",
        "change_details", "change_document", "cancel", "message", "miss", "help", "stale",
    }  # fmt: skip
    assert {row["trigger"] for row in MEMBER_TRANSITIONS} == reached
