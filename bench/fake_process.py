"""A fake platform server in a child process, for the benchmarks: the child serves the fake and a
small control API and prints both addresses as one JSON line; the parent drives it through the
control API. Its own process, so the fake's work does not weigh on the event loop being measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from typing import Any, Protocol, Self

import aiohttp
from aiohttp import web


class _Fake(Protocol):
    base_url: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def serve_fake(fake: _Fake, routes: Callable[[web.UrlDispatcher], None]) -> None:
    """In the child: start ``fake`` and its control API (``routes``, and ``POST /stop``), print their
    addresses, serve until ``/stop`` or a signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def stop_route(request: web.Request) -> web.Response:
        stop.set()
        return web.json_response({"ok": True})

    control = web.Application(client_max_size=64 * 1024 * 1024)
    routes(control.router)
    control.router.add_post("/stop", stop_route)
    await fake.start()
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(json.dumps({"api": fake.base_url, "control": f"http://{host}:{port}"}), flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await fake.stop()


class FakeProcess:
    """In the parent: ``async with`` starts ``python -m <module> <arguments>`` and stops it after."""

    def __init__(self, module: str, arguments: list[str]) -> None:
        self.module = module
        self.arguments = arguments
        self.api_url = ""
        self.control_url = ""
        self._process: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        command = [sys.executable, "-m", self.module, *self.arguments]
        self._process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        assert self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.module} did not start")
        addresses = json.loads(line)
        self.api_url, self.control_url = addresses["api"], addresses["control"]
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        process = self._process
        if self._http is not None:
            with contextlib.suppress(aiohttp.ClientError):
                await self._http.post(f"{self.control_url}/stop")
            await self._http.close()
        if process is not None:
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.terminate()
                await process.wait()

    async def _get(self, path: str) -> Any:
        assert self._http is not None
        async with self._http.get(self.control_url + path) as response:
            response.raise_for_status()
            return await response.json()

    async def _post(self, path: str, body: Any) -> None:
        assert self._http is not None
        async with self._http.post(self.control_url + path, json=body) as response:
            response.raise_for_status()

    async def state(self) -> dict[str, Any]:
        return dict(await self._get("/state"))
