"""The delivery scenarios: webhooks re-delivered and reordered, and a storm of 429 and 5xx answers
from both platforms (see ``bench/faults/http/__init__.py``)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any, cast

from bench.faults import Figures, Scale, scenario
from bench.faults.http.counting import SETTLE_SECONDS, count_effects, settle
from bench.faults.http.serving import (
    App,
    Hook,
    Json,
    Poster,
    add,
    each_database,
    serve_with_fakes,
    tagged_telegram,
    tagged_whatsapp,
)
from tests.fakes import telegram as tg
from tests.fakes import whatsapp as wa


def shuffled_deliveries(sequences: list[list[Any]], rng: random.Random, share: float) -> list[Any]:
    """The items of every sequence interleaved; ``share`` of them delivered a second time later,
    and ``share`` swapped with the item after them (a later update before an earlier one)."""
    order: list[Any] = []
    for row in itertools.zip_longest(*sequences):
        order.extend(item for item in row if item is not None)
    for item in list(order):
        if rng.random() < share:
            order.insert(rng.randrange(order.index(item) + 1, len(order) + 1), item)
    for index in range(len(order) - 1):
        if rng.random() < share:
            order[index], order[index + 1] = order[index + 1], order[index]
    return order


async def _gather_limited(jobs: Iterable[Awaitable[Any]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Awaitable[Any]) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(run(job) for job in jobs))


# --- redelivery-reorder ------------------------------------------------------------------------------


@scenario("redelivery-reorder")
async def redelivery_reorder(scale: Scale) -> Figures:
    """~30 % of the updates re-delivered and ~30 % reordered, on both webhooks, both databases."""
    chats, per_chat = scale.pick(8, 120), scale.pick(4, 6)
    rng = random.Random(12)

    async def run(kind: str, url: str, folder: Path, figures: Figures) -> None:
        async with serve_with_fakes(url, folder) as (app, http, telegram, whatsapp):
            poster = Poster(http)
            base = rng.randrange(10**6, 10**9)
            tags: dict[str, list[str]] = {"telegram": [], "whatsapp": []}
            hooks: list[list[Hook]] = []
            for channel, tagged in (
                ("telegram", tagged_telegram),
                ("whatsapp", lambda client, step: tagged_whatsapp(whatsapp, client, step)),
            ):
                for client in range(base, base + chats):
                    sequence = []
                    for step in range(per_chat):
                        tag, hook = tagged(client, step)
                        tags[channel].append(tag)
                        sequence.append(hook)
                    hooks.append(sequence)
            deliveries = shuffled_deliveries(hooks, rng, 0.3)
            statuses = await _gather_limited(
                (poster.post(path, body, headers) for path, body, headers in deliveries),
                scale.pick(6, 16),
            )
            settled = await settle(app)
            figures.sent += sum(map(len, tags.values()))
            add(figures, "deliveries", len(deliveries))
            add(figures, "refused", sum(1 for status in statuses if status != 200))
            figures.server_errors += poster.server_errors
            await count_effects(figures, app, telegram, whatsapp, tags)
            if not settled:
                add(figures, "unsettled", 1)

    return await each_database("redelivery-reorder", run)


# --- storm-429-5xx -----------------------------------------------------------------------------------

RETRY_AFTER = 1  # seconds, in the storm's 429s (Telegram's smallest)
THROUGHPUT_CODE = 130429  # WhatsApp: the number's messages per second
THROUGHPUT_PAUSE = 2.0  # what the service waits after WhatsApp's 130429 (docs/ARCHITECTURE.md)
IN_FLIGHT = 0.25  # a send already on its way when the 429 was answered is not a violation


class StormyTelegram(tg.FakeTelegram):
    """The fake Bot API answering, until ``storm_until``, 429 (``retry_after``) to a share of the
    sends and 502 to another share; every send's arrival is recorded per chat."""

    def __init__(self, rng: random.Random, share_429: float, share_5xx: float) -> None:
        super().__init__(enforce_limits=False)
        self.rng, self.share_429, self.share_5xx = rng, share_429, share_5xx
        self.storm_until = 0.0
        self.arrivals: list[tuple[str, float]] = []
        self.pauses: list[tuple[str, float, float]] = []  # chat, from, until
        self.answered_5xx = 0

    def _admit_send(self, chat_id: int) -> None:
        now = time.monotonic()
        self.arrivals.append((str(chat_id), now))
        if now < self.storm_until:
            roll = self.rng.random()
            if roll < self.share_429:
                self.pauses.append((str(chat_id), now, now + RETRY_AFTER))
                raise tg.ApiError(429, f"Too Many Requests: retry after {RETRY_AFTER}", RETRY_AFTER)
            if roll < self.share_429 + self.share_5xx:
                self.answered_5xx += 1
                raise tg.ApiError(502, "Bad Gateway")
        super()._admit_send(chat_id)


class StormyWhatsApp(wa.FakeWhatsApp):
    """The fake Graph API answering, until ``storm_until``, 130429 (throughput, HTTP 429) to a
    share of the sends and 131000 (HTTP 500) to another share."""

    def __init__(self, rng: random.Random, share_429: float, share_5xx: float) -> None:
        super().__init__()
        self.rng, self.share_429, self.share_5xx = rng, share_429, share_5xx
        self.storm_until = 0.0
        self.arrivals: list[tuple[str, float]] = []
        self.pauses: list[tuple[str, float, float]] = []  # "" (every recipient), from, until
        self.answered_5xx = 0

    async def _send(self, body: Json, request: Any) -> Json:
        now = time.monotonic()
        self.arrivals.append((str(body.get("to") or body.get("recipient")), now))
        if now < self.storm_until:
            roll = self.rng.random()
            if roll < self.share_429:
                self.pauses.append(("", now, now + THROUGHPUT_PAUSE))
                raise wa.GraphError(THROUGHPUT_CODE)
            if roll < self.share_429 + self.share_5xx:
                self.answered_5xx += 1
                raise wa.GraphError(131000)
        return await super()._send(body, request)


def sends_inside_pauses(
    arrivals: list[tuple[str, float]], pauses: list[tuple[str, float, float]], margin: float
) -> int:
    """Sends that arrived for a recipient (or anyone, for a pause of "") inside a pause it was
    given, a ``margin`` after the pause began (requests already on their way are not counted)."""
    return sum(
        1
        for recipient, at in arrivals
        if any(who in ("", recipient) and begin + margin < at < until for who, begin, until in pauses)
    )


class ServiceSide:
    """What the service's own WhatsApp client did, timed where it happened (the event loop the
    app shares with the fakes can hold a request already on its way past ``IN_FLIGHT``): when it
    began each send, and when it read each 130429. Installed on the running app's Graph client."""

    def __init__(self, app: App) -> None:
        from bot.channels.whatsapp.graph import GraphError

        self.started: list[float] = []
        self.refused: list[float] = []
        graph = app.services.whatsapp.graph
        send = graph.send

        async def watched(recipient: str, message: Json) -> str:
            self.started.append(time.monotonic())
            try:
                return cast(str, await send(recipient, message))
            except GraphError as error:
                if error.code == THROUGHPUT_CODE:
                    self.refused.append(time.monotonic())
                raise

        graph.send = watched

    def sends_inside_pauses(self) -> int:
        """Sends the service began after it read a 130429 and before its pause was over."""
        return sum(
            1 for at in self.started if any(read < at < read + THROUGHPUT_PAUSE for read in self.refused)
        )


class LoopLag:
    """The longest the event loop (the app's, the fakes' and the clients') was late waking a
    sleeper, while it runs."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            self.worst = max(self.worst, time.monotonic() - before - 0.05)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._watch())
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()


@scenario("storm-429-5xx")
async def storm_429_5xx(scale: Scale) -> Figures:
    """A while of 429s and 5xx on a share of the sends, on both channels and both databases."""
    chats, per_chat = scale.pick(6, 150), scale.pick(4, 6)
    storm = scale.pick(3, 30)
    rng = random.Random(429)

    async def run(kind: str, url: str, folder: Path, figures: Figures) -> None:
        stormy = StormyTelegram(rng, 0.2, 0.15), StormyWhatsApp(rng, 0.1, 0.15)
        async with serve_with_fakes(url, folder, *stormy, pacing=True) as (app, http, _, _):
            telegram, whatsapp = stormy
            service, lag = ServiceSide(app), LoopLag()
            poster = Poster(http)
            telegram.storm_until = whatsapp.storm_until = time.monotonic() + storm
            base = rng.randrange(10**6, 10**9)
            tags: dict[str, list[str]] = {"telegram": [], "whatsapp": []}

            async def client(channel: str, number: int) -> None:
                for step in range(per_chat):
                    if channel == "telegram":
                        tag, (path, body, headers) = tagged_telegram(number, step)
                    else:
                        tag, (path, body, headers) = tagged_whatsapp(whatsapp, number, step)
                    tags[channel].append(tag)
                    await poster.post(path, body, headers)
                    await asyncio.sleep(rng.uniform(0.0, storm / per_chat))

            clients = range(base, base + chats)
            with lag:
                await asyncio.gather(*(client(channel, n) for channel in tags for n in clients))
                settled = await settle(app, SETTLE_SECONDS + storm)
            figures.sent += sum(map(len, tags.values()))
            figures.server_errors += poster.server_errors
            await count_effects(figures, app, telegram, whatsapp, tags)
            add(figures, "telegram_429", len(telegram.pauses))
            add(figures, "telegram_5xx", telegram.answered_5xx)
            add(figures, "whatsapp_130429", len(whatsapp.pauses))
            add(figures, "whatsapp_5xx", whatsapp.answered_5xx)
            inside_retry_after = sends_inside_pauses(telegram.arrivals, telegram.pauses, 0.0)
            add(figures, "sends_inside_retry_after", inside_retry_after)
            inside_pause = sends_inside_pauses(whatsapp.arrivals, whatsapp.pauses, IN_FLIGHT)
            add(figures, "sends_inside_throughput_pause", inside_pause)
            add(figures, "sends_begun_inside_throughput_pause", service.sends_inside_pauses())
            worst = max(int(figures.extra.get("loop_lag_max_ms", 0)), round(lag.worst * 1000))
            figures.extra["loop_lag_max_ms"] = worst
            if not settled:
                add(figures, "unsettled", 1)

    return await each_database("storm-429-5xx", run)
