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
    stay within the configured limit, the rest are refused with 429; 50 failed console logins for
    one name from rotating ``X-Forwarded-For``: the rightful operator still signs in from their
    device.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import sqlalchemy as sa

from bench.faults import Figures, Scale, common, scenario
from tests.fakes import telegram as tg
from tests.fakes import whatsapp as wa

Json = dict[str, Any]
SECRET = "faults-webhook-secret_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SETTLE_SECONDS = 60.0  # what is not stored, processed and sent by then counts as lost
BIG_ANSWER = 4096  # an answer above this many bytes is reported as big
#: figures of ``extra`` that must be zero too (``tests/faults/test_http_faults.py`` asserts them)
MUST_BE_ZERO: dict[str, tuple[str, ...]] = {
    "redelivery-reorder": ("unsettled",),
    "storm-429-5xx": ("unsettled", "sends_inside_retry_after", "sends_inside_throughput_pause"),
    "poison-webhooks": ("answer_changed",),
    "flood": ("cases_over_limit", "flood_not_refused_with_429", "rightful_login_refused"),
}


# --- the service and its databases ------------------------------------------------------------------


async def postgres_unreachable() -> str | None:
    """Why the shared PostgreSQL server cannot be used, or None."""
    try:
        connection = await asyncpg.connect(common.dsn(common.POSTGRES_URL), timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}"
    await connection.close()
    return None


_template: list[bytes] = []  # a migrated SQLite file, made once per process


async def _sqlite_template() -> bytes:
    if not _template:
        with tempfile.TemporaryDirectory(prefix="faults-template-") as folder:
            path = Path(folder) / "template.db"
            await common.migrate(f"sqlite+aiosqlite:///{path}")
            _template.append(path.read_bytes())
    return _template[0]


@contextlib.asynccontextmanager
async def _database(kind: str, folder: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        path = folder / "faults.db"
        path.write_bytes(await _sqlite_template())
        yield f"sqlite+aiosqlite:///{path}"
        return
    async with common.scratch_database() as url:
        yield url


@dataclass
class App:
    """The app served on a free port of this process: its services, base URL and FastAPI object."""

    services: Any
    base: str
    app: Any

    async def rows(self, query: sa.Select[Any]) -> list[Any]:
        async with self.services.database.connect() as connection:
            return list((await connection.execute(query)).all())


def _free_port() -> int:
    from tests.e2e.servers import free_port

    return free_port()


@contextlib.asynccontextmanager
async def _serve(database_url: str, folder: Path, **overrides: Any) -> AsyncIterator[App]:
    """``create_app`` under uvicorn, as ``optibot run`` serves it (its own port, durable defaults)."""
    import uvicorn

    from bot.settings import Settings
    from bot.web.app import create_app

    port = overrides.pop("port", None) or _free_port()
    values: Json = {"database_url": database_url, "optibot_data_dir": folder / "data"}
    settings = Settings(_env_file=None, **{**values, **overrides})
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the app stopped while starting")
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not start")
        await asyncio.sleep(0.02)
    try:
        yield App(app.state.services, f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await task


def _channels(telegram: tg.FakeTelegram | None, whatsapp: wa.FakeWhatsApp | None, port: int) -> Json:
    """The settings that point the app's channels at the fakes (Telegram by webhook)."""
    values: Json = {"port": port, "public_url": f"http://127.0.0.1:{port}"}
    if telegram is not None:
        values.update(
            telegram_bot_token=tg.TOKEN,
            telegram_api_url=telegram.base_url,
            telegram_mode="webhook",
            telegram_webhook_secret=SECRET,
        )
    if whatsapp is not None:
        values.update(
            whatsapp_access_token=wa.TOKEN,
            whatsapp_phone_number_id=wa.PHONE_NUMBER_ID,
            whatsapp_app_secret=wa.APP_SECRET,
            whatsapp_verify_token=wa.VERIFY_TOKEN,
            whatsapp_api_url=whatsapp.base_url,
        )
    return values


def _lift_pacing(app: App) -> None:
    """Sliding windows out of the way (the fakes enforce none here); pauses still hold."""
    from bot.ratelimit import RateLimiter, Window

    for channel in (app.services.telegram, app.services.whatsapp):
        if channel is not None:
            channel.limiter = RateLimiter(Window(10**6, 1.0), Window(10**6, 1.0))


async def _each_database(name: str, run: Callable[[str, str, Path, Figures], Awaitable[None]]) -> Figures:
    """Run ``run(kind, url, folder, figures)`` on SQLite then PostgreSQL, into one Figures."""
    figures = Figures(name)
    for kind in ("sqlite", "postgres"):
        with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as folder:
            async with _database(kind, Path(folder)) as url:
                started = time.monotonic()
                await run(kind, url, Path(folder), figures)
                figures.extra[f"{kind}_seconds"] = round(time.monotonic() - started, 1)
    return figures


def _add(figures: Figures, key: str, value: int) -> None:
    current = figures.extra.get(key, 0)
    figures.extra[key] = (current if isinstance(current, int) else 0) + value


# --- waiting and counting ----------------------------------------------------------------------------


async def _settle(app: App, within: float = SETTLE_SECONDS) -> bool:
    """Wait until every stored message is processed and every reply sent or given up; False if
    that did not happen ``within`` seconds (what is left then counts as lost)."""
    from storage.tables import inbox, messages

    pending = sa.select(
        sa.select(sa.func.count()).where(inbox.c.processed_at.is_(None)).scalar_subquery(),
        sa.select(sa.func.count())
        .where(
            messages.c.direction == "out",
            messages.c.sent_at.is_(None),
            messages.c.failed_at.is_(None),
            messages.c.channel != "webchat",
        )
        .scalar_subquery(),
    )
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        (waiting, unsent), *_ = await app.rows(pending)
        if not waiting and not unsent:
            return True
        await asyncio.sleep(0.05)
    return False


async def _inbound_effects(app: App, channel: str, tags: Iterable[str]) -> tuple[int, int]:
    """(lost, duplicated) client messages: each tag must be in exactly one inbound transcript row."""
    from storage.tables import messages

    rows = await app.rows(
        sa.select(messages.c.text).where(messages.c.channel == channel, messages.c.direction == "in")
    )
    seen = Counter(word for (text,) in rows for word in text.split() if word.startswith("#"))
    lost = duplicated = 0
    for tag in tags:
        count = seen.get(tag, 0)
        lost += count == 0
        duplicated += max(0, count - 1)
    return lost, duplicated


@dataclass
class ReplyCount:
    rows: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0


async def _replies(
    app: App, channel: str, sends: dict[str, list[str]], parts_of: Callable[[str, Json], int]
) -> ReplyCount:
    """Compare the outbound rows of each recipient (in the order written) with what the fake
    accepted for them (platform ids, in the order accepted): a row unsent or not among the sends is
    lost; rows whose ids were accepted in another order make their recipient out of order; sends
    beyond the parts of the rows sent are duplicates."""
    from storage.tables import messages

    found = await app.rows(
        sa.select(
            messages.c.party,
            messages.c.text,
            messages.c.payload,
            messages.c.sent_at,
            messages.c.external_id,
        )
        .where(messages.c.channel == channel, messages.c.direction == "out")
        .order_by(messages.c.id)
    )
    by_party: dict[str, list[Any]] = {}
    for row in found:
        by_party.setdefault(row.party, []).append(row)
    count = ReplyCount()
    for party in set(by_party) | set(sends):
        accepted = sends.get(party, [])
        position = {sent: index for index, sent in enumerate(accepted)}
        previous, expected, disordered = -1, 0, False
        for row in by_party.get(party, []):
            count.rows += 1
            where = position.get(row.external_id or "")
            if row.sent_at is None or where is None:
                count.lost += 1
                continue
            disordered |= where <= previous
            previous = where
            expected += parts_of(row.text, row.payload or {})
        count.out_of_order += disordered
        count.duplicated += max(0, len(accepted) - expected)
    return count


def _telegram_parts(text: str, payload: Json) -> int:
    from bot.channels.telegram import render

    return len(list(render.parts_to_send({**payload, "text": text, "sent_parts": 0})))


def _whatsapp_parts() -> Callable[[str, Json], int]:
    from bot.channels.whatsapp import render
    from flows.catalog import Catalog

    catalog = Catalog.load()
    return lambda text, payload: len(render.messages({**payload, "text": text}, catalog))


def _telegram_sends(fake: tg.FakeTelegram) -> dict[str, list[str]]:
    sends: dict[str, list[str]] = {}
    for message in fake.sent:
        sends.setdefault(str(message.chat_id), []).append(str(message.message_id))
    return sends


def _whatsapp_sends(fake: wa.FakeWhatsApp) -> dict[str, list[str]]:
    sends: dict[str, list[str]] = {}
    for message in fake.sent:
        sends.setdefault(message.wa_id or message.user, []).append(message.wamid)
    return sends


def _count_replies(figures: Figures, prefix: str, count: ReplyCount) -> None:
    figures.lost += count.lost
    figures.duplicated += count.duplicated
    figures.out_of_order += count.out_of_order
    _add(figures, f"{prefix}_replies", count.rows)


# --- the clients' side -------------------------------------------------------------------------------

TEXTS = ("Bonjour", "lunettes cassées", "oui", "non", "je ne sais pas", "Lyon 69003", "merci")
_update_ids = itertools.count(700_000_001 + secrets.randbelow(10**8))
_message_ids = itertools.count(1)


def telegram_text(chat: int, text: str) -> Json:
    """A Telegram ``Update`` carrying a client's text, as the Bot API posts it."""
    user = {"id": chat, "is_bot": False, "first_name": "Camille", "language_code": "fr"}
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_message_ids),
            "from": user,
            "chat": {"id": chat, "type": "private", "first_name": "Camille"},
            "date": int(time.time()),
            "text": text,
        },
    }


def whatsapp_hook(changes: list[Json]) -> tuple[bytes, dict[str, str]]:
    """A signed WhatsApp webhook body with these ``changes`` values (one entry)."""
    metadata = {"display_phone_number": wa.DISPLAY_PHONE_NUMBER, "phone_number_id": wa.PHONE_NUMBER_ID}
    wrapped = [
        {"value": {"messaging_product": "whatsapp", "metadata": metadata, **value}, "field": "messages"}
        for value in changes
    ]
    payload = {"object": "whatsapp_business_account", "entry": [{"id": wa.WABA_ID, "changes": wrapped}]}
    body = wa.encode_body(payload)
    return body, _signed(body)


def _signed(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: wa.sign(body)}


@dataclass
class Poster:
    """POSTs as a platform does: a 5xx or a dropped connection is counted and sent again."""

    http: httpx.AsyncClient
    statuses: Counter[int] = field(default_factory=Counter)
    tries: int = 8

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        status = 0
        for attempt in range(self.tries):
            try:
                response = await self.http.post(url, content=body, headers=headers)
            except httpx.TransportError:
                status = 0
            else:
                status = response.status_code
                self.statuses[status] += 1
                if status < 500:
                    return status
            await asyncio.sleep(min(0.1 * 2**attempt, 1.0))
        return status

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


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
        port = _free_port()
        async with (
            tg.FakeTelegram(enforce_limits=False) as telegram,
            wa.FakeWhatsApp(webhook_url=f"http://127.0.0.1:{port}/webhooks/whatsapp") as whatsapp,
        ):
            whatsapp.auto_statuses = ()
            async with (
                _serve(url, folder, **_channels(telegram, whatsapp, port)) as app,
                httpx.AsyncClient(base_url=app.base, timeout=30) as http,
            ):
                _lift_pacing(app)
                await telegram.wait_for(lambda: telegram.webhook is not None, 20)
                poster = Poster(http)
                base = rng.randrange(10**6, 10**9)
                tags: list[str] = []
                hooks: list[list[tuple[str, bytes, dict[str, str]]]] = []
                for chat in range(base, base + chats):
                    sequence = []
                    for step in range(per_chat):
                        tag = f"#t{chat}-{step}"
                        tags.append(tag)
                        body = json.dumps(telegram_text(chat, f"{TEXTS[step % len(TEXTS)]} {tag}")).encode()
                        headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
                        sequence.append(("/webhooks/telegram", body, headers))
                    hooks.append(sequence)
                wa_tags: list[str] = []
                for number in range(base, base + chats):
                    user, sequence = f"336{number:08d}", []
                    for step in range(per_chat):
                        tag = f"#w{number}-{step}"
                        wa_tags.append(tag)
                        item = whatsapp.text_message(user, f"{TEXTS[step % len(TEXTS)]} {tag}")
                        body, headers = whatsapp_hook(
                            [{"contacts": [item.contact], "messages": [item.message]}]
                        )
                        sequence.append(("/webhooks/whatsapp", body, headers))
                    hooks.append(sequence)
                deliveries = shuffled_deliveries(hooks, rng, 0.3)
                statuses = await _gather_limited(
                    (poster.post(path, body, headers) for path, body, headers in deliveries),
                    scale.pick(6, 16),
                )
                settled = await _settle(app)
                figures.sent += len(tags) + len(wa_tags)
                _add(figures, "deliveries", len(deliveries))
                _add(figures, "refused", sum(1 for status in statuses if status != 200))
                figures.server_errors += poster.server_errors
                for channel, own in (("telegram", tags), ("whatsapp", wa_tags)):
                    lost, duplicated = await _inbound_effects(app, channel, own)
                    figures.lost += lost
                    figures.duplicated += duplicated
                _count_replies(
                    figures,
                    "telegram",
                    await _replies(app, "telegram", _telegram_sends(telegram), _telegram_parts),
                )
                _count_replies(
                    figures,
                    "whatsapp",
                    await _replies(app, "whatsapp", _whatsapp_sends(whatsapp), _whatsapp_parts()),
                )
                if not settled:
                    _add(figures, "unsettled", 1)

    return await _each_database("redelivery-reorder", run)


# --- storm-429-5xx -----------------------------------------------------------------------------------

RETRY_AFTER = 1  # seconds, in the storm's 429s (Telegram's smallest)
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

    def __init__(self, rng: random.Random, share_429: float, share_5xx: float, webhook_url: str) -> None:
        super().__init__(webhook_url=webhook_url)
        self.auto_statuses = ()
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
                raise wa.GraphError(130429)
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


@scenario("storm-429-5xx")
async def storm_429_5xx(scale: Scale) -> Figures:
    """A while of 429s and 5xx on a share of the sends, on both channels and both databases."""
    chats, per_chat = scale.pick(6, 150), scale.pick(4, 6)
    storm = scale.pick(3, 30)
    rng = random.Random(429)

    async def run(kind: str, url: str, folder: Path, figures: Figures) -> None:
        port = _free_port()
        hook = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        telegram, whatsapp = StormyTelegram(rng, 0.2, 0.15), StormyWhatsApp(rng, 0.1, 0.15, hook)
        async with (
            telegram,
            whatsapp,
            _serve(url, folder, **_channels(telegram, whatsapp, port)) as app,
            httpx.AsyncClient(base_url=app.base, timeout=30) as http,
        ):
            await telegram.wait_for(lambda: telegram.webhook is not None, 20)
            poster = Poster(http)
            telegram.storm_until = whatsapp.storm_until = time.monotonic() + storm
            base = rng.randrange(10**6, 10**9)
            tags: dict[str, list[str]] = {"telegram": [], "whatsapp": []}

            async def telegram_client(chat: int) -> None:
                for step in range(per_chat):
                    tag = f"#t{chat}-{step}"
                    tags["telegram"].append(tag)
                    update = telegram_text(chat, f"{TEXTS[step % len(TEXTS)]} {tag}")
                    headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
                    await poster.post("/webhooks/telegram", json.dumps(update).encode(), headers)
                    await asyncio.sleep(rng.uniform(0.0, storm / per_chat))

            async def whatsapp_client(number: int) -> None:
                user = f"336{number:08d}"
                for step in range(per_chat):
                    tag = f"#w{number}-{step}"
                    tags["whatsapp"].append(tag)
                    item = whatsapp.text_message(user, f"{TEXTS[step % len(TEXTS)]} {tag}")
                    body, headers = whatsapp_hook([{"contacts": [item.contact], "messages": [item.message]}])
                    await poster.post("/webhooks/whatsapp", body, headers)
                    await asyncio.sleep(rng.uniform(0.0, storm / per_chat))

            clients = range(base, base + chats)
            await asyncio.gather(*map(telegram_client, clients), *map(whatsapp_client, clients))
            settled = await _settle(app, SETTLE_SECONDS + storm)
            figures.sent += len(tags["telegram"]) + len(tags["whatsapp"])
            figures.server_errors += poster.server_errors
            for channel, own in tags.items():
                lost, duplicated = await _inbound_effects(app, channel, own)
                figures.lost += lost
                figures.duplicated += duplicated
            telegram_sends, whatsapp_sends = _telegram_sends(telegram), _whatsapp_sends(whatsapp)
            _count_replies(
                figures, "telegram", await _replies(app, "telegram", telegram_sends, _telegram_parts)
            )
            _count_replies(
                figures, "whatsapp", await _replies(app, "whatsapp", whatsapp_sends, _whatsapp_parts())
            )
            _add(figures, "telegram_429", len(telegram.pauses))
            _add(figures, "telegram_5xx", telegram.answered_5xx)
            _add(figures, "whatsapp_130429", len(whatsapp.pauses))
            _add(figures, "whatsapp_5xx", whatsapp.answered_5xx)
            _add(
                figures,
                "sends_inside_retry_after",
                sends_inside_pauses(telegram.arrivals, telegram.pauses, 0.0),
            )
            _add(
                figures,
                "sends_inside_throughput_pause",
                sends_inside_pauses(whatsapp.arrivals, whatsapp.pauses, IN_FLIGHT),
            )
            if not settled:
                _add(figures, "unsettled", 1)

    return await _each_database("storm-429-5xx", run)


# --- poison-webhooks ---------------------------------------------------------------------------------

NUL, LONE = "\u0000", "\ud800"
DEPTH = 50_000


def nested(depth: int = DEPTH) -> bytes:
    return b'{"object":"whatsapp_business_account","entry":' + b"[" * depth + b"]" * depth + b"}"


def _message(user: str, text: str, *, wamid: str | None = None, name: str = "Client") -> Json:
    return {
        "contacts": [{"profile": {"name": name}, "wa_id": user}],
        "messages": [
            {
                "from": user,
                "id": wamid or wa.new_wamid(),
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }


def _status(wamid: str, status: str = "delivered", *, title: str | None = None) -> Json:
    item: Json = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": "33611"}
    if title is not None:
        error = {"code": 131026, "title": title, "message": title, "error_data": {"details": title}}
        item["errors"] = [error]
    return {"statuses": [item]}


def whatsapp_poisons() -> dict[str, Json]:
    """Each poison item of a WhatsApp webhook, by name (a good message is added to each)."""
    return {
        "nul_in_from": _message(f"33612{NUL}34", "bonjour"),
        "nul_in_message_id": _message("33612000101", "bonjour", wamid=f"wamid.{NUL}abc"),
        "nul_in_text": _message("33612000102", f"bon{NUL}jour"),
        "nul_in_status_id": _status(f"wamid.{NUL}status"),
        "nul_in_error_title": _status(wa.new_wamid(), "failed", title=f"Message{NUL}undeliverable"),
        "lone_surrogate_in_text": _message("33612000103", f"bonjour {LONE}"),
        "lone_surrogate_in_name": _message("33612000104", "bonjour", name=f"Jean {LONE}"),
        "lone_surrogate_in_id": _message("33612000105", "bonjour", wamid=f"wamid.{LONE}"),
    }


@scenario("poison-webhooks")
async def poison_webhooks(scale: Scale) -> Figures:
    """Poison webhooks, each sent twice, each beside a good message, on both databases."""
    rounds = scale.pick(1, 20)

    async def run(kind: str, url: str, folder: Path, figures: Figures) -> None:
        port = _free_port()
        async with (
            tg.FakeTelegram(enforce_limits=False) as telegram,
            wa.FakeWhatsApp(webhook_url=f"http://127.0.0.1:{port}/webhooks/whatsapp") as whatsapp,
            _serve(url, folder, **_channels(telegram, whatsapp, port)) as app,
            httpx.AsyncClient(base_url=app.base, timeout=60) as http,
        ):
            whatsapp.auto_statuses = ()
            _lift_pacing(app)
            await telegram.wait_for(lambda: telegram.webhook is not None, 20)
            answers: dict[str, list[int]] = {}
            good_whatsapp: list[str] = []
            good_telegram: list[int] = []

            async def twice(name: str, path: str, body: bytes, headers: dict[str, str]) -> None:
                for _ in range(2):
                    response = await http.post(path, content=body, headers=headers)
                    answers.setdefault(name, []).append(response.status_code)

            base = random.randrange(10**6, 10**8)
            telegram_headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
            for round_ in range(rounds):
                for index, (name, poison) in enumerate(whatsapp_poisons().items()):
                    good = f"3361{base + round_ * 100 + index:08d}"
                    good_whatsapp.append(good)
                    item = whatsapp.text_message(good, "bonjour")
                    body, headers = whatsapp_hook(
                        [poison, {"contacts": [item.contact], "messages": [item.message]}]
                    )
                    await twice(f"whatsapp {name}", "/webhooks/whatsapp", body, headers)
                deep = nested()
                await twice("whatsapp nested", "/webhooks/whatsapp", deep, _signed(deep))
                await twice(
                    "telegram nested",
                    "/webhooks/telegram",
                    b'{"update_id":1,"message":' + deep + b"}",
                    telegram_headers,
                )
                for index, text in enumerate((f"bon{NUL}jour", f"bonjour {LONE}")):
                    chat = base + round_ * 100 + index
                    update = json.dumps(telegram_text(chat, text)).encode()
                    await twice(
                        f"telegram {'nul' if index == 0 else 'lone surrogate'}",
                        "/webhooks/telegram",
                        update,
                        telegram_headers,
                    )
                    good_chat = chat + 50
                    good_telegram.append(good_chat)
                    await Poster(http).post(
                        "/webhooks/telegram",
                        json.dumps(telegram_text(good_chat, "bonjour")).encode(),
                        telegram_headers,
                    )
            figures.sent += sum(len(a) for a in answers.values()) + len(good_whatsapp) + len(good_telegram)
            for name, statuses in answers.items():
                figures.server_errors += sum(1 for status in statuses if status >= 500)
                if len(set(statuses)) > 1:
                    _add(figures, "answer_changed", 1)
                if statuses[0] >= 500:
                    _add(figures, f"5xx {name}", 1)

            def answered() -> int:
                return sum(1 for user in good_whatsapp if whatsapp.messages_to(user)) + sum(
                    1 for chat in good_telegram if telegram.messages_to(chat)
                )

            with contextlib.suppress(TimeoutError):
                await whatsapp.wait_for(lambda: answered() == len(good_whatsapp) + len(good_telegram), 30)
            figures.lost += len(good_whatsapp) + len(good_telegram) - answered()
            await _settle(app, 10)

    return await _each_database("poison-webhooks", run)


# --- malformed-bodies --------------------------------------------------------------------------------

JSON_TYPE = {"Content-Type": "application/json"}
# At the short scale, bodies past BIG_BODY bytes go to these routes only (every route at the long).
BIG_BODY = 64 * 1024
BIG_BODY_ROUTES = frozenset(
    {
        "/api/chat/messages",
        "/api/chat/files",
        "/api/console/login",
        "/webhooks/telegram",
        "/webhooks/whatsapp",
    }
)
ID = '"id":"abcdefgh12345678"'


def battery() -> dict[str, tuple[bytes, dict[str, str]]]:
    """Malformed bodies by name: (body, headers)."""
    deep = b"[" * DEPTH + b"]" * DEPTH
    bodies: dict[str, bytes] = {
        "invalid json": b'{"text": ',
        "empty": b"",
        "null": b"null",
        "array": b"[1, 2, 3]",
        "string": b'"bonjour"',
        "wrong types": b'{"id": 12, "text": ["a"], "name": {}, "password": false, "choice": 1.5}',
        "huge number": b"{" + ID.encode() + b',"text":1e999999}',
        "nan": b"{" + ID.encode() + b',"text":NaN,"name":NaN}',
        "lone surrogate": b"{" + ID.encode() + b',"text":"\\ud800","name":"\\udfff"}',
        "nul": b"{" + ID.encode() + b',"text":"a\\u0000b","name":"a\\u0000"}',
        "invalid utf-8": b"{" + ID.encode() + b',"text":"\xff\xfe"}',
        "deep nesting": deep,
        "deep in a field": b"{" + ID.encode() + b',"text":' + deep + b"}",
        "huge string": b"{" + ID.encode() + b',"text":"' + b"a" * 2_000_000 + b'"}',
        "huge array": b"[" + b"0," * 500_000 + b"0]",
        "many keys": b"{" + b",".join(b'"k%d":1' % i for i in range(100_000)) + b"}",
    }
    found = {name: (body, JSON_TYPE) for name, body in bodies.items()}
    found["text/plain"] = (b'{"id":"abcdefgh12345678","text":"x"}', {"Content-Type": "text/plain"})
    found["form"] = (b"id=abcdefgh12345678&text=x", {"Content-Type": "application/x-www-form-urlencoded"})
    found["broken multipart"] = (
        b"--x\r\nContent-Disposition: form-data\r\n\r\n",
        {"Content-Type": "multipart/form-data; boundary=x"},
    )
    found["multipart without boundary"] = (b"abc", {"Content-Type": "multipart/form-data"})
    found["no content type"] = (b'{"id":"abcdefgh12345678","text":"x"}', {})
    return found


async def _route_paths(http: httpx.AsyncClient) -> list[str]:
    """Every POST route of the app's OpenAPI schema, path parameters filled in, and the two
    webhooks (left out of the schema)."""
    schema = (await http.get("/openapi.json")).json()
    paths = ["/webhooks/telegram", "/webhooks/whatsapp"]
    for path, operations in schema["paths"].items():
        if "post" in operations:
            paths.append("/".join("1" if part.startswith("{") else part for part in path.split("/")))
    return sorted(set(paths))


def _credentials(path: str, body: bytes) -> dict[str, str]:
    if path == "/webhooks/telegram":
        return {SECRET_HEADER: SECRET}
    if path == "/webhooks/whatsapp":
        return {SIGNATURE_HEADER: wa.sign(body)}
    return {}


async def _chunks(size: int, piece: int = 256 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        yield b"a" * min(piece, size - sent)
        sent += piece


@scenario("malformed-bodies")
async def malformed_bodies(scale: Scale) -> Figures:
    """Every POST route × malformed bodies (and oversized ones, chunked too): no 5xx."""
    repeats = scale.pick(1, 3)

    async def run(kind: str, url: str, folder: Path, figures: Figures) -> None:
        port = _free_port()
        async with (
            tg.FakeTelegram(enforce_limits=False) as telegram,
            wa.FakeWhatsApp() as whatsapp,
            _serve(url, folder, **_channels(telegram, whatsapp, port)) as app,
            httpx.AsyncClient(base_url=app.base, timeout=60) as http,
        ):
            paths = await _route_paths(http)
            statuses: Counter[int] = Counter()
            largest = (0, "")
            oversize = app.services.engine.files.max_bytes + 1024 * 1024

            async def send(name: str, path: str, content: Any, headers: dict[str, str]) -> None:
                nonlocal largest
                try:
                    response = await http.post(path, content=content, headers=headers)
                except httpx.TransportError:  # cut off while sending an oversized body: refused
                    statuses[0] += 1
                    return
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    figures.server_errors += 1
                    _add(figures, f"5xx {path} {name}", 1)
                if len(response.content) > largest[0]:
                    largest = (len(response.content), f"{path} {name}")
                if len(response.content) > BIG_ANSWER:
                    _add(figures, "answers_over_4kb", 1)

            for _ in range(repeats):
                for path in paths:
                    for name, (body, headers) in battery().items():
                        if len(body) > BIG_BODY and path not in BIG_BODY_ROUTES and scale.name == "short":
                            continue
                        await send(name, path, body, {**headers, **_credentials(path, body)})
                    if path not in BIG_BODY_ROUTES and scale.name == "short":
                        continue
                    big = b"a" * oversize
                    await send("oversized", path, big, {**JSON_TYPE, **_credentials(path, big)})
                    await send(
                        "oversized chunked", path, _chunks(oversize), {**JSON_TYPE, **_credentials(path, big)}
                    )
            figures.sent += statuses.total()
            _add(figures, "routes", len(paths))
            figures.extra["largest_answer_bytes"] = max(
                largest[0], int(figures.extra.get("largest_answer_bytes", 0))
            )
            figures.extra[f"{kind}_largest_answer"] = largest[1]
            figures.extra[f"{kind}_statuses"] = " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))

    return await _each_database("malformed-bodies", run)


# --- flood -------------------------------------------------------------------------------------------

ADVISOR = "je veux parler à un conseiller"
OPERATOR, PASSWORD = "camille.flood", "correct-horse-battery-42"


def _new_chat_limit(settings: Any) -> int:
    """The fewest new conversations one address may open in its shortest window."""
    from limits import parse_many

    value = getattr(settings, "web_chat_new_chats_per_address", "")
    return min((item.amount for item in parse_many(value)), default=0) if value.strip() else 0


@scenario("flood")
async def flood(scale: Scale) -> Figures:
    """Cookie-less web-chat posts asking for an advisor at once; failed logins from rotating
    forwarded addresses, then the rightful operator from their device."""
    posts, failures = scale.pick(30, 300), scale.pick(50, 500)

    async def run(kind: str, url: str, folder: Path, figures: Figures) -> None:
        from storage.tables import cases

        async with _serve(url, folder) as app:
            limit = _new_chat_limit(app.services.settings)

            async def stranger(index: int) -> int:
                body = {"id": f"flood{index:04d}{secrets.token_hex(6)}", "text": ADVISOR}
                async with httpx.AsyncClient(base_url=app.base, timeout=30) as fresh:
                    return (await fresh.post("/api/chat/messages", json=body)).status_code

            started = time.monotonic()
            statuses = Counter(await asyncio.gather(*map(stranger, range(posts))))
            _add(figures, "flood_seconds_x100", round((time.monotonic() - started) * 100))
            await _settle(app)
            (made,), *_ = await app.rows(sa.select(sa.func.count()).select_from(cases))
            figures.sent += posts
            figures.server_errors += sum(n for status, n in statuses.items() if status >= 500)
            figures.extra["new_chat_limit"] = limit
            _add(figures, "new_cases", made)
            _add(figures, "cases_over_limit", max(0, made - limit))
            _add(figures, "flood_not_refused_with_429", posts - statuses[202] - statuses[429])
            figures.extra[f"{kind}_flood_statuses"] = " ".join(
                f"{k}:{v}" for k, v in sorted(statuses.items())
            )

            await app.services.accounts.add(OPERATOR, PASSWORD, "operator")
            credentials = {"name": OPERATOR, "password": PASSWORD}
            async with httpx.AsyncClient(base_url=app.base, timeout=30) as device:
                first = (await device.post("/api/console/login", json=credentials)).status_code
                attempts: Counter[int] = Counter()
                async with httpx.AsyncClient(base_url=app.base, timeout=30) as attacker:
                    for index in range(failures):
                        forwarded = {"X-Forwarded-For": f"198.51.{index // 250}.{index % 250 + 1}"}
                        wrong = {"name": OPERATOR, "password": f"wrong-{index}"}
                        response = await attacker.post("/api/console/login", json=wrong, headers=forwarded)
                        attempts[response.status_code] += 1
                after = (await device.post("/api/console/login", json=credentials)).status_code
            figures.sent += failures + 2
            figures.server_errors += sum(n for status, n in attempts.items() if status >= 500)
            _add(figures, "rightful_login_refused", int(first != 200) + int(after != 200))
            _add(figures, "failed_logins_answered_401", attempts[401])
            _add(figures, "failed_logins_answered_429", attempts[429])
            # Past this many failures for the name from the one real address, a 429 is due: more
            # 401s mean the rotating X-Forwarded-For was believed.
            from bot.console.auth import MAX_FAILURES_PER_NAME

            _add(figures, "escaped_address_throttle", max(0, attempts[401] - MAX_FAILURES_PER_NAME))

    return await _each_database("flood", run)
