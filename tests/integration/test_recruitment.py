"""Recruitment and the map (issue 15), on both databases: demand against coverage per department
and "où recruter" against figures worked out by hand; the public form "Rejoindre le réseau" (each
field checked, RPPS key, rate limit, cross-site refused, nothing in the logs); the candidates'
pipeline in the console (admins act, operators read, anonymous refused, journal lines), the
registration that makes the optician's entry and the Telegram link; retention; the CLI list."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.dispatch import OpticianDetails
from bot.dispatch.notices import service_day
from bot.recruitment import check_registration, luhn_valid
from flows.types import SERVICE_TIME_ZONE
from storage.database import Database, create_engine
from storage.tables import (
    access_journal,
    appointments,
    candidates,
    cases,
    opticians,
)
from tests.e2e.test_cli import optibot
from tests.fakes.telegram import FakeTelegram
from tests.integration.serving import Service, serve_app
from tests.integration.test_console import PASSWORD, Staff, _open_clients
from tests.integration.test_dispatch import fake
from tests.integration.test_telegram import Client
from tests.integration.test_telegram import serve as serve_telegram
from tests.seeding import insert_client

__all__ = ["fake"]
RPPS = "10003245676"  # a made-up number whose last digit is the Luhn key of the first ten
ADELI = "759912345"
FORM = {
    "name": "Camille Verrier",
    "phone": "06 71 23 45 67",
    "email": "Camille.Verrier@Example.fr",
    "departments": ["13", "971"],
    "registration": "1000 324 5676",
    "has_kit": True,
}


def _paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SERVICE_TIME_ZONE)


async def seed_cases(
    database: Database, moments: list[tuple[str | None, datetime]], **values: Any
) -> list[int]:
    """Cases of one client, each in a department (None: without) created at a moment: home visits
    not yet offered, unless ``values`` say otherwise; their ids."""
    now = datetime.now(SERVICE_TIME_ZONE)
    async with database.begin() as connection:
        client_id, conversation_id = await insert_client(
            connection, "web", f"seed-{secrets.token_hex(4)}", now, owner="closed"
        )
        made = []
        for department, at in moments:
            row = {
                "reference": f"OB-{secrets.token_hex(3).upper()}",
                "public_id": secrets.token_hex(8),
                "client_id": client_id,
                "conversation_id": conversation_id,
                "kind": "emergency",
                "status": "queued",
                "channel": "web",
                "language": "fr",
                "priority_rank": 1,
                "mode": "visit",
                "department": department,
                "created_at": at,
                "updated_at": at,
                **values,
            }
            inserted = await connection.execute(sa.insert(cases).values(**row))
            made.append(int(inserted.inserted_primary_key[0]))
        return made


async def _optician(
    service: Service, name: str, departments: list[str], kit: date | None, **state: Any
) -> None:
    """An optician through the registry; ``chat`` links them, ``active`` / ``available`` as given."""
    chat = state.pop("chat", None)
    saved = await service.services.dispatch.save(
        None, OpticianDetails(name, "06 11 22 33 44", departments, kit, **state)
    )
    if chat is not None:
        async with service.services.database.begin() as connection:
            await connection.execute(
                sa.update(opticians).where(opticians.c.public_id == saved["id"]).values(telegram_chat=chat)
            )


async def _candidate(service: Service, departments: list[str], status: str) -> None:
    now = datetime.now(SERVICE_TIME_ZONE)
    async with service.services.database.begin() as connection:
        await connection.execute(
            sa.insert(candidates).values(
                public_id=secrets.token_hex(8),
                name="Seed",
                phone="+33600000000",
                email="seed@example.fr",
                departments=departments,
                registration=ADELI,
                has_kit=True,
                source="web",
                status=status,
                created_at=now,
                updated_at=now,
            )
        )


def _row(answer: dict[str, Any], code: str) -> dict[str, Any]:
    return next(r for r in answer["departments"] if r["code"] == code)


async def test_demand_coverage_and_where_to_recruit_match_the_figures_worked_out_by_hand(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_app(database_url, tmp_path) as service:
        today = service_day(datetime.now(SERVICE_TIME_ZONE))
        start = today - timedelta(days=9)
        moments: list[tuple[str | None, datetime]] = []
        moments += [("75", _paris(start + timedelta(days=i), 12)) for i in range(6)]
        moments += [("75", _paris(start - timedelta(days=1), 12))]  # the day before: out
        moments += [("92", _paris(start, 9)), ("92", _paris(today, 0, 1))]
        moments += [("13", _paris(start + timedelta(days=i), 15)) for i in range(4)]
        moments += [("971", _paris(start + timedelta(days=2), 8)) for _ in range(3)]
        moments += [("69", _paris(start + timedelta(days=i % 9), 10)) for i in range(12)]
        # Paris days: 00:30 on the first day is in (22:30 UTC the day before); 23:30 the day before is out.
        moments += [("2A", _paris(start, 0, 30)), ("2A", _paris(start - timedelta(days=1), 23, 30))]
        moments += [(None, _paris(start, 12))]
        await seed_cases(service.services.database, moments)

        in_60 = today + timedelta(days=60)
        await _optician(service, "A", ["75", "92"], in_60, chat="1")
        await _optician(service, "B", ["75"], today + timedelta(days=5), chat="2")  # covers; kit expiring
        await _optician(service, "C", ["13"], today - timedelta(days=1), chat="3")  # kit expired
        await _optician(service, "D", ["13"], in_60)  # not linked
        await _optician(service, "E", ["971"], in_60, chat="5", available=False)
        await _optician(service, "F", ["2A"], in_60, chat="6", active=False)
        await _optician(service, "G", ["92"], today, chat="7")  # valid through today; expiring
        await _optician(service, "H", ["59"], in_60, chat="8")  # covers, no demand
        await _optician(service, "I", ["69"], in_60, chat="9")
        await _candidate(service, ["13", "971"], "new")
        await _candidate(service, ["69"], "contacted")
        await _candidate(service, ["13"], "declined")  # out of the pipeline
        await _candidate(service, ["13"], "registered")  # likewise

        answer = dict(await service.services.recruitment.coverage(start, today))
        figures = {
            code: (r["demand"], r["covering"], r["kits_expiring"], r["candidates"], r["shade"], r["unmet"])
            for code in ("75", "92", "13", "971", "69", "2A", "59", "01")
            for r in [_row(answer, code)]
        }
        # Reference load: demand where someone covers / those opticians = (6 + 2 + 12) / (2 + 2 + 1 + 1).
        assert answer["reference_load"] == round(20 / 6, 2)
        assert figures == {
            "75": (6, 2, 1, 0, "covered", 0),
            "92": (2, 2, 1, 0, "covered", 0),
            "13": (4, 0, 0, 1, "gap", 4),
            "971": (3, 0, 0, 1, "gap", 3),
            # Judged against the others: (6 + 2 + 0) / (2 + 2 + 1) = 1.6; 12 ≥ 3 × 1.6; unmet 12 − 1.6 ≈ 10.
            "69": (12, 1, 0, 1, "strained", 10),
            "2A": (1, 0, 0, 0, "gap", 1),
            "59": (0, 1, 0, 0, "ready", 0),
            "01": (0, 0, 0, 0, "idle", 0),
        }
        assert [r["code"] for r in answer["recruit"]] == ["69", "13", "971", "2A"]
        assert answer["totals"] == {"demand": 28, "unmet": 18, "gaps": 3, "strained": 1}
        assert len(answer["departments"]) == 102
        assert _row(answer, "971")["overseas"] is True
        assert _row(answer, "971")["name"] == "Guadeloupe"

        # Through the API: signed-in staff only, the period in Paris days, a bad period refused.
        bob = Staff(service.base)
        anonymous = httpx.AsyncClient(base_url=service.base)
        try:
            await service.services.accounts.add("bob", PASSWORD, "operator")
            assert (await anonymous.get("/api/console/coverage")).status_code == 401
            await bob.login("bob")
            got = await bob.get("/coverage", **{"from": start.isoformat(), "to": today.isoformat()})
            assert got.status_code == 200
            assert got.json()["recruit"] == answer["recruit"]
            one_day = (
                await bob.get("/coverage", **{"from": start.isoformat(), "to": start.isoformat()})
            ).json()
            assert _row(one_day, "2A")["demand"] == 1
            assert _row(one_day, "75")["demand"] == 1
            upside_down = await bob.get("/coverage", **{"from": today.isoformat(), "to": start.isoformat()})
            assert upside_down.status_code == 422
        finally:
            await anonymous.aclose()
            await _open_clients()


async def test_where_to_recruit_judges_a_department_against_the_others_and_counts_visits_nobody_took(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_app(database_url, tmp_path) as service:
        database = service.services.database
        today = service_day(datetime.now(SERVICE_TIME_ZONE))
        start = today - timedelta(days=9)
        day = _paris(start + timedelta(days=1), 11)
        in_60 = today + timedelta(days=60)
        # 75: one optician, 20 visits; 92: two opticians, 4 visits; 33 (below): one, 5 visits. With
        # 75 in its own reference ((20 + 4 + 5) / 4 ≈ 7.25), 20 < 3 × 7.25 hid it; against the others
        # ((4 + 5) / 3 = 3) 20 ≥ 9: unmet 20 − 3 = 17.
        await seed_cases(database, [("75", day)] * 20)
        await seed_cases(database, [("92", day)] * 4)
        await _optician(service, "A", ["75"], in_60, chat="1")
        await _optician(service, "B", ["92"], in_60, chat="2")
        await _optician(service, "C", ["92"], in_60, chat="3")
        # 33: no strain (5 < 3 × (20 + 4) / 3), but what really happened:
        # 2 offered with the no-taker alert up, 1 offered then turned into a shipment (3 no taker),
        # 1 offered and taken, 1 offered and still open (pending): unmet 3.
        await _optician(service, "D", ["33"], in_60, chat="4")
        await seed_cases(database, [("33", day)] * 2, dispatch_round=1, no_taker_at=day)
        await seed_cases(database, [("33", day)], dispatch_round=2, mode="shipment")
        (taken,) = await seed_cases(database, [("33", day)], dispatch_round=1, no_taker_at=day)
        await seed_cases(database, [("33", day)], dispatch_round=1)
        # Not visits: an advisor's case and a shipment never offered count as demand only.
        await seed_cases(database, [("33", day)], mode=None, kind="advisor")
        await seed_cases(database, [("13", day)], mode="shipment")
        async with database.begin() as connection:
            await connection.execute(
                sa.insert(appointments).values(
                    case_id=taken, status="proposed", created_at=day, updated_at=day
                )
            )

        answer = dict(await service.services.recruitment.coverage(start, today))
        figures = {
            code: (r["demand"], r["visits"], r["no_taker"], r["covering"], r["shade"], r["unmet"])
            for code in ("75", "92", "33", "13")
            for r in [_row(answer, code)]
        }
        assert figures == {
            "75": (20, 20, 0, 1, "strained", 17),
            "92": (4, 4, 0, 2, "covered", 0),  # 2 each against (20 + 5) / 2 = 12.5
            "33": (6, 5, 3, 1, "strained", 3),
            "13": (1, 0, 0, 0, "gap", 0),  # a shipment never offered: no optician was needed
        }
        assert [r["code"] for r in answer["recruit"]] == ["75", "33"]

        # Alone in the country, a department is judged against 1 visit a day per optician:
        # 10 days, 31 visits ≥ 3 × 10 → unmet 31 − 10 = 21.
        async with database.begin() as connection:
            await connection.execute(sa.delete(appointments))
            await connection.execute(sa.delete(cases))
            await connection.execute(sa.update(opticians).values(active=False))
        await seed_cases(database, [("69", day)] * 31)
        await _optician(service, "E", ["69"], in_60, chat="5")
        alone = dict(await service.services.recruitment.coverage(start, today))
        assert (_row(alone, "69")["shade"], _row(alone, "69")["unmet"]) == ("strained", 21)


def _client(service: Service, address: str = "10.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service.base, headers={"X-Forwarded-For": address}, timeout=15)


def _join(**overrides: Any) -> dict[str, Any]:
    return {**FORM, **overrides}


def test_registration_numbers_rpps_with_its_luhn_key_or_adeli() -> None:
    assert luhn_valid(RPPS)
    assert not luhn_valid("10003245671")
    assert check_registration("1000 324 5676") == RPPS
    assert check_registration("10003245671") is None  # wrong key
    assert check_registration(ADELI) == ADELI
    assert check_registration("75991234") is None  # 8 digits
    assert check_registration("7599123456") is None  # 10 digits
    assert check_registration("75991234a") is None
    assert check_registration("٧٥٩٩١٢٣٤٥") is None  # other scripts' digits


async def test_the_public_form_stores_a_valid_candidate_and_says_what_is_wrong_field_by_field(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with serve_app(database_url, tmp_path, forwarded_allow_ips="127.0.0.1") as service:
        async with _client(service) as web:
            page = await web.get("/rejoindre")
            assert page.status_code == 200
            assert "Rejoindre le réseau" in page.text
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert "<script>" not in page.text
            assert " style=" not in page.text
            departments = (await web.get("/api/join/departments")).json()
            assert len(departments) == 102
            assert {"code": "2A", "name": "Corse-du-Sud"} in departments

            made = await web.post("/api/join", json=FORM)
            assert made.status_code == 201, made.text
            assert "Merci" in made.json()["message"]
            (row,) = await service.rows(candidates)
            assert (row.name, row.phone, row.email, row.departments, row.registration, row.has_kit) == (
                "Camille Verrier",
                "+33671234567",
                "camille.verrier@example.fr",
                ["13", "971"],
                RPPS,
                True,
            )
            assert (row.status, row.source) == ("new", "web")

            wrong = {
                "name": "   ",
                "phone": "06 12",
                "email": "camille@",
                "departments": ["99"],
                "registration": "10003245671",  # the Luhn key is wrong
                "has_kit": None,
            }
            messages = {
                "name": "nom",
                "phone": "téléphone",
                "email": "e-mail",
                "departments": "départements",
                "registration": "RPPS",
                "has_kit": "kit",
            }
            for field, value in wrong.items():
                refused = await web.post("/api/join", json=_join(**{field: value}))
                assert refused.status_code == 422, field
                assert list(refused.json()["fields"]) == [field]
                assert messages[field] in refused.json()["fields"][field]
            everything = await web.post("/api/join", json=wrong)
            assert sorted(everything.json()["fields"]) == sorted(wrong)
            adeli = await web.post("/api/join", json=_join(registration=ADELI, departments=["2a", "1"]))
            assert adeli.status_code == 201
            unreadable = await web.post("/api/join", json={"name": ["x"]})
            assert unreadable.status_code == 422
            assert "illisible" in unreadable.json()["detail"]

        async with _client(service, "10.0.0.2") as other:
            cross = await other.post("/api/join", json=FORM, headers={"Origin": "https://evil.example"})
            assert cross.status_code == 403
            marked = await other.post("/api/join", json=FORM, headers={"Sec-Fetch-Site": "cross-site"})
            assert marked.status_code == 403
            form = await other.post(
                "/api/join", content=json.dumps(FORM), headers={"Content-Type": "text/plain"}
            )
            assert form.status_code == 415
            same = await other.post("/api/join", json=FORM, headers={"Origin": service.base})
            assert same.status_code == 201
            big = await other.post("/api/join", json=_join(name="x" * 20_000))
            assert big.status_code == 413
        assert len(await service.rows(candidates)) == 3
    for secret in ("Camille", "Verrier", "71 23 45 67", "671234567", "example.fr", "0003245676", "3245671"):
        assert secret not in caplog.text, secret


async def test_the_form_is_rate_limited_per_address(database_url: str, tmp_path: Path) -> None:
    async with serve_app(database_url, tmp_path, forwarded_allow_ips="127.0.0.1") as service:
        async with _client(service, "10.0.0.3") as web, _client(service, "10.0.0.4") as neighbour:
            for _ in range(10):
                assert (await web.post("/api/join", json=_join(phone="06"))).status_code == 422
            refused = await web.post("/api/join", json=FORM)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0
            assert (await neighbour.post("/api/join", json=FORM)).status_code == 201
        assert len(await service.rows(candidates)) == 1


async def test_the_pipeline_admins_move_candidates_operators_read_and_registered_makes_the_optician(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_app(database_url, tmp_path, forwarded_allow_ips="127.0.0.1") as service:
        accounts = service.services.accounts
        await accounts.add("alice", PASSWORD, "admin")
        await accounts.add("bob", PASSWORD, "operator")
        alice, bob = Staff(service.base), Staff(service.base)
        anonymous = httpx.AsyncClient(base_url=service.base)
        try:
            await alice.login("alice")
            await bob.login("bob")
            async with _client(service) as web:
                assert (await web.post("/api/join", json=FORM)).status_code == 201
                assert (
                    await web.post("/api/join", json=_join(departments=["75"], email="b@example.fr"))
                ).status_code == 201
            assert (await anonymous.get("/api/console/candidates")).status_code == 401
            page = (await bob.get("/candidates")).json()
            assert (page["total"], page["offset"], page["more"]) == (2, 0, 0)
            listed = page["candidates"]
            assert len(listed) == 2
            # An operator's list: name, departments, status — no contact details, no number, no note.
            summary = {"id", "name", "departments", "has_kit", "status", "optician", "created_at"}
            assert all(set(c) == summary | {"updated_at", "status_by"} for c in listed)
            by_department = (await bob.get("/candidates", department="971")).json()["candidates"]
            assert [c["name"] for c in by_department] == ["Camille Verrier"]
            cid = by_department[0]["id"]
            # The details are an admin's, and each read is journaled (the id only).
            assert (await bob.get(f"/candidates/{cid}")).status_code == 403
            camille = (await alice.get(f"/candidates/{cid}")).json()
            assert (camille["email"], camille["phone"]) == ("camille.verrier@example.fr", "+33671234567")
            assert camille["registration_kind"] == "RPPS"
            assert camille["status"] == "new"
            views = await service.rows(access_journal, access_journal.c.action == "view_candidate")
            assert [(r.actor, r.detail) for r in views] == [("alice", cid)]
            assert (await bob.get("/candidates", status="bogus")).status_code == 422
            assert (await bob.get("/candidates", department="99")).status_code == 422

            # Operators read only; anonymous is refused; a change without the CSRF token too.
            assert (await bob.post(f"/candidates/{cid}/status", {"status": "contacted"})).status_code == 403
            assert (await bob.post(f"/candidates/{cid}/note", {"text": "x"})).status_code == 403
            assert (await bob.post(f"/candidates/{cid}/register")).status_code == 403
            assert (
                await anonymous.post(f"/api/console/candidates/{cid}/status", json={"status": "contacted"})
            ).status_code == 401
            no_token = await alice.http.post(
                f"/api/console/candidates/{cid}/status", json={"status": "contacted"}
            )
            assert no_token.status_code == 403

            # new → contacted → accepted → registered, each once; registering before accepting is refused.
            assert (await alice.post(f"/candidates/{cid}/register")).status_code == 409
            contacted = await alice.post(f"/candidates/{cid}/status", {"status": "contacted"})
            assert contacted.status_code == 200
            assert contacted.json()["status"] == "contacted"
            assert contacted.json()["status_by"] == "alice"
            again = await alice.post(f"/candidates/{cid}/status", {"status": "contacted"})
            assert again.status_code == 409
            assert "contactée" in again.json()["detail"]
            noted = await alice.post(f"/candidates/{cid}/note", {"text": "Rappeler lundi,  dispo le soir"})
            assert noted.json()["note"] == "Rappeler lundi, dispo le soir"
            assert (await alice.post(f"/candidates/{cid}/status", {"status": "accepted"})).status_code == 200
            registered = await alice.post(f"/candidates/{cid}/register")
            assert registered.status_code == 200, registered.text
            answer = registered.json()
            assert answer["candidate"]["status"] == "registered"
            assert answer["candidate"]["optician"]
            assert answer["command"].startswith("/start optician_")
            assert answer["link"] is None  # no Telegram bot configured here: the command is shown
            assert (await alice.post(f"/candidates/{cid}/register")).status_code == 409

            # The optician's entry, as the console's "Ajouter" makes it; the code links their chat once.
            (optician,) = await service.rows(opticians)
            assert (optician.public_id, optician.name, optician.phone, optician.departments) == (
                answer["candidate"]["optician"],
                "Camille Verrier",
                "+33671234567",
                ["13", "971"],
            )
            assert optician.telegram_chat is None
            assert optician.kit_expires_on is None
            await service.services.dispatch.link("4242", answer["command"].removeprefix("/start optician_"))
            (optician,) = await service.rows(opticians)
            assert optician.telegram_chat == "4242"

            # The other candidate is declined; a declined candidate cannot be contacted again.
            other = next(c for c in listed if c["id"] != cid)["id"]
            assert (
                await alice.post(f"/candidates/{other}/status", {"status": "declined"})
            ).status_code == 200
            assert (
                await alice.post(f"/candidates/{other}/status", {"status": "contacted"})
            ).status_code == 409
            assert [
                c["status"] for c in (await bob.get("/candidates", status="declined")).json()["candidates"]
            ] == ["declined"]

            lines = [
                (r.actor, r.action, r.detail)
                for r in await service.rows(access_journal, access_journal.c.action == "candidate")
            ]
            assert lines == [
                ("alice", "candidate", f"contacted {cid}"),
                ("alice", "candidate", f"note {cid}"),
                ("alice", "candidate", f"accepted {cid}"),
                ("alice", "candidate", f"registered {cid}"),
                ("alice", "candidate", f"declined {other}"),
            ]
        finally:
            await anonymous.aclose()
            await _open_clients()


async def test_retention_deletes_candidates_left_untouched_past_the_delay_and_the_cli_lists_them(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_app(database_url, tmp_path, forwarded_allow_ips="127.0.0.1") as service:
        async with _client(service) as web:
            assert (await web.post("/api/join", json=FORM)).status_code == 201
            assert (
                await web.post("/api/join", json=_join(name="Old Timer", email="old@example.fr"))
            ).status_code == 201
        async with service.services.database.begin() as connection:
            await connection.execute(
                sa.update(candidates)
                .where(candidates.c.name == "Old Timer")
                .values(status="declined", updated_at=datetime.now(SERVICE_TIME_ZONE) - timedelta(days=366))
            )
        done = await service.services.engine.privacy.purge()
        assert done.candidates == 1
        assert ("candidates declined or left untouched", 1) in done.lines()
        assert [r.name for r in await service.rows(candidates)] == ["Camille Verrier"]

    listed = json.loads(
        optibot("candidates", "list", "--json", database_url=database_url, workdir=tmp_path).stdout
    )
    assert (listed["total"], listed["more"]) == (1, 0)
    assert [(c["name"], c["status"], c["departments"]) for c in listed["candidates"]] == [
        ("Camille Verrier", "new", ["13", "971"])
    ]
    table = optibot("candidates", "list", database_url=database_url, workdir=tmp_path).stdout.splitlines()
    assert table[0].split()[:3] == ["id", "statut", "reçue"]
    assert "Camille Verrier" in table[1]
    assert "RPPS 10003245676" in table[1]
    assert "13,971" in table[1]


async def test_two_admins_registering_at_once_make_one_optician_and_the_link_works_in_telegram(
    database_url: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    async with serve_telegram(database_url, tmp_path, fake) as service:
        await service.services.accounts.add("alice", PASSWORD, "admin")
        await service.services.accounts.add("carol", PASSWORD, "admin")
        alice, carol = Staff(service.base), Staff(service.base)
        try:
            await alice.login("alice")
            await carol.login("carol")
            async with _client(service) as web:
                assert (await web.post("/api/join", json=FORM)).status_code == 201
            (cid,) = [c["id"] for c in (await alice.get("/candidates")).json()["candidates"]]
            assert (await alice.post(f"/candidates/{cid}/status", {"status": "accepted"})).status_code == 200
            await fake.wait_for(
                lambda: (
                    service.services.telegram is not None and service.services.telegram.username is not None
                )
            )
            answers = await asyncio.gather(
                alice.post(f"/candidates/{cid}/register"), carol.post(f"/candidates/{cid}/register")
            )
            assert sorted(a.status_code for a in answers) == [200, 409]
            assert len(await service.rows(opticians)) == 1
            won = next(a for a in answers if a.status_code == 200).json()
            assert won["link"].startswith("https://t.me/optibot_test_bot?start=optician_")
            assert won["qr"].startswith("data:image/svg+xml")
            await fake.say(611, won["command"])
            await Client(fake, 611).expect("relié")
            (optician,) = await service.rows(opticians)
            assert optician.telegram_chat == "611"
        finally:
            await _open_clients()


async def test_a_registration_the_registry_refuses_leaves_the_candidate_accepted(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_app(database_url, tmp_path) as service:
        await service.services.accounts.add("alice", PASSWORD, "admin")
        alice = Staff(service.base)
        try:
            await alice.login("alice")
            await _candidate(service, ["75"], "accepted")
            async with service.services.database.begin() as connection:  # a number the registry refuses
                await connection.execute(sa.update(candidates).values(phone="not a phone"))
            (cid,) = [c["id"] for c in (await alice.get("/candidates")).json()["candidates"]]
            refused = await alice.post(f"/candidates/{cid}/register")
            assert refused.status_code == 422
            assert "téléphone" in refused.json()["detail"]
            (row,) = await service.rows(candidates)
            assert (row.status, row.optician_id) == ("accepted", None)
            assert await service.rows(opticians) == []
            assert await service.rows(access_journal, access_journal.c.action == "candidate") == []
        finally:
            await _open_clients()


async def test_behind_a_proxy_the_origin_is_public_url_and_sec_fetch_site_same_origin_is_enough(
    database_url: str, tmp_path: Path
) -> None:
    public = "https://optibot.example"
    async with serve_app(
        database_url, tmp_path, forwarded_allow_ips="127.0.0.1", public_url=public
    ) as service:
        async with _client(service) as web:
            # The proxy rewrote Host (here 127.0.0.1:port): the page's Origin is PUBLIC_URL's.
            assert (await web.post("/api/join", json=FORM, headers={"Origin": public})).status_code == 201
            assert (
                await web.post("/api/join", json=FORM, headers={"Origin": f"{public}:443"})
            ).status_code == 201
            # Once PUBLIC_URL is set, the Host is not the service's origin; nor is a look-alike.
            for other in (service.base, "https://optibot.example.evil", "http://optibot.example"):
                refused = await web.post("/api/join", json=FORM, headers={"Origin": other})
                assert refused.status_code == 403, other
            # The browser's own word that the request is same-origin is enough.
            same = await web.post(
                "/api/join", json=FORM, headers={"Origin": service.base, "Sec-Fetch-Site": "same-origin"}
            )
            assert same.status_code == 201
            cross = await web.post(
                "/api/join", json=FORM, headers={"Origin": public, "Sec-Fetch-Site": "cross-site"}
            )
            assert cross.status_code == 403
        assert len(await service.rows(candidates)) == 3


async def test_the_rate_limit_counts_an_ipv6_64_as_one_address_and_caps_everyone_together(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.web.join.JOIN_PER_HOUR", "13/hour")
    async with serve_app(database_url, tmp_path, forwarded_allow_ips="127.0.0.1") as service:
        async with _client(service, "2001:db8:1:2::1") as web:
            for _ in range(10):
                assert (await web.post("/api/join", json=_join(phone="06"))).status_code == 422
        async with _client(service, "2001:db8:1:2:ffff::9") as same_network:
            refused = await same_network.post("/api/join", json=FORM)
            assert refused.status_code == 429  # another address of the same /64
            assert "votre connexion" in refused.json()["detail"]
        async with _client(service, "2001:db8:1:3::1") as next_network:
            assert (await next_network.post("/api/join", json=FORM)).status_code == 201
        # 11 counted so far (a request refused for its address is not); everyone together: 13 an hour.
        for address in ("10.0.1.1", "10.0.1.2"):
            async with _client(service, address) as web:
                assert (await web.post("/api/join", json=FORM)).status_code == 201
        async with _client(service, "10.0.1.3") as web:
            capped = await web.post("/api/join", json=FORM)
            assert capped.status_code == 429
            assert "en ce moment" in capped.json()["detail"]
            assert int(capped.headers["retry-after"]) > 0
        assert len(await service.rows(candidates)) == 3


async def test_hidden_characters_are_refused_in_the_form_and_escaped_by_the_cli(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_app(database_url, tmp_path, forwarded_allow_ips="127.0.0.1") as service:
        async with _client(service) as web:
            for field, value in (
                ("name", "Camille \u202eVerrier"),  # a right-to-left override
                ("name", "Camille\x1b[2JVerrier"),  # a terminal's escape sequence
                ("name", "Cam\u200bille"),  # a zero-width space
                ("email", "camille\u200b@example.fr"),
                ("phone", "06 71 23\u200e 45 67"),  # a left-to-right mark
                ("registration", "1000\u2028 324 5676"),
            ):
                refused = await web.post("/api/join", json=_join(**{field: value}))
                assert refused.status_code == 422, (field, value)
                assert list(refused.json()["fields"]) == [field]
            # Ordinary spaces and accents are fine.
            assert (await web.post("/api/join", json=_join(name="Éloïse  Martin-Dubœuf"))).status_code == 201
        await service.services.accounts.add("alice", PASSWORD, "admin")
        alice = Staff(service.base)
        try:
            await alice.login("alice")
            ((cid,),) = [[c["id"] for c in (await alice.get("/candidates")).json()["candidates"]]]
            note = await alice.post(f"/candidates/{cid}/note", {"text": "appeler\u202e demain"})
            assert note.status_code == 422
        finally:
            await _open_clients()
        # A row stored before the check (or by hand): the CLI shows its characters escaped.
        async with service.services.database.begin() as connection:
            await connection.execute(sa.update(candidates).values(name="Camille\x1b[2J\u202eVerrier"))
    table = optibot("candidates", "list", database_url=database_url, workdir=tmp_path).stdout
    assert "Camille\\x1b[2J\\u202eVerrier" in table
    assert "\x1b" not in table
    assert "\u202e" not in table
    raw = optibot("candidates", "list", "--json", database_url=database_url, workdir=tmp_path).stdout
    assert "\x1b" not in raw
    assert "\u202e" not in raw
    assert json.loads(raw)["candidates"][0]["name"] == "Camille\x1b[2J\u202eVerrier"


async def test_pages_of_candidates_say_how_many_more_and_the_cli_does_what_the_console_does(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_app(database_url, tmp_path) as service:
        await service.services.accounts.add("bob", PASSWORD, "operator")
        bob = Staff(service.base)
        for departments in (["13"], ["130"], ["13", "75"], ["75"], ["2A"]):
            await _candidate(service, departments, "new")
        try:
            await bob.login("bob")
            page = (await bob.get("/candidates", limit="2", offset="1")).json()
            assert (len(page["candidates"]), page["total"], page["more"]) == (2, 5, 2)
            everyone = (await bob.get("/candidates")).json()["candidates"]
            assert page["candidates"] == everyone[1:3]
            thirteen = (await bob.get("/candidates", department="13")).json()
            assert sorted(c["departments"] for c in thirteen["candidates"]) == [["13"], ["13", "75"]]
            assert thirteen["total"] == 2
            assert (await bob.get("/candidates", department="2a")).json()["total"] == 1
            assert (await bob.get("/candidates", limit="0")).status_code == 422
        finally:
            await _open_clients()

    def cli(*args: str, expect: int = 0) -> str:
        return optibot("candidates", *args, database_url=database_url, workdir=tmp_path, expect=expect).stdout

    table = cli("list", "--limit", "2").splitlines()
    assert len(table) == 4
    assert table[-1] == "… 3 de plus (--offset 2)"
    last = json.loads(cli("list", "--json", "--limit", "2", "--offset", "4"))
    assert (len(last["candidates"]), last["total"], last["more"]) == (1, 5, 0)
    cid = json.loads(cli("list", "--json", "--department", "2A"))["candidates"][0]["id"]

    # The console's moves from the command line, same rules and journal (cli:<user>).
    assert "contacted" in cli("set", cid, "contacted")
    assert "note enregistrée" in cli("note", cid, "Rappeler lundi")
    assert (
        "acceptez-la d'abord"
        in optibot(
            "candidates", "register", cid, database_url=database_url, workdir=tmp_path, expect=1
        ).stderr
    )
    cli("set", cid, "accepted")
    registered = cli("register", cid)
    assert "inscrite, opticien" in registered
    assert "commande à taper dans le bot : /start optician_" in registered
    refused = optibot(
        "candidates", "set", cid, "contacted", database_url=database_url, workdir=tmp_path, expect=1
    )
    assert "inscrite" in refused.stderr
    database = create_engine(database_url)
    try:
        async with database.connect() as connection:
            lines = (
                await connection.execute(
                    sa.select(access_journal.c.actor, access_journal.c.detail)
                    .where(access_journal.c.action == "candidate")
                    .order_by(access_journal.c.id)
                )
            ).all()
            (row,) = (
                await connection.execute(sa.select(candidates).where(candidates.c.public_id == cid))
            ).all()
            (optician,) = (await connection.execute(sa.select(opticians))).all()
            views = (
                await connection.execute(
                    sa.select(access_journal.c.actor, access_journal.c.detail).where(
                        access_journal.c.action == "view_candidate"
                    )
                )
            ).all()
    finally:
        await database.dispose()
    # Each candidate a list showed is journaled: 2, then 1, then the one of 2A.
    assert len(views) == 4
    assert all(actor.startswith("cli:") for actor, _ in views)
    assert all(actor.startswith("cli:") for actor, _ in lines)
    assert [detail for _, detail in lines] == [
        f"contacted {cid}",
        f"note {cid}",
        f"accepted {cid}",
        f"registered {cid}",
    ]
    assert (row.status, row.note, row.optician_id) == ("registered", "Rappeler lundi", optician.id)
    assert row.status_by.startswith("cli:")


async def test_a_registration_a_crash_left_half_done_is_done_again(database_url: str, tmp_path: Path) -> None:
    async with serve_app(database_url, tmp_path) as service:
        await service.services.accounts.add("alice", PASSWORD, "admin")
        alice = Staff(service.base)
        long_ago = datetime.now(SERVICE_TIME_ZONE) - timedelta(minutes=10)
        try:
            await alice.login("alice")
            # A crash right after the move: registered, no optician.
            await _candidate(service, ["75"], "registered")
            async with service.services.database.begin() as connection:
                await connection.execute(sa.update(candidates).values(updated_at=long_ago))
            (cid,) = [c["id"] for c in (await alice.get("/candidates")).json()["candidates"]]
            done = await alice.post(f"/candidates/{cid}/register")
            assert done.status_code == 200, done.text
            assert done.json()["command"].startswith("/start optician_")
            (optician,) = await service.rows(opticians)
            (row,) = await service.rows(candidates)
            assert (row.status, row.optician_id, optician.name) == ("registered", optician.id, "Seed")
            assert (await alice.post(f"/candidates/{cid}/register")).status_code == 409  # done now

            # A crash after the optician's entry was made: the retry links it, no second entry.
            await _candidate(service, ["13"], "accepted")
            async with service.services.database.begin() as connection:
                await connection.execute(
                    sa.update(candidates)
                    .where(candidates.c.optician_id.is_(None))
                    .values(status="registered", updated_at=long_ago, name="Other Seed")
                )
            other = next(
                c["id"] for c in (await alice.get("/candidates")).json()["candidates"] if c["id"] != cid
            )
            made = await service.services.dispatch.save(
                None, OpticianDetails("Other Seed", "+33600000000", ["13"], None)
            )
            # A registration under way (moved a moment ago) is not taken over.
            async with service.services.database.begin() as connection:
                await connection.execute(
                    sa.update(candidates)
                    .where(candidates.c.public_id == other)
                    .values(updated_at=datetime.now(SERVICE_TIME_ZONE))
                )
            busy = await alice.post(f"/candidates/{other}/register")
            assert busy.status_code == 409
            assert "en cours" in busy.json()["detail"]
            async with service.services.database.begin() as connection:
                await connection.execute(
                    sa.update(candidates).where(candidates.c.public_id == other).values(updated_at=long_ago)
                )
            linked = await alice.post(f"/candidates/{other}/register")
            assert linked.status_code == 200, linked.text
            assert linked.json()["candidate"]["optician"] == made["id"]
            assert len(await service.rows(opticians)) == 2
        finally:
            await _open_clients()
