"""Announcements to members (issue 16), on real databases (both): the preview by channel and the
text, the departments' filter, one delivery per member written at once, nothing handed over twice
(two processes at once), the outbox share, each member's state following their outbound row,
cancelling, a second click refused; the console's routes and the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import Services
from bot.broadcasts import OUTBOX_SHARE
from bot.engine import utcnow
from bot.errors import RefusedError
from bot.members.announcements import MAX_TEXT
from storage.database import Database
from storage.tables import access_journal, announcement_deliveries, announcements, inbox, messages, opticians
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.integration.serving import serve_app
from tests.integration.test_broadcasts import seed, serve, until
from tests.integration.test_broadcasts_review import services_of
from tests.integration.test_console import PASSWORD, Staff, _open_clients
from tests.integration.test_waitlist_cli import optibot

HEADER = "📣 Message de la fédération\n\n"


@dataclass
class Roll:
    """The members seeded: their chats by channel, and the row ids of those reached nowhere."""

    telegram: list[str] = field(default_factory=list)
    whatsapp: list[str] = field(default_factory=list)
    unreachable: list[int] = field(default_factory=list)


async def add_member(
    database: Database,
    name: str,
    departments: list[str],
    *,
    telegram: str | None = None,
    whatsapp: str | None = None,
    active: bool = True,
    available: bool = True,
) -> int:
    now = utcnow()
    async with database.begin() as connection:
        inserted = await connection.execute(
            sa.insert(opticians)
            .values(
                public_id=secrets.token_hex(8),
                name=name,
                phone=f"+336{secrets.randbelow(10**8):08d}",
                departments=departments,
                active=active,
                available=available,
                telegram_chat=telegram,
                whatsapp=whatsapp,
                created_at=now,
                updated_at=now,
            )
            .returning(opticians.c.id)
        )
        return int(inserted.scalar_one())


async def seed_members(database: Database) -> Roll:
    """Three on Telegram in 75 (one unavailable), two on WhatsApp in 13, one on both in 92 (Telegram
    first), one linked nowhere in 75, one inactive in 13."""
    roll = Roll()
    for i in range(3):
        roll.telegram.append(f"61{i}")
        await add_member(database, f"Paris {i}", ["75"], telegram=f"61{i}", available=i != 2)
    for i in range(2):
        roll.whatsapp.append(f"3361000000{i}")
        await add_member(database, f"Marseille {i}", ["13"], whatsapp=f"3361000000{i}")
    roll.telegram.append("699")
    await add_member(database, "Nanterre", ["92", "95"], telegram="699", whatsapp="33699999999")
    roll.unreachable.append(await add_member(database, "Sans lien", ["75"]))
    roll.unreachable.append(await add_member(database, "Inactif", ["13"], telegram="688", active=False))
    return roll


@contextlib.asynccontextmanager
async def members_desk(database_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    """The services, no worker nor outbox running (the tests turn the worker's handle)."""
    async with services_of(database_url, tmp_path) as services:
        yield services


async def outbound(services: Services) -> list[Any]:
    async with services.database.connect() as connection:
        return list(
            await connection.execute(
                sa.select(messages).where(messages.c.direction == "out").order_by(messages.c.id)
            )
        )


async def deliveries(services: Services) -> list[Any]:
    async with services.database.connect() as connection:
        return list(
            await connection.execute(
                sa.select(announcement_deliveries).order_by(announcement_deliveries.c.id)
            )
        )


async def hand_over_all(services: Services) -> None:
    while await services.members.announcements.hand_over():
        pass


# --- the preview ---------------------------------------------------------------------------------


async def test_the_preview_counts_members_by_channel_and_shows_the_message_as_they_read_it(
    database_url: str, tmp_path: Path
) -> None:
    async with members_desk(database_url, tmp_path) as services:
        await seed_members(services.database)
        async with services.database.begin() as connection:  # one WhatsApp member wrote an hour ago
            await connection.execute(
                sa.insert(inbox).values(
                    channel="whatsapp",
                    external_id="wamid.member0",
                    identity_key="whatsapp:33610000000",
                    payload={},
                    received_at=utcnow() - timedelta(hours=1),
                    processed_at=utcnow() - timedelta(hours=1),
                )
            )
        desk = services.members.announcements
        everyone = await desk.preview("  Nouveau protocole d'hygiène : voir la fiche.\n")
        assert (everyone.total, everyone.channels) == (8, {"telegram": 4, "whatsapp": 2, "unreachable": 2})
        assert everyone.whatsapp_template == 1  # the other one: outside the 24-hour window
        assert everyone.message == HEADER + "Nouveau protocole d'hygiène : voir la fiche."
        assert everyone.departments is None
        paris = await desk.preview("Kits", ["75", " 95"])
        assert (paris.total, paris.channels) == (5, {"telegram": 4, "whatsapp": 0, "unreachable": 1})
        assert paris.departments == ("75", "95")
        south = await desk.preview("Kits", ["13"])
        assert (south.total, south.channels) == (3, {"telegram": 0, "whatsapp": 2, "unreachable": 1})
        nobody = await desk.preview("Kits", ["2a"])
        assert (nobody.total, nobody.departments) == (0, ("2A",))
        for text, departments, reason in (
            ("   ", None, "vide"),
            ("x" * (MAX_TEXT + 1), None, "3500"),
            ("Kits", ["99"], "inconnu"),
            ("Kits", [], "au moins un"),
        ):
            with pytest.raises(RefusedError) as refused:
                await desk.preview(text, departments)
            assert (refused.value.status, reason in refused.value.detail) == (422, True)
        assert (await desk.preview("é" * MAX_TEXT)).total == 8
        # A preview writes nothing.
        assert await deliveries(services) == []


# --- sending -------------------------------------------------------------------------------------


async def test_sending_writes_one_delivery_per_member_and_each_reachable_member_gets_one_message(
    database_url: str, tmp_path: Path
) -> None:
    async with members_desk(database_url, tmp_path) as services:
        roll = await seed_members(services.database)
        desk = services.members.announcements
        public_id = await desk.send("Nouvelle aide de l'État : le formulaire est en ligne.", by="nina")
        rows = await deliveries(services)
        assert len(rows) == 8
        assert sorted(r.status for r in rows) == ["pending"] * 6 + ["unreachable"] * 2
        assert {r.error for r in rows if r.status == "unreachable"} == {"unlinked", "inactive"}
        assert {r.optician_id for r in rows if r.status == "unreachable"} == set(roll.unreachable)
        (line,) = [r for r in await _journal(services) if r.action == "announcement"]
        assert (line.actor, line.detail) == ("nina", f"{public_id} * 8")

        await hand_over_all(services)
        await hand_over_all(services)  # nothing left: nothing twice
        assert await desk.round() is True  # its messages are not sent yet: still running
        sent = await outbound(services)
        assert sorted((m.channel, m.party) for m in sent) == sorted(
            [("telegram", c) for c in roll.telegram] + [("whatsapp", c) for c in roll.whatsapp]
        )
        assert {m.text for m in sent} == {HEADER + "Nouvelle aide de l'État : le formulaire est en ligne."}
        assert all(m.conversation_id is None and m.case_id is None for m in sent)
        rows = await deliveries(services)
        assert sorted(r.message_id for r in rows if r.message_id) == [m.id for m in sent]
        progress = await desk.progress(public_id)
        assert progress is not None
        assert (progress.total, progress.queued, progress.pending, progress.unreachable) == (8, 6, 0, 2)


async def test_two_workers_at_once_hand_each_delivery_over_once(database_url: str, tmp_path: Path) -> None:
    async with (
        members_desk(database_url, tmp_path / "a") as first,
        members_desk(database_url, tmp_path / "b") as second,
    ):
        for i in range(30):
            await add_member(first.database, f"M{i:02d}", ["75"], telegram=str(8000 + i))
        assert await first.members.announcements.send("Réunion régionale jeudi.", by="nina")
        for _ in range(4):  # the share filled, then a few sent, again and again
            await asyncio.gather(*(hand_over_all(s) for s in (first, second, first, second)))
            async with first.database.begin() as connection:
                await connection.execute(
                    sa.update(messages).where(messages.c.direction == "out").values(sent_at=utcnow())
                )
        sent = await outbound(first)
    assert sorted(int(m.party) for m in sent) == list(range(8000, 8030))


async def test_an_identical_announcement_still_running_is_refused_even_sent_at_once(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        members_desk(database_url, tmp_path / "a") as first,
        members_desk(database_url, tmp_path / "b") as second,
    ):
        await seed_members(first.database)
        results = await asyncio.gather(
            first.members.announcements.send("Kits disponibles.", ["75"], by="nina"),
            second.members.announcements.send("Kits disponibles.", ["75"], by="nina"),
            return_exceptions=True,
        )
        assert len([r for r in results if isinstance(r, str)]) == 1
        (refused,) = [r for r in results if isinstance(r, RefusedError)]
        assert refused.status == 409
        # Another text, or other departments, is another announcement.
        assert await first.members.announcements.send("Kits disponibles.", ["13"], by="nina")
        assert await first.members.announcements.send("Kits disponibles !", ["75"], by="nina")
        with pytest.raises(RefusedError) as empty:
            await first.members.announcements.send("Kits", ["971"], by="nina")
        assert empty.value.status == 422


# --- the outbox share and the states -------------------------------------------------------------


async def test_an_announcement_keeps_only_a_share_of_the_outbox_unsent(
    database_url: str, tmp_path: Path
) -> None:
    async with members_desk(database_url, tmp_path) as services:
        for i in range(50):
            await add_member(services.database, f"M{i:02d}", ["75"], telegram=str(9000 + i))
        desk = services.members.announcements
        public_id = await desk.send("Point d'étape.", by="nina")
        await hand_over_all(services)
        assert len(await outbound(services)) == OUTBOX_SHARE
        async with services.database.begin() as connection:  # the outbox sent five of them
            first = [m.id for m in await outbound(services)][:5]
            await connection.execute(
                sa.update(messages).where(messages.c.id.in_(first)).values(sent_at=utcnow())
            )
        await hand_over_all(services)
        assert len(await outbound(services)) == OUTBOX_SHARE + 5
        progress = await desk.progress(public_id)
        assert progress is not None
        assert (progress.sent, progress.queued, progress.pending) == (5, OUTBOX_SHARE, 50 - OUTBOX_SHARE - 5)


async def test_a_waitlist_broadcast_and_an_announcement_share_one_bulk_share_of_the_outbox(
    database_url: str, tmp_path: Path
) -> None:
    await seed(
        database_url, telegram=30, whatsapp_open=0, whatsapp_closed=0, emails=0, phones=0, unreachable=0
    )
    async with members_desk(database_url, tmp_path) as services:
        for i in range(30):
            await add_member(services.database, f"M{i:02d}", ["75"], telegram=str(9000 + i))
        await services.members.announcements.send("Point d'étape.", by="nina")
        await hand_over_all(services)  # the whole share
        assert await services.broadcasts.start(by="alice", trigger="manual", level="normal")
        assert await services.broadcasts._chat_batch() == 0  # nothing left to the broadcast
        assert len(await outbound(services)) == OUTBOX_SHARE
        async with services.database.begin() as connection:  # the outbox sent five
            first = [m.id for m in await outbound(services)][:5]
            await connection.execute(
                sa.update(messages).where(messages.c.id.in_(first)).values(sent_at=utcnow())
            )
        assert await services.broadcasts._chat_batch() == 5
        await hand_over_all(services)
        assert len(await outbound(services)) == OUTBOX_SHARE + 5  # still 20 unsent, bulk together


async def test_each_members_state_follows_their_outbound_row_and_the_announcement_ends(
    database_url: str, tmp_path: Path
) -> None:
    async with members_desk(database_url, tmp_path) as services:
        await seed_members(services.database)
        desk = services.members.announcements
        public_id = await desk.send("Kits : nouvelle livraison.", ["75", "13"], by="nina")
        before = {r.name: r.status for r in await desk.deliveries(public_id)}
        assert before == {
            "Paris 0": "pending",
            "Paris 1": "pending",
            "Paris 2": "pending",
            "Marseille 0": "pending",
            "Marseille 1": "pending",
            "Sans lien": "unreachable",
            "Inactif": "unreachable",
        }
        await hand_over_all(services)
        sent = {m.party: m.id for m in await outbound(services)}
        at = utcnow() + timedelta(seconds=5)
        async with services.database.begin() as connection:
            await connection.execute(
                sa.update(messages).where(messages.c.id.in_([sent["610"], sent["611"]])).values(sent_at=at)
            )
            await connection.execute(
                sa.update(messages)
                .where(messages.c.id == sent["33610000000"])
                .values(failed_at=at, last_error="whatsapp 131026")
            )
        assert await desk.round() is True  # settles the outcomes
        async with services.database.begin() as connection:
            await connection.execute(
                sa.delete(messages).where(messages.c.id.in_([sent["611"], sent["33610000000"]]))
            )  # deleted since (a client erasure of the same chat): what staff read stays
        rows = {r.name: r for r in await desk.deliveries(public_id)}
        assert {name: (r.channel, r.status) for name, r in rows.items()} == {
            "Paris 0": ("telegram", "sent"),
            "Paris 1": ("telegram", "sent"),
            "Paris 2": ("telegram", "queued"),
            "Marseille 0": ("whatsapp", "failed"),
            "Marseille 1": ("whatsapp", "queued"),
            "Sans lien": (None, "unreachable"),
            "Inactif": (None, "unreachable"),
        }
        assert abs((rows["Paris 0"].at - at).total_seconds()) < 1
        assert rows["Marseille 0"].departments == ("13",)
        progress = await desk.progress(public_id)
        assert progress is not None
        assert (
            progress.sent,
            progress.failed,
            progress.queued,
            progress.unreachable,
            progress.remaining,
        ) == (
            2,
            1,
            2,
            2,
            2,
        )
        assert await desk.round() is True
        async with services.database.begin() as connection:
            await connection.execute(
                sa.update(messages)
                .where(messages.c.sent_at.is_(None), messages.c.failed_at.is_(None))
                .values(sent_at=at)
            )
        assert await desk.round() is False
        done = await desk.progress(public_id)
        assert done is not None
        assert (done.status, done.sent, done.remaining) == ("done", 4, 0)
        assert done.finished_at is not None


async def test_an_outcome_settled_stays_when_its_row_goes_and_a_row_gone_unsent_is_failed(
    database_url: str, tmp_path: Path
) -> None:
    async with members_desk(database_url, tmp_path) as services:
        await seed_members(services.database)
        desk = services.members.announcements
        public_id = await desk.send("Kits : nouvelle livraison.", ["75", "13"], by="nina")
        await hand_over_all(services)
        sent = {m.party: m.id for m in await outbound(services)}
        at = utcnow() - timedelta(minutes=3)
        async with services.database.begin() as connection:
            await connection.execute(
                sa.update(messages).where(messages.c.id == sent["610"]).values(sent_at=at)
            )
            await connection.execute(
                sa.update(messages)
                .where(messages.c.id == sent["33610000000"])
                .values(failed_at=at, last_error="whatsapp 131026")
            )
        assert await desk.cancel(public_id, by="boss") is True  # its queued rows still go, and settle
        assert await desk.round() is False  # settled: nothing left to do
        async with services.database.begin() as connection:  # the rows go (an erasure of the chat)
            await connection.execute(
                sa.delete(messages).where(messages.c.id.in_([sent["610"], sent["33610000000"], sent["611"]]))
            )
        assert await desk.round() is False  # Paris 1's row went before it was sent: never sent
        rows = {r.name: r for r in await desk.deliveries(public_id)}
        assert {name: (r.status, r.error) for name, r in rows.items() if name != "Sans lien"} == {
            "Paris 0": ("sent", None),
            "Paris 1": ("failed", "erased"),
            "Paris 2": ("queued", None),
            "Marseille 0": ("failed", None),
            "Marseille 1": ("queued", None),
            "Inactif": ("unreachable", "inactive"),
        }
        assert abs((rows["Paris 0"].at - at).total_seconds()) < 1
        assert abs((rows["Marseille 0"].at - at).total_seconds()) < 1
        progress = await desk.progress(public_id)
        assert progress is not None
        assert (progress.sent, progress.failed, progress.queued) == (1, 2, 2)


async def test_a_member_unlinked_before_the_hand_over_is_not_written_to(
    database_url: str, tmp_path: Path
) -> None:
    async with members_desk(database_url, tmp_path) as services:
        roll = await seed_members(services.database)
        public_id = await services.members.announcements.send("Kits.", ["75"], by="nina")
        async with services.database.begin() as connection:
            await connection.execute(
                sa.update(opticians).where(opticians.c.telegram_chat == "610").values(telegram_chat=None)
            )
        await hand_over_all(services)
        assert sorted(m.party for m in await outbound(services)) == roll.telegram[1:3]
        rows = {
            r.name: (r.status, r.error) for r in await services.members.announcements.deliveries(public_id)
        }
        assert rows["Paris 0"] == ("failed", "unlinked")


async def test_a_cancelled_announcement_sends_nothing_more(database_url: str, tmp_path: Path) -> None:
    async with members_desk(database_url, tmp_path) as services:
        for i in range(30):
            await add_member(services.database, f"M{i:02d}", ["75"], telegram=str(7000 + i))
        desk = services.members.announcements
        public_id = await desk.send("Erreur : ne pas tenir compte.", by="nina")
        await hand_over_all(services)  # the share: 20 in the outbox
        assert await desk.cancel(public_id, by="boss") is True
        assert await desk.cancel(public_id, by="boss") is False
        async with services.database.begin() as connection:
            await connection.execute(sa.update(messages).values(sent_at=utcnow()))
        await hand_over_all(services)
        assert await desk.round() is False
        assert len(await outbound(services)) == OUTBOX_SHARE
        progress = await desk.progress(public_id)
        assert progress is not None
        assert (progress.status, progress.sent, progress.failed, progress.remaining) == (
            "cancelled",
            OUTBOX_SHARE,
            30 - OUTBOX_SHARE,
            0,
        )
        assert {r.error for r in await deliveries(services) if r.status == "failed"} == {"cancelled"}
        assert [
            (r.actor, r.detail) for r in await _journal(services) if r.action == "announcement_cancel"
        ] == [("boss", public_id)]


async def _journal(services: Services) -> list[Any]:
    async with services.database.connect() as connection:
        return list(await connection.execute(sa.select(access_journal).order_by(access_journal.c.id)))


# --- the console ---------------------------------------------------------------------------------


async def test_the_console_routes_preview_send_list_show_and_cancel_for_network_staff_only(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_app(database_url, tmp_path) as service:  # no channel: nothing goes out
        services = service.services
        await seed_members(services.database)
        for name, role in (("alice", "operator"), ("nina", "network"), ("boss", "admin")):
            await services.accounts.add(name, PASSWORD, role)  # type: ignore[arg-type]
        try:
            anonymous, alice, nina, boss = (Staff(service.base) for _ in range(4))
            for staff, name in ((alice, "alice"), (nina, "nina"), (boss, "boss")):
                assert (await staff.login(name)).status_code == 200
            body = {"text": "Nouvelle aide : fonds de solidarité.", "departments": ["75"]}
            assert (await anonymous.post("/announcements/preview", body)).status_code == 401
            assert (await anonymous.get("/announcements")).status_code == 401
            assert (await alice.post("/announcements/preview", body)).status_code == 403
            assert (await alice.post("/announcements/preview", {})).status_code == 403  # before the body
            assert (await alice.post("/announcements", body)).status_code == 403
            assert (await alice.get("/announcements")).status_code == 403
            no_csrf = await nina.http.post("/api/console/announcements", json=body)
            assert no_csrf.status_code == 403

            preview = await nina.post("/announcements/preview", body)
            assert preview.status_code == 200, preview.text
            assert preview.json() == {
                "total": 4,
                "channels": {"telegram": 3, "whatsapp": 0, "unreachable": 1},
                "message": HEADER + "Nouvelle aide : fonds de solidarité.",
                "departments": ["75"],
                "whatsapp_template": 0,
            }
            for bad, reason in (
                ({"text": ""}, "vide"),
                ({"text": "x" * 4000}, "3500"),
                ({"text": "x", "departments": ["xx"]}, "inconnu"),
            ):
                refused = await nina.post("/announcements/preview", bad)
                assert refused.status_code == 422
                assert reason in refused.json()["detail"]
            assert (await nina.post("/announcements/preview", {"departments": ["75"]})).status_code == 422

            sent = await nina.post("/announcements", body)
            assert sent.status_code == 200, sent.text
            public_id = sent.json()["public_id"]
            again = await boss.post("/announcements", body)
            assert (again.status_code, again.json()["detail"]) == (
                409,
                "cette annonce est déjà en cours d'envoi",
            )

            listed = (await boss.get("/announcements")).json()["announcements"]
            assert [(a["public_id"], a["total"], a["status"]) for a in listed] == [(public_id, 4, "running")]
            one = await nina.get(f"/announcements/{public_id}")
            assert one.status_code == 200
            detail = one.json()
            assert (detail["text"], detail["departments"], detail["created_by"]) == (
                "Nouvelle aide : fonds de solidarité.",
                ["75"],
                "nina",
            )
            # The service's worker hands them to the outbox (no channel here: they wait there).
            assert sorted(
                (d["name"], d["channel"], d["status"].replace("queued", "pending"))
                for d in detail["deliveries"]
            ) == [
                ("Paris 0", "telegram", "pending"),
                ("Paris 1", "telegram", "pending"),
                ("Paris 2", "telegram", "pending"),
                ("Sans lien", None, "unreachable"),
            ]
            assert all("phone" not in d and "chat" not in d for d in detail["deliveries"])
            assert (await alice.get(f"/announcements/{public_id}")).status_code == 403
            assert (await nina.get("/announcements/nope")).status_code == 404
            assert (await nina.get(f"/announcements/{'x' * 40}")).status_code == 422

            assert (await alice.post(f"/announcements/{public_id}/cancel")).status_code == 403
            assert (await boss.post("/announcements/nope/cancel")).status_code == 404
            stopped = await boss.post(f"/announcements/{public_id}/cancel")
            assert stopped.status_code == 200
            assert stopped.json()["status"] == "cancelled"
            assert (await boss.post(f"/announcements/{public_id}/cancel")).status_code == 409
        finally:
            await _open_clients()


# --- the command line ----------------------------------------------------------------------------


async def test_announce_from_the_command_line_dry_run_send_list_status_and_cancel(
    database_url: str, tmp_path: Path
) -> None:
    async with members_desk(database_url, tmp_path / "seed") as services:
        await seed_members(services.database)
    message = tmp_path / "message.txt"
    message.write_text("Fermeture du standard le 14 juillet.\n", encoding="utf-8")

    code, out = await optibot(database_url, tmp_path, "announce", "--text-file", str(message), "--dry-run")
    assert code == 0, out
    assert "8 membre(s) (tous les membres) : Telegram 4, WhatsApp 2, injoignables 2" in out
    assert HEADER + "Fermeture du standard le 14 juillet." in out
    code, out = await optibot(
        database_url, tmp_path, "announce", "--text-file", str(message), "--department", "13", "--dry-run"
    )
    assert code == 0, out
    assert "3 membre(s) (13) : Telegram 0, WhatsApp 2, injoignables 1" in out
    assert "dont WhatsApp hors fenêtre de 24 h (modèle approuvé) : 2" in out
    async with members_desk(database_url, tmp_path / "check") as services:
        assert await services.members.announcements.recent() == []

    code, out = await optibot(
        database_url, tmp_path, "announce", "--text-file", str(message), "--department", "99"
    )
    assert (code, "département inconnu : 99" in out) == (2, True), out
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    code, out = await optibot(database_url, tmp_path, "announce", "--text-file", str(empty))
    assert (code, "le message est vide" in out) == (2, True), out
    code, out = await optibot(database_url, tmp_path, "announce", "--text-file", str(tmp_path / "none.txt"))
    assert (code, "fichier illisible" in out) == (2, True), out

    code, out = await optibot(
        database_url,
        tmp_path,
        "announce",
        "--text-file",
        str(message),
        "--department",
        "75",
        "--department",
        "92",
    )
    assert code == 0, out
    public_id = out.strip().splitlines()[-1]
    async with members_desk(database_url, tmp_path / "check") as services:
        progress = await services.members.announcements.progress(public_id)
        assert progress is not None
        assert (progress.total, progress.created_by.startswith("cli:"), progress.departments) == (
            5,
            True,
            ("75", "92"),
        )
    # A dry run answers as the send would: the same one is running; nobody in department 01.
    code, out = await optibot(
        database_url,
        tmp_path,
        "announce",
        "--text-file",
        str(message),
        "--department",
        "92",
        "--department",
        "75",
        "--dry-run",
    )
    assert (code, "déjà en cours d'envoi" in out) == (1, True), out
    code, out = await optibot(
        database_url, tmp_path, "announce", "--text-file", str(message), "--department", "01", "--dry-run"
    )
    assert (code, "0 membre(s) (01)" in out, "aucun membre dans ces départements" in out) == (
        2,
        True,
        True,
    ), out
    code, out = await optibot(database_url, tmp_path, "announce", "list")
    assert code == 0, out
    assert public_id in out
    assert "75,92" in out
    code, out = await optibot(database_url, tmp_path, "announce", "status", public_id)
    assert (code, "running : envoyés 0, en file 0, à envoyer 4" in out) == (0, True), out
    code, out = await optibot(database_url, tmp_path, "announce", "cancel", public_id)
    assert (code, f"annonce {public_id} arrêtée" in out) == (0, True), out
    code, out = await optibot(database_url, tmp_path, "announce", "cancel", public_id)
    assert (code, "déjà terminée" in out) == (1, True), out
    code, out = await optibot(database_url, tmp_path, "announce", "status", "nope")
    assert code == 2, out
    async with members_desk(database_url, tmp_path / "check") as services, services.database.connect() as c:
        (row,) = (await c.execute(sa.select(announcements))).all()
    assert row.status == "cancelled"


# --- through the channels ------------------------------------------------------------------------


@pytest.fixture(name="telegram")
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture(name="whatsapp")
async def fake_whatsapp() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp() as server:
        yield server


async def test_members_are_told_on_their_channel_and_whatsapp_outside_the_window_as_the_template(
    database_url: str, tmp_path: Path, telegram: FakeTelegram, whatsapp: FakeWhatsApp
) -> None:
    async with serve(database_url, tmp_path, telegram, whatsapp) as service:
        roll = await seed_members(service.services.database)
        inside, outside = roll.whatsapp
        async with service.services.database.begin() as connection:  # wrote an hour ago
            await connection.execute(
                sa.insert(inbox).values(
                    channel="whatsapp",
                    external_id="wamid.member-inside",
                    identity_key=f"whatsapp:{inside}",
                    payload={},
                    received_at=utcnow() - timedelta(hours=1),
                    processed_at=utcnow() - timedelta(hours=1),
                )
            )
        whatsapp.clients_wrote({}, windows=[inside])
        desk = service.services.members.announcements
        text = "Nouvelle aide régionale : dossier à déposer avant le 30."
        public_id = await desk.send(text, by="nina")

        async def done() -> bool:
            progress = await desk.progress(public_id)
            return progress is not None and progress.status == "done"

        await until(done, 30, "the announcement to finish")
        progress = await desk.progress(public_id)
    assert progress is not None
    assert (progress.sent, progress.failed, progress.unreachable, progress.remaining) == (6, 0, 2, 0)
    for chat in roll.telegram:
        (sent,) = telegram.messages_to(int(chat))
        assert sent.text == HEADER + text
    (free,) = whatsapp.messages_to(inside)
    assert free.type == "text"
    assert text in str(free.body)
    (template,) = whatsapp.messages_to(outside)
    assert template.type == "template"
    assert text in str(template.body)
    assert telegram.messages_to(688) == []  # inactive
