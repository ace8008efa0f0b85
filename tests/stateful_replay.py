"""The end of each example of the engine's stateful test (tests/integration/test_engine_stateful.py):
each client's history equals its serial replay, the messages their conversation actually
processed, in that order, with the operators' actions where they happened, handled one at a time
by a fresh process on a fresh database."""

from __future__ import annotations

from storage.tables import cases, conversations, identities
from tests.stateful_model import OPERATORS, TALLY, OperatorStep, Sent, operate
from tests.stateful_support import Databases, Node, history, read


class Replay:
    """Compares the machine's process (``node``) with a serial replay of what it processed."""

    databases: Databases
    node: Node
    processed: dict[str, list[Sent]]
    operator_steps: list[OperatorStep]

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
