"""The Graph client's own transport (aiohttp's pool under httpx) against real servers: the fake
Graph API for sends, uploads and media, a closed port, a server that hangs, a gzipped answer."""

from __future__ import annotations

import gzip
import hashlib
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.channels.whatsapp.graph import GraphClient, GraphError, MediaTooLargeError
from bot.channels.whatsapp.messenger import Messenger
from bot.channels.whatsapp.transport import AiohttpTransport
from bot.outbox import DeliveryError
from bot.ratelimit import RateLimiter, Window
from tests.fakes.whatsapp import PHONE_NUMBER_ID, TOKEN, FakeWhatsApp

ALICE = "33612345678"
TEXT = {"type": "text", "text": {"body": "Bonjour"}}


@pytest.fixture
async def fake() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp(auto_statuses=()) as server:
        yield server


@pytest.fixture
async def graph(fake: FakeWhatsApp) -> AsyncIterator[GraphClient]:
    client = GraphClient(fake.base_url, TOKEN, PHONE_NUMBER_ID)
    try:
        yield client
    finally:
        await client.close()


def lifted() -> RateLimiter:
    return RateLimiter(Window(1000, 1.0), Window(1000, 1.0))


async def test_the_client_s_default_transport_is_aiohttp_s_pool(graph: GraphClient) -> None:
    assert isinstance(graph._http._transport, AiohttpTransport)


async def test_sends_read_marks_uploads_and_media_go_through_with_their_token(
    fake: FakeWhatsApp, graph: GraphClient
) -> None:
    said = await fake.say(ALICE, "Bonjour", deliver=False)
    wamids = [await graph.send(ALICE, {"type": "text", "text": {"body": f"n°{n}"}}) for n in range(3)]
    assert [m.text for m in fake.sent] == ["n°0", "n°1", "n°2"]
    assert [m.wamid for m in fake.sent] == wamids
    await graph.mark_read(said["id"])
    assert fake.read_marks == [said["id"]]
    media_id = await graph.upload(b"\x89PNG" + bytes(100), "image/png", "qr.png")
    await graph.send(ALICE, {"type": "image", "image": {"id": media_id}})
    assert fake.sent[-1].wamid
    photo = b"\xff\xd8\xff\xe0" + bytes(300_000)  # several chunks
    image = (await fake.send_image(ALICE, photo, deliver=False))["image"]
    media = await graph.media(image["id"], limit=1_000_000)
    assert (media.content, media.mime_type) == (photo, "image/jpeg")
    assert hashlib.sha256(media.content).hexdigest() == image["sha256"]
    with pytest.raises(GraphError) as refused:  # Graph's error shape read through the transport
        await graph.send(ALICE, {"type": "text", "text": {"body": ""}})
    assert refused.value.code is not None


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_refused_connection_is_httpx_s_connect_error_retried_by_the_outbox() -> None:
    graph = GraphClient(f"http://127.0.0.1:{closed_port()}/v21.0", TOKEN, PHONE_NUMBER_ID)
    try:
        with pytest.raises(DeliveryError) as caught:
            await Messenger(graph, lifted()).send(ALICE, TEXT)
    finally:
        await graph.close()
    assert (caught.value.reason, caught.value.permanent) == ("whatsapp ConnectError", False)


async def test_a_server_that_does_not_answer_in_time_is_a_read_timeout(fake: FakeWhatsApp) -> None:
    fake.hang_next(1.0)
    async with httpx.AsyncClient(transport=AiohttpTransport(4), timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                f"{fake.base_url}/{PHONE_NUMBER_ID}/messages",
                json={"messaging_product": "whatsapp", "to": ALICE, **TEXT},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
    await fake.wait_for(lambda: bool(fake.requests) and fake.requests[-1].status == 499)
    assert fake.sent == []


@pytest.fixture
async def gzipped() -> AsyncIterator[str]:
    """A server answering Graph's send with a gzip-encoded body, as a proxy may."""

    async def answer(request: web.Request) -> web.Response:
        body = gzip.compress(b'{"messaging_product":"whatsapp","messages":[{"id":"wamid.GZ"}]}')
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_post("/v21.0/{number}/messages", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v21.0"
    finally:
        await runner.cleanup()


async def test_an_encoded_answer_is_decoded_once(gzipped: str) -> None:
    graph = GraphClient(gzipped, TOKEN, PHONE_NUMBER_ID)
    try:
        assert await graph.send(ALICE, TEXT) == "wamid.GZ"
    finally:
        await graph.close()


@pytest.fixture
async def oversized() -> AsyncIterator[str]:
    """Graph's media look-up without a size, then a download far larger than allowed, then a send."""
    big = bytes(2_000_000)

    async def info(request: web.Request) -> web.Response:
        url = f"http://{request.host}/files/big"
        return web.json_response({"messaging_product": "whatsapp", "url": url, "mime_type": "image/jpeg"})

    async def download(request: web.Request) -> web.Response:
        return web.Response(body=big, content_type="image/jpeg")

    async def send(request: web.Request) -> web.Response:
        return web.json_response({"messaging_product": "whatsapp", "messages": [{"id": "wamid.AFTER"}]})

    app = web.Application()
    app.router.add_get("/v21.0/777", info)
    app.router.add_get("/files/big", download)
    app.router.add_post("/v21.0/{number}/messages", send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v21.0"
    finally:
        await runner.cleanup()


async def test_a_download_cut_off_past_the_limit_leaves_the_next_call_clean(oversized: str) -> None:
    # One connection: a response not given back would leave the next call waiting for the pool.
    graph = GraphClient(oversized, TOKEN, PHONE_NUMBER_ID, transport=AiohttpTransport(1))
    try:
        for _ in range(3):  # and the cut-off one is not handed out again with bytes left on it
            with pytest.raises(MediaTooLargeError):
                await graph.media("777", limit=100_000)
            assert await graph.send(ALICE, TEXT) == "wamid.AFTER"
    finally:
        await graph.close()
