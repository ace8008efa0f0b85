"""Read marks coalesced per client: while one is on its way, a client's newer messages only
replace the one to mark next; other clients are not held up; a failure does not stop the next."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.channels.whatsapp.graph import GraphClient
from bot.channels.whatsapp.readmarks import ReadMarks

NUMBER = "1234567890"


class Graph:
    """Answers read marks once released, recording the wamid of each."""

    def __init__(self) -> None:
        self.marked: list[str] = []
        self.release = asyncio.Event()
        self.arrived = asyncio.Condition()
        self.fail = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        async with self.arrived:
            self.marked.append(json.loads(request.content)["message_id"])
            self.arrived.notify_all()
        await self.release.wait()
        if self.fail:
            return httpx.Response(500, json={"error": {"code": 131000, "message": "Something went wrong"}})
        return httpx.Response(200, json={"success": True})

    async def wait_for(self, count: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: len(self.marked) >= count)


@pytest.fixture
def graph() -> Graph:
    return Graph()


@pytest.fixture
async def client(graph: Graph) -> AsyncIterator[GraphClient]:
    client = GraphClient("https://graph.test/v21.0", "token", NUMBER, transport=httpx.MockTransport(graph))
    try:
        yield client
    finally:
        await client.close()


async def settled(marks: ReadMarks) -> None:
    while marks._tasks:
        await asyncio.gather(*list(marks._tasks))


async def test_a_client_s_burst_is_marked_up_to_its_newest_message_in_two_calls(
    graph: Graph, client: GraphClient
) -> None:
    marks = ReadMarks(client)
    marks.mark("alice", "wamid.A1")
    await graph.wait_for(1)
    for wamid in ("wamid.A2", "wamid.A3", "wamid.A4"):  # while A1's mark is on its way
        marks.mark("alice", wamid)
    marks.mark("bruno", "wamid.B1")  # another client: not held up by Alice's
    await graph.wait_for(2)
    assert graph.marked == ["wamid.A1", "wamid.B1"]
    graph.release.set()
    await settled(marks)
    assert graph.marked == ["wamid.A1", "wamid.B1", "wamid.A4"]
    marks.mark("alice", "wamid.A5")  # nothing in flight any more: marked at once
    await settled(marks)
    assert graph.marked[-1] == "wamid.A5"


async def test_a_failed_mark_does_not_stop_the_newer_one(graph: Graph, client: GraphClient) -> None:
    marks = ReadMarks(client)
    graph.fail = True
    marks.mark("alice", "wamid.A1")
    await graph.wait_for(1)
    marks.mark("alice", "wamid.A2")
    graph.release.set()
    await settled(marks)
    assert graph.marked == ["wamid.A1", "wamid.A2"]
    assert marks._next == {}


async def test_turned_off_no_mark_is_sent(graph: Graph, client: GraphClient) -> None:
    marks = ReadMarks(client, enabled=False)
    marks.mark("alice", "wamid.A1")
    graph.release.set()
    await settled(marks)
    assert graph.marked == []


async def test_stop_cancels_the_marks_on_their_way(graph: Graph, client: GraphClient) -> None:
    marks = ReadMarks(client)
    marks.mark("alice", "wamid.A1")
    await graph.wait_for(1)
    await marks.stop()
    assert not marks._tasks
    assert marks._next == {}
