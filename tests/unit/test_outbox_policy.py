"""The outbox's retry policy, without a database: what is written on a row that did not go out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.outbox import MAX_ATTEMPTS, DeliveryError, Pending, backoff
from bot.outbox.outcomes import Failure, Outcomes, stored_with
from storage.outbox import Sent

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _row(attempts: int = 1) -> Pending:
    return Pending(7, "telegram", "42", {"key": "greeting", "text": "Bonjour", "step": "s"}, attempts)


def test_backoff_doubles_from_half_a_second_up_to_five_minutes() -> None:
    assert [backoff(n).total_seconds() for n in (0, 1, 2, 3, 11)] == [0.5, 0.5, 1.0, 2.0, 300.0]


def test_a_transient_failure_is_due_again_after_the_backoff_of_the_recipients_first_row() -> None:
    written = Failure(_row(attempts=3), DeliveryError("timeout"), head_attempts=2).undelivered(NOW)
    assert (written.available_at, written.failed_at) == (NOW + backoff(2), None)
    assert not written.attempt_not_counted
    assert written.payload is None


def test_the_platforms_delay_is_kept_and_never_gives_up() -> None:
    error = DeliveryError("429", retry_after=30)
    written = Failure(_row(attempts=MAX_ATTEMPTS + 5), error, MAX_ATTEMPTS + 5).undelivered(NOW)
    assert (written.available_at, written.failed_at) == (NOW + timedelta(seconds=30), None)


def test_a_permanent_refusal_or_too_many_attempts_fail_the_row() -> None:
    refused = Failure(_row(), DeliveryError("blocked", permanent=True), 1).undelivered(NOW)
    worn = Failure(_row(attempts=MAX_ATTEMPTS), DeliveryError("502"), MAX_ATTEMPTS).undelivered(NOW)
    assert (refused.failed_at, refused.available_at) == (NOW, None)
    assert (worn.failed_at, worn.available_at) == (NOW, None)


def test_a_row_waiting_behind_a_failed_one_is_due_now_and_its_lease_not_counted() -> None:
    error = DeliveryError("gone", unreachable=True, progress={"sent_parts": 1})
    waiting = Failure(_row(), error, 1, waiting=True)
    written = waiting.undelivered(NOW)
    assert (written.available_at, written.attempt_not_counted, written.payload) == (NOW, True, None)
    assert not waiting.unreaches  # only the failed row itself says the client is unreachable
    assert Failure(_row(), error, 1).unreaches


def test_the_progress_of_a_send_is_stored_with_the_payload_but_not_its_text() -> None:
    error = DeliveryError("timeout", progress={"sent_parts": 2, "text_message_id": "91"})
    written = Failure(_row(), error, 1).undelivered(NOW)
    assert written.payload == {"key": "greeting", "step": "s", "sent_parts": 2, "text_message_id": "91"}
    assert stored_with(_row().payload, {"via": "template"}) == {
        "key": "greeting",
        "step": "s",
        "via": "template",
    }


def test_outcomes_name_every_row_they_carry() -> None:
    failed = Failure(_row(), DeliveryError("x"), 1)
    other = Pending(8, "telegram", "43", {"text": "Salut"}, 1)
    outcomes = Outcomes(sent=[Sent(5, None, None)], failures=[failed])
    assert not Outcomes()
    assert outcomes
    outcomes.extend(Outcomes(released=[other], interrupted=[other]))
    assert outcomes.ids() == {5, 7, 8}
