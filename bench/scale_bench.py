"""Scale-out: the inbound scenarios against 1, 2 and 4 service processes on one PostgreSQL database.

``python -m bench.scale_bench --processes N`` (one process count per run, printing one JSON line of
medians): a scratch PostgreSQL database, the fake Bot API and the fake Graph API each in its own
process (``bench/fake_telegram_server.py``, ``bench/fake_whatsapp_server.py``), and N service
processes (``bench/scale_service.py``: the app ``optibot run`` serves, webhook mode, settings from
the environment, pacing lifted as in the single-process channel benchmarks). The clients are those of
``bench/telegram_bench.py`` and ``bench/whatsapp_bench.py`` (whole conversations, Telegram updates and
signed WhatsApp webhooks, 50 clients at once, each message once the previous one is acknowledged),
spread over the processes as a load balancer would:

- ``sticky``: a conversation always goes to the same process (round-robin per conversation);
- ``spread``: consecutive messages of a conversation go to different processes (N >= 2).

A run is timed until every message is processed and every reply delivered to the fake, and then
audited (``bench/scale_check.py``): every conversation has exactly its expected rows, every reply is
delivered, in order; a reply received twice is counted (``dup``) only as a second attempt after its
outbox lease ran out (at-least-once), anything else stops the run. CPU per process, of PostgreSQL and
of the machine: ``bench/scale_cpu.py``.

``python -m bench --only scale`` runs 1, 2 and 4 processes and prints the table (:func:`report`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench import scale_check, scale_cpu
from bench.common import SCRIPTS, App, percentile, run_durable, run_scenario
from bench.fake_telegram_server import FakeTelegramProcess
from bench.fake_whatsapp_server import FakeWhatsAppProcess
from bench.faults.common import Service, database_engine, file_key, scratch_database
from bench.telegram_updates import SECRET, Updates, post_update
from bench.whatsapp_webhooks import Hook, post_webhook, wa_id, workload
from tests.e2e.servers import service_env
from tests.fakes import telegram as tg
from tests.fakes import whatsapp as wa

PROCESS_COUNTS = (1, 2, 4)
CONCURRENCY = 50
ROOT = str(Path(__file__).resolve().parents[1])  # bench/ is not installed: the processes' PYTHONPATH
POOL_SIZE = "10"  # DB_POOL_SIZE per process: 4 x 10 stays well within the shared server's 100


class ScaleService(Service):
    """A service process (``bench.scale_service``) on its own port; see :class:`Service`."""

    async def start(self) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.scale_service",
                f"--port={self.port}",
                cwd=self.workdir,
                env=service_env(self.database_url, self.workdir / "data", **self.env),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )


@contextlib.asynccontextmanager
async def processes(
    count: int, database_url: str, telegram_api: str, whatsapp_api: str
) -> AsyncIterator[list[Service]]:
    import httpx

    env = {
        "TELEGRAM_BOT_TOKEN": tg.TOKEN,
        "TELEGRAM_API_URL": telegram_api,
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": wa.TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": wa.PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": wa.APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": wa.VERIFY_TOKEN,
        "WHATSAPP_API_URL": whatsapp_api,
        "OPTIBOT_FILE_KEY": file_key(),
        "AUTO_MIGRATE": "false",
        "OPTIBOT_LOG_LEVEL": "WARNING",
        "METRICS_PORT": "",
        "DB_POOL_SIZE": POOL_SIZE,
        "PYTHONPATH": ROOT,
    }
    with tempfile.TemporaryDirectory(prefix="optibot-scale-") as folder:
        workdir = Path(folder)
        (workdir / "data").mkdir()
        started = [ScaleService(f"process-{i + 1}", database_url, workdir, env) for i in range(count)]
        try:
            async with httpx.AsyncClient() as http:
                for service in started:
                    await service.start()
                await asyncio.gather(*(s.wait_healthy(http, within=300) for s in started))
            yield started
        finally:
            await asyncio.gather(*(s.stop() for s in started))


def route(urls: list[str], conversation: int, step: int, spread: bool) -> str:
    """The process a message goes to: the conversation's own, or the next one at each message."""
    return urls[(conversation + (step if spread else 0)) % len(urls)]


class Rig:
    """Everything a round needs: the database, the fakes, the processes, the client session."""

    def __init__(self, **parts: Any) -> None:
        self.database = parts["database"]
        self.database_name: str = parts["database_name"]
        self.telegram: FakeTelegramProcess = parts["telegram"]
        self.whatsapp: FakeWhatsAppProcess = parts["whatsapp"]
        self.services: list[Service] = parts["services"]
        self.http = parts["http"]
        self.learnt: dict[str, Any] = {}
        self.expected: dict[str, list[list[scale_check.Label]]] = {}

    def urls(self, channel: str) -> list[str]:
        return [f"{s.base}/webhooks/{channel}" for s in self.services]

    async def cpu_groups(self) -> dict[str, list[int]]:
        own, background = await scale_cpu.postgres_pids(self.database, self.database_name)
        groups = {s.name: [s.process.pid] for s in self.services if s.process is not None}
        fakes = [f._process.pid for f in (self.telegram, self.whatsapp) if f._process is not None]
        return {**groups, "postgres": own, "postgres-bg": background, "fakes": fakes, "load": [os.getpid()]}


async def registered(telegram: FakeTelegramProcess, within: float = 30.0) -> None:
    """Until a process has registered its webhook (their start-up calls are over)."""
    deadline = time.monotonic() + within
    while True:
        if (await telegram.state())["webhook"]:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("no webhook registered")
        await asyncio.sleep(0.05)


async def calibrate(rig: Rig) -> None:
    """Each script once through the first process, a step at a time (the channel benchmarks' own
    calibration): the presses to replay, and the rows every conversation of a script must end with."""
    from bench import telegram_bench, whatsapp_bench

    app = App(SimpleNamespace(database=rig.database), rig.urls("telegram")[0])
    rig.learnt["telegram"] = await telegram_bench.calibrate(app, rig.telegram, rig.http, 700_000_000)
    rows = await scale_check.written(rig.database, [str(700_000_000 + i) for i in range(len(SCRIPTS))])
    rig.expected["telegram"] = [rows[str(700_000_000 + i)].labels for i in range(len(SCRIPTS))]
    app = App(SimpleNamespace(database=rig.database), rig.urls("whatsapp")[0])
    rig.learnt["whatsapp"] = await whatsapp_bench.calibrate(app, rig.whatsapp, rig.http, 100_000)
    rows = await scale_check.written(rig.database, [wa_id(100_000 + i) for i in range(len(SCRIPTS))])
    rig.expected["whatsapp"] = [rows[wa_id(100_000 + i)].labels for i in range(len(SCRIPTS))]


Work = tuple[list[list[tuple[str, Any]]], list[str], Callable[[tuple[str, Any]], Awaitable[None]]]


async def telegram_work(rig: Rig, conversations: int, base: int, spread: bool) -> Work:
    updates = Updates()
    urls = rig.urls("telegram")
    chats = [base + i for i in range(conversations)]
    work = []
    for i, chat in enumerate(chats):
        script = i % len(SCRIPTS)
        bodies = updates.conversation(chat, SCRIPTS[script], rig.learnt["telegram"][script])
        work.append([(route(urls, i, step, spread), body) for step, body in enumerate(bodies)])
    await rig.telegram.allow_queries(updates.query_ids)

    async def send(item: tuple[str, Any]) -> None:
        await post_update(rig.http, item[0], item[1])

    return work, [str(c) for c in chats], send


async def whatsapp_work(rig: Rig, conversations: int, base: int, spread: bool) -> Work:
    urls = rig.urls("whatsapp")
    built = workload(rig.learnt["whatsapp"], conversations, base)
    await rig.whatsapp.clients(messages=built.wamids)
    work = [
        [(route(urls, i, step, spread), hook) for step, hook in enumerate(hooks)]
        for i, hooks in enumerate(built.singles)
    ]

    async def send(item: tuple[str, Hook]) -> None:
        await post_webhook(rig.http, item[0], item[1])

    return work, built.users, send


async def received_telegram(rig: Rig, party: str) -> list[str]:
    return [str(m.get("text")) for m in await rig.telegram.messages_to(int(party))]


async def received_whatsapp(rig: Rig, party: str) -> list[str]:
    return [str(m["text"]) for m in await rig.whatsapp.messages_to(party)]


async def one_run(rig: Rig, channel: str, conversations: int, base: int, spread: bool) -> dict[str, Any]:
    """One timed run of one channel; raises if the audit finds anything wrong."""
    build = telegram_work if channel == "telegram" else whatsapp_work
    work, parties, send = await build(rig, conversations, base, spread)
    messages = sum(len(c) for c in work)
    commits = await scale_cpu.commits(rig.database, rig.database_name)
    before = scale_cpu.snapshot(await rig.cpu_groups())
    run = await run_durable(rig.database, work, CONCURRENCY, send)
    after = scale_cpu.snapshot(await rig.cpu_groups())
    await asyncio.sleep(0.6)  # backends report their commits to the statistics at most every 0.5 s
    commits = await scale_cpu.commits(rig.database, rig.database_name) - commits
    script_of = [i % len(SCRIPTS) for i in range(conversations)]
    expected = [rig.expected[channel][s] for s in script_of]
    fetch = received_telegram if channel == "telegram" else received_whatsapp
    checked = await scale_check.audit(rig.database, parties, expected, lambda p: fetch(rig, p))
    if not checked.holds:
        raise RuntimeError(f"{channel} {'spread' if spread else 'sticky'}: {checked.figures()}")
    cpu = scale_cpu.shares(before, after)
    services = [cpu[s.name] for s in rig.services]
    return {
        "messages": messages,
        "messages_per_s": messages / run.elapsed_s,
        "acknowledged_per_s": messages / run.acknowledged_s,
        "p50_ms": 1000 * percentile(run.latencies, 0.5),
        "p99_ms": 1000 * percentile(run.latencies, 0.99),
        "commits_per_message": commits / messages,
        "commits_per_s": commits / run.elapsed_s,
        # Messages per second of service CPU, and PostgreSQL's CPU per message: what a core buys.
        "messages_per_service_cpu_s": messages / run.elapsed_s / (sum(services) / 100),
        "postgres_cpu_ms_per_message": 10 * cpu["postgres"] * run.elapsed_s / messages,
        "cpu_services": sum(services),
        "cpu_per_service_max": max(services),
        **{f"cpu_{k.replace('-', '_')}": v for k, v in cpu.items() if not k.startswith("process-")},
        "replies": checked.replies,
        # Replies received twice after their outbox lease ran out under a live process (each one a
        # second attempt): at-least-once delivery, counted, not an error of the engine.
        "duplicated": float(checked.duplicated),
    }


async def measure(count: int, rounds: int, conversations: int) -> dict[str, Any]:
    import aiohttp
    from sqlalchemy.engine import make_url

    scenarios = [("telegram", False), ("whatsapp", False)]
    if count > 1:
        scenarios += [("telegram", True), ("whatsapp", True)]
    results: dict[str, list[dict[str, Any]]] = {
        f"{c}-{'spread' if s else 'sticky'}": [] for c, s in scenarios
    }
    base = itertools.count(1_000_000, 100_000)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, keepalive_timeout=2.0)
    async with (
        scratch_database() as url,
        FakeTelegramProcess(enforce_limits=False) as telegram,
        FakeWhatsAppProcess() as whatsapp,
        processes(count, url, telegram.api_url, whatsapp.api_url) as services,
        aiohttp.ClientSession(connector=connector) as http,
    ):
        database = database_engine(url)
        try:
            rig = Rig(
                database=database,
                database_name=make_url(url).database,
                telegram=telegram,
                whatsapp=whatsapp,
                services=services,
                http=http,
            )
            await registered(telegram)
            await calibrate(rig)
            for channel, spread in scenarios:  # warm-up: connections opened, code paths warm
                await one_run(rig, channel, max(10, conversations // 10), 800_000_000 + next(base), spread)
            for _ in range(rounds):
                for channel, spread in scenarios:
                    name = f"{channel}-{'spread' if spread else 'sticky'}"
                    results[name].append(
                        await one_run(rig, channel, conversations, 800_000_000 + next(base), spread)
                    )
        finally:
            await database.dispose()
    return {
        "processes": count,
        "rounds": rounds,
        "conversations": conversations,
        "concurrency": CONCURRENCY,
        "scenarios": {
            name: {
                **{k: statistics.median(r[k] for r in runs) for k in runs[0]},
                "per_round": [round(r["messages_per_s"], 1) for r in runs],
                "duplicated_per_round": [r["duplicated"] for r in runs],
            }
            for name, runs in results.items()
        },
    }


# --- the report (python -m bench --only scale) ----------------------------------------------------


def report(rounds: int | None, conversations: int) -> None:
    rounds = rounds or 3
    runs = []
    for count in PROCESS_COUNTS:
        result = run_scenario(
            [
                "bench.scale_bench",
                f"--processes={count}",
                f"--rounds={rounds}",
                f"--conversations={conversations}",
            ]
        )
        print(json.dumps(result), file=sys.stderr)
        runs.append(result)
    table(runs)


def table(runs: list[dict[str, Any]]) -> None:
    """The report's table of the runs' medians (``runs``: one result of :func:`measure` per count)."""
    rounds, conversations = runs[0]["rounds"], runs[0]["conversations"]
    one = {name: s["messages_per_s"] for name, s in runs[0]["scenarios"].items()}
    header = (
        f"{'scenario':<16} {'procs':>5} {'msg/s':>7} {'x 1 proc':>8} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'CPU% svc':>8} {'max/proc':>8} {'PG':>5} {'PG bg':>5} {'fakes':>5} {'load':>5} {'machine':>7}"
        f" {'msg/svc-s':>9} {'PG ms/msg':>9} {'commit/msg':>10} {'dup':>4}"
    )
    print(
        f"scale-out benchmark: medians of {rounds} rounds, {conversations} conversations a round,"
        f" {CONCURRENCY} clients, one PostgreSQL; CPU % of one core (the machine has {os.cpu_count()})"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        for name, s in run["scenarios"].items():
            base = one.get(name.replace("spread", "sticky"))
            ratio = f"{s['messages_per_s'] / base:7.2f}x" if base else "       —"
            print(
                f"{name:<16} {run['processes']:>5} {s['messages_per_s']:>7.0f} {ratio} {s['p50_ms']:>7.1f}"
                f" {s['p99_ms']:>7.1f} {s['cpu_services']:>8.0f} {s['cpu_per_service_max']:>8.0f}"
                f" {s['cpu_postgres']:>5.0f} {s['cpu_postgres_bg']:>5.0f} {s['cpu_fakes']:>5.0f}"
                f" {s['cpu_load']:>5.0f} {s['cpu_machine']:>7.0f} {s['messages_per_service_cpu_s']:>9.0f}"
                f" {s['postgres_cpu_ms_per_message']:>9.2f} {s['commits_per_message']:>10.2f}"
                f" {sum(s['duplicated_per_round']):>4.0f}"
            )
    print(
        "every conversation audited: its expected rows in order, every reply delivered in order; dup: replies"
        " received twice, each after its outbox lease ran out (a second attempt), summed over the rounds;"
        " msg/svc-s: messages per CPU-second of the service processes; machine: every core, other users"
        " included (200 % = both cores of a 2-core machine)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=200)
    args = parser.parse_args()
    json.dump(asyncio.run(measure(args.processes, args.rounds, args.conversations)), sys.stdout)
    print()


if __name__ == "__main__":
    main()
