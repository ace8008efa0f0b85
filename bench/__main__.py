"""``python -m bench``: every engine scenario, each in its own process, then a table of medians.

Options: ``--rounds N`` (default 5), ``--conversations N`` per round at 50 clients (default 200),
``--only sqlite|postgres|echo``. PostgreSQL is taken from OPTIBOT_BENCH_POSTGRES_URL (default: the
local server, database ``test``; a scratch database is created and dropped).
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


def _run(
    backend: str, concurrency: int, conversations: int, rounds: int, pg: str, path: str = "handle"
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.engine_bench",
        f"--path={path}",
        f"--backend={backend}",
        f"--concurrency={concurrency}",
        f"--conversations={conversations}",
        f"--rounds={rounds}",
        f"--postgres-url={pg}",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--only", choices=("echo", "sqlite", "postgres"), action="append")
    args = parser.parse_args()
    pg = os.environ.get("OPTIBOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    backends = args.only or ["echo", "sqlite", "postgres"]
    results = []
    for backend in backends:
        for concurrency, conversations in ((1, max(10, args.conversations // 5)), (50, args.conversations)):
            result = _run(backend, concurrency, conversations, args.rounds, pg)
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
        if backend != "echo":  # the webhook path: acknowledged after one commit, answered after another
            result = _run(backend, 50, args.conversations, args.rounds, pg, "two-step")
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
    echo = {r["concurrency"]: r["messages_per_s"] for r in results if r["backend"] == "echo"}
    header = (
        f"{'backend':<9} {'path':<9} {'clients':>7} {'conv/s':>8} {'msg/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'peak MiB':>8} {'% echo':>7}"
    )
    print(f"engine benchmark: medians of {args.rounds} rounds, durable path vs bare echo")
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


if __name__ == "__main__":
    main()
