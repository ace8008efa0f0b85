"""The engine under any interleaving, on SQLite and PostgreSQL (Hypothesis stateful test).

A few clients write on two channels; their messages are delivered by the three paths channels use
(``handle``, ``accept`` then ``process``, ``submit``), held back and delivered later (reordered),
delivered again (re-deliveries, racing or not), in concurrent bursts; operators claim, answer,
release and hand back cases through the console service; the process dies with a message stored
and not processed, or at any point of a burst, and a new one takes over the database (``recover``).

After each step: nothing acknowledged is lost, nothing is doubled (inbox, transcript, outbox
deliveries), a conversation has at most one live case and its owner agrees with that case. At the
end, each client's history equals its serial replay: the messages their conversation actually
processed, in the inbox's order, with the operators' actions where they happened, handled one at
a time by a fresh process on a fresh database.

A long run: ``OPTIBOT_STATEFUL_EXAMPLES=200 OPTIBOT_STATEFUL_REPORT=1 pytest -s <this file>``
(``OPTIBOT_STATEFUL_STEPS`` sets the steps of an example, 25 by default). The rules are here, what
they draw from in ``tests/stateful_model.py``, the checks after each step in
``tests/stateful_checks.py``, the serial replay in ``tests/stateful_replay.py``, the processes and
databases in ``tests/stateful_support.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bot.messages import Accepted, Inbound
from flows.types import ClientInput
from storage.tables import cases, conversations, identities, inbox
from tests.conftest import PostgresTemplate
from tests.stateful_checks import Checks
from tests.stateful_model import (
    A_CLIENT,
    A_PATH,
    A_PICK,
    A_SAYING,
    GOOD_ANSWERS,
    NEWS,
    OPERATORS,
    RULES,
    TALLY,
    News,
    OperatorStep,
    Saying,
    Sent,
    Well,
    counted,
    operate,
)
from tests.stateful_replay import Replay
from tests.stateful_support import Databases, Node, ProcessDiedError, read

T = TypeVar("T")

DEFAULT_EXAMPLES = 10
# CI's run: every rule runs (asserted at the end), in about 20 s on SQLite and 25 s on PostgreSQL
# on a loaded machine. Longer runs draw more examples (``OPTIBOT_STATEFUL_EXAMPLES``).
SETTINGS = settings(
    max_examples=int(os.environ.get("OPTIBOT_STATEFUL_EXAMPLES", DEFAULT_EXAMPLES)),
    stateful_step_count=int(os.environ.get("OPTIBOT_STATEFUL_STEPS", "25")),
    deadline=None,
    derandomize=True,  # the same examples in every run (and in CI)
    database=None,
    suppress_health_check=list(HealthCheck),
)


class EngineMachine(Checks, Replay, RuleBasedStateMachine):
    databases: Databases  # set by the test: fresh databases of one kind

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.failing = False
        url, data = self.loop.run_until_complete(self.databases.fresh())
        self.node = Node(url, data)
        self.loop.run_until_complete(self.node.start())
        self.sent: dict[str, Sent] = {}
        self.held: list[Sent] = []
        self.operator_steps: list[OperatorStep] = []
        self.numbers = itertools.count(1)
        self.ticks = itertools.count(1)
        self.processed: dict[str, list[Sent]] = {}  # each client's messages, as processed
        self.shared = False  # a second process took part (PostgreSQL)
        self.acks = asyncio.Event()
        self.abandoned: set[str] = set()  # messages whose caller gave up (no crash)

    def _step(self, work: Coroutine[Any, Any, T]) -> T:
        """Run one step on the machine's event loop; a step that raises leaves ``failing`` set,
        so that the teardown does not bury its error under the final comparison's."""
        self.failing = True
        result = self.loop.run_until_complete(work)
        self.failing = False
        return result

    # --- what clients do --------------------------------------------------------------------------

    async def _write(self, client: tuple[str, str], saying: Saying) -> Sent:
        if isinstance(saying, Well):
            state = await self._state_of(client)
            options = GOOD_ANSWERS.get(state, ["bonjour"])
            option = options[saying.pick % len(options)]
            TALLY[f"answered at {state}"] += 1
            saying = option if isinstance(option, ClientInput) else ClientInput(text=option)
        return self._compose(client, saying)

    def _compose(self, client: tuple[str, str], said: ClientInput) -> Sent:
        channel, user = client
        external_id = f"{channel}-{next(self.numbers)}"
        sent = Sent(Inbound(channel, user, external_id, said))
        self.sent[external_id] = sent
        return sent

    async def _deliver(self, sent: Sent, path: str, node: Node | None = None) -> None:
        """One delivery of a message by a channel; acknowledged when the engine says so."""
        engine = (node or self.node).live.engine
        acked_before = sent.acked
        sent.tried = sent.tried or next(self.ticks)
        if path == "handle":
            accepted = await engine.handle(sent.inbound)
            self._acknowledged(sent, accepted, acked_before)
        elif path == "webhook":
            accepted = await engine.accept(sent.inbound)
            self._acknowledged(sent, accepted, acked_before)
            await engine.process(accepted, sent.inbound)
        else:
            accepted = await engine.submit(sent.inbound)
            self._acknowledged(sent, accepted, acked_before)

    def _acknowledged(self, sent: Sent, accepted: Accepted, acked_before: bool) -> None:
        external_id = sent.inbound.external_id
        if acked_before:
            assert accepted.duplicate, f"re-delivery of acknowledged {external_id} stored again"
        if not accepted.duplicate:
            sent.fresh += 1
            assert sent.fresh == 1, f"{external_id} stored as new {sent.fresh} times"
        sent.acked = True
        sent.acked_at = sent.acked_at or next(self.ticks)
        self.acks.set()

    async def _together(self, deliveries: list[tuple[Sent, str]]) -> None:
        await asyncio.gather(*(self._deliver(sent, path) for sent, path in deliveries))

    @rule(client=A_CLIENT, saying=A_SAYING, path=A_PATH, hold=st.booleans())
    @counted
    def send(self, client: tuple[str, str], saying: Saying, path: str, hold: bool) -> None:
        sent = self._step(self._write(client, saying))
        if hold:  # the platform delivers it later, after messages the client sent after it
            self.held.append(sent)
            return
        self._step(self._deliver(sent, path))

    @rule(pick=A_PICK, path=A_PATH)
    @counted
    def deliver_held(self, pick: int, path: str) -> None:
        if not self.held:  # no precondition: what is held depends on timing, draws must not
            return
        sent = self.held.pop(pick % len(self.held))
        self._step(self._deliver(sent, path))

    @precondition(lambda self: self.sent)
    @rule(pick=A_PICK, path=A_PATH)
    @counted
    def redeliver(self, pick: int, path: str) -> None:
        everything = list(self.sent.values())
        self._step(self._deliver(everything[pick % len(everything)], path))

    @rule(
        news=NEWS,
        again=st.lists(A_PICK, max_size=2),
        paths=st.lists(A_PATH, min_size=1, max_size=4),
    )
    @counted
    def burst(self, news: News, again: list[int], paths: list[str]) -> None:
        """Everything held, new messages and re-deliveries (maybe of those same ones), at once."""
        batch = self.held + [self._step(self._write(client, saying)) for client, saying in news]
        self.held = []
        everything = list(self.sent.values())
        batch += [everything[pick % len(everything)] for pick in again]
        self._step(self._together([(sent, paths[n % len(paths)]) for n, sent in enumerate(batch)]))

    @rule(
        news=NEWS,
        again=st.lists(A_PICK, max_size=2),
        paths=st.lists(A_PATH, min_size=1, max_size=4),
        sides=st.lists(st.booleans(), min_size=1, max_size=4),
    )
    @counted
    def two_processes(
        self,
        news: News,
        again: list[int],
        paths: list[str],
        sides: list[bool],
    ) -> None:
        """PostgreSQL: a second process on the same database takes part of a burst (SQLite is
        one process by design: there the burst goes to the one process)."""
        batch = self.held + [self._step(self._write(client, saying)) for client, saying in news]
        self.held = []
        everything = list(self.sent.values())
        batch += [everything[pick % len(everything)] for pick in again]
        self._step(self._shared(batch, paths, sides))

    async def _shared(self, batch: list[Sent], paths: list[str], sides: list[bool]) -> None:
        other = (
            Node(self.node.url, self.node.data, self.node.clock)
            if self.databases.kind == "postgres"
            else None
        )
        if other is not None:
            self.shared = True
            TALLY["second process"] += 1
            await other.start()
        try:
            await asyncio.gather(
                *(
                    self._deliver(sent, paths[n % len(paths)], other if sides[n % len(sides)] else None)
                    for n, sent in enumerate(batch)
                )
            )
            if other is not None:  # it finishes what it took (``submit``) before it stops
                await other.settle()
        finally:
            if other is not None:
                await other.stop()

    # --- what operators do ------------------------------------------------------------------------

    @rule(who=st.integers(0, 1), pick=A_PICK)
    @counted
    def claim(self, who: int, pick: int) -> None:
        self._step(self._operate_on_pick("claim", who, pick))

    @rule(action=st.sampled_from(["reply", "release", "handback"]), who=st.integers(0, 1), pick=A_PICK)
    @counted
    def operate(self, action: str, who: int, pick: int) -> None:
        self._step(self._operate_on_pick(action, who, pick))

    async def _operate_on_pick(self, action: str, who: int, pick: int) -> None:
        services = self.node.live
        idents, convos, found, box = await read(services, identities, conversations, cases, inbox)
        keys = {i.id: i.key for i in idents}
        owners = {c.id: keys[c.identity_id] for c in convos}
        if not found:
            return
        # Mostly a case the action fits (a queued one to claim, one's own to work on); sometimes
        # any case, to be refused.
        fits = [
            c
            for c in found
            if (c.status == "queued" if action == "claim" else c.claimed_by == OPERATORS[who].name)
        ]
        case = fits[pick % len(fits)] if fits and pick % 4 else found[pick % len(found)]
        key = owners[case.conversation_id]
        rank = [c.id for c in found if owners[c.conversation_id] == key].index(case.id)
        after = sum(1 for r in box if r.identity_key == key)
        outcome = await operate(services, action, OPERATORS[who], case.public_id)
        self.operator_steps.append(OperatorStep(key, after, rank, action, who, outcome))

    # --- faults -----------------------------------------------------------------------------------

    @rule(client=A_CLIENT, saying=A_SAYING)
    @counted
    def crash_after_accept(self, client: tuple[str, str], saying: Saying) -> None:
        """The message is stored and acknowledged; the process dies before processing it."""
        sent = self._step(self._write(client, saying))

        async def scenario() -> None:
            sent.tried = next(self.ticks)
            accepted = await self.node.live.engine.accept(sent.inbound)
            self._acknowledged(sent, accepted, acked_before=False)
            await self.node.crash()
            await self.node.start()

        self._step(scenario())

    @rule(
        news=NEWS,
        paths=st.lists(A_PATH, min_size=1, max_size=4),
        when=st.integers(-1, 6),
        whole=st.booleans(),
    )
    @counted
    def crash_mid_flight(self, news: News, paths: list[str], when: int, whole: bool) -> None:
        """A burst is cut short: at its first acknowledgement (``when`` -1), at once (0), or just
        before the process's ``when``-th commit (which never happens), the whole process dies (then
        another starts), or only the callers give up waiting. What was not acknowledged, the
        platforms deliver again later."""
        batch = self.held + [self._step(self._write(client, saying)) for client, saying in news]
        self.held = []
        self._step(self._cut_short(batch, paths, when, whole))
        self.held = [sent for sent in batch if not sent.acked]

    async def _cut_short(self, batch: list[Sent], paths: list[str], when: int, whole: bool) -> None:
        self.acks.clear()
        if when > 0:
            self.node.arm(when, lethal=whole)
        tasks = [asyncio.create_task(self._deliver(s, paths[n % len(paths)])) for n, s in enumerate(batch)]
        if when != 0:
            signal = asyncio.ensure_future((self.acks if when < 0 else self.node.fused).wait())
            everything = asyncio.gather(*tasks, return_exceptions=True)
            waited: list[asyncio.Future[Any]] = [signal, everything]
            await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            signal.cancel()
        if whole:
            await self.node.crash()
            await self.node.start()
        else:
            self.node.disarm()
            for task in tasks:
                task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException) and not isinstance(
                outcome, (asyncio.CancelledError, ProcessDiedError)
            ):
                raise outcome
        if not whole:
            # What a caller gave up on may still be stored by the writer's round in flight: the
            # platform re-delivers the first message by webhook, which the writer takes after it.
            self.abandoned.update(s.inbound.external_id for s in batch if not s.acked)
            await self._deliver(batch[0], "webhook")

    # --- after each step --------------------------------------------------------------------------

    @invariant()
    def nothing_lost_or_doubled(self) -> None:
        self._step(self._check())

    # --- at the end -------------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            if not self.failing:
                self.loop.run_until_complete(self._finish())
        finally:
            self.loop.run_until_complete(self._close())
            self.loop.close()

    async def _finish(self) -> None:
        """The platforms deliver what they still hold; then compare with the serial replay."""
        for sent in self.held:
            await self._deliver(sent, "handle")
        self.held = []
        await self._check()
        lost = [i for i, s in self.sent.items() if not s.acked]
        assert not lost, f"never acknowledged: {lost}"
        await self._compare_with_replay()

    async def _close(self) -> None:
        await self.node.crash()

    # --- reading ----------------------------------------------------------------------------------

    async def _state_of(self, client: tuple[str, str]) -> str:
        services = self.node.live
        key = f"{client[0]}:{client[1]}"
        idents, convos = await read(services, identities, conversations)
        ident = [i for i in idents if i.key == key]
        if not ident:
            return "greeting"
        convo = [c for c in convos if c.id == ident[0].conversation_id]
        return str(convo[0].state) if convo else "greeting"


@pytest.fixture(params=["sqlite", "postgres"])
def databases(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_template: PostgresTemplate | str,
) -> Iterator[Databases]:
    if request.param == "postgres" and isinstance(postgres_template, str):
        pytest.skip(postgres_template)
    postgres = None if isinstance(postgres_template, str) else postgres_template
    databases = Databases(request.param, tmp_path, sqlite_template, postgres)
    yield databases
    asyncio.run(databases.drop_all())


def test_any_interleaving_keeps_every_message_once_and_equals_its_serial_replay(databases: Databases) -> None:
    machine = type("EngineMachine", (EngineMachine,), {"databases": databases})
    TALLY.clear()
    run_state_machine_as_test(machine, settings=SETTINGS)
    if os.environ.get("OPTIBOT_STATEFUL_REPORT"):  # what the run exercised, for the long runs
        print(f"\n{databases.kind}: {dict(sorted(TALLY.items()))}")
    if SETTINGS.max_examples >= DEFAULT_EXAMPLES:  # few examples, but no rule left out
        missed = [name for name in RULES if not TALLY[f"rule {name}"]]
        assert not missed, f"rules never run: {missed}"
        assert databases.kind != "postgres" or TALLY["second process"], "no second process took part"
