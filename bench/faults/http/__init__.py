"""The HTTP scenarios of the fault suite: what the service's doors meet from the outside.

Each scenario serves the whole app (uvicorn in this process, as ``optibot run`` builds it) on
SQLite and on a scratch PostgreSQL database (created on the shared server, dropped after), with
the fake Bot API and the fake Graph API of ``tests/fakes`` in this process too, and real clients
(httpx here, aiogram and the Graph client inside the service):

``redelivery-reorder``
    Telegram and WhatsApp webhooks with ~30 % of the updates sent twice and ~30 % swapped with the
    next one, several at a time: every distinct message stored and transcribed once, every reply
    sent once, in the order it was written.
``storm-429-5xx``
    For a while, a share of the sends answer 429 (Telegram: ``retry_after``; WhatsApp: 130429)
    and a share 5xx: nothing lost or doubled, each chat's order kept, and nothing sent to a chat
    inside a ``retry_after`` it was given (nor to anyone inside WhatsApp's throughput pause).
``poison-webhooks``
    Signed WhatsApp webhooks with NUL characters or lone surrogates in ids, numbers, texts and
    error titles, 50,000-level nested JSON on both webhooks, Telegram updates with NUL and lone
    surrogates; each poison item travels with a good message. Every request, sent twice, answers
    the same non-5xx status; every good message is answered.
``malformed-bodies``
    Every POST route of the app (and the webhooks with valid credentials) against a battery of
    malformed bodies: no 5xx; the biggest answer is reported.
``flood``
    Cookie-less web-chat posts "je veux parler à un conseiller" in under a second: the new cases
    stay within the configured limit, the rest are refused with 429. Failed console logins for one
    name (20; 500 at the long scale) from one address with a new ``X-Forwarded-For`` each: that
    header is not believed (no ``FORWARDED_ALLOW_IPS``), so the address is throttled after
    ``MAX_FAILURES_PER_NAME``; at the long scale, strangers from enough real (loopback) addresses
    to lock the name itself. The rightful operator still signs in from their device after each.

The modules: ``serving`` (databases, the app and its fakes, what the platforms post), ``counting``
(settling, then lost, doubled and reordered effects), ``delivery`` (the first two scenarios),
``abuse`` (poison and malformed) and ``flood``.
"""

from __future__ import annotations

from bench.faults.http import abuse, delivery, flood
from bench.faults.http.serving import postgres_unreachable

__all__ = ["MUST_BE_ZERO", "abuse", "delivery", "flood", "postgres_unreachable"]

#: figures of ``extra`` that must be zero too (``tests/faults/test_http_faults.py`` asserts them)
MUST_BE_ZERO: dict[str, tuple[str, ...]] = {
    "redelivery-reorder": ("unsettled",),
    "storm-429-5xx": (
        "unsettled",
        "sends_inside_retry_after",
        # WhatsApp's throughput pause is the whole number's: sends to other recipients already on
        # their way when the 130429 came arrive inside it, later than any fixed margin when the
        # shared event loop lags. What the invariant forbids is a send *begun* inside the pause,
        # timed in the service; the fake-side arrivals (`sends_inside_throughput_pause`) are
        # reported, not asserted.
        "sends_begun_inside_throughput_pause",
    ),
    "poison-webhooks": ("answer_changed",),
    "flood": (
        "cases_over_limit",
        "flood_not_refused_with_429",
        "rightful_login_refused",
        "escaped_address_throttle",
    ),
}
