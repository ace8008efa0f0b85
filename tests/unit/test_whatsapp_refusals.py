"""How a refusal of the Graph API becomes what the outbox does about it, through httpx's
``MockTransport`` in Graph's place (the fake server covers the same codes end to end).

Each answer is Graph's own shape (``{"error": {"message", "type", "code", "error_data"}}``) with the
HTTP status Meta uses for the code; the limiter's clock moves only when it sleeps, so its pauses
read exactly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bot.channels.whatsapp.graph import GraphClient
from bot.channels.whatsapp.messenger import (
    APP_RATE_PAUSE,
    MAX_WAIT,
    PAIR_WAIT,
    THROUGHPUT_PAUSE,
    Messenger,
    WindowClosedError,
)
from bot.outbox import DeliveryError
from bot.ratelimit import RateLimiter, Window

NUMBER = "106540352242922"
ALICE = "33612345678"
BRUNO = "33698765432"
TEXT = {"type": "text", "text": {"body": "Bonjour", "preview_url": False}}
Handler = Callable[[httpx.Request], httpx.Response]


def graph_error(status: int, code: int, title: str = "Error") -> httpx.Response:
    """Graph's answer for a refused call."""
    error = {
        "message": f"(#{code}) {title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": title},
        "fbtrace_id": "AbC",
    }
    return httpx.Response(status, json={"error": error})


def sent(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.OK"}]})


class Graph:
    """Answers in Graph's place with ``handler``; keeps every request."""

    def __init__(self) -> None:
        self.handler: Handler = sent
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


class Clock:
    """The limiter's time: it moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def graph() -> Graph:
    return Graph()


@pytest.fixture
async def messenger(graph: Graph) -> AsyncIterator[Messenger]:
    clock = Clock()
    client = GraphClient("https://graph.test/v21.0", "token", NUMBER, transport=httpx.MockTransport(graph))
    limiter = RateLimiter(Window(20, PAIR_WAIT), Window(80, 1.04), clock=clock, sleep=clock.sleep)
    try:
        yield Messenger(client, limiter)
    finally:
        await client.close()


async def refused(messenger: Messenger, graph: Graph, answer: Handler) -> DeliveryError:
    graph.handler = answer
    with pytest.raises(DeliveryError) as caught:
        await messenger.send(ALICE, TEXT)
    return caught.value


async def test_a_message_goes_to_the_number_with_its_token_and_returns_its_wamid(
    messenger: Messenger, graph: Graph
) -> None:
    assert await messenger.send(ALICE, TEXT) == "wamid.OK"
    (request,) = graph.requests
    assert request.url == f"https://graph.test/v21.0/{NUMBER}/messages"
    assert request.headers["authorization"] == "Bearer token"
    body: dict[str, Any] = json.loads(request.content)
    assert body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": ALICE, **TEXT}


async def test_131047_the_closed_window_asks_for_the_template(messenger: Messenger, graph: Graph) -> None:
    graph.handler = lambda request: graph_error(400, 131047, "Re-engagement message")
    with pytest.raises(WindowClosedError):
        await messenger.send(ALICE, TEXT)
    # An upload is no send: the window has nothing to do with it, and it will not get better.
    with pytest.raises(DeliveryError) as caught:
        await messenger.upload(ALICE, b"%PDF", "application/pdf", "export.pdf")
    assert caught.value.permanent
    assert caught.value.reason == "whatsapp 131047 on upload"


async def test_130429_the_number_s_throughput_pauses_every_send(messenger: Messenger, graph: Graph) -> None:
    error = await refused(messenger, graph, lambda request: graph_error(400, 130429, "Rate limit hit"))
    assert (error.retry_after, error.permanent, error.unreachable) == (THROUGHPUT_PAUSE, False, False)
    assert error.reason == "whatsapp 130429: (#130429) Rate limit hit"
    assert messenger.limiter.paused_for(ALICE) == THROUGHPUT_PAUSE
    assert messenger.limiter.paused_for(BRUNO) == THROUGHPUT_PAUSE  # the whole number waits


async def test_131056_the_pair_rate_pauses_this_client_only(messenger: Messenger, graph: Graph) -> None:
    answer = lambda request: graph_error(400, 131056, "Pair rate limit hit")  # noqa: E731
    error = await refused(messenger, graph, answer)
    assert (error.retry_after, error.permanent) == (PAIR_WAIT, False)
    assert messenger.limiter.paused_for(ALICE) == PAIR_WAIT
    assert messenger.limiter.paused_for(BRUNO) == 0.0
    # The next message to this client waits in the outbox, not in this task (longer than MAX_WAIT
    # would be handed back; 6 s is waited here, so only its pause is asked for).
    assert PAIR_WAIT < MAX_WAIT


async def test_the_app_s_call_rate_pauses_every_send_for_a_minute(messenger: Messenger, graph: Graph) -> None:
    error = await refused(messenger, graph, lambda request: graph_error(400, 80007, "Rate limit"))
    assert error.retry_after == APP_RATE_PAUSE
    assert messenger.limiter.paused_for(BRUNO) == APP_RATE_PAUSE


async def test_131026_an_undeliverable_client_fails_visibly_and_is_marked_unreachable(
    messenger: Messenger, graph: Graph
) -> None:
    error = await refused(messenger, graph, lambda request: graph_error(400, 131026, "Message undeliverable"))
    assert (error.permanent, error.unreachable, error.retry_after) == (True, True, None)
    assert error.reason.startswith("whatsapp 131026")
    assert messenger.limiter.paused_for(ALICE) == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda request: graph_error(500, 1, "An unknown error occurred"), id="500"),
        pytest.param(lambda request: graph_error(500, 100, "Invalid parameter"), id="500-any-code"),
        pytest.param(lambda request: graph_error(503, 131000, "Something went wrong"), id="503"),
        pytest.param(lambda request: httpx.Response(502, text="<html>Bad gateway</html>"), id="proxy-502"),
        pytest.param(lambda request: graph_error(400, 131016, "Service unavailable"), id="meta-unavailable"),
    ],
)
async def test_meta_s_own_trouble_is_retried_with_back_off(
    messenger: Messenger, graph: Graph, answer: Handler
) -> None:
    error = await refused(messenger, graph, answer)
    assert (error.permanent, error.unreachable, error.retry_after) == (False, False, None)
    assert messenger.limiter.paused_for(ALICE) == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda request: httpx.Response(200, text="not json {"), id="not-json"),
        pytest.param(lambda request: httpx.Response(200, json=["a", "list"]), id="not-an-object"),
        pytest.param(lambda request: httpx.Response(200, json={"messages": []}), id="no-wamid"),
    ],
)
async def test_an_answer_that_is_not_graph_s_is_retried(
    messenger: Messenger, graph: Graph, answer: Handler
) -> None:
    error = await refused(messenger, graph, answer)
    assert (error.permanent, error.retry_after) == (False, None)
    assert error.reason.startswith("whatsapp 200: ")


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (httpx.ConnectError("refused"), "whatsapp ConnectError"),
        (httpx.ReadTimeout("slow"), "whatsapp ReadTimeout"),
        (httpx.RemoteProtocolError("cut"), "whatsapp RemoteProtocolError"),
    ],
)
async def test_network_errors_are_retried_with_back_off(
    messenger: Messenger, graph: Graph, failure: Exception, reason: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    error = await refused(messenger, graph, fail)
    assert (error.reason, error.permanent, error.retry_after) == (reason, False, None)
    graph.handler = fail
    with pytest.raises(DeliveryError) as caught:
        await messenger.upload(ALICE, b"%PDF", "application/pdf", "export.pdf")
    assert caught.value.reason == f"whatsapp upload {type(failure).__name__}"


async def test_a_token_or_payment_problem_waits_and_says_what_to_check(
    messenger: Messenger, graph: Graph, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    for status, code in ((401, 190), (403, 200), (400, 131042)):
        error = await refused(messenger, graph, lambda request, s=status, c=code: graph_error(s, c))
        assert (error.permanent, error.retry_after) == (False, None), code
    assert sum("WHATSAPP_ACCESS_TOKEN" in r.getMessage() for r in caplog.records) == 3


async def test_any_other_refusal_fails_visibly_without_quoting_meta(
    messenger: Messenger, graph: Graph, caplog: pytest.LogCaptureFixture
) -> None:
    answer = lambda request: graph_error(400, 131009, "Parameter value is not valid: +33612345678")  # noqa: E731
    error = await refused(messenger, graph, answer)
    assert (error.permanent, error.unreachable) == (True, False)
    assert "+33612345678" not in caplog.text  # Meta's wording may quote the client: kept off the log
