"""What a chat channel may ask of the opticians' side, without knowing how dispatch works.

An optician talks to the bot in the same chat app as clients (Telegram today): their buttons and
commands are routed here instead of to the client conversation. The channel depends on this port;
``bot.dispatch`` implements it and the composition root hands it to the channel when building it.
"""

from __future__ import annotations

from typing import Protocol

LINK_PREFIX = "optician_"  # "/start optician_<code>": a linking code from the console
OFFER_STEP = "offer"  # a visit offered: accepted or declined
VISIT_STEP = "visit"  # a taken visit: its hour, on the way, done, or could not be done (and why)
OPTICIAN_STEPS = (OFFER_STEP, VISIT_STEP)


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
