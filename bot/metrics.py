"""What an operations team watches, in the Prometheus format (``prometheus-client``).

One :class:`Metrics` per built service, on a registry of its own (never the library's global one:
tests build several services in one process). The hot paths only increment children bound at
start-up (a dict lookup and an add); what lives in the database (the outbox, the queue) is read when
``/metrics`` is scraped, at most once every ``CACHE_SECONDS`` (:meth:`Metrics.refresh`).

Labels are channel names, route names and error codes: never anything a client wrote.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.logs import describe
from storage.database import Database
from storage.metrics import Gauges, read_gauges

log = logging.getLogger(__name__)

CHANNELS = ("telegram", "whatsapp", "webchat", "terminal")
# The platforms' "slow down" answers: Telegram's 429, WhatsApp's 130429 (the number's throughput)
# and 131056 (too many messages to one client).
RATE_REFUSALS = {("telegram", "429"), ("whatsapp", "130429"), ("whatsapp", "131056")}
# The public routes whose answer time the platforms (and the web chat's clients) feel.
TIMED_ROUTES = {
    "/webhooks/telegram": "telegram",
    "/webhooks/whatsapp": "whatsapp",
    "/api/chat/messages": "webchat",
}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CACHE_SECONDS = 5.0  # scrapes closer than this share one database read
READ_TIMEOUT = 5.0


class Metrics:
    """The service's counters and histograms, and (with ``database``) its database gauges."""

    def __init__(self, database: Database | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._received = Counter(
            "optibot_messages_received", "Inbound messages stored (duplicates not counted), per channel.",
            ["channel"], registry=registry,
        )  # fmt: skip
        self._sent = Counter(
            "optibot_messages_sent", "Outbound messages the channel accepted, per channel.",
            ["channel"], registry=registry,
        )  # fmt: skip
        self._refused = Counter(
            "optibot_rate_refusals",
            "Sends the platform refused as too fast: telegram 429, whatsapp 130429 and 131056.",
            ["channel", "code"], registry=registry,
        )  # fmt: skip
        self._latency = Histogram(
            "optibot_webhook_seconds", "Time to answer a webhook or a web chat post, per channel.",
            ["channel"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "optibot_engine_batch_size", "Work items (stores and messages processed) per engine batch.",
            buckets=BATCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "optibot_engine_batch_seconds", "Time of an engine batch's transaction, commit included.",
            buckets=COMMIT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "optibot_engine_commit_seconds", "Time of an engine batch's COMMIT alone.",
            buckets=COMMIT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.read_errors = Counter(
            "optibot_metrics_read_errors", "Scrapes whose database read failed (its gauges left out).",
            registry=registry,
        )  # fmt: skip
        self._in = {channel: self._received.labels(channel) for channel in CHANNELS}
        self._out = {channel: self._sent.labels(channel) for channel in CHANNELS}
        self._rates = {pair: self._refused.labels(*pair) for pair in RATE_REFUSALS}
        self.routes = {path: self._latency.labels(name) for path, name in TIMED_ROUTES.items()}
        self.gauges: DatabaseGauges | None = None
        if database is not None:
            self.gauges = DatabaseGauges(database, clock or _utcnow)
            registry.register(self.gauges)

    # --- hot paths: one bound child each ---------------------------------------------------------

    def received(self, channel: str) -> None:
        (self._in.get(channel) or self._bind(self._in, self._received, channel)).inc()

    def sent(self, channel: str) -> None:
        (self._out.get(channel) or self._bind(self._out, self._sent, channel)).inc()

    def refused(self, channel: str, reason: str) -> None:
        """A channel's DeliveryError reason ("telegram 429", "whatsapp 130429: ..."): counted when
        it is one of the platforms' rate refusals."""
        parts = reason.split(maxsplit=2)
        if len(parts) >= 2 and (child := self._rates.get((channel, parts[1].rstrip(":")))) is not None:
            child.inc()

    def batch(self, size: int, seconds: float, commit_seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)
        self.commit_seconds.observe(commit_seconds)

    @staticmethod
    def _bind(children: dict[str, Counter], family: Counter, channel: str) -> Counter:
        """A channel not known at start-up (a test's own): bound once, then reused."""
        child: Counter = family.labels(channel)
        children[channel] = child
        return child

    # --- scrape ------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the database gauges if the last read is older than ``CACHE_SECONDS``."""
        if self.gauges is not None and not await self.gauges.refresh():
            self.read_errors.inc()


class DatabaseGauges(Collector):
    """Gauges read from the database when scraped (through :meth:`refresh`, which the scrape
    handler awaits: collectors are synchronous)."""

    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.clock = clock
        self.gauges: Gauges | None = None
        self.read_at: datetime | None = None
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()

    def expire(self) -> None:
        """The next scrape reads the database again."""
        self._fresh_until = 0.0

    async def refresh(self) -> bool:
        """False when the read failed (the gauges are then left out until one succeeds)."""
        async with self._lock:  # concurrent scrapes wait for one read
            if time.monotonic() < self._fresh_until:
                return True
            try:
                async with asyncio.timeout(READ_TIMEOUT), self.database.connect() as connection:
                    self.gauges = await read_gauges(connection)
            except Exception as error:
                log.warning("metrics: database read failed: %s", describe(error))
                self.gauges = None
                return False
            finally:
                self._fresh_until = time.monotonic() + CACHE_SECONDS
            self.read_at = self.clock()
            return True

    def describe(self) -> Iterable[Metric]:
        return ()  # nothing to check at registration: the families appear once read

    def collect(self) -> Iterable[Metric]:
        gauges, now = self.gauges, self.read_at
        if gauges is None or now is None:
            return
        backlog = GaugeMetricFamily(
            "optibot_outbox_backlog", "Outbound messages not sent yet (due or backing off), per channel.",
            labels=["channel"],
        )  # fmt: skip
        oldest = GaugeMetricFamily(
            "optibot_outbox_oldest_seconds", "Age of the oldest unsent outbound message, per channel.",
            labels=["channel"],
        )  # fmt: skip
        for row in gauges.backlog:
            backlog.add_metric([row.channel], row.messages)
            oldest.add_metric([row.channel], _age(now, row.oldest))
        yield backlog
        yield oldest
        queue = GaugeMetricFamily(
            "optibot_queue_cases", "Cases in the operators' queue, per priority (none: not mobilised).",
            labels=["priority"],
        )  # fmt: skip
        for priority, count in sorted(gauges.queued_by_priority.items()):
            queue.add_metric([priority], count)
        yield queue
        yield GaugeMetricFamily(
            "optibot_mobilised_waiting_seconds",
            "How long the oldest mobilised worker's case has waited in the queue (0: none waits).",
            value=_age(now, gauges.oldest_mobilised_queued),
        )
        yield GaugeMetricFamily(
            "optibot_dispatch_untaken_visits",
            "Home visits offered to the opticians that nobody took in time (the no-taker alert).",
            value=gauges.untaken_visits,
        )


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:  # SQLite hands naive UTC back
        then = then.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - then).total_seconds())


def _utcnow() -> datetime:
    return datetime.now(UTC)
