"""The optician's buttons: what each packs (Telegram's callback data, byte for byte as before the
typed factory) and how a pressed one is read back; anything else is refused."""

from __future__ import annotations

import inspect

import pytest

from bot.channels.telegram.render import callback_data, parse_callback_data
from bot.desk import OFFER_STEP, OPTICIAN_STEPS, VISIT_STEP, OpticianDesk
from bot.dispatch import Dispatch
from bot.dispatch.buttons import FAIL_REASONS, OfferAnswer, VisitOutcome, parse


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
