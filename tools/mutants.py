"""`make mutants`: break each invariant of ARCHITECTURE.md on purpose and check the tests notice.

The working tree (tracked files and new ones not ignored, as they are now) is copied to a temporary
folder. The tests named for the mutations first run there unchanged, and must pass. Then, one at a
time, each mutation (exact ``old`` -> ``new`` text in named files) is applied to the copy, its
tests run against it (pytest from the copy, the copy first on ``sys.path``, checked), and the copy
is restored. A mutation is caught when a test fails; one that survives, or whose ``old`` text is
not found exactly once (the code moved on: update the mutation), makes the run fail.

    .venv/bin/python tools/mutants.py            # all of them (about 10 minutes)
    .venv/bin/python tools/mutants.py --list     # what each breaks and which tests must catch it
    .venv/bin/python tools/mutants.py --only polling-offset-before-store webhook-unsigned

The list is documented in docs/RELIABILITY.md ("Mutations").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds for one mutation's tests: a hang is reported, never taken as a catch
BREAK = "tests/integration/test_invariants_break.py::"
ENGINE = "tests/integration/test_engine_invariants.py::"
TELEGRAM = "tests/integration/test_telegram.py::"
WHATSAPP = "tests/integration/test_whatsapp.py::"
OUTBOX = "tests/integration/test_outbox.py::"
DELIVER = (
    "            try:\n"
    "                external = await self.channels[row.channel].deliver(row.recipient, row.payload)\n"
)
PROCESSED = (
    "            processed = await self._process(connection, [j.item for _, j in heads]) if heads else []\n"
)


@dataclass(frozen=True)
class Edit:
    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutation:
    name: str
    invariant: str
    breaks: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]


@dataclass
class Outcome:
    mutation: Mutation
    verdict: str  # caught, NOT CAUGHT, STALE, TIMEOUT, BROKEN
    failed: int = 0
    first: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "telegram-webhook-200-before-storing",
        "1 nothing acknowledged is lost",
        "the Telegram webhook stores the update in the background and answers 200 at once",
        (
            Edit("bot/channels/telegram/webhook.py", "import hmac\n", "import asyncio\nimport hmac\n"),
            Edit(
                "bot/channels/telegram/webhook.py",
                "        try:\n            await inbound.receive(update)\n",
                "        try:\n            asyncio.ensure_future(inbound.receive(update))\n",
            ),
        ),
        (
            BREAK + "test_telegram_webhook_is_answered_200_only_once_the_update_is_stored",
            TELEGRAM + "test_the_webhook_stores_before_answering_and_refuses_forgeries",
        ),
    ),
    Mutation(
        "whatsapp-webhook-200-before-storing",
        "1 nothing acknowledged is lost",
        "the WhatsApp webhook stores the messages in the background and answers 200 at once",
        (
            Edit(
                "bot/channels/whatsapp/webhook.py",
                "            await receiver.receive(payload)\n",
                "            receiver._spawn(receiver.receive(payload))\n",
            ),
        ),
        (BREAK + "test_whatsapp_webhook_is_answered_200_only_once_its_messages_are_stored",),
    ),
    Mutation(
        "polling-offset-before-storing",
        "1 nothing acknowledged is lost",
        "polling moves its offset past the updates before storing them",
        (
            Edit(
                "bot/channels/telegram/polling.py",
                "                    await self._store_in_order(updates)\n"
                "                    offset = updates[-1].update_id + 1\n",
                "                    offset = updates[-1].update_id + 1\n"
                "                    await self._store_in_order(updates)\n",
            ),
        ),
        (BREAK + "test_polling_does_not_confirm_an_update_it_could_not_store",),
    ),
    Mutation(
        "no-recovery-at-start",
        "1 nothing acknowledged is lost",
        "a start no longer re-processes the inbox rows a crashed process stored",
        (
            Edit(
                "bot/engine.py",
                "        self.pipeline.start()\n        await self.recover()\n",
                "        self.pipeline.start()\n",
            ),
        ),
        (ENGINE + "test_killed_after_inbox_commit_is_answered_once_on_restart",),
    ),
    Mutation(
        "inbox-unique-key-ignored",
        "2 no duplicate effect",
        "the inbox key of a message changes with each delivery: a re-delivery looks new",
        (
            Edit(
                "bot/rows.py",
                "inbound.channel, pseudonyms.of(inbound.external_id), inbound.key",
                "inbound.channel, pseudonyms.of(inbound.external_id + secrets.token_hex(4)), inbound.key",
            ),
        ),
        (
            ENGINE + "test_same_external_message_twice_has_one_effect",
            ENGINE + "test_duplicates_racing_in_one_batch_have_one_effect",
            TELEGRAM + "test_the_webhook_stores_before_answering_and_refuses_forgeries",
        ),
    ),
    Mutation(
        "conversation-queue-bypassed",
        "3 one conversation, one writer (in a process)",
        "each message is processed in its own transaction at once, not in its conversation's turn",
        (
            Edit(
                "bot/engine.py",
                "        outcome = await asyncio.wait_for(\n"
                "            self.pipeline.process(inbound.key, _Work(None, inbound)), self.accept_timeout\n"
                "        )\n",
                "        async with self.database.begin() as connection:\n"
                "            (outcome,) = await self._process_batch(connection, [_Work(None, inbound)])\n",
            ),
        ),
        (
            BREAK + "test_a_burst_sent_at_once_equals_its_serial_replay",
            ENGINE + "test_twenty_messages_at_once_are_processed_in_order",
        ),
    ),
    Mutation(
        "advisory-lock-not-taken",
        "3 one conversation, one writer (across processes)",
        "the PostgreSQL advisory lock of a conversation is not taken",
        (
            Edit(
                "storage/conversations.py",
                '"SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[]))"',
                '"SELECT k FROM unnest(CAST(:keys AS bigint[]))"',
            ),
        ),
        (BREAK + "test_two_processes_on_one_conversation_are_one_writer",),
    ),
    Mutation(
        "state-and-replies-in-two-transactions",
        "4 state and replies commit together",
        "the replies are written in a second transaction, after the state's commit",
        (
            Edit(
                "bot/engine.py",
                "            await store.save_batch(connection, writes)\n",
                '            self.replies_later = [m for m in writes.messages if m["direction"] == "out"]\n'
                '            writes.messages = [m for m in writes.messages if m["direction"] != "out"]\n'
                "            await store.save_batch(connection, writes)\n",
            ),
            Edit(
                "bot/pipeline.py",
                PROCESSED,
                PROCESSED
                + '        later = getattr(getattr(self._process, "__self__", None), "replies_later", None)\n'
                "        if later:\n"
                "            from storage.tables import messages as replies_table\n"
                "\n"
                "            self._process.__self__.replies_later = []\n"
                "            async with self._database.begin() as connection:\n"
                "                await connection.execute(sa.insert(replies_table), later)\n",
            ),
        ),
        (BREAK + "test_a_reply_that_cannot_be_stored_leaves_the_state_as_it_was",),
    ),
    Mutation(
        "outbox-sent-before-sending",
        "4 sending is at-least-once",
        "a row is recorded as sent before its channel is asked to send it (a failed send is lost)",
        (
            Edit(
                "bot/outbox/sender.py",
                DELIVER,
                "            note(Outcomes(sent=[Sent(row.id, None, None)]))\n" + DELIVER,
            ),
        ),
        (OUTBOX + "test_a_later_reply_waits_for_an_earlier_one_in_backoff",),
    ),
    Mutation(
        "outbox-sent-never-recorded",
        "4 a sent row is not sent again",
        "what the channel sent is never recorded: the row goes out again when its lease ends",
        (
            Edit(
                "bot/outbox/sender.py",
                "            await record_sent(connection, results.sent, now)\n",
                "            await record_sent(connection, [], now)\n",
            ),
        ),
        (OUTBOX + "test_a_later_reply_waits_for_an_earlier_one_in_backoff",),
    ),
    Mutation(
        "outbox-recipient-not-exclusive",
        "4 per-recipient order (one process at a time per recipient)",
        "a recipient's rows are leased even while an earlier one of theirs is held or backing off",
        (
            Edit(
                "storage/outbox.py",
                "        sa.tuple_(messages.c.channel, messages.c.party).not_in(held),\n",
                "",
            ),
        ),
        # (test_outbox_processes.py's three processes still read in order with this mutation.)
        (OUTBOX + "test_a_later_reply_waits_for_an_earlier_one_in_backoff",),
    ),
    Mutation(
        "outbox-lease-not-taken",
        "4 a sent row is not sent again (across processes)",
        "leasing a row does not move it out of the others' reach: two processes send it",
        (
            Edit(
                "storage/outbox.py",
                ".values(available_at=now + lease, attempts=messages.c.attempts + 1)",
                ".values(available_at=now, attempts=messages.c.attempts + 1)",
            ),
        ),
        (
            "tests/integration/test_outbox_processes.py::test_three_processes_send_every_reply_once_and_in_order",
        ),
    ),
    Mutation(
        "claim-without-condition",
        "5 ownership is one field (claims are one conditional UPDATE)",
        "a lifecycle move (a claim) updates the case whatever its status (no WHERE status IN sources)",
        (
            Edit(
                "storage/cases.py",
                "sa.update(cases).where(cases.c.id == case_id, cases.c.status.in_(list(transition.sources)))",
                "sa.update(cases).where(cases.c.id == case_id)",
            ),
        ),
        ("tests/integration/test_console.py::test_two_operators_racing_for_the_same_case_one_wins",),
    ),
    Mutation(
        "bot-speaks-without-owning",
        "5 the bot's flow never speaks unless it owns the conversation",
        "the intake flow answers whoever owns the conversation",
        (
            Edit(
                "bot/engine.py",
                '        if convo.owner == "bot":\n            context',
                "        if True:\n            context",
            ),
        ),
        (ENGINE + "test_bot_is_silent_when_it_does_not_own_the_conversation",),
    ),
    Mutation(
        "rate-limiter-does-not-wait",
        "6 outbound limits are respected (pace)",
        "the rate limiter lets every send go at once",
        (
            Edit(
                "bot/ratelimit.py",
                "        self._forget_idle(self.clock())\n        log = self._chat(chat)\n",
                "        return\n        self._forget_idle(self.clock())\n        log = self._chat(chat)\n",
            ),
        ),
        ("tests/unit/test_telegram.py::test_one_chat_gets_a_short_burst_then_one_message_a_second",),
    ),
    Mutation(
        "retry-after-ignored",
        "6 outbound limits are respected (429 retry_after)",
        "a Telegram 429 neither pauses the chat nor delays the row by its retry_after",
        (
            Edit(
                "bot/channels/telegram/outbound.py",
                "            self.limiter.pause(chat, error.retry_after)\n"
                '            raise DeliveryError("telegram 429", retry_after=error.retry_after, '
                "progress=progress) from None\n",
                '            raise DeliveryError("telegram 429", progress=progress) from None\n',
            ),
        ),
        (TELEGRAM + "test_a_429_storm_loses_nothing_and_sends_nothing_before_retry_after",),
    ),
    Mutation(
        "whatsapp-window-ignored",
        "6 outbound limits are respected (WhatsApp 24-hour window)",
        "the 24-hour window is taken as always open: free text goes out where only a template may",
        (
            Edit(
                "bot/windows.py",
                "    return closes is not None and now < closes\n",
                "    return True\n",
            ),
        ),
        (WHATSAPP + "test_a_whole_conversation_then_an_operator_reply_inside_and_outside_the_window",),
    ),
    Mutation(
        "telegram-secret-not-checked",
        "7 every webhook is authenticated (Telegram)",
        "the Telegram webhook takes an update whatever its secret token",
        (
            Edit(
                "bot/channels/telegram/webhook.py",
                "        if not expected or not hmac.compare_digest(given, expected):\n",
                "        if not expected:\n",
            ),
        ),
        (TELEGRAM + "test_the_webhook_stores_before_answering_and_refuses_forgeries",),
    ),
    Mutation(
        "whatsapp-signature-not-checked",
        "7 every webhook is authenticated (WhatsApp)",
        "the WhatsApp webhook takes a body whatever its signature (the header need only be there)",
        (
            Edit(
                "bot/channels/whatsapp/webhook.py",
                "        if not signed(body, request.headers.get(SIGNATURE_HEADER), secret):\n",
                "        if False:\n",
            ),
        ),
        (WHATSAPP + "test_forged_unsigned_or_tampered_webhooks_store_nothing",),
    ),
)


def tree_files() -> list[str]:
    """The working tree as it is: tracked files (as edited now) and new files not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def copy_tree(target: Path) -> None:
    for name in tree_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy)  # subprocesses the tests start import the copy too
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a restored file is never served from a stale .pyc
    env.pop("PYTEST_ADDOPTS", None)
    return env


PROBE = (
    "import sys, bot, flows, storage, tests;"
    "print('\\n'.join(m.__file__ for m in (bot, flows, storage, tests)))"
)


def check_imports(copy: Path, python: str) -> None:
    """The copy, not the checkout (installed in .venv as editable), is what the tests import."""
    found = subprocess.run(  # noqa: S603
        [python, "-c", PROBE], cwd=copy, env=environment(copy), check=True, capture_output=True, text=True
    ).stdout.split()
    stray = [path for path in found if not Path(path).resolve().is_relative_to(copy.resolve())]
    if stray:
        raise SystemExit(f"the copy is not what gets imported: {stray}")


def run_tests(
    copy: Path, python: str, tests: tuple[str, ...], *, stop_first: bool
) -> tuple[int, int, str, str]:
    """(exit code, failed count, first failed test, output tail); exit code -1 on timeout."""
    command = [python, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider", "-o", "addopts="]
    if stop_first:
        command.append("-x")
    try:
        done = subprocess.run(  # noqa: S603
            command, cwd=copy, env=environment(copy), capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired as timeout:
        out = timeout.stdout.decode() if isinstance(timeout.stdout, bytes) else (timeout.stdout or "")
        return -1, 0, "", out[-2000:]
    out = done.stdout + done.stderr
    summaries = [
        line for line in out.splitlines() if re.search(r"\b(passed|failed|errors?)\b.* in [\d.]+s", line)
    ]
    summary = summaries[-1] if summaries else ""
    failed = sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)\b", summary))
    first = next(iter(re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.MULTILINE)), "")
    return done.returncode, failed, first, out[-2000:]


def apply(copy: Path, mutation: Mutation) -> dict[Path, str] | str:
    """Apply the edits; the original texts to restore, or why the mutation cannot be applied."""
    originals: dict[Path, str] = {}
    for edit in mutation.edits:
        path = copy / edit.path
        if not path.exists():
            return f"{edit.path} not found"
        text = originals.get(path) or path.read_text(encoding="utf-8")
        originals.setdefault(path, text)
        current = path.read_text(encoding="utf-8")
        count = current.count(edit.old)
        if count != 1:
            restore(originals)
            return f"old text found {count} times in {edit.path} (expected once): update the mutation"
        path.write_text(current.replace(edit.old, edit.new), encoding="utf-8")
    for path in originals:
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as error:
            restore(originals)
            return f"the mutated {path.name} does not compile: {error}"
    return originals


def restore(originals: dict[Path, str]) -> None:
    for path, text in originals.items():
        path.write_text(text, encoding="utf-8")


def try_mutation(copy: Path, python: str, mutation: Mutation) -> Outcome:
    started = time.monotonic()
    applied = apply(copy, mutation)
    if isinstance(applied, str):
        return Outcome(mutation, "STALE", notes=[applied])
    try:
        code, failed, first, tail = run_tests(copy, python, mutation.tests, stop_first=True)
    finally:
        restore(applied)
    outcome = Outcome(mutation, "", failed, first, time.monotonic() - started)
    if code == -1:
        outcome.verdict, outcome.notes = "TIMEOUT", [tail]
    elif code == 0:
        outcome.verdict = "NOT CAUGHT"
    elif code == 1 and failed:
        outcome.verdict = "caught"
    else:  # collection errors, usage errors, a crash: the tests did not judge the mutation
        outcome.verdict, outcome.notes = "BROKEN", [tail]
    return outcome


def report(outcomes: list[Outcome]) -> str:
    width = max(len(o.mutation.name) for o in outcomes)
    lines = [f"{'mutation':<{width}}  {'verdict':<30}  seconds  first failing test", "-" * (width + 80)]
    for o in outcomes:
        verdict = (
            f"caught by {o.failed} failing test{'s' * (o.failed != 1)}"
            if o.verdict == "caught"
            else o.verdict
        )
        lines.append(f"{o.mutation.name:<{width}}  {verdict:<30}  {o.seconds:7.1f}  {o.first}")
        lines += [f"    {note}" for o in [o] for note in o.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="describe the mutations and stop")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutations only")
    parser.add_argument("--markdown", action="store_true", help="the list as a table, for the docs")
    parser.add_argument("--keep", action="store_true", help="keep the copy of the tree")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(set(args.only)):
        parser.error(f"unknown mutation among {args.only}")
    if args.markdown:
        print("| mutation | invariant broken | what it does | file | caught by |")
        print("|---|---|---|---|---|")
        for m in chosen:
            files = ", ".join(dict.fromkeys(f"`{e.path}`" for e in m.edits))
            tests = "<br>".join(f"`{t.removeprefix('tests/')}`" for t in m.tests)
            print(f"| `{m.name}` | {m.invariant} | {m.breaks} | {files} | {tests} |")
        return 0
    if args.list:
        for m in chosen:
            print(f"{m.name}\n  breaks invariant {m.invariant}: {m.breaks}")
            for edit in m.edits:
                print(f"  in {edit.path}")
            for test in m.tests:
                print(f"  caught by {test}")
        return 0
    python = sys.executable
    copy = Path(tempfile.mkdtemp(prefix="optibot-mutants-"))
    try:
        copy_tree(copy)
        check_imports(copy, python)
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        print(f"copy: {copy}; the {len(tests)} targeted tests first run unchanged...", flush=True)
        started = time.monotonic()
        code, failed, first, tail = run_tests(copy, python, tests, stop_first=False)
        if code != 0:
            print(tail)
            print(f"the targeted tests do not pass on the unmutated tree ({failed} failed: {first})")
            return 2
        print(f"they pass ({time.monotonic() - started:.0f} s); now each mutation:", flush=True)
        outcomes = []
        for mutation in chosen:
            outcome = try_mutation(copy, python, mutation)
            print(
                f"  {mutation.name}: {outcome.verdict} ({outcome.seconds:.0f} s) {outcome.first}", flush=True
            )
            outcomes.append(outcome)
    finally:
        if args.keep:
            print(f"kept {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)
    print()
    print(report(outcomes))
    survivors = [o for o in outcomes if o.verdict != "caught"]
    print(f"\n{len(outcomes) - len(survivors)} of {len(outcomes)} mutations caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
