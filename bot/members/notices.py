"""How the members' desk speaks to a member: an outbound row to their chat (Telegram or WhatsApp),
in French, written with :func:`bot.replies.enqueue_reply` in the caller's transaction (the one way
to speak to anyone). Member messages belong to no conversation and no case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.replies import enqueue_reply
from flows.catalog import Catalog
from flows.types import Choice, Reply
from storage.database import Connection
from storage.outbound import Recipient

MEMBERS_LANGUAGE = "fr"  # the federation's members are French opticians
MEMBER_CHANNELS = ("telegram", "whatsapp")


@dataclass(frozen=True, slots=True)
class MemberChat:
    """Where a member is reached: ``channel`` (telegram | whatsapp) and the chat id there."""

    channel: str
    chat: str


class MemberNotices:
    """Built once by :class:`bot.members.Members`; shared by its parts."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def text(self, key: str, **values: object) -> str:
        """A text for the members (in French)."""
        return self.catalog.text(MEMBERS_LANGUAGE, key, **values)

    def reply(
        self,
        key: str,
        *,
        choices: Sequence[tuple[str, str]] = (),
        step: str | None = None,
        expects: str | None = None,
        **values: object,
    ) -> Reply:
        """The catalogue's text ``key`` with buttons (value, catalogue key of the label)."""
        buttons = tuple(Choice(value, self.text(label)) for value, label in choices)
        return Reply(key, self.text(key, **values), buttons, step, expects)

    async def to_member(
        self,
        connection: Connection,
        to: MemberChat,
        reply: Reply,
        now: datetime,
        *,
        author: str = "bot",
        operator: str | None = None,
        on_message: int | None = None,
    ) -> int:
        """Write ``reply`` to the member's chat in the caller's transaction; its outbound row id.
        ``on_message``: the message it replaces (the one whose button was pressed)."""
        recipient = Recipient(to.channel, to.chat, None, MEMBERS_LANGUAGE, None)
        return await enqueue_reply(
            connection, recipient, reply, now, author=author, operator=operator, edit_message_id=on_message
        )

    async def tell(
        self,
        connection: Connection,
        to: MemberChat,
        key: str,
        now: datetime,
        *,
        choices: Sequence[tuple[str, str]] = (),
        step: str | None = None,
        on_message: int | None = None,
        **values: object,
    ) -> int:
        """The catalogue's text ``key`` to the member (see :meth:`to_member`)."""
        buttons = tuple(Choice(value, self.text(label)) for value, label in choices)
        reply = Reply(key, self.text(key, **values), buttons, step)
        return await self.to_member(connection, to, reply, now, on_message=on_message)
