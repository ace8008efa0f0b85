"""An announcement to 200 members through the fake Bot API, at Telegram's pace, survives a SIGKILL of
the real ``optibot run`` process mid-way (both databases): restarted, every member gets exactly one
message, no duplicate, no 429, and the pace is kept.

The kill is placed where the outbox has nothing ambiguous in flight: once 60 members are told, the
fake holds the next OUTBOX_SHARE (20) sends for 30 s and then drops them, the caller being gone
(recorded 499, never delivered); the process is killed once all 20 are held, after checking that
every message delivered so far was recorded sent. Those 20 rows are the process's leased, unsent
ones: the restart sends them again after their lease (10 s). Without the hold, a kill could cut
off a send the platform accepted: the outbox is at-least-once there (docs/ARCHITECTURE.md,
invariant 4; counted by /healthz as maybe-duplicates), so at most the share of members could be
told twice — that window is the outbox's, not tested here. What this test pins down is the
announcements' own guarantee: a delivery is handed over once (one outbound row per member,
whatever the kill interrupts), and a resumed announcement tells nobody twice.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.app import build, opened
from bot.broadcasts import OUTBOX_SHARE
from bot.settings import Settings
from storage.database import create_engine
from storage.tables import announcement_deliveries, announcements, messages
from tests.e2e.servers import service_env
from tests.fakes.telegram import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.integration.serving import serve_app
from tests.integration.test_announcements import add_member
from tests.integration.test_broadcasts import TELEGRAM_PER_SECOND, Process, assert_paced, until

MEMBERS = 200
FIRST_CHAT = 40000
HOLD_SECONDS = 30.0  # longer than the kill takes: a held send is never delivered to the killed process


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def telegram_settings(telegram: FakeTelegram) -> dict[str, str]:
    return {
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_api_url": telegram.base_url,
        "telegram_mode": "polling",
        "telegram_max_per_second": str(TELEGRAM_PER_SECOND),
    }


async def test_an_announcement_to_200_members_goes_out_at_telegrams_pace(
    database_url: str, tmp_path: Path, telegram: FakeTelegram
) -> None:
    chats = [FIRST_CHAT + i for i in range(MEMBERS)]
    async with serve_app(database_url, tmp_path, **telegram_settings(telegram)) as service:
        for chat in chats:
            await add_member(service.services.database, f"Membre {chat}", ["75"], telegram=str(chat))
        desk = service.services.members.announcements
        started = time.monotonic()
        public_id = await desk.send("Kits : livraison lundi.", by="nina")

        async def done() -> bool:
            progress = await desk.progress(public_id)
            return progress is not None and progress.status == "done"

        await until(done, 60, "the announcement to finish")
        elapsed = time.monotonic() - started
        progress = await desk.progress(public_id)
    assert progress is not None
    assert (progress.sent, progress.failed, progress.remaining) == (MEMBERS, 0, 0)
    assert [len(telegram.messages_to(chat)) for chat in chats] == [1] * MEMBERS
    assert telegram.too_many == 0
    times = sorted(m.at for m in telegram.sent)
    assert_paced(times, TELEGRAM_PER_SECOND)
    assert elapsed >= (MEMBERS - 3) / TELEGRAM_PER_SECOND  # the pace, not faster
    print(  # the figures docs/ quote (pytest -s)
        f"\n{MEMBERS} members at {TELEGRAM_PER_SECOND}/s: sent in {times[-1] - times[0]:.1f} s, "
        f"done {elapsed:.1f} s after it was sent"
    )


async def test_a_client_is_answered_while_an_announcement_to_200_members_goes_out(
    database_url: str, tmp_path: Path, telegram: FakeTelegram
) -> None:
    chats = [FIRST_CHAT + i for i in range(MEMBERS)]
    live = 555001

    def told() -> int:
        return sum(1 for m in telegram.sent if FIRST_CHAT <= m.chat_id < FIRST_CHAT + MEMBERS)

    async with serve_app(database_url, tmp_path, **telegram_settings(telegram)) as service:
        for chat in chats:
            await add_member(service.services.database, f"Membre {chat}", ["75"], telegram=str(chat))
        assert await service.services.members.announcements.send("Point d'étape.", by="nina")
        await until(lambda: told() >= 10, 30, "the announcement going out")
        await telegram.say(live, "bonjour")
        await until(lambda: telegram.messages_to(live), 30, "the client's reply")
        # Answered within the announcement's share of the outbox, not after the whole of it.
        assert told() < 100, told()
        await until(lambda: told() == MEMBERS, 60, "the whole announcement")
    assert [len(telegram.messages_to(chat)) for chat in chats] == [1] * MEMBERS


async def test_an_announcement_to_200_members_killed_mid_way_tells_each_exactly_once_at_the_pace(
    database_url: str, tmp_path: Path, telegram: FakeTelegram
) -> None:
    chats = [FIRST_CHAT + i for i in range(MEMBERS)]
    database = create_engine(database_url)
    values = telegram_settings(telegram)
    settings = Settings(_env_file=None, database_url=database_url, **values)  # type: ignore[call-arg]
    async with opened(build(settings)) as services:  # sent from another process, as the console would
        for chat in chats:
            await add_member(services.database, f"Membre {chat}", ["75"], telegram=str(chat))
        public_id = await services.members.announcements.send("Nouveau protocole : fiche jointe.", by="nina")
    env = service_env(
        database_url,
        tmp_path / "data",
        **{key.upper(): value for key, value in values.items()},
        OPTIBOT_FILE_KEY=Fernet.generate_key().decode(),
    )
    service = Process(tmp_path, env)

    def delivered() -> int:
        return sum(1 for m in telegram.sent if m.chat_id >= FIRST_CHAT)

    def held() -> int:
        return sum(1 for r in telegram.calls("sendMessage") if r.status == 0)

    async def recorded() -> int:
        async with database.connect() as connection:
            return int(
                await connection.scalar(
                    sa.select(sa.func.count()).select_from(messages).where(messages.c.sent_at.is_not(None))
                )
                or 0
            )

    try:
        started = time.monotonic()
        await service.start()
        await until(lambda: delivered() >= 60, 60, "the announcement going out")
        # The next OUTBOX_SHARE sends are held (then dropped, never delivered); the process is
        # killed once they all are, the announcement's whole share (nothing delivered unrecorded).
        telegram.hang_next("sendMessage", HOLD_SECONDS, count=OUTBOX_SHARE)
        await until(lambda: held() == OUTBOX_SHARE, 30, "the outbox share held in flight")
        assert await recorded() == delivered()
        await service.kill()
        at_kill = delivered()
        async with database.connect() as connection:
            pending = await connection.scalar(
                sa.select(sa.func.count())
                .select_from(announcement_deliveries)
                .where(announcement_deliveries.c.status == "pending")
            )
        assert 60 <= at_kill < MEMBERS - OUTBOX_SHARE
        assert pending  # killed mid-way: members not handed over yet
        restarted = time.monotonic()
        await service.start()

        async def done() -> bool:
            async with database.connect() as connection:
                status = await connection.scalar(
                    sa.select(announcements.c.status).where(announcements.c.public_id == public_id)
                )
            return status == "done"

        await until(done, 90, "the announcement to finish after the restart")
        finished = time.monotonic()
    finally:
        await service.stop()
    async with database.connect() as connection:
        outbound = (await connection.execute(sa.select(messages).where(messages.c.direction == "out"))).all()
    await database.dispose()

    # One outbound row per member, whatever the kill interrupted; each member told exactly once.
    assert sorted(int(row.party) for row in outbound) == chats
    assert [len(telegram.messages_to(chat)) for chat in chats] == [1] * MEMBERS
    assert all(m.text.startswith("📣 Message de la fédération") for m in telegram.sent)
    assert telegram.too_many == 0
    assert telegram.flood_rejected == 0
    assert_paced(sorted(m.at for m in telegram.sent if m.chat_id >= FIRST_CHAT), TELEGRAM_PER_SECOND)
    print(  # the figures docs/ quote (pytest -s)
        f"\n{MEMBERS} members: {at_kill} told before the kill; restarted after "
        f"{restarted - started:.1f} s; done {finished - restarted:.1f} s after the restart"
    )
