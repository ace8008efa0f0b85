"""The composition root: the one place that reads settings and wires storage, engine and channels."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.broadcasts import Broadcasts
from bot.console.auth import Accounts
from bot.console.live import Wakeup
from bot.console.service import Console
from bot.dispatch import Dispatch
from bot.engine import Engine, new_reference, utcnow
from bot.levels import ServiceLevels
from bot.live import BrowserStreams, Live
from bot.logs import configure_logging, describe
from bot.members import Members
from bot.metrics import Metrics
from bot.outbox import Channel, OutboxSender
from bot.ratelimit import RateLimiter
from bot.recruitment import Recruitment
from bot.reports import Reports
from bot.settings import Settings
from bot.signals import Commits
from flows.catalog import Catalog
from storage.database import create_engine, is_sqlite
from storage.files import FileStore
from storage.migrate import upgrade
from storage.privacy import RetentionPolicy, hash_legacy_inbox_ids

if TYPE_CHECKING:
    from bot.channels.telegram.channel import TelegramChannel
    from bot.channels.whatsapp.channel import WhatsAppChannel

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    database: AsyncEngine
    catalog: Catalog
    files: FileStore
    engine: Engine
    sender: OutboxSender
    accounts: Accounts
    console: Console
    dispatch: Dispatch
    wakeup: Wakeup
    levels: ServiceLevels
    broadcasts: Broadcasts
    reports: Reports
    recruitment: Recruitment
    members: Members
    live: Live
    telegram: TelegramChannel | None = None
    whatsapp: WhatsAppChannel | None = None
    metrics: Metrics = field(default_factory=Metrics)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def build(
    settings: Settings,
    channels: Sequence[Channel] = (),
    *,
    telegram: bool = False,
    whatsapp: bool = False,
    clock: Callable[[], datetime] = utcnow,
    references: Callable[[], str] = new_reference,
    limiters: Callable[[], RateLimiter] | None = None,
    browsers: BrowserStreams | None = None,
) -> Services:
    """Create every long-lived object once; nothing runs until :func:`running` starts it.

    With ``telegram`` and a bot token in the settings, the Telegram channel is built too (aiogram
    is imported only then: the terminal chat and the tools start faster without it); likewise
    ``whatsapp`` with a WhatsApp access token.

    Overrides are keyword arguments, handed to every object that needs them as it is built (nothing
    is assigned into an object afterwards): ``clock`` (tests move time), ``references`` (case
    references), ``limiters`` (makes each chat channel's pacing; benchmarks lift it against fakes);
    ``browsers``: the web chat's reply streams, woken by other processes' deliveries (bot/live.py).
    """
    database = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    catalog = Catalog.load()
    files = FileStore(settings.optibot_data_dir, settings.optibot_file_key, settings.max_upload_bytes)
    commits = Commits()  # fired after every commit: wakes the sender, live views, dispatch
    metrics = Metrics(database, clock)  # served by bot/metrics_http.py where `optibot run` serves
    # PostgreSQL: other processes' commits wake the same listeners (LISTEN/NOTIFY, bot/live.py).
    live = Live(
        commits,
        database,
        settings.database_url,
        safety_seconds=settings.live_safety_seconds,
        browsers=browsers,
    )
    commits.forward(live.committed)
    if browsers is not None:
        browsers.forward(live.delivered)
    dispatch = Dispatch(
        database,
        catalog,
        clock,
        commits,
        accept_within=timedelta(minutes=settings.dispatch_accept_minutes),
        automatic=settings.dispatch_at_handoff,
        reminder_hour=settings.appointment_reminder_hour,
        files=files,
    )
    engine = Engine(
        database,
        catalog,
        files,
        default_language=settings.optibot_default_language,
        batch_size=settings.engine_batch_size,
        accept_timeout=settings.engine_accept_timeout,
        clock=clock,
        reference_factory=references,
        reopen_within=timedelta(days=settings.case_reopen_days),
        withdraw_visit=dispatch.withdraw,
        bookings=dispatch.booking,
        retention=retention_policy(settings),
        commits=commits,
        metrics=metrics,
        # Where no public address is set (a laptop), the one this service listens on.
        join_url=f"{(settings.public_url or f'http://{settings.web_host}:{settings.web_port}').rstrip('/')}/rejoindre",
    )
    # The members' desk (issue 16): a linked optician's chat is also a member's line to the federation.
    members = Members(database, catalog, files, clock, commits, settings)
    bot_channel = None
    if telegram and settings.telegram_enabled:
        from bot.channels.telegram.channel import TelegramChannel

        bot_channel = TelegramChannel(
            settings,
            catalog,
            files,
            engine=engine,
            database=database,
            desk=dispatch,
            members=members,
            limiter=limiters() if limiters else None,
        )
        channels = [*channels, bot_channel]
    wa_channel = None
    if whatsapp and settings.whatsapp_enabled:
        from bot.channels.whatsapp.channel import WhatsAppChannel

        wa_channel = WhatsAppChannel(
            settings,
            catalog,
            files,
            engine=engine,
            database=database,
            clock=clock,
            limiter=limiters() if limiters else None,
            members=members,
        )
        channels = [*channels, wa_channel]
    wakeup = Wakeup(live.poll_seconds)
    # Once deliveries are recorded: WhatsApp applies the receipts that came first, live views show it.
    recorded = [wakeup.notify, live.committed]
    recorded = recorded if wa_channel is None else [wa_channel.recorded, *recorded]
    sender = OutboxSender(database, channels, clock, on_record=recorded, metrics=metrics)
    commits.listen(sender.wake)
    commits.listen(wakeup.notify)
    accounts = Accounts(database, clock, session_hours=settings.console_session_hours)
    console = Console(
        database,
        catalog,
        files,
        clock,
        commits,
        privacy=engine.privacy,
        offers=dispatch,
        overdue_after=timedelta(minutes=settings.console_priority_alert_minutes),
    )
    if settings.dispatch_at_handoff:
        commits.listen(dispatch.wake)
    return Services(
        settings,
        database,
        catalog,
        files,
        engine,
        sender,
        accounts,
        console,
        dispatch,
        wakeup,
        levels=ServiceLevels(database, clock, commits),
        broadcasts=Broadcasts(database, catalog, clock, commits, settings),
        reports=Reports(database, clock),
        recruitment=Recruitment(database, clock, dispatch),
        members=members,
        live=live,
        telegram=bot_channel,
        whatsapp=wa_channel,
        metrics=metrics,
    )


@contextlib.asynccontextmanager
async def running(
    services: Services, *, deliver: bool = True, freeze_gc: bool = False, retention: bool = True
) -> AsyncIterator[Services]:
    """Migrate, start the engine (recovering unprocessed messages) and, if asked, the sender and
    the retention sweep."""
    settings = services.settings
    if settings.auto_migrate or is_sqlite(settings.database_url):
        await upgrade(services.database)
    async with services.database.begin() as connection:
        await hash_legacy_inbox_ids(connection, services.engine.pseudonyms)
    await services.engine.start()
    if services.live.pushed:
        services.tasks.append(asyncio.create_task(services.live.run(), name="optibot-live"))
    if deliver:
        services.tasks.append(asyncio.create_task(services.sender.run(), name="optibot-outbox"))
    services.tasks.append(asyncio.create_task(services.engine.sweep(), name="optibot-sweep"))
    services.tasks.append(asyncio.create_task(services.dispatch.run(), name="optibot-dispatch"))
    services.tasks.append(asyncio.create_task(services.broadcasts.run(), name="optibot-broadcasts"))
    services.tasks.append(asyncio.create_task(services.members.run(), name="optibot-members"))
    if retention:
        sweep = services.engine.privacy.sweep(settings.retention_sweep_minutes * 60.0)
        services.tasks.append(asyncio.create_task(sweep, name="optibot-retention"))
    if services.telegram is not None:
        await services.telegram.start()
    if services.whatsapp is not None:
        await services.whatsapp.start()
    # Objects built at start-up (catalogues, machines, pydantic types) live for the whole process:
    # keep them out of the garbage collector's full collections.
    if freeze_gc:
        gc.collect()
        gc.freeze()
    try:
        yield services
    finally:
        # The sender first (it records what it sent while the channels can still finish a send),
        # then the channels' own jobs, then the engine.
        for task in services.tasks:
            task.cancel()
        for task, outcome in zip(
            services.tasks, await asyncio.gather(*services.tasks, return_exceptions=True), strict=True
        ):
            # A background loop that died earlier must not stop the rest of the shutdown.
            if isinstance(outcome, Exception):
                log.error("%s had stopped: %s", task.get_name(), describe(outcome))
        services.tasks.clear()
        if services.telegram is not None:
            await services.telegram.stop()
        if services.whatsapp is not None:
            await services.whatsapp.stop()
        await services.engine.stop()
        await services.engine.privacy.settled()
        await services.database.dispose()


@contextlib.asynccontextmanager
async def opened(services: Services, *, migrate: bool | None = None) -> AsyncIterator[Services]:
    """Services built but not started, for one command (the CLI's tools): the database migrated
    when the settings say so (``migrate`` forces it either way), disposed at the end. Nothing runs
    in the background; messages a command writes are sent by the running service."""
    settings = services.settings
    if migrate if migrate is not None else settings.auto_migrate or is_sqlite(settings.database_url):
        await upgrade(services.database)
    try:
        yield services
    finally:
        await services.engine.privacy.settled()
        try:  # what the command changed reaches the running processes' streams at once
            await services.live.announce()
        except Exception as error:  # their safety read makes up for it
            log.warning("live: the command's change not announced: %s", describe(error))
        await services.database.dispose()


def retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        inbox=timedelta(days=settings.retention_inbox_days),
        cases=timedelta(days=settings.retention_case_days),
        files=timedelta(days=settings.retention_file_days),
        waitlist=timedelta(days=settings.retention_waitlist_days),
        journal=timedelta(days=settings.retention_journal_days),
        candidates=timedelta(days=settings.retention_candidate_days),
        member_requests=timedelta(days=settings.retention_member_request_days),
    )


def load_settings() -> Settings:
    settings = Settings()
    configure_logging(settings.optibot_log_level, settings.optibot_log_format)
    return settings
