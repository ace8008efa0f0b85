"""The WhatsApp channel's pure parts: webhook signatures and parsing, and how replies are shaped."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest

from bot.channels.text import MAX_TEXT
from bot.channels.whatsapp import render
from bot.channels.whatsapp.graph import _checksum_matches, address
from bot.channels.whatsapp.updates import parse, signed
from bot.settings import Settings
from flows.catalog import Catalog
from flows.steps import STEPS
from flows.types import ClientInput

SECRET = b"app-secret-for-the-tests-0123456789"
NUMBER = "106540352242922"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# --- signatures -------------------------------------------------------------------------------------


def _signature(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def test_a_webhook_is_taken_only_with_the_app_secret_s_signature_of_its_exact_bytes() -> None:
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    assert signed(body, _signature(body), SECRET)
    assert signed(body, _signature(body).upper().replace("SHA256=", "sha256="), SECRET)
    assert not signed(body, None, SECRET)
    assert not signed(body, "", SECRET)
    assert not signed(body, _signature(body)[len("sha256=") :], SECRET)  # no "sha256=" prefix
    assert not signed(body, _signature(body, b"another secret"), SECRET)
    assert not signed(body + b" ", _signature(body), SECRET)  # one byte added after signing
    assert not signed(body.replace(b"[]", b"[{}]"), _signature(body), SECRET)
    assert not signed(body, _signature(body, b""), b"")  # no secret configured: nothing is signed


# --- parsing ----------------------------------------------------------------------------------------


def _change(messages: list[dict] | None = None, contacts: list[dict] | None = None, **value: object) -> dict:
    body: dict = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "33100000000", "phone_number_id": NUMBER},
        **value,
    }
    if messages is not None:
        body["messages"] = messages
    if contacts is not None:
        body["contacts"] = contacts
    return {"field": "messages", "value": body}


def _webhook(*changes: dict) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": list(changes)}]}


def _message(kind: str, content: dict, *, sender: str = "33612345678", wamid: str = "wamid.1") -> dict:
    return {"from": sender, "id": wamid, "timestamp": "1790000000", "type": kind, kind: content}


def test_every_kind_of_client_message_becomes_what_the_flow_reads() -> None:
    contact = [{"profile": {"name": "Jeanne"}, "wa_id": "33612345678"}]
    kinds = [
        _message("text", {"body": "Bonjour"}, wamid="w1"),
        _message(
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "urgency:yes", "title": "Oui"}},
            wamid="w2",
        ),
        _message(
            "interactive",
            {"type": "list_reply", "list_reply": {"id": "need:lost", "title": "Perdues"}},
            wamid="w3",
        ),
        _message("image", {"id": "media-1", "mime_type": "image/jpeg", "sha256": "x"}, wamid="w4"),
        _message(
            "document", {"id": "media-2", "mime_type": "application/pdf", "filename": "ordo.pdf"}, wamid="w5"
        ),
        _message(
            "document", {"id": "media-3", "mime_type": "application/zip", "filename": "a.zip"}, wamid="w6"
        ),
        _message("sticker", {"id": "media-4", "mime_type": "image/webp"}, wamid="w7"),
        _message("audio", {"id": "media-5", "voice": True}, wamid="w8"),
        _message("location", {"latitude": 48.8, "longitude": 2.3}, wamid="w9"),
        _message("reaction", {"message_id": "wamid.out", "emoji": "👍"}, wamid="w10"),
        _message("button", {"text": "Répondre", "payload": "reply"}, wamid="w11"),
        _message("contacts", [{"phones": [{"phone": "+33 6 11 22 33 44"}]}], wamid="w12"),  # type: ignore[arg-type]
        _message("system", {"body": "changed number", "type": "user_changed_number"}, wamid="w13"),
        _message(
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "forged", "title": "x"}},
            wamid="w14",
        ),
    ]
    kinds[11]["contacts"] = kinds[11].pop("contacts")
    batch = parse(_webhook(_change(kinds, contact)), NUMBER)
    said = {i.inbound.external_id: i.inbound.said for i in batch.messages}
    assert said["w1"] == ClientInput(text="Bonjour")
    assert said["w2"] == ClientInput(choice="yes", step="urgency")
    assert said["w3"] == ClientInput(choice="lost", step="need")
    assert said["w4"] == ClientInput(media_name="photo.jpg")
    assert said["w5"] == ClientInput(media_name="ordo.pdf")
    assert said["w6"] == ClientInput(unsupported="file", media_name="a.zip")
    assert said["w7"].unsupported == "sticker"
    assert said["w8"].unsupported == "audio"
    assert said["w9"].unsupported == "location"
    assert said["w10"].unsupported == "reaction"
    assert said["w11"] == ClientInput(text="Répondre")
    assert said["w12"] == ClientInput(contact_phone="+33 6 11 22 33 44")
    assert "w13" not in said  # a system notice: nothing was said
    assert said["w14"] == ClientInput(choice="forged")  # no step: the flow calls it stale
    files = {i.inbound.external_id: i.media for i in batch.messages if i.media}
    assert {k: (m.media_id, m.name) for k, m in files.items()} == {
        "w4": ("media-1", "photo.jpg"),
        "w5": ("media-2", "ordo.pdf"),
    }
    assert {i.inbound.user for i in batch.messages} == {"33612345678"}
    assert [i.inbound.external_id for i in batch.messages][:3] == ["w1", "w2", "w3"]  # in order


def test_clients_are_known_by_their_business_scoped_id_when_meta_gives_one() -> None:
    contacts = [
        {"profile": {"name": "A"}, "wa_id": "33611111111", "user_id": "FR.1a2b3c"},
        {"profile": {"name": "B"}, "wa_id": "33622222222"},
    ]
    messages = [
        _message("text", {"body": "un"}, sender="33611111111", wamid="a"),
        _message("text", {"body": "deux"}, sender="33622222222", wamid="b"),
    ]
    batch = parse(_webhook(_change(messages, contacts)), NUMBER)
    assert [(i.inbound.user, i.inbound.key) for i in batch.messages] == [
        ("FR.1a2b3c", "whatsapp:FR.1a2b3c"),
        ("33622222222", "whatsapp:33622222222"),
    ]
    username_only = {"id": "c", "timestamp": "1", "type": "text", "text": {"body": "trois"}}
    batch = parse(_webhook(_change([username_only], [{"profile": {}, "user_id": "FR.9z"}])), NUMBER)
    assert [i.inbound.user for i in batch.messages] == ["FR.9z"]


def test_a_batched_webhook_yields_every_message_and_receipt_of_our_number_only() -> None:
    ours = _change([_message("text", {"body": "a"}, wamid="m1"), _message("text", {"body": "b"}, wamid="m2")])
    theirs = _change([_message("text", {"body": "x"}, wamid="m3")])
    theirs["value"]["metadata"]["phone_number_id"] = "999"
    statuses = _change(
        statuses=[
            {"id": "wamid.out1", "status": "delivered", "timestamp": "1790000000", "recipient_id": "336"},
            {
                "id": "wamid.out2",
                "status": "failed",
                "timestamp": "1790000001",
                "recipient_id": "336",
                "errors": [{"code": 131047, "title": "Re-engagement message"}],
            },
            {"id": "wamid.out3", "status": "deleted", "timestamp": "1"},
        ]
    )
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "W1", "changes": [ours, theirs]}, {"id": "W2", "changes": [statuses]}],
    }
    batch = parse(payload, NUMBER)
    assert [i.inbound.external_id for i in batch.messages] == ["m1", "m2"]
    assert [(r.external_id, r.status, r.error_code) for r in batch.receipts] == [
        ("wamid.out1", "delivered", None),
        ("wamid.out2", "failed", 131047),
    ]
    assert batch.receipts[1].error == "whatsapp 131047: Re-engagement message"
    for junk in (None, [], "x", {"object": "page", "entry": []}, {"object": "whatsapp_business_account"}):
        empty = parse(junk, NUMBER)
        assert empty.messages == []
        assert empty.receipts == []


def test_a_phone_number_is_sent_to_and_a_business_scoped_id_to_recipient() -> None:
    assert address("33612345678") == {"to": "33612345678"}
    assert address("FR.1a2b3c") == {"recipient": "FR.1a2b3c"}


def test_a_file_s_checksum_is_read_in_hex_or_in_base64() -> None:
    content = b"\x89PNG a prescription"
    digest = hashlib.sha256(content).digest()
    assert _checksum_matches(content, digest.hex())
    assert _checksum_matches(content, digest.hex().upper())
    assert _checksum_matches(content, base64.b64encode(digest).decode())
    assert _checksum_matches(content, base64.urlsafe_b64encode(digest).decode().rstrip("="))
    assert _checksum_matches(content, None)  # none given: nothing to check
    assert not _checksum_matches(content + b"!", digest.hex())
    assert not _checksum_matches(content + b"!", base64.b64encode(digest).decode())
    assert not _checksum_matches(content, "not a checksum at all")


# --- rendering --------------------------------------------------------------------------------------


def _check_limits(message: dict) -> None:
    """What the Cloud API refuses, checked on every message we build."""
    if message["type"] == "text":
        assert 0 < len(message["text"]["body"]) <= MAX_TEXT
        return
    interactive = message["interactive"]
    assert 0 < len(interactive["body"]["text"]) <= render.MAX_BODY
    action = interactive["action"]
    if interactive["type"] == "button":
        buttons = action["buttons"]
        assert 1 <= len(buttons) <= 3
        titles = [b["reply"]["title"] for b in buttons]
        assert all(0 < len(t) <= 20 for t in titles)
        assert len(set(titles)) == len(titles)
        assert len({b["reply"]["id"] for b in buttons}) == len(buttons)
    else:
        rows = [r for s in action["sections"] for r in s["rows"]]
        assert 1 <= len(rows) <= 10
        assert 0 < len(action["button"]) <= 20
        assert all(0 < len(r["title"]) <= 24 and len(r.get("description", "")) <= 72 for r in rows)
        assert len({r["id"] for r in rows}) == len(rows)
        assert all(len(r["id"]) <= 200 for r in rows)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_question_of_the_flow_fits_whatsapp_s_buttons_or_list(catalog: Catalog, language: str) -> None:
    advisor = {"value": "advisor", "label": catalog.text(language, "choice.advisor")}
    for name, step in STEPS.items():
        if not step.choices:
            continue
        choices = [{"value": c.value, "label": catalog.text(language, c.label)} for c in step.choices]
        payload = {"text": catalog.text(language, step.question), "step": name, "language": language}
        with_advisor = choices if any(c["value"] == "advisor" for c in choices) else [*choices, advisor]
        for offered in (choices, with_advisor):
            built = render.messages({**payload, "choices": offered}, catalog)
            for message in built:
                _check_limits(message)
            last = built[-1]["interactive"]
            if len(offered) <= 3:  # short labels keep a yes/no question on buttons
                assert last["type"] == "button", (name, [c["label"] for c in offered])


def test_too_long_labels_take_the_short_label_or_are_cut_at_a_word(catalog: Catalog) -> None:
    choices = [
        {"value": "yes", "label": "Oui"},
        {"value": "no", "label": "Non"},
        {"value": "advisor", "label": "Parler à un conseiller"},
    ]
    [message] = render.messages({"text": "Urgent ?", "choices": choices, "step": "urgency"}, catalog)
    buttons = message["interactive"]["action"]["buttons"]
    assert [(b["reply"]["id"], b["reply"]["title"]) for b in buttons] == [
        ("urgency:yes", "Oui"),
        ("urgency:no", "Non"),
        ("urgency:advisor", "Un conseiller"),
    ]
    long = [{"value": f"v{i}", "label": f"Une réponse vraiment très longue numéro {i}"} for i in range(12)]
    [message] = render.messages({"text": "Choisissez", "choices": long, "step": "s"}, catalog)
    _check_limits(message)
    rows = message["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 10
    assert rows[0]["title"] == "Une réponse vraiment…"
    assert rows[0]["description"] == "Une réponse vraiment très longue numéro 0"
    assert len({r["title"] for r in rows}) == 10  # alike once shortened: numbered apart
    assert render.shorten("court", 20) == "court"
    assert render.shorten("x" * 30, 20) == "x" * 19 + "…"


def test_a_long_question_is_sent_as_text_then_a_short_body_carries_the_buttons(catalog: Catalog) -> None:
    text = "\n\n".join(f"Paragraphe {i} " + "mot " * 300 for i in range(5))
    choices = [{"value": "yes", "label": "Oui"}, {"value": "no", "label": "Non"}]
    built = render.messages({"text": text, "choices": choices, "step": "urgency"}, catalog)
    for message in built:
        _check_limits(message)
    assert [m["type"] for m in built[:-1]] == ["text"] * (len(built) - 1)
    assert built[-1]["type"] == "interactive"
    sent = " ".join(m["text"]["body"] for m in built[:-1]) + " " + built[-1]["interactive"]["body"]["text"]
    assert sent.split() == text.split()  # nothing lost, nothing repeated


def test_a_template_carries_the_message_flattened_as_its_one_parameter() -> None:
    text = "Bonjour,\n\nVotre opticien passe demain.\n\t•  Créneau :     matin\n" + "long " * 400
    message = render.template(text, "optibot_suivi", "fr")
    template = message["template"]
    assert template["name"] == "optibot_suivi"
    assert template["language"] == {"code": "fr"}
    [parameter] = template["components"][0]["parameters"]
    value = parameter["text"]
    assert "\n" not in value
    assert "\t" not in value
    assert not re.search(" {4,}", value)
    assert len(value) <= render.MAX_PARAMETER
    assert value.endswith("…")
    assert value.startswith("Bonjour, — Votre opticien passe demain. — • Créneau : matin")


# --- settings ---------------------------------------------------------------------------------------

WHATSAPP = {
    "whatsapp_access_token": "EAAJ-token",
    "whatsapp_phone_number_id": NUMBER,
    "whatsapp_app_secret": SECRET.decode(),
    "whatsapp_verify_token": "a-verify-token-of-my-choice",
}


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_a_long_message_outside_the_window_becomes_several_templates_losing_nothing(
    catalog: Catalog,
) -> None:
    text = "\n\n".join(f"Paragraphe {n} : votre commande avance bien, merci." for n in range(60))
    payload = {"text": text, "choices": [{"value": "ok", "label": "D'accord"}], "step": "s"}
    parts = render.messages(payload, catalog)
    made = render.templates(parts, "optibot_suivi", "fr")
    assert len(made) >= 3
    params = [m["template"]["components"][0]["parameters"][0]["text"] for m in made]
    assert all(0 < len(p) <= render.MAX_PARAMETER and "\n" not in p for p in params)
    numbered = [re.match(rf"\({n}/{len(params)}\) (.*)", p) for n, p in enumerate(params, 1)]
    assert all(numbered), params
    # Every word in order, nothing lost; each template starts a paragraph ("Paragraphe n").
    words = [w for m in numbered if m for w in m.group(1).split() if w != "—"]
    assert words == [w for w in f"{text} (D'accord)".split() if w != "—"]
    assert all(m.group(1).startswith("Paragraphe") for m in numbered if m)
    assert render.plain(parts[-1]).endswith("(D'accord)")


def test_whatsapp_is_off_without_a_token_and_checked_with_one() -> None:
    assert not _settings().whatsapp_enabled
    settings = _settings(**WHATSAPP)
    assert settings.whatsapp_enabled
    assert settings.whatsapp_api_url == "https://graph.facebook.com/v25.0"
    assert settings.whatsapp_template("fr") == ("optibot_suivi", "fr")
    assert settings.whatsapp_template("en") == ("optibot_follow_up", "en")
    assert settings.whatsapp_template("de") == ("optibot_suivi", "fr")  # French by default
    for wrong, message in (
        ({"whatsapp_phone_number_id": ""}, "WHATSAPP_PHONE_NUMBER_ID"),
        ({"whatsapp_phone_number_id": "12ab"}, "WHATSAPP_PHONE_NUMBER_ID"),
        ({"whatsapp_app_secret": ""}, "WHATSAPP_APP_SECRET"),
        ({"whatsapp_verify_token": "short"}, "WHATSAPP_VERIFY_TOKEN"),
        ({"whatsapp_api_url": "graph.facebook.com"}, "WHATSAPP_API_URL"),
        ({"whatsapp_template_name_fr": "Optibot Suivi"}, "WHATSAPP_TEMPLATE_NAME_FR"),
        ({"whatsapp_template_language_en": "english"}, "WHATSAPP_TEMPLATE_LANGUAGE_EN"),
    ):
        with pytest.raises(ValueError, match=message) as caught:
            _settings(**{**WHATSAPP, **wrong})
        assert "EAAJ-token" not in str(caught.value)  # secrets are never repeated back
