"""A member on WhatsApp (issue 16): an admin links an optician's WhatsApp number in the console
(normalised to its wa_id, unique), and that number's messages and button replies reach the members'
desk through the fake Graph API; an unknown number stays a client. Both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from storage.tables import cases, clients, member_messages, member_requests
from tests.fakes.whatsapp import FakeWhatsApp
from tests.integration.serving import Service
from tests.integration.test_console import PASSWORD, Staff
from tests.integration.test_whatsapp import Client, serve

MEMBER = "33612345678"
STRANGER = "33698765432"
OPTICIAN: dict[str, Any] = {"name": "Claire Martin", "phone": "01 44 55 66 77", "departments": ["75"]}


@pytest.fixture
async def fake() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp() as server:
        yield server


async def _admin(service: Service) -> Staff:
    await service.services.accounts.add("root", PASSWORD, "admin")
    admin = Staff(service.base)
    assert (await admin.login("root")).status_code == 200
    return admin


async def test_an_admin_links_a_whatsapp_number_checked_normalised_and_unique(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        admin = await _admin(service)
        added = await admin.post("/opticians", {**OPTICIAN, "whatsapp": "06 12 34 56 78"})
        assert added.status_code == 201, added.text
        assert added.json()["whatsapp"] == MEMBER
        other = {**OPTICIAN, "name": "Paul Durand"}
        taken = await admin.post("/opticians", {**other, "whatsapp": "+33 6 12 34 56 78"})
        assert taken.status_code == 409
        assert (await admin.post("/opticians", {**other, "whatsapp": "pas un numéro"})).status_code == 422
        paul = await admin.post("/opticians", {**other, "whatsapp": ""})
        assert paul.json()["whatsapp"] is None
        # Changing the first one's record without the field unlinks the number; the second may take it.
        claire = added.json()["id"]
        headers = {"X-CSRF-Token": admin.csrf}
        changed = await admin.http.put(f"/api/console/opticians/{claire}", json=OPTICIAN, headers=headers)
        assert changed.json()["whatsapp"] is None
        moved = await admin.http.put(
            f"/api/console/opticians/{paul.json()['id']}",
            json={**other, "whatsapp": "0033612345678"},
            headers=headers,
        )
        assert moved.json()["whatsapp"] == MEMBER
        listed = (await admin.get("/opticians")).json()["opticians"]
        assert {o["name"]: o["whatsapp"] for o in listed} == {"Claire Martin": None, "Paul Durand": MEMBER}
        operator = Staff(service.base)
        await operator.login("alice")
        refused = await operator.post("/opticians", {**other, "whatsapp": "06 11 11 11 11"})
        assert refused.status_code == 403


async def test_a_linked_number_gets_the_menu_and_files_a_request_an_unknown_one_is_a_client(
    database_url: str, tmp_path: Path, fake: FakeWhatsApp
) -> None:
    async with serve(database_url, tmp_path, fake) as service:
        admin = await _admin(service)
        added = await admin.post("/opticians", {**OPTICIAN, "whatsapp": "+33 6 12 34 56 78"})
        assert added.status_code == 201
        member = Client(fake, MEMBER)
        await member.say("Bonjour")
        menu = await member.expect("Espace membres")
        assert "m.menu:request" in [button[0] for button in menu[-1].buttons]
        await member.press("m.menu:request")
        kinds = await member.expect("De quel accompagnement")
        assert kinds[-1].interactive_type == "list"  # seven kinds: a list
        await member.press("m.kind:royalty_deferral")
        await member.expect("combien de mois")
        await member.say("3 mois")
        await member.expect("décrivez votre situation")
        await member.say("Les redevances du trimestre me mettent en difficulté.")
        await member.expect("joindre un document")
        await member.press("m.document:skip")
        await member.expect("Voici votre demande", "3 mois")
        await member.press("m.summary:send")
        await member.expect("Sa référence : A-")
        (request,) = await service.rows(member_requests)
        assert (request.kind, request.months, request.channel, request.chat) == (
            "royalty_deferral",
            3,
            "whatsapp",
            MEMBER,
        )
        await member.say("Une précision : deux magasins sont concernés.")
        await member.expect(f"demande {request.reference}")
        thread = await service.rows(member_messages, member_messages.c.request_id == request.id)
        assert [m.kind for m in thread] == ["event", "in"]
        assert await service.rows(clients) == []  # the member is not a client

        stranger = Client(fake, STRANGER)
        await stranger.say("Bonjour, mes lunettes sont cassées")
        await stranger.expect("urgen")
        assert len(await service.rows(clients)) == 1
        assert await service.rows(cases) == []
        assert len(await service.rows(member_requests)) == 1
