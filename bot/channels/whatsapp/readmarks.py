"""Blue ticks and the typing indicator on a client's messages, coalesced per client.

Marking a message read marks the client's earlier ones read too, so one call a client is enough:
while a mark is on its way to Graph, the client's newer messages only replace the one to mark
next, sent when it is back (a burst of ten messages costs two calls, not ten). Marks are best
effort, in the background: a failure is dropped, nothing waits for them. ``enabled`` False
(``WHATSAPP_READ_MARKS=false``) sends none.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from bot.channels.whatsapp.graph import GraphClient, GraphError


class ReadMarks:
    def __init__(self, graph: GraphClient, *, enabled: bool = True) -> None:
        self.graph = graph
        self.enabled = enabled
        self._next: dict[str, str | None] = {}  # client -> newer message to mark, while one is in flight
        self._tasks: set[asyncio.Task[None]] = set()

    def mark(self, client: str, wamid: str) -> None:
        """Mark ``wamid`` (the client's newest message) read, now or after the mark in flight."""
        if not self.enabled:
            return
        if client in self._next:
            self._next[client] = wamid
            return
        self._next[client] = None
        task = asyncio.ensure_future(self._marking(client, wamid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _marking(self, client: str, wamid: str) -> None:
        try:
            while True:
                with contextlib.suppress(GraphError, httpx.HTTPError, TimeoutError):
                    await self.graph.mark_read(wamid)
                newer = self._next.get(client)
                if newer is None:
                    return
                self._next[client] = None
                wamid = newer
        finally:
            self._next.pop(client, None)

    async def stop(self) -> None:
        """Cancel the marks still on their way."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
