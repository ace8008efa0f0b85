"""``python -m bench.faults [--short] [--only NAME ...] [--json]``: run the fault scenarios, print
one line of figures each, exit 1 if any is not clean (something lost, duplicated without a crash,
out of order, or a 5xx to input that will never become valid).

The long scale is the default (the README's command; its figures go in ``docs/RELIABILITY.md``);
``--short`` is what the test suite runs. Each scenario runs in its own event loop, one after the
other; PostgreSQL is the local server (``OPTIBOT_FAULTS_POSTGRES_URL`` or
``OPTIBOT_TEST_POSTGRES_URL``), where each scenario creates and drops a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import sys
import time
import traceback

from bench.faults import SCENARIOS, Figures, Scale

MODULES = ("bench.faults.processes", "bench.faults.postgres", "bench.faults.http")


def load_scenarios() -> None:
    """Import every scenario module there is (each registers its scenarios when imported)."""
    for module in MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise


COLUMNS = (
    ("scenario", 22),
    ("sent", 6),
    ("lost", 5),
    ("dup", 4),
    ("order", 5),
    ("5xx", 4),
    ("crash", 5),
)


def table_header() -> str:
    cells = [f"{name:<{width}}" if name == "scenario" else f"{name:>{width}}" for name, width in COLUMNS]
    return " ".join([*cells, " extra"])


def table_line(figures: Figures) -> str:
    values = (
        figures.sent,
        figures.lost,
        figures.duplicated,
        figures.out_of_order,
        figures.server_errors,
        figures.repeats_after_crash,
    )
    cells = [f"{figures.scenario:<{COLUMNS[0][1]}}"]
    cells += [f"{value:>{width}}" for value, (_, width) in zip(values, COLUMNS[1:], strict=True)]
    extra = ", ".join(f"{key}={value}" for key, value in figures.extra.items())
    verdict = "" if figures.clean() else "  NOT CLEAN"
    return " ".join(cells) + f"  {extra}{verdict}"


def run(name: str, scale: Scale) -> Figures:
    started = time.monotonic()

    async def scenario() -> Figures:
        return await SCENARIOS[name](scale)

    try:
        figures = asyncio.run(scenario())
    except Exception as error:
        traceback.print_exc()
        figures = Figures(name, lost=-1, extra={"error": f"{type(error).__name__}: {error}"[:300]})
    figures.extra.setdefault("seconds", round(time.monotonic() - started, 1))
    return figures


def main(argv: list[str] | None = None) -> int:
    load_scenarios()
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the test suite's scale (seconds, not minutes)")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append", metavar="NAME")
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario, no table")
    args = parser.parse_args(argv)
    scale = Scale("short" if args.short else "long")
    chosen = args.only or list(SCENARIOS)
    if not args.json:
        print(f"fault suite, {scale.name} run: {', '.join(chosen)}", flush=True)
        print(table_header(), flush=True)
    results = []
    for name in chosen:
        figures = run(name, scale)
        results.append(figures)
        if args.json:
            print(json.dumps(dataclasses.asdict(figures)), flush=True)
        else:
            print(table_line(figures), flush=True)
    dirty = [f.scenario for f in results if not f.clean()]
    if dirty and not args.json:
        print(f"not clean: {', '.join(dirty)}", flush=True)
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
