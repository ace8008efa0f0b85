"""``python -m bench``: every scenario, each in its own process, then tables of medians.

Options: ``--rounds N`` (default 5; 3 for ``telegram-out``, whose round takes ~21 s of paced sending),
``--conversations N`` per round at 50 clients (default 200), ``--only
echo|sqlite|postgres|telegram-out|telegram-in|whatsapp-out|whatsapp-in|live|bigtables|scale``
(repeatable; the WhatsApp scenarios default to 3 rounds, see ``bench/whatsapp_bench.py``).
PostgreSQL is taken from
OPTIBOT_BENCH_POSTGRES_URL (default: the local server, database ``test``; a scratch database is
created and dropped). The Telegram scenarios run after the engine's; see ``bench/telegram_bench.py``.

``python -m bench nlu``: the reading of clients' free text on the corpus of ``tests/corpus/``
(``bench/nlu.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from bench import report
from bench.common import run_scenario

TARGET_MESSAGES_PER_S = 1000
TARGET_P99_MS = 100
ENGINE = ("echo", "sqlite", "postgres")
TELEGRAM = ("telegram-out", "telegram-in")
WHATSAPP = ("whatsapp-out", "whatsapp-in")
LIVE = ("live",)  # bench/live_bench.py: live events across two processes, pushed vs polled
SCALE = ("scale",)  # bench/scale_bench.py: 1, 2 and 4 service processes on one PostgreSQL
BIG = ("bigtables",)  # bench/big_tables.py: a year of data on both databases (issue 17)
DEFAULT_ROUNDS = 5
DEFAULT_TELEGRAM_OUT_ROUNDS = 3


def _run(
    backend: str, concurrency: int, conversations: int, rounds: int, pg: str, path: str = "handle"
) -> dict[str, Any]:
    return run_scenario(
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


def main() -> None:
    if sys.argv[1:2] == ["nlu"]:  # the reading of free text: no service, no database
        from bench import nlu

        sys.exit(nlu.main(sys.argv[2:]))
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rounds", type=int, help=f"default {DEFAULT_ROUNDS}; telegram-out: 3")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--only", choices=ENGINE + TELEGRAM + WHATSAPP + LIVE + BIG + SCALE, action="append")
    args = parser.parse_args()
    chosen = args.only or [*ENGINE, *TELEGRAM, *WHATSAPP, *LIVE, *BIG, *SCALE]
    rounds = args.rounds or DEFAULT_ROUNDS
    backends = [b for b in ENGINE if b in chosen]
    if backends:
        engine_scenarios(backends, rounds, args.conversations)
    if "telegram-out" in chosen:
        report.telegram_out(args.rounds or DEFAULT_TELEGRAM_OUT_ROUNDS, args.rounds is not None)
    if "telegram-in" in chosen:
        report.telegram_in(rounds, args.conversations)
    if "whatsapp-out" in chosen:
        report.whatsapp_out(args.rounds)
    if "whatsapp-in" in chosen:
        report.whatsapp_in(args.rounds, args.conversations)
    if "live" in chosen:
        subprocess.run([sys.executable, "-m", "bench.live_bench"], check=True)
    if "bigtables" in chosen:
        from bench.big_tables import report as big_tables_report

        big_tables_report(
            os.environ.get("OPTIBOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        )
    if "scale" in chosen:  # 1, 2, 4 processes on PostgreSQL: bench/scale_bench.py
        from bench.scale_bench import report as scale_report

        scale_report(args.rounds, args.conversations)


if __name__ == "__main__":
    main()
