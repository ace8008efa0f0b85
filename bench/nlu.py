"""``python -m bench nlu``: how well the intake reads clients as they really write.

Runs every phrasing of ``tests/corpus/`` (see its README) through the flow's own reading
(:meth:`flows.intake.IntakeFlow.understand`: global commands, the step's reader, a button's
number or label) and prints, per step and per split, the share read as labelled, the misses (not
understood: the bot asks again) and the misreadings (understood as something else: a fact of the
case would be wrong), then the time per reading. The misses and misreadings of the development
split are listed; the held-out split's only with ``--show-heldout`` (it is kept out of tuning).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flows.catalog import Catalog
from flows.intake import IntakeFlow, Understood
from flows.steps import STEPS as FLOW_STEPS
from flows.steps import Hint
from flows.types import SERVICE_TIME_ZONE, FlowContext, Language, as_language

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"
SPLITS = ("dev", "heldout")
# Every phrasing is read as if it came on Wednesday 2 December 2026 at 08:00 in Paris.
REFERENCE_NOW = datetime(2026, 12, 2, 8, 0, tzinfo=SERVICE_TIME_ZONE).astimezone(UTC)
# Where an answer is read as a value rather than as the event it fires.
VALUE_STEPS = frozenset(
    {"priority", "visit_address", "shipping_address", "visit_slot", "contact_name", "contact_phone"}
)
STEPS = (
    "need",
    "prescription",
    "urgency",
    "priority",
    "mode",
    "visit_consent",
    "visit_address",
    "visit_slot",
    "shipping_address",
    "contact_name",
    "contact_phone",
    "insurance",
    "insurance_card",
    "summary",
    "waitlist_offer",
    "waitlist_department",
    "waitlist_contact",
    "confirm_delete",
)
TARGETS = {"dev": 0.97, "heldout": 0.95}
# Hints a step's reader gives that the corpus labels (the client is asked again, but told why):
# a bare "oui" at the insurance question is asked which one.
HINTS = {"insurance": {"insurance.which": "which"}}


@dataclass(frozen=True, slots=True)
class Entry:
    split: str
    step: str
    text: str
    expect: str | None
    language: Language
    where: str  # file:line


@dataclass(slots=True)
class Score:
    total: int = 0
    right: int = 0
    misses: list[tuple[Entry, str | None]] = field(default_factory=list)
    misreadings: list[tuple[Entry, str | None]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 1.0


def load(split: str, root: Path = CORPUS) -> list[Entry]:
    """The phrasings of one split: one ``<step>.jsonl`` file per step."""
    entries: list[Entry] = []
    for path in sorted((root / split).glob("*.jsonl")):
        step = path.stem
        if step not in STEPS:
            raise ValueError(f"{path}: no intake step {step!r}")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            expect = item["expect"]
            if expect is not None and not isinstance(expect, str):
                raise ValueError(f"{path}:{number}: expect must be a string or null")
            language = as_language(item.get("lang"))
            entries.append(Entry(split, step, item["text"], expect, language, f"{path.name}:{number}"))
    return entries


def canonical(step: str, understood: Understood | None) -> str | None:
    """A reading as the corpus labels it (see tests/corpus/README.md)."""
    if understood is None:
        return None
    if understood.command is not None:
        name, argument = understood.command
        return f"/{name}" + (f" {argument}" if argument else "")
    if step in ("insurance", "insurance_card"):  # the insurer's name as recorded, or "none", "skip"
        if understood.event in ("given", "named"):
            return str(understood.value["name"])
        return understood.event
    if step in ("waitlist_department", "waitlist_contact"):  # the department, the e-mail or phone
        if understood.event != "given":
            return understood.event
        given = understood.value
        return str(given[1] if isinstance(given, tuple) else given)
    if step not in VALUE_STEPS:
        return understood.event
    value: Any = understood.value
    if step in ("visit_address", "shipping_address"):
        return str(value["postal_code"])
    if step == "visit_slot":
        if value.get("asap"):
            return "asap"
        return f"{value['date']} {value['part']}"
    return str(value)


def _same(step: str, got: str | None, expect: str | None) -> bool:
    if got is None or expect is None:
        return got is expect
    if step == "contact_name":  # the name as the client typed it, spaces and case aside
        return " ".join(got.split()).casefold() == " ".join(expect.split()).casefold()
    return got == expect


class Reader:
    """The flow, with the shipped catalogue, reading as on the reference morning."""

    def __init__(self) -> None:
        self.flow = IntakeFlow(Catalog.load())
        self.ctx = FlowContext(now=REFERENCE_NOW, new_reference=lambda: "OB-CORPUS")
        # At the summary every change is offered (a visit).
        self.answers: dict[str, Any] = {"mode": "visit"}

    def read(self, entry: Entry) -> str | None:
        understood = self.flow.understand(
            entry.step, entry.text, self.ctx, entry.language, dict(self.answers)
        )
        if understood is None and entry.step in HINTS:  # asked again: with a hint the corpus names?
            reading = FLOW_STEPS[entry.step].read(entry.text, self.ctx)
            if isinstance(reading, Hint):
                return HINTS[entry.step].get(reading.key)
        return canonical(entry.step, understood)


def score(entries: Iterable[Entry], reader: Reader | None = None) -> dict[str, Score]:
    reader = reader or Reader()
    scores: dict[str, Score] = defaultdict(Score)
    for entry in entries:
        got = reader.read(entry)
        result = scores[entry.step]
        result.total += 1
        if _same(entry.step, got, entry.expect):
            result.right += 1
        elif got is None:
            result.misses.append((entry, got))
        else:
            result.misreadings.append((entry, got))
    return dict(scores)


def microseconds_per_reading(entries: Sequence[Entry], rounds: int = 5) -> float:
    reader = Reader()
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for entry in entries:
            reader.read(entry)
        timings.append((time.perf_counter() - started) / max(1, len(entries)) * 1e6)
    return statistics.median(timings)


def _table(split: str, scores: dict[str, Score]) -> list[str]:
    lines = [f"{split}: step               phrasings  read right  misses  misreadings"]
    total = Score()
    for step in STEPS:
        if step not in scores:
            continue
        s = scores[step]
        mark = "" if s.accuracy >= TARGETS[split] else "  < target"
        lines.append(_row(step, s) + mark)
        total.total += s.total
        total.right += s.right
        total.misses += s.misses
        total.misreadings += s.misreadings
    lines.append(_row("all", total))
    return lines


def _row(name: str, s: Score) -> str:
    return f"  {name:<26}{s.total:>6}  {s.accuracy:>9.1%}  {len(s.misses):>6}  {len(s.misreadings):>11}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench nlu", description=__doc__)
    parser.add_argument("--show-heldout", action="store_true", help="also list the held-out split's errors")
    args = parser.parse_args(argv)
    failed = False
    everything: list[Entry] = []
    for split in SPLITS:
        entries = load(split)
        everything += entries
        scores = score(entries)
        print("\n".join(_table(split, scores)))
        wrong = [("misreading", e, got) for s in scores.values() for e, got in s.misreadings]
        wrong += [("miss", e, got) for s in scores.values() for e, got in s.misses]
        failed |= any(s.accuracy < TARGETS[split] or s.misreadings for s in scores.values())
        if split == "dev" or args.show_heldout:
            for kind, entry, got in wrong:
                print(
                    f"    {kind:<11} {entry.where:<28} {entry.text!r} -> {got!r} (expected {entry.expect!r})"
                )
        elif wrong:
            print(f"    ({len(wrong)} errors not listed: --show-heldout)")
    print(f"reading: {microseconds_per_reading(everything):.1f} µs per phrasing (median of 5 passes)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
