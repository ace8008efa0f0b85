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

A long run: ``OPTIBOT_STATEFUL_EXAMPLES=200 OPTIBOT_STATEFUL_REPORT=1 pytest -s <this file>``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import Counter, defaultdict
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
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

from bot.app import Services
from bot.console.auth import Operator
from bot.errors import RefusedError
from bot.messages import Accepted, Inbound
from flows.lifecycle import OPEN_STATES
from flows.types import ClientInput
from storage.tables import cases, conversations, identities, inbox, messages
from tests.conftest import PostgresTemplate
from tests.stateful_support import Databases, Node, ProcessDiedError, history, normalised, read

T = TypeVar("T")

SETTINGS = settings(
    max_examples=int(os.environ.get("OPTIBOT_STATEFUL_EXAMPLES", "15")),
    stateful_step_count=25,
    deadline=None,
    derandomize=True,  # the same examples in every run (and in CI)
    database=None,
    suppress_health_check=list(HealthCheck),
)

CLIENTS = (("script", "ana"), ("script", "bob"), ("terminal", "bob"))
OPERATORS = (
    Operator(row_id=1, id="op-claire", name="claire", role="operator"),
    Operator(row_id=2, id="op-david", name="david", role="operator"),
)
PATHS = ("handle", "webhook", "submit")
OWNERS = ("bot", "queue", "operator", "closed")

# Answers the flow understands at each step (to get deep into it: cases, hand-off, follow-up).
GOOD_ANSWERS = {
    "greeting": ["mes lunettes sont cassées", "j'ai perdu mes lunettes", "bonjour"],
    "need": ["mes lunettes sont cassées", "j'ai perdu mes lunettes", "autre chose"],
    "prescription": ["je n'ai pas d'ordonnance"],
    "urgency": ["oui", "non"],
    "priority": ["infirmière", "non"],
    "mode": ["par la poste", "à domicile"],
    "visit_consent": ["oui"],
    "visit_address": ["12 rue Oberkampf 75011 Paris"],
    "visit_slot": ["demain matin"],
    "shipping_address": ["8 avenue Jean Jaurès 69007 Lyon"],
    "contact_name": ["Jean Dupont"],
    "contact_phone": ["06 98 76 54 32"],
    "summary": ["oui", "changer l'adresse"],
    "waitlist_offer": ["oui", "conseiller"],
    "handed_off": ["vous êtes là ?", "annuler", "oui", "non", "nouvelle demande", "conseiller"],
}
# Anything else a client says: commands, hand-off, noise, buttons (fresh, stale or tampered).
SAID = st.one_of(
    st.sampled_from(
        [
            "bonjour",
            "conseiller",
            "je veux parler à un conseiller",
            "annuler",
            "oui",
            "non",
            "nouvelle demande",
            "aide",
            "recommencer",
            "english",
            "français",
            "mes données",
            "vous êtes là ?",
            "zzz qwerty",
            "😀",
        ]
    ).map(lambda text: ClientInput(text=text)),
    st.sampled_from(
        [
            ("need", "broken"),
            ("urgency", "yes"),
            ("priority", "none"),
            ("mode", "shipment"),
            ("summary", "confirm"),
            ("waitlist_offer", "advisor"),
            ("need", "not-a-choice"),
        ]
    ).map(lambda pressed: ClientInput(step=pressed[0], choice=pressed[1])),
    st.just(ClientInput(unsupported="sticker")),
)
A_CLIENT = st.sampled_from(CLIENTS)


@dataclass(frozen=True)
class Well:
    """A good answer to the step the client's conversation is at when the message is written."""

    pick: int


# Mostly good answers (to get deep into the flow: cases, hand-off, follow-up), else anything.
A_SAYING = st.one_of(
    st.integers(0, 63).map(Well),
    st.integers(0, 63).map(Well),
    st.just(ClientInput(text="conseiller")),  # a case early: operators get to work
    SAID,
)
A_PATH = st.sampled_from(PATHS)
A_PICK = st.integers(0, 63)


@dataclass(eq=False)
class Sent:
    """A message a client sent; ``acked``: a delivery of it was acknowledged (the platform will
    not send it again), ``fresh``: how many deliveries were stored as new (never more than one)."""

    inbound: Inbound
    acked: bool = False
    fresh: int = 0
    tried: int = 0  # when it was first delivered, and first acknowledged (the machine's clock)
    acked_at: int | None = None


@dataclass(frozen=True)
class OperatorStep:
    """An operator's action on a client's case, after ``after`` of the client's messages."""

    key: str
    after: int
    case: int  # the case's rank among the client's cases
    action: str
    who: int
    outcome: str


# What the examples exercised (cases reached, operator outcomes, messages left to the sweep).
TALLY: Counter[str] = Counter()


class EngineMachine(RuleBasedStateMachine):
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

    async def _write(self, client: tuple[str, str], saying: ClientInput | Well) -> Sent:
        if isinstance(saying, Well):
            options = GOOD_ANSWERS.get(await self._state_of(client), ["bonjour"])
            saying = ClientInput(text=options[saying.pick % len(options)])
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
    def send(self, client: tuple[str, str], saying: ClientInput | Well, path: str, hold: bool) -> None:
        sent = self._step(self._write(client, saying))
        if hold:  # the platform delivers it later, after messages the client sent after it
            self.held.append(sent)
            return
        self._step(self._deliver(sent, path))

    @rule(pick=A_PICK, path=A_PATH)
    def deliver_held(self, pick: int, path: str) -> None:
        if not self.held:  # no precondition: what is held depends on timing, draws must not
            return
        sent = self.held.pop(pick % len(self.held))
        self._step(self._deliver(sent, path))

    @precondition(lambda self: self.sent)
    @rule(pick=A_PICK, path=A_PATH)
    def redeliver(self, pick: int, path: str) -> None:
        everything = list(self.sent.values())
        self._step(self._deliver(everything[pick % len(everything)], path))

    @rule(
        news=st.lists(st.tuples(A_CLIENT, A_SAYING), min_size=1, max_size=4),
        again=st.lists(A_PICK, max_size=2),
        paths=st.lists(A_PATH, min_size=1, max_size=4),
    )
    def burst(
        self, news: list[tuple[tuple[str, str], ClientInput | Well]], again: list[int], paths: list[str]
    ) -> None:
        """Everything held, new messages and re-deliveries (maybe of those same ones), at once."""
        batch = self.held + [self._step(self._write(client, saying)) for client, saying in news]
        self.held = []
        everything = list(self.sent.values())
        batch += [everything[pick % len(everything)] for pick in again]
        self._step(self._together([(sent, paths[n % len(paths)]) for n, sent in enumerate(batch)]))

    @rule(
        news=st.lists(st.tuples(A_CLIENT, A_SAYING), min_size=1, max_size=4),
        again=st.lists(A_PICK, max_size=2),
        paths=st.lists(A_PATH, min_size=1, max_size=4),
        sides=st.lists(st.booleans(), min_size=1, max_size=4),
    )
    def two_processes(
        self,
        news: list[tuple[tuple[str, str], ClientInput | Well]],
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
    def claim(self, who: int, pick: int) -> None:
        self._step(self._operate_on_pick("claim", who, pick))

    @rule(action=st.sampled_from(["reply", "release", "handback"]), who=st.integers(0, 1), pick=A_PICK)
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
    def crash_after_accept(self, client: tuple[str, str], saying: ClientInput | Well) -> None:
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
        news=st.lists(st.tuples(A_CLIENT, A_SAYING), min_size=1, max_size=4),
        paths=st.lists(A_PATH, min_size=1, max_size=4),
        when=st.integers(-1, 6),
        whole=st.booleans(),
    )
    def crash_mid_flight(
        self, news: list[tuple[tuple[str, str], ClientInput | Well]], paths: list[str], when: int, whole: bool
    ) -> None:
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
            await asyncio.wait([signal, everything], return_when=asyncio.FIRST_COMPLETED)
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

    async def _check(self) -> None:
        node = self.node
        hashed = node.live.engine.pseudonyms.of
        abandoned = {(self.sent[i].inbound.channel, hashed(i)) for i in self.abandoned}
        TALLY["swept"] += await node.drain(lambda channel, external: (channel, external) in abandoned)
        await node.flush()
        services = node.live
        box, said, convos, idents, found = await read(
            services, inbox, messages, conversations, identities, cases
        )
        keys = {i.id: i.key for i in idents}
        self._check_inbox(services, box)
        self.processed = self._check_transcript(
            services, box, said, {c.id: keys[c.identity_id] for c in convos}
        )
        self._check_causal_order()
        self._check_outbox(said)
        self._check_ownership(convos, found, idents)

    def _check_inbox(self, services: Services, box: list[Any]) -> None:
        hashed = services.engine.pseudonyms.of
        known = {(s.inbound.channel, hashed(i)): s for i, s in self.sent.items()}
        stored = Counter((r.channel, r.external_id) for r in box)
        assert all(n == 1 for n in stored.values()), "a message is stored twice in the inbox"
        for row in box:
            assert (row.channel, row.external_id) in known, "an inbox row no client sent"
            assert row.processed_at is not None, "a stored message was never processed"
            assert row.error is None, f"a message failed: {row.error}"
        lost = [s.inbound.external_id for k, s in known.items() if s.acked and not stored[k]]
        assert not lost, f"acknowledged and lost: {lost}"

    def _check_transcript(
        self, services: Services, box: list[Any], said: list[Any], owner_of: dict[int, str]
    ) -> dict[str, list[Sent]]:
        """Each stored message is in its client's transcript once; returns each client's messages
        in the order they were processed (the transcript's). In one process that is the inbox's
        order; across processes, messages stored at the same time are handled in the order their
        stores commit, which the ids (drawn before the commits) need not follow."""
        hashed = services.engine.pseudonyms.of
        by_hash = {(s.inbound.channel, hashed(i)): s for i, s in self.sent.items()}
        stored: dict[str, list[Any]] = defaultdict(list)
        waiting: dict[tuple[str, Any], list[Sent]] = defaultdict(list)
        for row in box:
            fields = dict(row.payload["said"])
            heard_as = (fields.pop("text", None), fields)
            stored[row.identity_key].append(heard_as)
            waiting[(row.identity_key, repr(heard_as))].append(by_hash[(row.channel, row.external_id)])
        heard: dict[str, list[Any]] = defaultdict(list)
        for m in said:
            if m.direction == "in":
                rest = m.payload or {}
                heard[owner_of[m.conversation_id]].append((None, rest) if rest else (m.text, {}))
        if self.shared:
            assert {k: sorted(map(repr, v)) for k, v in heard.items()} == {
                k: sorted(map(repr, v)) for k, v in stored.items()
            }
        else:
            assert heard == stored
        # Identical messages are told apart by the inbox's order (either reads the same).
        return {key: [waiting[(key, repr(h))].pop(0) for h in said_] for key, said_ in heard.items()}

    def _check_causal_order(self) -> None:
        """A message acknowledged before another was first sent is processed before it."""
        for key, processed in self.processed.items():
            for n, later in enumerate(processed):
                for earlier in processed[n + 1 :]:
                    acked = earlier.acked_at
                    assert acked is None or acked > later.tried, f"{key}: processed out of order"

    def _check_outbox(self, said: list[Any]) -> None:
        """Every reply delivered once, in order, to its recipient."""
        replies: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for m in said:
            if m.direction == "out":
                assert m.sent_at is not None, "a committed reply was not delivered"
                reply = (str((m.payload or {}).get("key")), normalised(m.text))
                replies.setdefault((m.channel, m.party), []).append(reply)
        assert self.node.delivered() == replies

    def _check_ownership(self, convos: list[Any], found: list[Any], idents: list[Any]) -> None:
        live = defaultdict(list)
        for case in found:
            if case.status in OPEN_STATES:
                live[case.conversation_id].append(case)
        for convo in convos:
            theirs = live[convo.id]
            assert len(theirs) <= 1, "two live cases in one conversation"
            assert convo.owner in OWNERS
            if convo.owner == "bot":
                assert not theirs, "the bot talks in a conversation with a live case"
            elif convo.owner == "queue":
                assert theirs, "in the queue without a live case"
                assert theirs[0].status == "queued", "in the queue, its case not"
            elif convo.owner == "operator":
                assert theirs, "with an operator without a live case"
                assert theirs[0].claimed_by == convo.operator, "held by someone else"
                assert theirs[0].status in ("claimed", "dispatched")
        for ident in idents:
            open_ = [c.id for c in convos if c.identity_id == ident.id and c.owner != "closed"]
            assert len(open_) <= 1, "two open conversations for one client"
            assert not open_ or ident.conversation_id == open_[0]

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

    async def _compare_with_replay(self) -> None:
        services = self.node.live
        processed = self.processed
        original = await history(services)
        url, data = await self.databases.fresh()
        twin = Node(url, data)
        await twin.start()
        try:
            for key, said in processed.items():
                steps = [s for s in self.operator_steps if s.key == key]
                for position, sent in enumerate([*said, None]):
                    for step in (s for s in steps if s.after == position):
                        await self._replay_operator(twin, step)
                    if sent is not None:
                        accepted = await twin.live.engine.handle(sent.inbound)
                        assert not accepted.duplicate
            await twin.flush()
            replayed = await history(twin.live)
            for key in original:
                assert original[key] == replayed.get(key), f"{key} differs from its serial replay"
            assert self.node.delivered() == twin.delivered(), "deliveries differ from the serial replay"
        finally:
            await twin.crash()
        TALLY["examples"] += 1
        TALLY["messages processed"] += sum(map(len, processed.values()))
        TALLY.update(f"{s.action} {s.outcome}" for s in self.operator_steps)
        TALLY.update(f"case {case[2]}" for h in original.values() for case in h["cases"])

    async def _replay_operator(self, twin: Node, step: OperatorStep) -> None:
        services = twin.live
        idents, convos, found = await read(services, identities, conversations, cases)
        keys = {i.id: i.key for i in idents}
        owners = {c.id: keys[c.identity_id] for c in convos}
        theirs = [c for c in found if owners[c.conversation_id] == step.key]
        assert step.case < len(theirs), f"{step.key}: the replay has fewer cases"
        outcome = await operate(services, step.action, OPERATORS[step.who], theirs[step.case].public_id)
        assert outcome == step.outcome, f"{step}: {outcome} in the replay"

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


async def operate(services: Services, action: str, me: Operator, public_id: str) -> str:
    """An operator's action through the console service: "ok", or the status it was refused with."""
    console = services.console
    try:
        if action == "reply":
            await console.reply(me, public_id, "Bonjour, je m'occupe de votre demande.")
        else:
            await getattr(console, action)(me, public_id)
    except RefusedError as refused:
        return f"refused {refused.status}"
    return "ok"


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
