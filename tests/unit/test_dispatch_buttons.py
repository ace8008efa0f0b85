"""The optician's buttons: what each packs (Telegram's callback data, byte for byte as before the
typed factory) and how a pressed one is read back; anything else is refused."""

from __future__ import annotations

import inspect
from datetime import date

import pytest

from bot.channels.telegram.render import callback_data, parse_callback_data
from bot.desk import OFFER_STEP, OPTICIAN_STEPS, VISIT_STEP, OpticianDesk
from bot.dispatch import Dispatch
from bot.dispatch.buttons import (
    FAIL_REASONS,
    OfferAnswer,
    ProposalAnswer,
    SlotPick,
    VisitOutcome,
    parse,
    parse_answer,
)


@pytest.mark.parametrize(
    ("button", "wire"),
    [
        (OfferAnswer("Xy_9-kq", accept=True), "offer:Xy_9-kq.a"),
        (OfferAnswer("Xy_9-kq", accept=False), "offer:Xy_9-kq.d"),
        (VisitOutcome("c4se-Id_x", "done"), "visit:c4se-Id_x.done"),
        (VisitOutcome("c4se-Id_x", "fail"), "visit:c4se-Id_x.fail"),
        (VisitOutcome("c4se-Id_x", "absent"), "visit:c4se-Id_x.absent"),
        (VisitOutcome("c4se-Id_x", "address"), "visit:c4se-Id_x.address"),
        (VisitOutcome("c4se-Id_x", "other"), "visit:c4se-Id_x.other"),
    ],
)
def test_a_button_packs_to_the_same_callback_data_and_reads_back(
    button: OfferAnswer | VisitOutcome, wire: str
) -> None:
    assert callback_data(button.step, button.pack()) == wire
    step, value = parse_callback_data(wire)
    assert step is not None
    assert parse(step, value) == button


def test_the_fail_reasons_are_the_three_buttons_of_a_failed_visit() -> None:
    assert FAIL_REASONS == ("absent", "address", "other")


def test_ids_holding_dots_keep_their_last_part_as_the_verb() -> None:
    assert parse(OFFER_STEP, "a.b.a") == OfferAnswer("a.b", accept=True)
    assert parse(VISIT_STEP, "x.y.done") == VisitOutcome("x.y", "done")


@pytest.mark.parametrize(
    ("step", "value"),
    [
        (OFFER_STEP, "abc.x"),  # no such answer
        (OFFER_STEP, "abc.done"),  # a visit's verb on an offer
        (OFFER_STEP, "abc"),
        (OFFER_STEP, ""),
        (VISIT_STEP, "abc.a"),  # an offer's verb on a visit
        (VISIT_STEP, "abc.DONE"),
        (VISIT_STEP, "abc.done "),
        (VISIT_STEP, "abc"),
        ("need", "abc.a"),  # a client's step
        ("", "abc.done"),
    ],
)
def test_anything_else_is_refused(step: str, value: str) -> None:
    assert parse(step, value) is None


def test_the_steps_are_the_desks() -> None:
    assert (OfferAnswer.step, VisitOutcome.step) == OPTICIAN_STEPS


@pytest.mark.parametrize("name", ["link", "is_optician", "set_available", "my_cases", "answer"])
def test_dispatch_is_the_opticians_desk_a_channel_is_given(name: str) -> None:
    assert inspect.signature(getattr(Dispatch, name)) == inspect.signature(getattr(OpticianDesk, name))


@pytest.mark.parametrize(
    ("button", "wire"),
    [
        (SlotPick("c4se-Id_x", date(2026, 11, 27), hour=9), "visit:c4se-Id_x.20261127.09"),
        (SlotPick("c4se-Id_x", date(2026, 11, 27), hour=17), "visit:c4se-Id_x.20261127.17"),
        (SlotPick("c4se-Id_x", date(2026, 11, 27), part="pm"), "visit:c4se-Id_x.20261127.pm"),
        (SlotPick("c4se-Id_x"), "visit:c4se-Id_x.more"),
    ],
)
def test_the_visit_s_hour_packs_and_reads_back(button: SlotPick, wire: str) -> None:
    assert callback_data(button.step, button.pack()) == wire
    assert len(wire.encode()) <= 64  # Telegram's limit on callback data
    step, value = parse_callback_data(wire)
    assert step is not None
    assert parse(step, value) == button


@pytest.mark.parametrize(
    "value",
    [
        "c.20261327.09",
        "c.2026112.09",
        "c.20261127.9",
        "c.20261127.xx",
        "c.20261127.am.x",
        ".more",
        "c.20261127",
    ],
)
def test_a_tampered_hour_is_refused(value: str) -> None:
    assert parse(VISIT_STEP, value) is None


def test_the_client_s_answer_names_its_case_and_proposal() -> None:
    confirm = ProposalAnswer("c4se-Id_x", 3, confirm=True)
    assert (confirm.step, confirm.value) == ("rdv.c4se-Id_x.3", "rdv_ok")
    assert parse_answer(confirm.step, confirm.value) == confirm
    assert parse_answer("rdv.c4se-Id_x.3", "rdv_other") == ProposalAnswer("c4se-Id_x", 3, confirm=False)
    for step, value in [
        ("rdv.c4se-Id_x.3", "yes"),
        ("rdv.c4se-Id_x.x", "rdv_ok"),
        ("rdv..3", "rdv_ok"),
        ("need.c.3", "rdv_ok"),
        (None, "rdv_ok"),
    ]:
        assert parse_answer(step, value) is None
