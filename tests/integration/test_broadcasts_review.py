"""Waitlist broadcasts after review (issue 15): two broadcasts started at once tell each client
once; an e-mail whose answer is late (the server may have taken it) is never sent again; a
broadcast never tells a department whose own level is stricter than the one announced, nor
announces a level looser than the one in force; crisis tells only the clients it serves; a client
with a case since their entry no longer waits. Real databases (both), a real SMTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import Services, build, opened
from bot.broadcasts import BroadcastError
from bot.engine import utcnow
from bot.levels import announce
from bot.settings import Settings
from storage import waitlist as waitlist_store
from storage.tables import (
    access_journal,
    broadcast_deliveries,
    broadcasts,
    cases,
    identities,
    messages,
    waitlist,
)
from storage.waitlist import WaitlistFilter
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.integration.serving import serve_app
from tests.integration.test_broadcasts import _waiting, seed, serve, smtp_server, smtp_settings, until
from tests.integration.test_console import PASSWORD, Staff, _open_clients
from tests.integration.test_waitlist_cli import optibot


def settings_for(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, optibot_data_dir=tmp_path / "data", **overrides
    )


@contextlib.asynccontextmanager
async def services_of(database_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Services]:
    async with opened(build(settings_for(database_url, tmp_path, **overrides))) as services:
        yield services


async def deliveries(services: Services) -> list[Any]:
    async with services.database.connect() as connection:
        return list(
            await connection.execute(
                sa.select(
                    broadcast_deliveries.c.broadcast_id,
                    broadcast_deliveries.c.status,
                    broadcast_deliveries.c.error,
                    waitlist.c.client_id,
                    waitlist.c.department,
                    waitlist.c.reason,
                ).join(waitlist, waitlist.c.id == broadcast_deliveries.c.waitlist_id)
            )
        )


async def add_waiting(services: Services, **kwargs: Any) -> int:
    """One waiting Telegram client (``_waiting``'s keywords); their client id."""
    user = str(900000 + secrets.randbelow(99999))
    async with services.database.begin() as connection:
        await _waiting(connection, "telegram", user, utcnow(), **kwargs)
        return int(
            await connection.scalar(sa.select(sa.func.max(waitlist.c.client_id)))  # type: ignore[arg-type]
        )


# --- review 1: two broadcasts at once ------------------------------------------------------------


async def test_two_broadcasts_started_at_once_tell_each_client_once(
    database_url: str, tmp_path: Path
) -> None:
    await seed(
        database_url, telegram=60, whatsapp_open=0, whatsapp_closed=0, emails=0, phones=0, unreachable=0
    )
    async with (
        services_of(database_url, tmp_path / "a") as first,
        services_of(database_url, tmp_path / "b") as second,
    ):
        started = await asyncio.gather(
            first.broadcasts.start(by="alice", trigger="manual", level="normal"),
            second.broadcasts.start(by="bob", trigger="level", level="normal", department="75"),
        )
        made = await deliveries(first)
    assert [s for s in started if s is not None]  # one of them tells them
    per_client: dict[int, int] = {}
    for row in made:
        per_client[row.client_id] = per_client.get(row.client_id, 0) + 1
    assert len(per_client) == 60
    assert max(per_client.values()) == 1


async def test_a_client_being_told_through_one_entry_is_not_picked_through_another(
    database_url: str, tmp_path: Path
) -> None:
    async with services_of(database_url, tmp_path) as services:
        await services.levels.set("normal", department=None, by="alice")
        client_id = await add_waiting(services, department="75")
        async with services.database.begin() as connection:  # the same client waits in 13 too
            first = (
                await connection.execute(sa.select(waitlist).where(waitlist.c.client_id == client_id))
            ).one()
            await connection.execute(
                sa.insert(waitlist).values(
                    client_id=client_id,
                    conversation_id=first.conversation_id,
                    channel="telegram",
                    language="fr",
                    reason="not_urgent",
                    created_at=first.created_at - timedelta(days=1),
                    department="13",
                )
            )
        assert await services.broadcasts.start(by="alice", trigger="manual", level="normal", department="75")
        # The first broadcast (no worker runs: still pending) is telling them: not picked again.
        assert (
            await services.broadcasts.start(by="bob", trigger="manual", level="normal", department="13")
            is None
        )
        assert len(await deliveries(services)) == 1


# --- review 2: an e-mail answered late is not sent again ------------------------------------------


async def test_an_email_whose_answer_is_late_is_failed_and_never_sent_again(
    database_url: str, tmp_path: Path
) -> None:
    crowd = await seed(
        database_url, telegram=0, whatsapp_open=0, whatsapp_closed=0, emails=1, phones=0, unreachable=0
    )
    with smtp_server() as (mailbox, port):
        mailbox.delay = 1.5  # the message taken, its answer later than the timeout
        overrides = {**smtp_settings(port), "smtp_timeout": 1.0}
        async with services_of(database_url, tmp_path, **overrides) as services:
            assert await services.broadcasts.start(by="alice", trigger="manual", level="normal")
            worker = asyncio.create_task(services.broadcasts.run())
            try:

                async def finished() -> bool:
                    return all(r.status in ("sent", "failed") for r in await deliveries(services))

                await until(finished, 30, "the e-mail delivery to end")
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            (row,) = await deliveries(services)
        await asyncio.sleep(0)  # nothing else to wait for: the worker is stopped
    assert len(mailbox.to(crowd.emails[0])) == 1
    assert (row.status, row.error) == ("failed", "timeout after data")


async def test_an_email_refused_for_now_is_tried_again_and_sent_once(
    database_url: str, tmp_path: Path
) -> None:
    crowd = await seed(
        database_url, telegram=0, whatsapp_open=0, whatsapp_closed=0, emails=1, phones=0, unreachable=0
    )
    with smtp_server() as (mailbox, port):
        mailbox.refuse = 1  # an explicit 451: safe to try again
        async with services_of(database_url, tmp_path, **smtp_settings(port)) as services:
            assert await services.broadcasts.start(by="alice", trigger="manual", level="normal")
            worker = asyncio.create_task(services.broadcasts.run())
            try:

                async def finished() -> bool:
                    return all(r.status in ("sent", "failed") for r in await deliveries(services))

                await until(finished, 30, "the e-mail delivery to end")
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            (row,) = await deliveries(services)
    assert (mailbox.refused, len(mailbox.to(crowd.emails[0])), row.status) == (1, 1, "sent")


# --- review 3 and 4: the levels in force --------------------------------------------------------


async def test_a_national_announcement_leaves_out_departments_stricter_of_their_own(
    database_url: str, tmp_path: Path
) -> None:
    async with services_of(database_url, tmp_path) as services:
        levels = services.levels
        await levels.set("suspended", department=None, by="alice")
        await levels.set("suspended", department="75", by="alice")  # a local lockdown
        paris = {await add_waiting(services, department="75", reason="suspended") for _ in range(3)}
        marseille = {await add_waiting(services, department="13", reason="suspended") for _ in range(2)}
        before, after = await levels.set("normal", department=None, by="alice")
        assert await announce(services.broadcasts, before, after, by="alice", department=None)
        told = {r.client_id for r in await deliveries(services)}
        assert told == marseille
        assert not told & paris
        # Nor may anyone announce normal service in Paris while it is suspended there.
        with pytest.raises(BroadcastError):
            await services.broadcasts.start(by="alice", trigger="manual", level="normal", department="75")
        assert (await services.broadcasts.preview(department="75", level="normal")).total == 0


async def test_announcing_a_level_looser_than_in_force_is_refused(database_url: str, tmp_path: Path) -> None:
    async with services_of(database_url, tmp_path) as services:
        await services.levels.set("crisis", department=None, by="alice")
        await add_waiting(services, department="13", reason="suspended")
        with pytest.raises(BroadcastError):
            await services.broadcasts.start(by="alice", trigger="manual", level="normal")
        assert await services.broadcasts.start(by="alice", trigger="manual", level="crisis")


async def test_a_crisis_announcement_tells_only_those_crisis_serves(
    database_url: str, tmp_path: Path
) -> None:
    async with services_of(database_url, tmp_path) as services:
        await services.levels.set("crisis", department=None, by="alice")
        served = {
            await add_waiting(services, department="13", reason=reason)
            for reason in ("suspended", "suspended_local")
        }
        waiting = {
            await add_waiting(services, department="13", reason=reason)
            for reason in ("not_urgent", "no_prescription", "other")
        }
        assert (await services.broadcasts.preview(level="crisis")).total == 2
        crisis = await services.broadcasts.start(by="alice", trigger="manual", level="crisis")
        assert crisis
        assert {r.client_id for r in await deliveries(services)} == served
        # The others still wait for normal service: told when it comes.
        async with services.database.begin() as connection:  # the crisis broadcast done
            await connection.execute(sa.update(broadcasts).values(status="done"))
        await services.levels.set("normal", department=None, by="alice")
        assert await services.broadcasts.start(by="alice", trigger="manual", level="normal")
        normal = {
            r.client_id
            for r in await deliveries(services)
            if r.reason not in ("suspended", "suspended_local")
        }
        assert normal == waiting


# --- review 9: a client with a case since no longer waits ---------------------------------------


async def test_a_client_with_a_case_since_their_entry_is_not_told(database_url: str, tmp_path: Path) -> None:
    async with services_of(database_url, tmp_path) as services:
        await services.levels.set("normal", department=None, by="alice")
        still = await add_waiting(services, department="13")
        served = await add_waiting(services, department="13")
        earlier = await add_waiting(services, department="13")
        async with services.database.begin() as connection:
            for n, (client_id, days) in enumerate(((served, 1), (earlier, 10))):
                entry = (
                    await connection.execute(sa.select(waitlist).where(waitlist.c.client_id == client_id))
                ).one()
                at = utcnow() - timedelta(days=days)
                await connection.execute(
                    sa.insert(cases).values(
                        reference=f"OB-T{n}{secrets.token_hex(2)}",
                        public_id=secrets.token_hex(8),
                        client_id=client_id,
                        conversation_id=entry.conversation_id,
                        kind="advisor",
                        status="new",
                        channel="telegram",
                        language="fr",
                        priority_rank=0,
                        created_at=at,
                        updated_at=at,
                    )
                )
        # The console and the CLI list them as no longer waiting.
        async with services.database.connect() as connection:
            waiting = await waitlist_store.entries(connection, WaitlistFilter(told=False))
            everyone = await waitlist_store.entries(connection, WaitlistFilter())
        assert len(waiting) == 2
        assert not any(e.served for e in waiting)
        assert sorted(e.served for e in everyone) == [False, False, True]
        assert (await services.broadcasts.preview()).total == 2
        assert await services.broadcasts.start(by="alice", trigger="manual", level="normal")
        assert {r.client_id for r in await deliveries(services)} == {still, earlier}


# --- review 8: live replies do not queue behind a broadcast --------------------------------------


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def whatsapp() -> AsyncIterator[FakeWhatsApp]:
    async with FakeWhatsApp() as server:
        yield server


async def test_a_live_reply_is_sent_while_a_big_broadcast_is_still_going_out(
    database_url: str, tmp_path: Path, telegram: FakeTelegram, whatsapp: FakeWhatsApp
) -> None:
    crowd = await seed(
        database_url, telegram=300, whatsapp_open=0, whatsapp_closed=0, emails=0, phones=0, unreachable=0
    )
    waiting = set(crowd.telegram)
    live = 555001

    def told() -> int:
        return sum(1 for m in telegram.sent if m.chat_id in waiting)

    async with serve(database_url, tmp_path, telegram, whatsapp) as service:
        assert await service.services.broadcasts.start(by="alice", trigger="manual", level="normal")
        await until(lambda: told() >= 10, 30, "the broadcast to start going out")
        await telegram.say(live, "bonjour")
        await until(lambda: telegram.messages_to(live), 30, "the live client's reply")
        # Answered within the broadcast's share of the outbox, not after the whole broadcast.
        assert told() < 150, told()
        await until(lambda: told() == 300, 60, "the whole broadcast")
    assert all(len(telegram.messages_to(chat)) == 1 for chat in crowd.telegram)


# --- review 10, 11: erasure and timeouts during the e-mails --------------------------------------


async def test_a_client_erased_between_two_email_attempts_is_not_written_to(
    database_url: str, tmp_path: Path
) -> None:
    crowd = await seed(
        database_url, telegram=0, whatsapp_open=0, whatsapp_closed=0, emails=2, phones=0, unreachable=0
    )
    with smtp_server() as (mailbox, port):
        mailbox.refuse = 1  # the first e-mail refused for now: tried again after a back-off
        async with services_of(database_url, tmp_path, **smtp_settings(port)) as services:
            assert await services.broadcasts.start(by="alice", trigger="manual", level="normal")
            async with services.database.connect() as connection:
                erased = await connection.scalar(
                    sa.select(waitlist.c.client_id).where(waitlist.c.contact_email == crowd.emails[0])
                )
            worker = asyncio.create_task(services.broadcasts.run())
            try:
                await until(lambda: mailbox.refused == 1, 20, "the first attempt refused")
                await services.engine.privacy.erase(erased, actor="admin", detail="test")  # in the back-off
                await until(lambda: mailbox.to(crowd.emails[1]), 20, "the next client's e-mail")

                async def finished() -> bool:
                    return all(r.status in ("sent", "failed") for r in await deliveries(services))

                await until(finished, 20, "the next client's delivery finished")
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            rows = await deliveries(services)
    assert mailbox.to(crowd.emails[0]) == []
    assert [(r.status, r.client_id) for r in rows] == [("sent", r.client_id) for r in rows]
    assert len(rows) == 1


async def test_an_email_attempt_is_capped_and_a_long_exchange_is_not_given_up_as_interrupted(
    database_url: str, tmp_path: Path
) -> None:
    """The SMTP server answers after 3 s; the give-up timeout is 4 s: one attempt's cap (0.5 s here,
    the exchange too slow) fails it as ambiguous, not sent again, and the delivery was refreshed
    before the attempt (never given up as interrupted meanwhile)."""
    crowd = await seed(
        database_url, telegram=0, whatsapp_open=0, whatsapp_closed=0, emails=1, phones=0, unreachable=0
    )
    with smtp_server() as (mailbox, port):
        mailbox.delay = 3.0
        overrides = {**smtp_settings(port), "smtp_timeout": 30.0, "broadcast_sending_timeout": 4}
        async with services_of(database_url, tmp_path, **overrides) as services:
            assert services.broadcasts.attempt_timeout == 0.5
            assert await services.broadcasts.start(by="alice", trigger="manual", level="normal")
            worker = asyncio.create_task(services.broadcasts.run())
            try:

                async def finished() -> bool:
                    return all(r.status in ("sent", "failed") for r in await deliveries(services))

                await until(finished, 30, "the e-mail delivery to end")
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            (row,) = await deliveries(services)
        await until(lambda: mailbox.to(crowd.emails[0]), 10, "the server to take it")
    assert len(mailbox.to(crowd.emails[0])) == 1
    assert (row.status, row.error) == ("failed", "attempt timeout")


async def test_an_email_retried_for_longer_than_the_give_up_timeout_is_still_sent_once(
    database_url: str, tmp_path: Path
) -> None:
    """Refused for now three times (back-offs 1 + 2 + 4 s, 7 s in all) with a give-up timeout of
    6 s: each attempt refreshes the delivery, so the live exchange is not given up as interrupted.
    (The timeout is above the longest gap between two attempts, 4 s plus the exchange, by a margin
    a loaded machine keeps: at exactly 4 s the last gap raced the give-up sweep.)"""
    crowd = await seed(
        database_url, telegram=0, whatsapp_open=0, whatsapp_closed=0, emails=1, phones=0, unreachable=0
    )
    with smtp_server() as (mailbox, port):
        mailbox.refuse = 3
        overrides = {**smtp_settings(port), "broadcast_sending_timeout": 6}
        async with services_of(database_url, tmp_path, **overrides) as services:
            assert await services.broadcasts.start(by="alice", trigger="manual", level="normal")
            worker = asyncio.create_task(services.broadcasts.run())
            try:

                async def finished() -> bool:
                    return all(r.status in ("sent", "failed") for r in await deliveries(services))

                await until(finished, 30, "the e-mail delivery to end")
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            (row,) = await deliveries(services)
    assert (mailbox.refused, len(mailbox.to(crowd.emails[0])), row.status) == (3, 1, "sent")


async def test_erasures_while_chat_deliveries_are_handed_over_never_deadlock(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: erasure takes the conversations' locks, then deletes the deliveries (cascade);
    the hand-over takes them in the same order. Clients erased while their deliveries are handed
    over: no deadlock, and none of them has a message in the outbox."""
    monkeypatch.setattr("bot.broadcasts.OUTBOX_SHARE", 10_000)  # no channel sends here: no share
    crowd = await seed(
        postgres_url, telegram=400, whatsapp_open=0, whatsapp_closed=0, emails=0, phones=0, unreachable=0
    )
    async with services_of(postgres_url, tmp_path) as services:
        assert await services.broadcasts.start(by="alice", trigger="manual", level="normal")
        async with services.database.connect() as connection:
            ids = list(
                (
                    await connection.execute(sa.select(waitlist.c.client_id).order_by(waitlist.c.id.desc()))
                ).scalars()
            )
        doomed = ids[:200]  # the last entries: handed over last, erased meanwhile
        async with services.database.connect() as connection:
            doomed_users = set(
                (
                    await connection.execute(
                        sa.select(identities.c.external_id).where(identities.c.client_id.in_(doomed))
                    )
                ).scalars()
            )
        assert len(doomed_users) == 200

        async def hand_over() -> None:
            while await services.broadcasts._chat_batch():
                pass

        async def erase(chunk: list[int]) -> None:
            for client_id in chunk:
                await services.engine.privacy.erase(client_id, actor="admin", detail="test")

        await asyncio.gather(hand_over(), hand_over(), *(erase(doomed[i::8]) for i in range(8)))
        async with services.database.connect() as connection:
            parties = {
                int(p)
                for p in (
                    await connection.execute(sa.select(messages.c.party).where(messages.c.direction == "out"))
                ).scalars()
            }
            left = await connection.scalar(
                sa.select(sa.func.count())
                .select_from(broadcast_deliveries)
                .where(broadcast_deliveries.c.status == "pending")
            )
    assert left == 0
    assert parties <= set(crowd.telegram)
    assert len(parties) == 200  # the others', each once; none of the erased
    assert not parties & {int(u) for u in doomed_users}
    async with services.database.connect() as connection:
        remaining = set((await connection.execute(sa.select(waitlist.c.client_id))).scalars())
    assert not remaining & set(doomed)


# --- review 6: stopping a broadcast --------------------------------------------------------------


async def test_switching_the_level_back_stops_announcing_the_looser_level(
    database_url: str, tmp_path: Path
) -> None:
    async with services_of(database_url, tmp_path) as services:
        await services.levels.set("normal", department=None, by="alice")
        marseille = {await add_waiting(services, department="13") for _ in range(2)}
        paris = await add_waiting(services, department="75")
        public_id = await services.broadcasts.start(by="alice", trigger="level", level="normal")
        assert public_id
        # A local lockdown in the 13 before the worker's next round: not told "service normal" there.
        await services.levels.set("suspended", department="13", by="alice")
        await services.broadcasts._chat_round()
        made = {r.client_id: (r.status, r.error) for r in await deliveries(services)}
        assert made == {**dict.fromkeys(marseille, ("failed", "cancelled")), paris: ("sent", None)}
        async with services.database.connect() as connection:
            parties = list(
                (
                    await connection.execute(sa.select(messages.c.id).where(messages.c.direction == "out"))
                ).scalars()
            )
        assert len(parties) == 1

        # Suspended everywhere while a broadcast announces normal service: it is cancelled.
        more = {await add_waiting(services, department="75") for _ in range(2)}
        second = await services.broadcasts.start(by="alice", trigger="manual", level="normal")
        assert second
        await services.levels.set("suspended", department=None, by="alice")
        await services.broadcasts._chat_round()
        progress = await services.broadcasts.progress(second)
        assert progress is not None
        assert (progress.status, progress.failed, progress.remaining) == ("cancelled", 2, 0)
        assert {r.error for r in await deliveries(services) if r.client_id in more} == {"cancelled"}


async def test_an_admin_cancels_a_running_broadcast_from_the_console_and_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    await seed(
        database_url, telegram=5, whatsapp_open=0, whatsapp_closed=0, emails=0, phones=0, unreachable=0
    )
    async with serve_app(database_url, tmp_path) as service:  # no Telegram channel: nothing goes out
        services = service.services
        await services.accounts.add("alice", PASSWORD, "operator")
        await services.accounts.add("boss", PASSWORD, "admin")
        first = await services.broadcasts.start(by="boss", trigger="manual", level="normal", department="75")
        assert first
        try:
            alice, boss = Staff(service.base), Staff(service.base)
            assert (await alice.login("alice")).status_code == 200
            assert (await boss.login("boss")).status_code == 200
            assert (await alice.post(f"/broadcasts/{first}/cancel")).status_code == 403
            assert (await boss.post("/broadcasts/nope/cancel")).status_code == 404
            stopped = await boss.post(f"/broadcasts/{first}/cancel")
            assert stopped.status_code == 200
            assert stopped.json()["status"] == "cancelled"
            assert (await boss.post(f"/broadcasts/{first}/cancel")).status_code == 409
            rows = await service.rows(access_journal, access_journal.c.action == "broadcast_cancel")
            assert [(r.actor, r.detail) for r in rows] == [("boss", first)]

            # From the command line.
            second = await services.broadcasts.start(by="boss", trigger="manual", level="normal", again=True)
            assert second
            code, out = await optibot(database_url, tmp_path, "waitlist", "cancel", "nope")
            assert code == 2, out
            code, out = await optibot(database_url, tmp_path, "waitlist", "cancel", second)
            assert code == 0, out
            assert f"diffusion {second} arrêtée" in out
            progress = await services.broadcasts.progress(second)
            assert progress is not None
            assert progress.status == "cancelled"
        finally:
            await _open_clients()  # the module's clients, closed with this test's loop


# --- review 14: the progress reads only the broadcasts shown --------------------------------------


async def test_the_progress_counts_only_the_deliveries_of_the_broadcasts_shown(
    database_url: str, tmp_path: Path
) -> None:
    async with services_of(database_url, tmp_path) as services:
        await services.levels.set("normal", department=None, by="alice")
        for _ in range(3):
            await add_waiting(services, department="13")
        first = await services.broadcasts.start(by="alice", trigger="manual", level="normal", department="13")
        await add_waiting(services, department="75")
        second = await services.broadcasts.start(
            by="alice", trigger="manual", level="normal", department="75"
        )
        assert first
        assert second
        statements: list[str] = []

        def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        sa.event.listen(services.database.sync_engine, "before_cursor_execute", seen)
        try:
            progress = await services.broadcasts.progress(second)
        finally:
            sa.event.remove(services.database.sync_engine, "before_cursor_execute", seen)
        assert progress is not None
        assert (progress.total, progress.remaining) == (1, 1)
        counting = [s for s in statements if "GROUP BY broadcast_deliveries.broadcast_id" in s]
        assert counting
        assert all("WHERE broadcast_deliveries.broadcast_id IN" in s for s in counting)
        assert [(p.public_id, p.total, p.remaining) for p in await services.broadcasts.list()] == [
            (second, 1, 1),
            (first, 3, 3),
        ]
