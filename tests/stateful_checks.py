"""What the engine's stateful test checks after each step (tests/integration/test_engine_stateful.py):
nothing acknowledged is lost, nothing is doubled (inbox, transcript, outbox deliveries), messages
are processed in causal order, a conversation has at most one live case and its owner agrees."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from bot.app import Services
from flows.lifecycle import OPEN_STATES
from storage.tables import cases, conversations, identities, inbox, messages
from tests.stateful_model import OWNERS, TALLY, Sent
from tests.stateful_support import Node, normalised, read


class Checks:
    """The machine's checks, on its current process (``node``) and what its clients sent."""

    node: Node
    sent: dict[str, Sent]
    abandoned: set[str]  # messages whose caller gave up (no crash): left to the sweep
    shared: bool  # a second process took part (PostgreSQL)
    processed: dict[str, list[Sent]]  # each client's messages, as processed (set by the check)

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
