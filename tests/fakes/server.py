"""What the fake platform servers share: serving on loopback, restartable on the same port (an outage);
recording each call and answering it or its error; faults queued for the next calls; holding a call
until its caller may have left; an HTTP client for the webhooks they push; waiting on a condition.

A fake adds its routes (``_routes``), what it does once serving and before it stops (``_serving``,
``_stopping``), and ``describe`` (its recent traffic, for failure messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, Protocol, Self, TypeVar

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout, web

Json = dict[str, Any]

#: what a webhook POST can fail with (the outcome recorded is the exception's class name)
POST_ERRORS = (ClientError, TimeoutError, OSError)


class ClientGoneError(Exception):
    """The caller went away while its call was held by ``hang_next``."""


class FakeApiError(Exception):
    """An error answer of a fake API: ``status`` is the HTTP status, ``payload()`` the JSON body."""

    status: int

    def payload(self) -> Json:
        raise NotImplementedError

    def note(self, record: Any) -> None:
        """Write on the record of the call what was answered (the status; a fake adds its details)."""
        record.status = self.status


class Counted(Protocol):
    count: int


FaultT = TypeVar("FaultT", bound=Counted)


class Faults(Generic[FaultT]):
    """Faults queued for the next calls: each applies to ``count`` calls it matches, oldest first."""

    def __init__(self) -> None:
        self._queue: list[FaultT] = []

    def add(self, fault: FaultT) -> None:
        self._queue.append(fault)

    def first(self) -> FaultT | None:
        return self._queue[0] if self._queue else None

    def take(self, matches: Callable[[FaultT], bool] = lambda _: True) -> FaultT | None:
        """The oldest fault that ``matches``, used once (dropped when its count is spent)."""
        for index, fault in enumerate(self._queue):
            if matches(fault):
                fault.count -= 1
                if fault.count <= 0:
                    del self._queue[index]
                return fault
        return None


class FakeServer:
    """A fake platform served on 127.0.0.1 on a free port, the same one again after ``stop``."""

    #: the largest request body the fake reads
    client_max_size = 64 * 1024 * 1024

    def __init__(self, *, webhook_timeout: float) -> None:
        self.webhook_timeout = webhook_timeout
        self.root_url = ""
        self._stopped = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._client: ClientSession | None = None

    # -- what a fake adds ----------------------------------------------------------------------------------

    def _routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    async def _serving(self) -> None:
        """Once serving (``root_url`` known, the webhook client open)."""

    async def _stopping(self) -> None:
        """When asked to stop, before the server and the webhook client close."""

    def describe(self) -> str:
        """A short account of the recent traffic, for failure messages."""
        raise NotImplementedError

    # -- life cycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1, on a free port; started again after ``stop``, on the same port (an outage)."""
        self._stopped.clear()
        app = web.Application(client_max_size=self.client_max_size)
        self._routes(app.router)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()
        host, self._port = self._runner.addresses[0][:2]
        self.root_url = f"http://{host}:{self._port}"
        if self._client is None:
            self._client = ClientSession()
        await self._serving()

    async def stop(self) -> None:
        """Stop serving; wakes held calls, stops what the fake pushes in the background."""
        self._stopped.set()
        await self._stopping()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- the test's side -----------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds, polling every 10 ms."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                name = getattr(predicate, "__qualname__", repr(predicate))
                raise TimeoutError(f"{name} still false after {timeout} s\n{self.describe()}")
            await asyncio.sleep(0.01)

    # -- serving a call ------------------------------------------------------------------------------------

    @staticmethod
    async def _answer(record: Any, handle: Callable[[], Awaitable[Json]]) -> web.StreamResponse:
        """Run ``handle`` and answer its JSON (200), its error, or 499 when the caller left; the
        record of the call (already kept) gets the status answered."""
        try:
            body = await handle()
        except FakeApiError as error:
            error.note(record)
            return web.json_response(error.payload(), status=error.status)
        except ClientGoneError:
            record.status = 499
            return web.Response(status=499)
        record.status = 200
        return web.json_response(body)

    async def _hold(self, seconds: float) -> None:
        """Hold a call ``seconds`` (``hang_next``), or until the fake stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)

    @staticmethod
    def _caller_left(request: web.Request) -> bool:
        transport = request.transport
        return transport is None or transport.is_closing()

    @contextlib.asynccontextmanager
    async def _posting(
        self, url: str, body: str | bytes, headers: dict[str, str]
    ) -> AsyncIterator[ClientResponse]:
        """POST a webhook with the fake's client, within ``webhook_timeout``."""
        assert self._client is not None
        timeout = ClientTimeout(total=self.webhook_timeout)
        async with self._client.post(url, data=body, headers=headers, timeout=timeout) as response:
            yield response
