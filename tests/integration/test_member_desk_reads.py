"""Who is a member, asked by every Telegram message: the linked chats are read once for all the
messages arriving while they are due to be read again (not one query each)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from storage import member_desk
from tests.harness import harness_with_opticians


async def test_messages_arriving_together_share_one_read_of_the_linked_chats(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness_with_opticians(database_url, tmp_path) as (h, side):
        chat = await side.add("Claire Martin", ["75"])
        reads = 0
        real = member_desk.linked_chats

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal reads
            reads += 1
            return await real(*args, **kwargs)

        monkeypatch.setattr(member_desk, "linked_chats", counted)
        members = h.services.members
        members.forget("telegram")  # due to be read again
        answers = await asyncio.gather(*(members.is_member("telegram", c) for c in [chat, "999"] * 10))
        assert answers == [True, False] * 10
        assert reads == 1
        members.forget("telegram")  # a link made here: read again at once
        assert not await members.is_member("telegram", "999")
        assert reads == 2
