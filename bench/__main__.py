"""``python -m bench``: every scenario, each in its own process, then tables of medians.

Options: ``--rounds N`` (default 5; 3 for ``telegram-out``, whose round takes ~21 s of paced sending),
``--conversations N`` per round at 50 clients (default 200), ``--only
echo|sqlite|postgres|telegram-out|telegram-in|whatsapp-out|whatsapp-in`` (repeatable; the WhatsApp
scenarios default to 3 rounds, see ``bench/whatsapp_bench.py``). PostgreSQL is taken from
OPTIBOT_BENCH_POSTGRES_URL (default: the local server, database ``test``; a scratch database is
created and dropped). The Telegram scenarios run after the engine's; see ``bench/telegram_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

TARGET_MESSAGES_PER_S = 1000
TARGET_P99_MS = 100
ENGINE = ("echo", "sqlite", "postgres")
TELEGRAM = ("telegram-out", "telegram-in")
WHATSAPP = ("whatsapp-out", "whatsapp-in")
DEFAULT_ROUNDS = 5
DEFAULT_TELEGRAM_OUT_ROUNDS = 3


def _run_module(command: list[str]) -> dict[str, Any]:
    """Run one scenario's process; its last line of output is its JSON result."""
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _run(
    backend: str, concurrency: int, conversations: int, rounds: int, pg: str, path: str = "handle"
) -> dict[str, Any]:
    return _run_module(
        [
            "bench.engine_bench",
            f"--path={path}",
            f"--backend={backend}",
            f"--concurrency={concurrency}",
            f"--conversations={conversations}",
            f"--rounds={rounds}",
            f"--postgres-url={pg}",
        ]
    )


def engine_scenarios(backends: list[str], rounds: int, conversations: int) -> None:
    pg = os.environ.get("OPTIBOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    results = []
    for backend in backends:
        for concurrency, count in ((1, max(10, conversations // 5)), (50, conversations)):
            result = _run(backend, concurrency, count, rounds, pg)
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
        if backend != "echo":  # the webhook path: acknowledged after one commit, answered after another
            result = _run(backend, 50, conversations, rounds, pg, "two-step")
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
    echo = {r["concurrency"]: r["messages_per_s"] for r in results if r["backend"] == "echo"}
    header = (
        f"{'backend':<9} {'path':<9} {'clients':>7} {'conv/s':>8} {'msg/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'peak MiB':>8} {'% echo':>7}"
    )
    print(f"engine benchmark: medians of {rounds} rounds, durable path vs bare echo")
    print(header)
    print("-" * len(header))
    for r in results:
        base = echo.get(r["concurrency"])
        share = f"{100 * r['messages_per_s'] / base:6.2f}%" if base else "      —"
        print(
            f"{r['backend']:<9} {r['path']:<9} {r['concurrency']:>7} {r['conversations_per_s']:>8.1f}"
            f" {r['messages_per_s']:>9.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}"
            f" {r['peak_rss_mib']:>8.1f} {share}"
        )
    for r in results:
        if r["backend"] != "echo" and r["concurrency"] == 50 and r["path"] == "handle":
            ok = r["messages_per_s"] >= TARGET_MESSAGES_PER_S and r["p99_ms"] <= TARGET_P99_MS
            verdict = "meets" if ok else "MISSES"
            print(
                f"{r['backend']} at 50 clients {verdict} the target"
                f" (>= {TARGET_MESSAGES_PER_S} msg/s, p99 <= {TARGET_P99_MS} ms)"
            )


def _rounds(values: list[float], digits: int = 1) -> str:
    return ", ".join(f"{v:,.{digits}f}" for v in values)


def telegram_out(rounds: int, explicit: bool) -> None:
    from bench.telegram_bench import TARGET_OUT_PER_S

    r = _run_module(["bench.telegram_bench", "--scenario=out", f"--rounds={rounds}"])
    print(json.dumps(r), file=sys.stderr)
    per = r["per_round"]
    note = "" if explicit else f" (default {DEFAULT_TELEGRAM_OUT_ROUNDS} for this scenario)"
    print(
        f"telegram outbound: {r['messages']} replies to {r['chats']} chats (1-3 each, some with keyboards)"
        " through the real TelegramChannel and OutboxSender (default pacing: 29/s per bot, 3 in a row"
        " per chat), into the fake Bot API in its own process enforcing Telegram's limits"
        f" (30/s per bot, 3 per 3 s per chat); medians of {rounds} rounds{note}"
    )
    print(
        f"  sustained msg/s as the fake accepted them: {r['messages_per_s']:.1f}"
        f"   (rounds: {_rounds([x['messages_per_s'] for x in per])})"
    )
    print(
        f"  429 received: {r['too_many']:g}   (rounds: {_rounds([x['too_many'] for x in per], 0)});"
        f" replies sent again: {_rounds([x['retried'] for x in per], 0)};"
        f" failed: {sum(x['failed'] for x in per)}"
    )
    print(f"  outbox drained in s: {_rounds([x['drain_s'] for x in per])}")
    ok = r["messages_per_s"] >= TARGET_OUT_PER_S and r["too_many_total"] == 0
    print(f"  {'meets' if ok else 'MISSES'} target >= {TARGET_OUT_PER_S} msg/s with zero 429")


def telegram_in(rounds: int, conversations: int) -> None:
    from bench.telegram_bench import TARGET_IN_SHARE

    r = _run_module(
        ["bench.telegram_bench", "--scenario=in", f"--rounds={rounds}", f"--conversations={conversations}"]
    )
    print(json.dumps(r), file=sys.stderr)
    per = r["per_round"]
    print(
        f"telegram inbound: {r['conversations']} conversations ({r['updates']:,} updates, typed text and"
        f" button presses) by {r['concurrency']} concurrent clients, medians of {rounds} rounds;"
        " pacing lifted for this scenario (the fake enforces no limits, the channel's limiter is raised)"
    )
    print(
        f"  durable (POST /webhooks/telegram over loopback -> inbox -> engine -> outbox -> aiogram -> fake):"
        f" {r['durable_updates_per_s']:,.0f} updates/s processed and answered"
        f"   (rounds: {_rounds([x['durable_updates_per_s'] for x in per], 0)})"
    )
    print(
        f"    webhook answered in p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms;"
        f" all acknowledged at {r['acknowledged_updates_per_s']:,.0f} updates/s;"
        f" {per[0]['replies']:,} replies and {per[0]['api_calls']:,} Bot API calls a round"
    )
    print(
        f"  bare aiogram echo (Dispatcher.feed_update -> message.answer / callback answer + message -> fake):"
        f" {r['echo_updates_per_s']:,.0f} updates/s"
        f"   (rounds: {_rounds([x['echo_updates_per_s'] for x in per], 0)})"
    )
    share = r["share"]
    print(
        f"  durable / echo: {100 * share:.1f} % (median of the rounds' ratios;"
        f" rounds: {_rounds([100 * x['share'] for x in per])} %)"
    )
    verdict = "meets" if share >= TARGET_IN_SHARE else "MISSES"
    print(f"  {verdict} >= {100 * TARGET_IN_SHARE:.0f} % of the echo")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rounds", type=int, help=f"default {DEFAULT_ROUNDS}; telegram-out: 3")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--only", choices=ENGINE + TELEGRAM + WHATSAPP, action="append")
    args = parser.parse_args()
    chosen = args.only or [*ENGINE, *TELEGRAM, *WHATSAPP]
    rounds = args.rounds or DEFAULT_ROUNDS
    backends = [b for b in ENGINE if b in chosen]
    if backends:
        engine_scenarios(backends, rounds, args.conversations)
    if "telegram-out" in chosen:
        telegram_out(args.rounds or DEFAULT_TELEGRAM_OUT_ROUNDS, args.rounds is not None)
    if "telegram-in" in chosen:
        telegram_in(rounds, args.conversations)
    if "whatsapp-out" in chosen or "whatsapp-in" in chosen:
        from bench import whatsapp_bench

        if "whatsapp-out" in chosen:
            whatsapp_bench.report_out(args.rounds)
        if "whatsapp-in" in chosen:
            whatsapp_bench.report_in(args.rounds, args.conversations)


if __name__ == "__main__":
    main()
