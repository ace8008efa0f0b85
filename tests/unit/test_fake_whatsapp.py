"""The fake WhatsApp Cloud API server, driven by httpx and a small webhook receiver that checks signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.fakes.whatsapp import (
    APP_SECRET,
    PARAM_FORMAT,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    FakeWhatsApp,
    WebhookDeliveryError,
    encode_body,
    sign,
)

Json = dict[str, Any]
ALICE = "33612345678"
ALICE_ID = "FR.1234567890abcdef"
BOB = "33698765432"


class Receiver:
    """Our side of the webhook, reduced to what the fake needs: signature check, scripted answers."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Json] = []
        self.raw: list[bytes] = []
        self.bad_signatures = 0
        self.script: list[int] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhooks/whatsapp", self._post)
        app.router.add_get("/webhooks/whatsapp", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/webhooks/whatsapp"

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Hub-Signature-256", ""), expected):
            self.bad_signatures += 1
            return web.Response(status=403)
        status = self.script.pop(0) if self.script else 200
        if status == 200:
            self.raw.append(raw)
            self.received.append(json.loads(raw))
        return web.Response(status=status)

    async def _get(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("hub.mode") == "subscribe" and query.get("hub.verify_token") == VERIFY_TOKEN:
            return web.Response(text=query.get("hub.challenge", ""))
        return web.Response(status=403)

    def values(self) -> list[Json]:
        return [change["value"] for p in self.received for entry in p["entry"] for change in entry["changes"]]

    def statuses(self, wamid: str | None = None) -> list[Json]:
        found = [status for value in self.values() for status in value.get("statuses", [])]
        return [s for s in found if wamid is None or s["id"] == wamid]

    def messages(self) -> list[Json]:
        return [message for value in self.values() for message in value.get("messages", [])]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake(receiver: Receiver) -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp(webhook_url=receiver.url, retry_delays=(0.05, 0.1), status_delay=0.0) as server:
        yield server


@pytest.fixture
async def client(fake: FakeWhatsApp) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers, timeout=5) as http:
        yield http


async def send(client: httpx.AsyncClient, message: Json, to: str = ALICE) -> httpx.Response:
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **message}
    return await client.post(f"/{PHONE_NUMBER_ID}/messages", json=body)


def text(body: str) -> Json:
    return {"type": "text", "text": {"body": body}}


def buttons(*titles: str, body: str = "Que se passe-t-il ?") -> Json:
    items = [
        {"type": "reply", "reply": {"id": f"kind:{i}", "title": title}} for i, title in enumerate(titles)
    ]
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": body}, "action": {"buttons": items}},
    }


def listing(rows: list[Json], *, body: str = "Choisissez", sections: int = 1) -> Json:
    per = -(-len(rows) // sections)
    chunks = [rows[i * per : (i + 1) * per] for i in range(sections)]
    action = {
        "button": "Voir",
        "sections": [{"title": f"Partie {i}", "rows": c} for i, c in enumerate(chunks)],
    }
    return {"type": "interactive", "interactive": {"type": "list", "body": {"text": body}, "action": action}}


def rows(count: int, **overrides: str) -> list[Json]:
    return [
        {"id": f"r{i}", "title": f"Ligne {i}", "description": "Détail", **overrides} for i in range(count)
    ]


def template(name: str = "optibot_suivi", code: str = "fr", *params: str) -> Json:
    parameters = [{"type": "text", "text": p} for p in params]
    components = [{"type": "body", "parameters": parameters}] if params else []
    return {
        "type": "template",
        "template": {"name": name, "language": {"code": code}, "components": components},
    }


def error_of(response: httpx.Response) -> Json:
    error = response.json()["error"]
    assert error["fbtrace_id"]
    return error


async def test_bearer_token_is_required(fake: FakeWhatsApp, client: httpx.AsyncClient) -> None:
    url = f"{fake.base_url}/{PHONE_NUMBER_ID}/messages"
    async with httpx.AsyncClient() as anonymous:
        missing = await anonymous.post(url, json=text("x"))
        wrong = await anonymous.post(url, json=text("x"), headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        error = error_of(response)
        assert (error["code"], error["type"]) == (190, "OAuthException")
    assert fake.sent == []
    other_number = await client.post(
        "/999/messages", json={"messaging_product": "whatsapp", "to": ALICE, **text("x")}
    )
    assert other_number.status_code == 400
    assert error_of(other_number)["error_subcode"] == 33


async def test_text_buttons_list_and_template_are_accepted(
    fake: FakeWhatsApp, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await fake.say(ALICE, "Bonjour", user_id=ALICE_ID)
    for message in (
        text("Bonjour !"),
        buttons("Cassées", "Perdues", "Autre"),
        listing(rows(10), sections=2),
        template("optibot_suivi", "fr", "Dossier 42"),
    ):
        response = await send(client, message)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["messaging_product"] == "whatsapp"
        assert answer["contacts"] == [{"input": ALICE, "wa_id": ALICE}]
        assert answer["messages"][0]["id"].startswith("wamid.")
    assert [m.type for m in fake.messages_to(ALICE)] == ["text", "interactive", "interactive", "template"]
    assert fake.messages_to(ALICE_ID) == fake.messages_to(ALICE)
    last = fake.last_to(ALICE)
    assert last is not None
    assert (last.template, last.text) == ("optibot_suivi", "Dossier 42")
    assert fake.sent[1].buttons == [("kind:0", "Cassées"), ("kind:1", "Perdues"), ("kind:2", "Autre")]
    assert len(fake.sent[2].buttons) == 10
    await fake.wait_for(lambda: len(fake.delivered_to(ALICE)) == 4)

    by_bsuid = await client.post(
        f"/{PHONE_NUMBER_ID}/messages",
        json={"messaging_product": "whatsapp", "recipient": ALICE_ID, **text("Re")},
    )
    assert by_bsuid.json()["contacts"] == [{"input": ALICE_ID, "user_id": ALICE_ID}]
    await fake.wait_for(lambda: len(receiver.statuses(by_bsuid.json()["messages"][0]["id"])) == 2)
    status = receiver.statuses(by_bsuid.json()["messages"][0]["id"])[0]
    assert (status["recipient_id"], status["recipient_user_id"]) == (ALICE, ALICE_ID)


BUTTONS_COUNT = "Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3"
BUTTON_TITLE = "Button title length invalid. Min length: 1, Max length: 20"
ROW_TITLE = "Row title length invalid. Min length: 1, Max length: 24"
ROW_DESCRIPTION = "Row description length invalid. Min length: 0, Max length: 72"
BUTTON_BODY = "Body text length invalid. Min length: 1, Max length: 1024"
PARAM_COUNT = "body: number of localizable_params (2) does not match the expected number of params (1)"
SAME_IDS = {
    "type": "interactive",
    "interactive": {
        "type": "button",
        "body": {"text": "?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "same", "title": t}} for t in ("a", "b")]},
    },
}
LIMITS = [
    pytest.param(buttons("a", "b", "c", "d"), 131009, BUTTONS_COUNT, id="4 buttons"),
    pytest.param(buttons("x" * 21), 131009, BUTTON_TITLE, id="21-char title"),
    pytest.param(SAME_IDS, 131009, "Duplicate button id: same", id="duplicate ids"),
    pytest.param(buttons("Oui", "Oui"), 131009, "Duplicate button title: Oui", id="duplicate titles"),
    pytest.param(
        listing(rows(11), sections=2), 131009, "Total row count exceed max allowed count: 10", id="11 rows"
    ),
    pytest.param(listing(rows(2, title="t" * 25)), 131009, ROW_TITLE, id="25-char row title"),
    pytest.param(listing(rows(2, description="d" * 73)), 131009, ROW_DESCRIPTION, id="73-char description"),
    pytest.param(buttons("a", body=""), 131009, BUTTON_BODY, id="empty body"),
    pytest.param(buttons("a", body="b" * 1025), 131009, BUTTON_BODY, id="1025-char button body"),
    pytest.param(text("t" * 4097), 131009, None, id="4097-char text"),
    pytest.param(
        {"type": "text", "text": {}}, 131008, "The parameter text['body'] is required.", id="no body"
    ),
    pytest.param({"type": "carousel", "carousel": {}}, 100, None, id="unknown type"),
    pytest.param(
        template("nope", "fr", "x"), 132001, "template name (nope) does not exist in fr", id="no template"
    ),
    pytest.param(template("optibot_suivi", "fr", "a", "b"), 132000, PARAM_COUNT, id="param count"),
    pytest.param(template("optibot_suivi", "fr", "a\nb"), 132018, PARAM_FORMAT, id="newline in param"),
    pytest.param(template("optibot_suivi", "fr", "a     b"), 132018, PARAM_FORMAT, id="5 spaces in param"),
]


@pytest.mark.parametrize(("message", "code", "details"), LIMITS)
async def test_limits_are_refused_with_metas_codes(
    fake: FakeWhatsApp, client: httpx.AsyncClient, message: Json, code: int, details: str | None
) -> None:
    await fake.say(ALICE, "Bonjour")
    response = await send(client, message)
    assert response.status_code == (404 if code == 132001 else 400)
    error = error_of(response)
    assert error["code"] == code
    assert error["message"].startswith(f"(#{code}) ")
    assert error["error_data"]["messaging_product"] == "whatsapp"
    if details is not None:
        assert error["error_data"]["details"] == details
    assert fake.sent == []


async def test_closed_window_fails_by_status_and_templates_still_go(
    fake: FakeWhatsApp, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    response = await send(client, text("Vous êtes là ?"))  # ALICE never wrote
    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    await fake.wait_for(lambda: bool(receiver.statuses(wamid)))
    [failed] = receiver.statuses(wamid)
    assert failed["status"] == "failed"
    [error] = failed["errors"]
    assert (error["code"], error["title"]) == (131047, "Re-engagement message")
    assert "24 hours" in error["error_data"]["details"]
    assert fake.sent[0].failed
    assert fake.delivered_to(ALICE) == []

    reply = await send(client, template("optibot_suivi", "fr", "Dossier 42"))
    assert reply.status_code == 200
    await fake.wait_for(lambda: len(fake.delivered_to(ALICE)) == 1)
    assert fake.delivered_to(ALICE)[0].template == "optibot_suivi"

    await fake.say(ALICE, "Oui")
    fake.advance(24 * 3600 - 5)
    assert fake.window_open(ALICE)
    fake.advance(10)
    assert not fake.window_open(ALICE)
    late = await send(client, text("Trop tard"))
    await fake.wait_for(lambda: fake.sent[-1].failed)
    assert late.status_code == 200


async def test_window_error_can_be_synchronous(receiver: Receiver) -> None:
    async with (
        FakeWhatsApp(webhook_url=receiver.url, window_error="sync") as fake,
        httpx.AsyncClient(base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client,
    ):
        response = await send(client, text("Bonjour"))
        assert response.status_code == 400
        assert error_of(response)["code"] == 131047
        assert fake.sent == []


async def test_statuses_are_pushed_signed_and_read(
    fake: FakeWhatsApp, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await fake.say(ALICE, "Bonjour", user_id=ALICE_ID, name="Camille")
    inbound = receiver.values()[0]
    assert inbound["contacts"] == [{"profile": {"name": "Camille"}, "wa_id": ALICE, "user_id": ALICE_ID}]
    assert inbound["metadata"] == {
        "display_phone_number": fake.display_phone_number,
        "phone_number_id": PHONE_NUMBER_ID,
    }
    message = inbound["messages"][0]
    assert (message["from"], message["from_user_id"], message["type"]) == (ALICE, ALICE_ID, "text")
    assert message["text"] == {"body": "Bonjour"}

    wamid = (await send(client, text("Merci, c'est noté / à bientôt"))).json()["messages"][0]["id"]
    await fake.wait_for(lambda: len(receiver.statuses(wamid)) == 2)
    assert [s["status"] for s in receiver.statuses(wamid)] == ["sent", "delivered"]
    sent = receiver.statuses(wamid)[0]
    assert (sent["recipient_id"], sent["recipient_user_id"]) == (ALICE, ALICE_ID)
    assert sent["pricing"]["category"] == "service"
    assert int(sent["timestamp"]) > 0
    assert [await fake.read(ALICE)] == [[fake.sent[0]]]
    assert [s["status"] for s in receiver.statuses(wamid)] == ["sent", "delivered", "read"]
    assert fake.sent[0].status == "read"
    assert receiver.bad_signatures == 0
    assert encode_body({"t": "à/b"}) == b'{"t":"\\u00e0\\/b"}'  # escaped like Meta's bodies

    body = encode_body({"object": "whatsapp_business_account", "entry": []})
    assert await fake.post_raw(body, sign(body)) == 200
    assert await fake.post_raw(body, sign(body, "wrong-secret")) == 403
    assert await fake.post_raw(body + b" ", sign(body)) == 403
    assert await fake.post_raw(body, None) == 403
    assert receiver.bad_signatures == 3
    assert await fake.verify("subscribe", VERIFY_TOKEN, "1158201444") == (200, "1158201444")
    assert (await fake.verify("subscribe", "wrong", "1158201444"))[0] == 403


async def test_webhook_is_redelivered_after_a_500(fake: FakeWhatsApp, receiver: Receiver) -> None:
    receiver.script = [500]
    message = await fake.say(ALICE, "Bonjour")
    assert [outcome for _, outcome in fake.webhook_attempts] == [500, 200]
    assert receiver.messages() == [message]
    assert await fake.redeliver(message) == 200  # Meta delivering it twice
    assert receiver.messages() == [message, message]
    assert receiver.raw[0] == receiver.raw[1]

    receiver.script = [500, 503, 502]
    with pytest.raises(WebhookDeliveryError):
        await fake.say(ALICE, "Encore")
    receiver.script = [500]
    await fake.say(BOB, "Coucou", deliver=False)
    await fake.settle()
    assert receiver.messages()[-1]["text"] == {"body": "Coucou"}


async def test_media_flow(fake: FakeWhatsApp, client: httpx.AsyncClient, receiver: Receiver) -> None:
    photo = b"\xff\xd8\xff\xe0" + bytes(200)
    message = await fake.send_image(ALICE, photo, caption="Mes lunettes")
    image = message["image"]
    assert (image["caption"], image["mime_type"]) == ("Mes lunettes", "image/jpeg")
    assert image["sha256"] == hashlib.sha256(photo).hexdigest()
    info = (await client.get(f"/{image['id']}")).json()
    assert info == {
        "messaging_product": "whatsapp",
        "url": info["url"],
        "mime_type": "image/jpeg",
        "sha256": image["sha256"],
        "file_size": len(photo),
        "id": image["id"],
    }
    download = await client.get(info["url"])
    assert (download.status_code, download.content) == (200, photo)
    assert download.headers["content-type"] == "image/jpeg"
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(info["url"])).status_code == 401
    assert fake.media_downloads == 1
    unknown = await client.get("/123456789")
    assert unknown.status_code == 400
    assert error_of(unknown)["code"] == 100

    document = await fake.send_document(ALICE, b"%PDF-1.7", "ordonnance.pdf", "application/pdf")
    assert document["document"]["filename"] == "ordonnance.pdf"
    upload = await client.post(
        f"/{PHONE_NUMBER_ID}/media",
        data={"messaging_product": "whatsapp", "type": "image/png"},
        files={"file": ("qr.png", b"\x89PNG", "image/png")},
    )
    media_id = upload.json()["id"]
    assert (await send(client, {"type": "image", "image": {"id": media_id}})).status_code == 200


async def test_fail_next_and_hang_next(fake: FakeWhatsApp, client: httpx.AsyncClient) -> None:
    await fake.say(ALICE, "Bonjour")
    fake.fail_next(130429)
    limited = await send(client, text("1"))
    assert limited.status_code == 429
    assert error_of(limited)["message"] == "(#130429) Rate limit hit"
    fake.fail_next(131000, count=2)
    assert [(await send(client, text("2"))).status_code for _ in range(2)] == [500, 500]
    assert (await send(client, text("3"))).status_code == 200
    assert [m.text for m in fake.sent] == ["3"]

    fake.hang_next(0.5)
    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            f"/{PHONE_NUMBER_ID}/messages",
            json={"messaging_product": "whatsapp", "to": ALICE, **text("4")},
            timeout=0.1,
        )
    await fake.wait_for(lambda: fake.requests[-1].status == 499)
    assert [m.text for m in fake.sent] == ["3"]

    fake.fail_delivery_next(131026)
    undeliverable = (await send(client, text("4b"))).json()["messages"][0]["id"]
    await fake.wait_for(lambda: fake.sent[-1].failed)
    assert fake.sent[-1].errors[0]["code"] == 131026
    assert fake.sent[-1].wamid == undeliverable

    fake.pair_rate_limit = 1
    assert (await send(client, text("5"))).status_code == 200
    pair = await send(client, text("6"))
    assert (pair.status_code, error_of(pair)["code"]) == (400, 131056)


async def test_batch_of_three_messages_from_two_users_over_two_entries(
    fake: FakeWhatsApp, receiver: Receiver
) -> None:
    items = [
        fake.text_message(ALICE, "Bonjour", user_id=ALICE_ID),
        fake.text_message(BOB, "Salut"),
        fake.text_message(ALICE, "Mes lunettes sont cassées", user_id=ALICE_ID),
    ]
    hook = await fake.batch(items)
    assert hook.delivered
    [payload] = receiver.received
    assert len(payload["entry"]) == 2
    first, second = (entry["changes"][0]["value"] for entry in payload["entry"])
    assert [m["text"]["body"] for m in first["messages"]] == ["Bonjour", "Mes lunettes sont cassées"]
    assert first["contacts"][0]["user_id"] == ALICE_ID
    assert [m["from"] for m in second["messages"]] == [BOB]
    assert fake.window_open(ALICE)
    assert fake.window_open(BOB)


async def test_press_and_mark_as_read(
    fake: FakeWhatsApp, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    hello = await fake.say(ALICE, "Bonjour")
    read = await client.post(
        f"/{PHONE_NUMBER_ID}/messages",
        json={
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": hello["id"],
            "typing_indicator": {"type": "text"},
        },
    )
    assert read.json() == {"success": True}
    assert (fake.read_marks, fake.typing) == ([hello["id"]], [hello["id"]])
    unknown = await client.post(
        f"/{PHONE_NUMBER_ID}/messages",
        json={"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"},
    )
    assert (unknown.status_code, error_of(unknown)["code"]) == (400, 100)

    wamid = (await send(client, buttons("Cassées", "Perdues"))).json()["messages"][0]["id"]
    reply = await fake.press(ALICE, "perdues")
    assert reply["context"] == {"from": fake.display_phone_number, "id": wamid}
    assert reply["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "kind:1", "title": "Perdues"},
    }
    await send(client, listing(rows(3)))
    chosen = await fake.press(ALICE, "r2")
    assert chosen["interactive"]["list_reply"] == {"id": "r2", "title": "Ligne 2", "description": "Détail"}
    with pytest.raises(AssertionError, match="no button or row"):
        await fake.press(ALICE, "Autre")
    reaction = await fake.react(ALICE, wamid, "👍")
    assert reaction["reaction"] == {"message_id": wamid, "emoji": "👍"}
    assert receiver.messages()[-1] == reaction
