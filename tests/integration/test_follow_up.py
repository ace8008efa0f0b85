"""A case's whole life from the client's side, on both databases: after hand-off and after
"Terminé" the client's message reaches the case (and the operator, live); past
CASE_REOPEN_DAYS, or on request, a new conversation starts; "annuler" cancels with confirmation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.console.auth import Operator
from flows.lifecycle import OPEN_STATES
from storage.tables import cases, conversations, dispatch_offers, identities, messages
from tests.harness import Harness, harness

ALICE = Operator(0, "a", "alice", "operator")
ADVISOR = ["j'ai perdu mes lunettes", "conseiller"]


async def _handed_off(h: Harness, user: str) -> Any:
    for text in ADVISOR:
        await h.send(user, text=text)
    (identity,) = await h.rows(identities, identities.c.key == f"script:{user}")
    (case,) = await h.rows(cases, cases.c.client_id == identity.client_id)
    return case


async def _case(h: Harness, case_id: int) -> Any:
    (case,) = await h.rows(cases, cases.c.id == case_id)
    return case


async def _conversation_of(h: Harness, user: str) -> Any:
    (identity,) = await h.rows(identities, identities.c.key == f"script:{user}")
    (convo,) = await h.rows(conversations, conversations.c.id == identity.conversation_id)
    return convo


def _keys(replies: list[dict[str, Any]]) -> list[str]:
    return [r["key"] for r in replies]


async def test_a_message_after_done_reopens_the_case_for_its_operator(
    database_url: str, tmp_path: Path
) -> None:
    async with harness(database_url, tmp_path) as h:
        console = h.services.console
        case = await _handed_off(h, "marie")
        await console.claim(ALICE, case.public_id)
        await console.reply(ALICE, case.public_id, "Vos lunettes partent ce soir.")
        await console.done(ALICE, case.public_id)
        assert _keys(await h.delivered_to("marie")) == ["operator", "console.done"]
        assert (await _case(h, case.id)).status == "done"
        assert (await _conversation_of(h, "marie")).owner == "closed"
        before = await console.version(case.public_id)

        # Two days later: "est-ce que c'est parti ?" reaches the same case, not the greeting.
        h.clock.now += timedelta(days=2)
        replies = await h.send("marie", text="est-ce que c'est parti ?")
        assert _keys(replies) == ["followup.reopened"]
        assert case.reference in replies[0]["text"]
        assert [c["value"] for c in replies[0]["choices"]] == ["new_request"]
        reopened = await _case(h, case.id)
        assert reopened.status == "queued"
        assert reopened.reopened_at == h.clock.now
        assert reopened.client_wrote_at == h.clock.now
        assert reopened.claimed_by == "alice"  # the operator who held it sees it is theirs again
        assert reopened.done_at is None
        convo = await _conversation_of(h, "marie")
        assert (convo.id, convo.owner) == (case.conversation_id, "queue")
        # The operator's views change (the live stream compares versions) and show the message.
        assert await console.version(case.public_id) != before
        detail = await console.case(ALICE, case.public_id)
        assert detail.messages[-2].text == "est-ce que c'est parti ?"
        assert detail.status == "queued"
        # The bot said so once: the next message is relayed in silence.
        assert await h.send("marie", text="merci de me répondre") == []
        assert (await _case(h, case.id)).status == "queued"


async def test_after_the_reopen_delay_a_new_conversation_starts(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        console = h.services.console
        case = await _handed_off(h, "paul")
        await console.claim(ALICE, case.public_id)
        await console.done(ALICE, case.public_id)
        await h.delivered_to("paul")
        h.clock.now += timedelta(days=7, minutes=1)  # CASE_REOPEN_DAYS (7) is over
        replies = await h.send("paul", text="bonjour, j'ai cassé mes lunettes")
        assert _keys(replies) == ["greeting", "urgency.question"]
        assert (await _case(h, case.id)).status == "done"
        convo = await _conversation_of(h, "paul")
        assert convo.id != case.conversation_id
        assert convo.owner == "bot"


async def test_a_follow_up_while_an_operator_holds_the_case_reaches_them_in_silence(
    database_url: str, tmp_path: Path
) -> None:
    async with harness(database_url, tmp_path) as h:
        console = h.services.console
        case = await _handed_off(h, "lea")
        await console.claim(ALICE, case.public_id)
        await console.handback(ALICE, case.public_id)  # the conversation ends, the case stays
        assert await h.send("lea", text="vous êtes là ?") == []  # the operator answers, not the bot
        convo = await _conversation_of(h, "lea")
        assert (convo.id, convo.owner, convo.operator) == (case.conversation_id, "operator", "alice")
        assert (await _case(h, case.id)).client_wrote_at is not None
        await console.reply(ALICE, case.public_id, "Oui, je vous écoute.")
        assert _keys(await h.delivered_to("lea")) == ["operator"]
        assert (await _case(h, case.id)).client_wrote_at is None  # answered


async def test_cancel_after_hand_off_asks_then_cancels_and_withdraws(
    database_url: str, tmp_path: Path
) -> None:
    async with harness(database_url, tmp_path) as h:
        case = await _handed_off(h, "jean")
        before = await h.services.console.version(case.public_id)
        assert _keys(await h.send("jean", text="annuler")) == ["followup.cancel_question"]
        assert (await _case(h, case.id)).status == "queued"  # not before the confirmation
        assert _keys(await h.send("jean", text="oui")) == ["followup.cancelled"]
        cancelled = await _case(h, case.id)
        assert cancelled.status == "cancelled"
        assert cancelled.cancel_reason == "Annulée par le client."
        assert cancelled.done_at == h.clock.now
        assert await h.services.console.version(case.public_id) != before
        # Nothing was live any more to withdraw from opticians; nothing else is open.
        assert await h.rows(dispatch_offers) == []
        assert not await h.rows(cases, cases.c.status.in_(OPEN_STATES))


async def test_a_new_request_on_a_live_case_keeps_the_case_with_the_advisors(
    database_url: str, tmp_path: Path
) -> None:
    async with harness(database_url, tmp_path) as h:
        case = await _handed_off(h, "ines")
        replies = await h.send("ines", text="nouvelle demande")
        assert _keys(replies) == ["greeting", "need.question"]
        assert (await _case(h, case.id)).status == "queued"
        convo = await _conversation_of(h, "ines")
        assert convo.id != case.conversation_id
        old = await h.rows(conversations, conversations.c.id == case.conversation_id)
        assert old[0].owner == "closed"
        # The "nouvelle demande" itself stays in the old case's transcript.
        texts = [m.text for m in await h.rows(messages, messages.c.conversation_id == case.conversation_id)]
        assert "nouvelle demande" in texts
