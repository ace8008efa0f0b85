"""The console's JSON shapes from stored rows, without a database: the queue's flags and a message
as the live stream sends it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.console.views import case_summary, message_out
from storage.case_views import CaseSummaryRow, TranscriptLine

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
ROW = CaseSummaryRow(
    id=1,
    public_id="p1",
    reference="AB-123",
    status="queued",
    kind="emergency",
    need="glasses",
    urgent=True,
    mode="shipment",
    priority="health",
    priority_rank=0,
    department="69",
    channel="web",
    created_at=NOW - timedelta(minutes=20),
    updated_at=NOW,
    claimed_by=None,
    no_taker_at=None,
    optician_id=None,
    client_wrote_at=None,
    reopened_at=None,
    anonymised_at=None,
    unreachable=None,
)


def test_a_mobilised_workers_case_is_overdue_once_it_waited_too_long() -> None:
    summary = case_summary(ROW, NOW, timedelta(minutes=15))
    assert (summary.mobilised, summary.overdue, summary.waiting_s) == (True, True, 1200)
    assert summary.reachable is True  # no client row: not known to be unreachable
    assert case_summary(ROW, NOW, timedelta(minutes=30)).overdue is False
    claimed = replace(ROW, status="claimed", claimed_by="alice")
    assert case_summary(claimed, NOW, timedelta(minutes=15)).overdue is False
    other = replace(ROW, priority="other_job", priority_rank=1)
    assert case_summary(other, NOW, timedelta(minutes=15)).overdue is False


def test_a_visit_nobody_took_is_flagged_while_the_case_is_open() -> None:
    waiting = replace(ROW, status="dispatched", mode="visit", no_taker_at=NOW)
    assert case_summary(waiting, NOW, timedelta(minutes=15)).no_taker is True
    assert case_summary(replace(waiting, optician_id=7), NOW, timedelta(minutes=15)).no_taker is False
    assert case_summary(replace(waiting, status="done"), NOW, timedelta(minutes=15)).no_taker is False


def test_a_message_on_the_live_stream_keeps_its_json() -> None:
    line = TranscriptLine(
        id=5,
        direction="out",
        author="operator",
        operator="alice",
        text="Bonjour, ici Alice.",
        created_at=NOW,
        sent_at=None,
        failed_at=None,
        last_error=None,
        delivered_at=None,
        read_at=None,
        via="template",
    )
    sent = json.dumps(message_out(line).model_dump(), ensure_ascii=False)
    assert sent == (
        '{"id": 5, "direction": "out", "author": "operator", "operator": "alice", '
        '"text": "Bonjour, ici Alice.", "created_at": "2026-11-26T09:30:00+00:00", "sent_at": null, '
        '"failed_at": null, "error": null, "delivered_at": null, "read_at": null, "via": "template"}'
    )
