"""The one place that exports, erases and purges a client's personal data, and journals it.

Used by the client's own requests (the engine, inside its transaction), by an admin in the console,
by the command line (``optibot clients ...``) and by the retention sweep. What is stored where is
``storage/privacy.py``'s :data:`~storage.privacy.PERSONAL_DATA`; how it is explained to people is
``docs/PRIVACY.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.logs import describe
from flows.lifecycle import OPEN_STATES, move
from storage import cases as case_store
from storage import privacy
from storage.conversations import lock_conversations
from storage.database import Connection, Database, checkpoint
from storage.files import FileStore

log = logging.getLogger(__name__)

# A case's home-visit offers withdrawn (dispatch), inside the caller's transaction.
WithdrawVisit = Callable[[Connection, int], Awaitable[None]]
EXPORTS = "exports"
EXPORT_FILES_KEPT = timedelta(days=1)  # longer than any download link or delivery retry


@dataclass(frozen=True, slots=True)
class ExportDocument:
    """A client's data as a JSON document stored (encrypted) in the data folder, to attach to a
    message: the payload's ``document``."""

    path: str
    filename: str

    def payload(self) -> dict[str, str]:
        return {"path": self.path, "filename": self.filename, "mime": "application/json"}


class PrivacyDesk:
    """Export, erasure and retention of personal data; built once, by the engine."""

    def __init__(
        self,
        database: Database,
        files: FileStore,
        clock: Callable[[], datetime],
        *,
        withdraw_visit: WithdrawVisit | None = None,
        policy: privacy.RetentionPolicy | None = None,
    ) -> None:
        self.database = database
        self.files = files
        self.clock = clock
        self.withdraw_visit = withdraw_visit
        self.policy = policy or privacy.RetentionPolicy()
        self.pseudonyms = privacy.Pseudonyms(files.derived_key("ids"))
        self._tasks: set[asyncio.Task[None]] = set()

    # --- export -------------------------------------------------------------------------------

    async def record(self, connection: Connection, client_id: int) -> dict[str, Any]:
        """Everything stored about the client, files included (GDPR Art. 15)."""
        return await privacy.client_record(connection, client_id, self.files.read)

    async def export_json(self, connection: Connection, client_id: int, now: datetime) -> bytes:
        """The client's whole record as a JSON document (the chat, the console and the command
        line all give this one)."""
        record = {"exported_at": now.isoformat(), **await self.record(connection, client_id)}
        return json.dumps(record, ensure_ascii=False, indent=2, default=str).encode()

    async def export_document(
        self, connection: Connection, client_id: int, language: str, now: datetime
    ) -> ExportDocument:
        """The client's whole record as a JSON document, stored to be attached to a message."""
        content = await self.export_json(connection, client_id, now)
        path = self.files.save_document(content, ".json", EXPORTS)
        name = "optibot-my-data" if language == "en" else "optibot-mes-donnees"
        return ExportDocument(path, f"{name}-{now.date().isoformat()}.json")

    # --- erasure ------------------------------------------------------------------------------

    async def erase_in(
        self,
        connection: Connection,
        client_ids: Sequence[int],
        now: datetime,
        *,
        actor: str,
        detail: str,
    ) -> list[str]:
        """Erase these clients in the caller's transaction; returns the files to delete after it.

        Their live cases are closed first (the lifecycle's ``erase``) and any optician who was to
        visit is told not to come; then everything personal goes (``storage.privacy``).
        """
        ids = list(client_ids)
        live = await privacy.open_cases_of(connection, ids, move("erase").sources)
        for case_id in live:
            await case_store.move_case(
                connection, case_id, move("erase"), {"done_at": now, "updated_at": now}
            )
        spare_after = await privacy.newest_message_id(connection)
        if self.withdraw_visit is not None:
            for case_id in live:
                await self.withdraw_visit(connection, case_id)
        files = await privacy.erase_clients(connection, ids, now, self.pseudonyms, spare_after=spare_after)
        for client_id in ids:
            await privacy.record_access(connection, now, actor, "erase", client_id=client_id, detail=detail)
        return files

    async def erase(self, client_id: int, *, actor: str, detail: str) -> None:
        """Erase a client in a transaction of its own (console, command line), holding their
        conversations' locks as the engine does: a message being handled finishes first."""
        async with self.database.begin() as connection:
            await lock_conversations(connection, await privacy.identity_keys(connection, client_id))
            files = await self.erase_in(connection, [client_id], self.clock(), actor=actor, detail=detail)
        await self.after_erasure(files)

    async def after_erasure(self, files: Sequence[str]) -> None:
        """Once an erasure has committed: its files go, and SQLite's WAL is emptied."""
        self.delete_files(files)
        try:
            await checkpoint(self.database)
        except Exception as error:  # a reader holding the WAL: the next checkpoint empties it
            log.warning("WAL checkpoint after an erasure failed: %s", describe(error))

    def after_erasure_soon(self, files: Sequence[str]) -> None:
        """:meth:`after_erasure` in the background (from a commit callback)."""
        task = asyncio.get_running_loop().create_task(self.after_erasure(files), name="optibot-erased")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Wait for the background work of erasures (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def delete_files(self, paths: Sequence[str]) -> None:
        for path in paths:
            try:
                self.files.delete(path)
            except (OSError, ValueError):
                log.warning("could not delete a file of erased or expired data")

    # --- retention ----------------------------------------------------------------------------

    async def purge(self, *, dry_run: bool = False) -> privacy.Purge:
        """Remove what is past its retention delay (a dry run counts it and removes nothing)."""
        now = self.clock()
        async with self.database.connect() as connection:
            transaction = await connection.begin()
            try:
                done = await privacy.purge(
                    connection, now, self.policy, self.pseudonyms, open_statuses=OPEN_STATES
                )
                for client_id in done.erased_clients:
                    await privacy.record_access(
                        connection, now, "retention", "erase", client_id=client_id, detail="retention"
                    )
            except BaseException:
                await transaction.rollback()
                raise
            if dry_run:
                await transaction.rollback()
            else:
                await transaction.commit()
        exports = self.files.older_than(EXPORTS, EXPORT_FILES_KEPT.total_seconds(), now.timestamp())
        done.files = sorted({*done.files, *exports})
        if not dry_run and (done.files or any(count for _, count in done.lines())):
            await self.after_erasure(done.files)
        return done

    async def sweep(self, interval: float, first_after: float = 300.0) -> None:
        """Forever: purge what is past its delay every ``interval`` seconds, the first time a few
        minutes after start (a process that starts is busy catching up, and a purge is never
        urgent to the minute)."""
        await asyncio.sleep(min(interval, first_after))
        while True:
            try:
                done = await self.purge()
                removed = {name: count for name, count in done.lines() if count}
                if removed:
                    log.info("retention sweep: %s", removed)
            except Exception as error:
                log.error("retention sweep failed: %s", describe(error))
            await asyncio.sleep(interval)

    # --- the journal --------------------------------------------------------------------------

    async def note(
        self,
        actor: str,
        action: str,
        *,
        client_id: int | None = None,
        case_id: int | None = None,
        detail: str | None = None,
    ) -> None:
        """A line of the access journal, in a transaction of its own."""
        async with self.database.begin() as connection:
            await privacy.record_access(
                connection, self.clock(), actor, action, client_id=client_id, case_id=case_id, detail=detail
            )
