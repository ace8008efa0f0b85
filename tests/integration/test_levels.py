"""The service level (issue 15) on both databases: stored with who and when, journaled, and read
by every process's engine for each batch — a switch in one process changes what the next
conversation in another process is offered, with no restart and no cache to go stale. And the
waitlist's join-time questions as a web chat client meets them: the department and an e-mail
address stored in the waitlist row, shown in the client's data export, gone with their erasure.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import build, running
from bot.levels import LevelError
from bot.messages import Inbound
from bot.settings import Settings
from flows.types import ClientInput
from storage.privacy.records import client_record
from storage.tables import access_journal, clients, service_levels, waitlist
from tests.harness import Clock, Harness, RecordingChannel, harness


def keys(replies: list[dict[str, Any]]) -> list[str]:
    return [r["key"] for r in replies]


async def test_nothing_set_is_the_crisis_service(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        current = await h.services.levels.current()
        assert (current.national.level, current.national.set_by, current.departments) == ("crisis", None, ())
        assert await h.services.levels.level_for("75") == "crisis"
        replies = await h.send("first", text="bonjour")
        assert keys(replies) == ["greeting", "need.question"]
        assert [c["value"] for c in replies[-1]["choices"]] == ["broken", "lost", "unsuitable", "other"]


async def test_a_switch_is_stored_with_who_and_when_and_journaled(database_url: str, tmp_path: Path) -> None:
    async with harness(database_url, tmp_path) as h:
        levels = h.services.levels
        assert await levels.set("normal", department=None, by="alice") == ("crisis", "normal")
        assert await levels.set("suspended", department="2a", by="cli:root") == ("normal", "suspended")
        current = await levels.current()
        assert (current.national.level, current.national.set_by, current.national.set_at) == (
            "normal",
            "alice",
            h.clock.now,
        )
        departments = [(d.scope, d.level, d.set_by) for d in current.departments]
        assert departments == [("2A", "suspended", "cli:root")]
        assert await levels.level_for("2A") == "suspended"
        assert await levels.level_for("2B") == "normal"
        assert await levels.remove("2A", by="alice") == ("suspended", "normal")
        assert await levels.remove("2A", by="alice") is None  # nothing left to remove: not journaled
        for wrong in ("closed", "Normal", ""):
            with pytest.raises(LevelError):
                await levels.set(wrong, department=None, by="alice")
        for department in ("20", "99", "750", "x"):
            with pytest.raises(LevelError):
                await levels.set("crisis", department=department, by="alice")
        lines = await h.rows(access_journal, access_journal.c.action == "service_level")
        assert [(r.actor, r.detail, r.client_id, r.case_id) for r in lines] == [
            ("alice", "normal national", None, None),
            ("cli:root", "suspended 2A", None, None),
            ("alice", "national 2A", None, None),
        ]
        async with h.services.database.connect() as connection:
            scopes = (await connection.execute(sa.select(service_levels.c.scope))).scalars().all()
        assert scopes == ["national"]


async def test_a_switch_in_one_process_applies_at_once_in_the_other(
    database_url: str, tmp_path: Path
) -> None:
    """Two services on one database, as two processes: the admin's process switches, the
    other's very next conversation follows — normal, suspended, crisis, a department's lockdown."""
    async with (
        harness(database_url, tmp_path / "admin") as admin,
        harness(database_url, tmp_path / "bot") as bot,
    ):
        levels = admin.services.levels
        assert keys(await bot.send("before", text="c'est pour un renouvellement")) == [
            "greeting",
            "other.explain",
            "waitlist.question",
        ]

        await levels.set("normal", department=None, by="alice")
        normal = await bot.send("in-normal", text="c'est pour un renouvellement")
        assert keys(normal) == ["level.greeting_normal", "level.request_taken", "mode.question"]
        button = await bot.send("in-normal-2", text="bonjour")
        assert [c["value"] for c in button[-1]["choices"]] == [
            "broken",
            "lost",
            "unsuitable",
            "renewal",
            "lenses",
            "other",
        ]

        await levels.set("suspended", department=None, by="alice")
        suspended = await bot.send("in-suspended", text="mes lunettes sont cassées")
        assert keys(suspended) == [
            "level.greeting_suspended",
            "level.suspended_explain",
            "level.waitlist_question_emergency",
        ]

        await levels.set("crisis", department=None, by="alice")
        await levels.set("suspended", department="29", by="alice")
        for said in ("mes lunettes sont cassées", "oui"):
            await bot.send("in-29", text=said)
        await bot.send("in-29", choice="none", step="priority")
        await bot.send("in-29", choice="shipment", step="mode")
        locked = await bot.send("in-29", text="3 rue de Siam 29200 Brest")
        assert keys(locked) == ["level.local_suspended", "level.waitlist_question_emergency"]
        assert "Finistère" in locked[0]["text"]
        elsewhere = await bot.send("in-69", text="mes lunettes sont cassées")
        assert keys(elsewhere) == ["greeting", "urgency.question"]

        # The department follows the national level again once its own is removed.
        await levels.remove("29", by="alice")
        for said in ("j'ai perdu mes lunettes", "oui"):
            await bot.send("in-29-again", text=said)
        await bot.send("in-29-again", choice="none", step="priority")
        await bot.send("in-29-again", choice="shipment", step="mode")
        free = await bot.send("in-29-again", text="3 rue de Siam 29200 Brest")
        assert keys(free) == ["contact_name.question"]


async def test_two_admins_setting_a_new_department_at_once_both_succeed(
    database_url: str, tmp_path: Path
) -> None:
    async with (
        harness(database_url, tmp_path / "a") as first,
        harness(database_url, tmp_path / "b") as second,
    ):
        for round_ in range(5):
            department = f"{round_ + 1:02d}"
            await asyncio.gather(
                first.services.levels.set("normal", department=department, by="alice"),
                second.services.levels.set("suspended", department=department, by="bob"),
            )
        current = await first.services.levels.current()
        assert [d.scope for d in current.departments] == ["01", "02", "03", "04", "05"]
        assert len(await first.rows(access_journal, access_journal.c.action == "service_level")) == 10


async def test_a_conversation_begun_in_normal_service_stops_at_a_stricter_department(
    database_url: str, tmp_path: Path
) -> None:
    """Begun in normal service, a routine request meets a department in crisis at the address:
    explained and offered the waitlist (reason not_urgent); an emergency there goes on."""
    async with harness(database_url, tmp_path) as h:
        await h.services.levels.set("normal", department=None, by="alice")
        await h.services.levels.set("crisis", department="13", by="alice")
        await h.send("routine", text="je voudrais des lentilles")
        await h.send("routine", choice="shipment", step="mode")
        stopped = await h.send("routine", text="10 La Canebière 13001 Marseille")
        assert keys(stopped) == ["level.local_crisis", "waitlist.question"]
        joined = await h.send("routine", choice="join", step="waitlist_offer")
        assert keys(joined) == ["waitlist.joined"]  # the department is known from the address
        (row,) = await h.rows(waitlist)
        assert (row.reason, row.department, row.contact_email) == ("not_urgent", "13", None)

        for said in ("mes lunettes sont cassées", "oui, c'est urgent"):
            await h.send("emergency", text=said)
        await h.send("emergency", choice="none", step="priority")
        await h.send("emergency", choice="shipment", step="mode")
        goes_on = await h.send("emergency", text="10 La Canebière 13001 Marseille")
        assert keys(goes_on) == ["contact_name.question"]


# --- web chat: asked how to be told -------------------------------------------------------------


@contextlib.asynccontextmanager
async def webchat_harness(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """The harness with its recording channel named as the web chat, so the flow knows a client
    who cannot be reached once the page is closed."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        optibot_data_dir=tmp_path / "data",
        auto_migrate=True,
    )
    channel = RecordingChannel(name="webchat")
    clock = Clock()
    services = build(settings, [channel], clock=clock, references=lambda: f"OB-W{uuid.uuid4().hex[:6]}")
    async with running(services, deliver=False, retention=False):
        yield Harness(services, channel, clock)


async def say(h: Harness, user: str, **said: Any) -> list[dict[str, Any]]:
    await h.engine.handle(Inbound("webchat", user, uuid.uuid4().hex, ClientInput(**said)))
    return await h.delivered_to(user)


async def test_a_web_chat_client_leaves_a_department_and_an_e_mail(database_url: str, tmp_path: Path) -> None:
    async with webchat_harness(database_url, tmp_path) as h:
        await h.services.levels.set("suspended", department=None, by="alice")
        greeted = await say(h, "page-1", text="j'ai perdu mes lunettes")
        assert keys(greeted) == [
            "level.greeting_suspended",
            "level.suspended_explain",
            "level.waitlist_question_emergency",
        ]
        joined = await say(h, "page-1", choice="join", step="waitlist_offer")
        assert keys(joined) == ["level.joined_webchat", "waitlist_department.question"]
        assert "ici" not in joined[0]["text"]  # not reachable here once the page is closed
        asked = await say(h, "page-1", text="Finistère")
        assert keys(asked) == ["waitlist_department.noted", "waitlist_contact.question"]
        assert "e-mail" in asked[-1]["text"]
        refused = await say(h, "page-1", text="marie@@exemple")
        assert keys(refused) == ["waitlist_contact.hint"]
        done = await say(h, "page-1", text="c'est marie.durand@Exemple.FR")
        assert keys(done) == ["waitlist_contact.noted", "waitlist.done"]
        (row,) = await h.rows(waitlist)
        assert (row.channel, row.reason, row.department, row.contact_email, row.contact_phone) == (
            "webchat",
            "suspended",
            "29",
            "marie.durand@exemple.fr",
            None,
        )

        # Another client skips the department and leaves a phone number.
        await say(h, "page-2", text="mes lunettes sont cassées")
        await say(h, "page-2", choice="join", step="waitlist_offer")
        assert keys(await say(h, "page-2", choice="skip", step="waitlist_department")) == [
            "waitlist_contact.question"
        ]
        phoned = await say(h, "page-2", text="06 12 34 56 78")
        assert keys(phoned) == ["waitlist_contact.noted", "waitlist.done"]
        second = (await h.rows(waitlist))[-1]
        assert (second.department, second.contact_email, second.contact_phone) == (None, None, "+33612345678")

        # "Mes données" shows what they left; a new conversation (the page-1 one ended) reads it.
        export = await say(h, "page-1", text="mes données")
        text = next(r["text"] for r in export if r["key"] == "my_data.header")
        assert "Finistère" in text
        assert "marie.durand@exemple.fr" in text

        # The whole record (the JSON document of "mes données", `optibot clients export`) too.
        async with h.services.database.connect() as connection:
            record = await client_record(connection, row.client_id)
        (entry,) = record["waitlist"]
        assert (entry["department"], entry["contact_email"], entry["contact_phone"]) == (
            "29",
            "marie.durand@exemple.fr",
            None,
        )

        # Erasure removes the waitlist row with the rest.
        await say(h, "page-1", text="supprimer mes données")
        await say(h, "page-1", choice="erase", step="confirm_delete")
        remaining = await h.rows(waitlist)
        assert [r.contact_phone for r in remaining] == ["+33612345678"]
        async with h.services.database.connect() as connection:
            assert (await connection.execute(sa.select(sa.func.count()).select_from(clients))).scalar() == 1


async def test_a_telegram_like_client_is_not_asked_for_an_e_mail(database_url: str, tmp_path: Path) -> None:
    """Reached again on their own channel: only the department is asked."""
    async with harness(database_url, tmp_path) as h:
        await h.services.levels.set("suspended", department=None, by="alice")
        await h.send("chat", text="mes lunettes sont cassées")
        await h.send("chat", choice="join", step="waitlist_offer")
        assert keys(await h.send("chat", text="69003")) == ["waitlist_department.noted", "waitlist.done"]
        (row,) = await h.rows(waitlist)
        assert (row.department, row.contact_email, row.contact_phone) == ("69", None, None)


async def test_a_conversation_that_joins_the_waitlist_again_keeps_one_entry(
    database_url: str, tmp_path: Path
) -> None:
    """Joined, "recommencer", joined again (review, point 7): the entry not yet told is updated
    (the latest reason; the department once given), not counted twice. Once told, a new wait is a
    new entry."""
    async with harness(database_url, tmp_path) as h:
        await h.send("chat", text="autre chose")
        assert keys(await h.send("chat", text="oui")) == ["waitlist.joined", "waitlist_department.question"]
        await h.send("chat", text="recommencer")
        await h.send("chat", text="mes lunettes sont cassées")
        assert keys(await h.send("chat", text="non")) == [
            "urgency.not_urgent",
            "other.explain",
            "waitlist.question",
        ]
        await h.send("chat", text="oui")
        assert keys(await h.send("chat", text="29200")) == ["waitlist_department.noted", "waitlist.done"]
        (row,) = await h.rows(waitlist)
        assert (row.reason, row.department) == ("not_urgent", "29")

        # A new conversation (that one ended) joins; told since, it waits again: a new entry.
        await h.send("chat", text="c'est pour des lentilles")
        await h.send("chat", text="oui")
        async with h.services.database.begin() as connection:
            await connection.execute(sa.update(waitlist).values(notified_at=h.clock.now))
        await h.send("chat", text="recommencer")
        await h.send("chat", text="autre chose")
        await h.send("chat", text="oui")
        rows = await h.rows(waitlist)
        assert [(r.reason, r.notified_at is not None) for r in rows] == [
            ("not_urgent", True),
            ("other", True),
            ("other", False),
        ]
        assert rows[1].conversation_id == rows[2].conversation_id != rows[0].conversation_id
