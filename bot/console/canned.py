"""Canned replies: texts every operator can pick from; admins add and remove them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from bot.console.auth import Operator
from bot.console.checks import operator_text, require_admin
from bot.console.views import Canned
from bot.errors import RefusedError
from storage import canned as canned_store
from storage.canned import CannedReply
from storage.database import Database

MAX_TITLE = 80


class CannedReplies:
    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.clock = clock

    async def all(self) -> list[Canned]:
        """Every canned reply, by title."""
        async with self.database.connect() as connection:
            replies = await canned_store.canned_by_title(connection)
        return [_canned(reply) for reply in replies]

    async def add(self, me: Operator, title: str, text: str) -> Canned:
        require_admin(me)
        title, text = title.strip()[:MAX_TITLE], operator_text(text)
        if not title:
            raise RefusedError(422, "indiquez un titre")
        reply = CannedReply(secrets.token_urlsafe(9), title, text)
        async with self.database.begin() as connection:
            await canned_store.add_canned(connection, reply, me.name, self.clock())
        return _canned(reply)

    async def delete(self, me: Operator, public_id: str) -> None:
        require_admin(me)
        async with self.database.begin() as connection:
            deleted = await canned_store.delete_canned(connection, public_id)
        if not deleted:
            raise RefusedError(404, "réponse type introuvable")


def _canned(reply: CannedReply) -> Canned:
    return Canned(id=reply.public_id, title=reply.title, text=reply.text)
