"""Waitlist broadcasts (issue 15): every waiting client matching a filter is told, once, on their
own channel through the outbox at the channels' rate limits (WhatsApp outside the 24-hour window
through an approved template; web chat clients by e-mail or listed for a call-back). One row per
client in ``broadcast_deliveries``, written when the broadcast starts: a restart resumes it and
nobody is told twice.

- Telegram and WhatsApp: a delivery is marked sent in the transaction that writes its outbound
  row with :func:`bot.replies.enqueue_reply` (the project's one way to speak to a client), so a kill
  between the two cannot make a second row; the outbox paces, retries and sends it (WhatsApp, when
  the client's window is closed, as the approved template). Its progress is its outbound row's.
- E-mail: the delivery is committed ``sending`` before the SMTP exchange, retried in place on a
  temporary failure, then ``sent`` or ``failed``. One left ``sending`` by a process that died is
  given up as ``interrupted`` after ``BROADCAST_SENDING_TIMEOUT`` and never sent again: at most
  once (the SMTP server may have taken it before the kill; an e-mail twice is the worse fault).
- Web chat without e-mail (or with e-mail off) but with a phone: ``callback``, listed for staff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import windows
from bot.levels import read_levels
from bot.mail import Mailer, MailError
from bot.replies import enqueue_reply
from bot.settings import Settings
from bot.signals import Commits, wait_set
from flows.catalog import Catalog
from flows.intake import SERVED_FROM_CRISIS
from flows.types import Levels, Reply, as_level, stricter
from storage import announcement_views
from storage import broadcasts as store
from storage import waitlist as waitlist_store
from storage.broadcasts import NewDelivery, Progress
from storage.conversations import lock_conversations
from storage.database import Connection, Database
from storage.outbound import Recipient
from storage.privacy.journal import record_access
from storage.waitlist import Target, WaitlistFilter

log = logging.getLogger(__name__)

LEVELS = ("normal", "crisis")  # the levels a broadcast announces (nothing to tell of "suspended")
TRIGGERS = ("level", "manual")
# The waitlist reasons crisis service serves (emergencies stopped by a suspension, as the intake
# says): announcing crisis tells only these; the others (not_urgent, no_prescription, other) still
# wait for normal service.
CRISIS_SERVES = tuple(sorted(SERVED_FROM_CRISIS))
CHAT_BATCH = 100  # chat deliveries handed to the outbox per transaction
# At most this many of the broadcasts' messages wait unsent in the outbox per channel: the outbox
# sends oldest first, so a live reply never waits behind more than these (not a whole broadcast).
OUTBOX_SHARE = 20
IDLE_SECONDS = 2.0  # how often an idle worker looks for a broadcast started by another process
BUSY_SECONDS = 0.5  # how often a running broadcast's progress is looked at
EMAIL_ATTEMPTS = 4  # tries of one e-mail on temporary failures
EMAIL_BACKOFF = (1.0, 2.0, 4.0)  # seconds between them


class BroadcastError(ValueError):
    """A broadcast that cannot start (a bad level or filter): said to the admin as is."""


@dataclass(frozen=True, slots=True)
class Preview:
    """How many clients a broadcast would tell, by route (telegram, whatsapp, email, callback...)."""

    total: int
    routes: dict[str, int]


class Broadcasts:
    """Starts, runs and reports broadcasts."""

    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        clock: Callable[[], datetime],
        commits: Commits,
        settings: Settings,
        *,
        mailer: Mailer | None = None,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.clock = clock
        self.commits = commits
        self.settings = settings
        self.mailer = mailer or Mailer(settings)
        self.email_interval = 1.0 / settings.broadcast_emails_per_second
        self.sending_timeout = timedelta(seconds=settings.broadcast_sending_timeout)
        # One SMTP attempt's cap: refreshed before each attempt, a delivery is never left longer
        # than this plus a back-off without news, well inside the give-up timeout.
        self.attempt_timeout = max(settings.broadcast_sending_timeout / 2 - max(EMAIL_BACKOFF), 0.5)
        self._wake = asyncio.Event()

    # --- starting --------------------------------------------------------------------------------

    async def preview(
        self,
        *,
        department: str | None = None,
        reason: str | None = None,
        channel: str | None = None,
        again: bool = False,
        level: str | None = None,
    ) -> Preview:
        """Who a broadcast with this filter would tell (announcing ``level``: None for the level
        in force), counted by route; sends nothing."""
        async with self.database.connect() as connection:
            levels = await read_levels(connection)
            announced = level or levels.of(department)
            if announced not in LEVELS:
                return Preview(0, {})
            found = await self._targets(
                connection, levels, announced, WaitlistFilter(department, reason, channel), again
            )
            planned = [await self._route(connection, target) for target in found]
        routes: dict[str, int] = {}
        for delivery in planned:
            key = delivery.route if delivery.status != "failed" else "unreachable"
            routes[key] = routes.get(key, 0) + 1
        return Preview(len(planned), routes)

    async def start(
        self,
        *,
        by: str,
        trigger: str,
        level: str,
        department: str | None = None,
        dry_run: bool = False,
        reason: str | None = None,
        channel: str | None = None,
        again: bool = False,
    ) -> str | None:
        """Start a broadcast to the waiting clients of ``department`` (None: all) announcing
        ``level``; returns its public id (None when nobody waits, for a dry run, or for the level
        ``suspended``, which announces nothing). ``trigger``: level | manual. ``again``: clients
        told by an earlier broadcast are told again (an admin's explicit choice). Journaled."""
        if trigger not in TRIGGERS:
            raise BroadcastError(f"déclencheur inconnu : {trigger}")
        if level == "suspended":
            return None
        if level not in LEVELS:
            raise BroadcastError(f"niveau inconnu : {level}")
        if dry_run:
            return None
        chosen = WaitlistFilter(department, reason, channel)
        now = self.clock()
        public_id = secrets.token_hex(8)
        async with self.database.begin() as connection:
            await store.lock_starts(connection)  # first: targets + create serialised across processes
            levels = await read_levels(connection)
            in_force = levels.of(department)
            if stricter(in_force, as_level(level)):
                raise BroadcastError(
                    f"niveau annoncé ({level}) moins strict que celui en vigueur ({in_force})"
                )
            found = await self._targets(connection, levels, level, chosen, again)
            if not found:
                return None
            planned = [await self._route(connection, target) for target in found]
            await store.create(
                connection,
                public_id=public_id,
                trigger=trigger,
                level=level,
                department=department,
                reason=reason,
                channel=channel,
                by=by,
                now=now,
                deliveries=planned,
            )
            detail = f"{public_id} {level} {department or '*'} {len(planned)}"
            await record_access(connection, now, by, "broadcast", detail=detail)
        log.info("broadcast %s started (%s, %d clients)", public_id, level, len(planned))
        self._wake.set()
        self.commits()
        return public_id

    async def _targets(
        self, connection: Connection, levels: Levels, level: str, chosen: WaitlistFilter, again: bool
    ) -> list[Target]:
        """The waiting clients a broadcast announcing ``level`` tells: crisis only those it serves;
        never a client whose department has a stricter level of its own than the one announced."""
        reasons = CRISIS_SERVES if level == "crisis" else None
        found = await waitlist_store.targets(connection, chosen, again=again, reasons=reasons)
        announced = as_level(level)
        return [t for t in found if not stricter(levels.of(t.department), announced)]

    async def _route(self, connection: Connection, target: Target) -> NewDelivery:
        """How this client is told: their chat, e-mail, a call-back, or not at all."""
        if target.channel == "webchat":
            if target.has_email and self.mailer.enabled:
                return NewDelivery(target.waitlist_id, store.EMAIL, "pending")
            if target.has_phone:
                return NewDelivery(target.waitlist_id, store.CALLBACK, store.CALLBACK)
            error = "email_off" if target.has_email else "unreachable"
            return NewDelivery(target.waitlist_id, "none", "failed", error)
        if target.external_id is None or target.channel not in store.CHAT_ROUTES:
            return NewDelivery(target.waitlist_id, "none", "failed", "unreachable")
        if windows.has_window(target.channel):
            closes = await windows.closes_at(connection, target.channel, target.external_id)
            if not windows.is_open(closes, self.clock()):
                return NewDelivery(target.waitlist_id, f"{target.channel}_template", "pending")
        return NewDelivery(target.waitlist_id, target.channel, "pending")

    async def cancel(self, public_id: str, *, by: str) -> bool:
        """An admin stops a running broadcast (journaled); whether it was running."""
        now = self.clock()
        async with self.database.begin() as connection:
            if not await store.cancel(connection, [public_id], now):
                return False
            await record_access(connection, now, by, "broadcast_cancel", detail=public_id)
        log.info("broadcast %s cancelled", public_id)
        self.commits()
        return True

    async def cancel_looser(self) -> list[str]:
        """Running broadcasts announcing a level looser than the one now in force where they tell
        (the level switched back: e.g. "service normal" while suspended again) are cancelled; a
        national one's deliveries to departments now stricter of their own are. Their ids."""
        async with self.database.connect() as connection:  # a read: nothing to cancel, no write
            levels = await read_levels(connection)
            found = await store.running(connection)
        looser = [b.public_id for b in found if stricter(levels.of(b.department), as_level(b.level))]
        # A national one goes on elsewhere, but not in departments now stricter of their own.
        local = {
            b.public_id: [code for code, level in levels.departments if stricter(level, as_level(b.level))]
            for b in found
            if b.department is None and b.public_id not in looser
        }
        if not looser and not any(local.values()):
            return []
        async with self.database.begin() as connection:
            for public_id, departments in local.items():
                await store.cancel_in(connection, public_id, departments, self.clock())
            cancelled = await store.cancel(connection, looser, self.clock())
            for public_id in cancelled:
                detail = f"{public_id} level"
                await record_access(connection, self.clock(), "system", "broadcast_cancel", detail=detail)
        for public_id in cancelled:
            log.info("broadcast %s cancelled: the level in force is stricter", public_id)
        if cancelled:
            self.commits()
        return cancelled

    def wake(self) -> None:
        """Look for work now (a broadcast started elsewhere; the worker also looks every 2 s)."""
        self._wake.set()

    # --- reading ---------------------------------------------------------------------------------

    async def progress(self, public_id: str) -> Progress | None:
        async with self.database.connect() as connection:
            found = await store.progress(connection, [public_id])
        return found[0] if found else None

    async def list(self, limit: int = 20) -> list[Progress]:
        """The newest broadcasts with their progress, newest first."""
        async with self.database.connect() as connection:
            return await store.progress(connection, None, limit)

    # --- the worker ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Hand the pending chat deliveries to the outbox, send the e-mails, close the broadcasts
        that are done; resumes what a previous process left (the deliveries are in the database)."""
        email = asyncio.create_task(self._emails(), name="optibot-broadcast-emails")
        try:
            while True:
                busy = await self._chat_round()
                await self._sleep(BUSY_SECONDS if busy else IDLE_SECONDS)
        finally:
            email.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await email

    async def _sleep(self, seconds: float) -> None:
        await wait_set(self._wake, seconds)
        self._wake.clear()

    async def _chat_round(self) -> bool:
        """Every pending chat delivery to the outbox, batch by batch; the finished broadcasts
        closed. Whether a broadcast is still running."""
        try:
            async with self.database.connect() as connection:
                if not await store.has_work(connection):  # idle: no write at all
                    return False
            await self.cancel_looser()  # the level switched back meanwhile: stop announcing it
            while await self._chat_batch():
                pass
            async with self.database.begin() as connection:
                now = self.clock()
                given_up = await store.give_up_interrupted(connection, now - self.sending_timeout, now)
                closed = await store.close_finished(connection, self.clock())
                running = await store.has_work(connection)
        except Exception:  # a database hiccup: the next round tries again
            log.exception("broadcasts: round failed")
            return True
        if given_up:
            log.warning(
                "broadcasts: %d e-mail(s) interrupted by a stop, given up (never sent twice)", given_up
            )
        for public_id in closed:
            log.info("broadcast %s done", public_id)
        if closed:
            self.commits()
        return running

    async def _chat_batch(self) -> int:
        now = self.clock()
        async with self.database.begin() as connection:
            unsent = await store.unsent_by_channel(connection)
            theirs = await announcement_views.unsent_by_channel(connection)  # one share: the bulk's
            room = {
                channel: min(CHAT_BATCH, OUTBOX_SHARE - unsent.get(channel, 0) - theirs.get(channel, 0))
                for channel in store.CHANNEL_ROUTES
            }
            due = await store.due_chat(connection, room)
            if not due:
                return 0
            # The conversations' locks first, then the deliveries' rows: the order erasure takes
            # them in (PostgreSQL; on SQLite the claim's UPDATE takes the write lock).
            found = await waitlist_store.addresses(connection, [w for _, w in due])
            await lock_conversations(
                connection,
                [f"{a.channel}:{a.external_id}" for a in found.values() if a.external_id is not None],
            )
            claimed = await store.claim_chat(connection, now, [d for d, _ in due])
            if not claimed:  # another process took them meanwhile
                return len(due)
            found = await waitlist_store.addresses(connection, [c.waitlist_id for c in claimed])
            gone = [
                c.id
                for c in claimed
                if c.waitlist_id not in found or found[c.waitlist_id].external_id is None
            ]
            await store.fail(connection, gone, "erased", now)
            made = [c for c in claimed if c.id not in gone]
            carried: list[tuple[int, int]] = []
            for delivery in made:
                address = found[delivery.waitlist_id]
                to = Recipient(
                    address.channel, str(address.external_id), address.conversation_id, address.language
                )
                message_id = await enqueue_reply(
                    connection, to, self._reply(address.language, delivery.level), now
                )
                carried.append((delivery.id, message_id))
            await store.set_messages(connection, carried)
            await waitlist_store.mark_told(
                connection, sorted({found[c.waitlist_id].client_id for c in made}), now
            )
        self.commits()  # wakes the outbox
        return len(claimed)

    def _reply(self, language: str, level: str) -> Reply:
        key = f"broadcast.{level}"
        return Reply(key=key, text=self.catalog.text(language, key))

    async def _emails(self) -> None:
        """One e-mail at a time, ``BROADCAST_EMAILS_PER_SECOND`` at most."""
        if not self.mailer.enabled:
            return
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                sent = await self._one_email()
            except Exception:  # a database hiccup: try again shortly
                log.exception("broadcasts: e-mail round failed")
                sent = False
            if not sent:
                await asyncio.sleep(IDLE_SECONDS)
                continue
            await asyncio.sleep(max(self.email_interval - (loop.time() - started), 0.0))

    async def _one_email(self) -> bool:
        async with self.database.connect() as connection:  # idle: a read, no write
            if not await store.has_pending_email(connection):
                return False
        async with self.database.begin() as connection:
            claimed = await store.claim_email(connection, self.clock())
        if claimed is None:
            return False
        error, client_id = await self._send_email(claimed)
        async with self.database.begin() as connection:
            finished = await store.finish(
                connection, claimed.id, "failed" if error else "sent", self.clock(), error
            )
            if finished and error is None and client_id is not None:
                await waitlist_store.mark_told(connection, [client_id], self.clock())
        self.commits()
        return True

    async def _send_email(self, claimed: store.Claimed) -> tuple[str | None, int | None]:
        """Send, retrying temporary failures in place: (None, the client's id) when sent, else
        (the error's kind, None). Before each attempt the delivery is refreshed (a live exchange
        is never given up as interrupted) and the address read again (a client erased meanwhile
        is not written to); each attempt is capped (an overrun is ambiguous: never retried)."""
        for attempt in range(EMAIL_ATTEMPTS):
            async with self.database.begin() as connection:
                alive = await store.touch(connection, claimed.id, self.clock())
                found = await waitlist_store.addresses(connection, [claimed.waitlist_id]) if alive else {}
            if not alive:  # erased with its entry, or given up meanwhile: not ours to send now
                return "gone", None
            address = found.get(claimed.waitlist_id)
            if address is None or address.email is None:
                return "erased", None
            subject = self.catalog.text(address.language, "broadcast.email_subject")
            body = "\n\n".join(
                self.catalog.text(address.language, f"broadcast.{key}")
                for key in ("email_greeting", f"email_{claimed.level}", "email_footer")
            )
            try:
                async with asyncio.timeout(self.attempt_timeout):
                    await self.mailer.send(address.email, subject, body)
                return None, address.client_id
            except TimeoutError:
                log.warning("broadcasts: e-mail attempt over %.0f s, given up", self.attempt_timeout)
                return "attempt timeout", None
            except MailError as error:
                if not error.temporary or attempt == EMAIL_ATTEMPTS - 1:
                    log.warning("broadcasts: e-mail failed (%s)", error.kind)
                    return error.kind, None
            await asyncio.sleep(EMAIL_BACKOFF[min(attempt, len(EMAIL_BACKOFF) - 1)])
        return "attempts", None
