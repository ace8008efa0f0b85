"""What a chat channel may ask of the opticians' side, without knowing how dispatch works.

An optician talks to the bot in the same chat app as clients (Telegram today): their buttons and
commands are routed here instead of to the client conversation. The channel depends on this port;
``bot.dispatch`` implements it and the composition root hands it to the channel when building it.
"""

from __future__ import annotations

from typing import Protocol

from flows.types import ClientInput

LINK_PREFIX = "optician_"  # "/start optician_<code>": a linking code from the console
OFFER_STEP = "offer"  # a visit offered: accepted or declined
VISIT_STEP = "visit"  # a taken visit: its hour, on the way, done, or could not be done (and why)
OPTICIAN_STEPS = (OFFER_STEP, VISIT_STEP)
# The members' desk (issue 16): the steps of its buttons all start with this ("m.kind", "m.slot"...).
MEMBER_STEP_PREFIX = "m."


class OpticianDesk(Protocol):
    """The opticians' use cases a channel can reach. ``chat`` is the optician's chat id on the
    channel; ``on_message``: the message carrying the pressed button (replaced by the answer)."""

    async def link(self, chat: str, code: str) -> None: ...

    async def is_optician(self, chat: str) -> bool: ...

    async def set_available(self, chat: str, *, available: bool) -> None: ...

    async def my_cases(self, chat: str) -> None: ...

    async def answer(self, chat: str, step: str, value: str, on_message: int | None) -> None:
        """A button pressed by an optician (``step`` is one of :data:`OPTICIAN_STEPS`)."""
        ...


class MemberDesk(Protocol):
    """The members' desk (issue 16, :mod:`bot.members`): a linked optician's chat on a channel is
    also a member's line to the federation (menu, requests, video follow-ups, their record).

    ``channel`` is ``telegram`` or ``whatsapp``; ``chat`` the chat id there (Telegram's chat id,
    WhatsApp's ``wa_id``). ``on_message``: the message carrying the pressed button, if any."""

    async def is_member(self, channel: str, chat: str) -> bool:
        """True if ``chat`` on ``channel`` is a linked optician's (answered from a short cache)."""
        ...

    def forget(self, channel: str) -> None:
        """A chat of ``channel`` was just linked here: the next :meth:`is_member` reads again."""
        ...

    async def receive(self, channel: str, chat: str, said: ClientInput, on_message: int | None) -> None:
        """Whatever a member wrote or pressed that is not an offer or a visit's button: the menu, the
        request flow, a message for staff on an open request, ``/moncompte``, ``/kit``..."""
        ...
