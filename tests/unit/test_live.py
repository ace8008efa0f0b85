"""The fan-out of other processes' notifications (bot/live.py), without a database."""

from __future__ import annotations

from bot.channels.webchat_hub import WebChatHub
from bot.live import Live, stream_key
from bot.signals import Commits
from storage.database import create_engine

URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/unused"  # never connected to


def _live(hub: WebChatHub) -> tuple[Live, list[str]]:
    commits = Commits()
    woken: list[str] = []
    commits.listen(lambda: woken.append("listener"))
    live = Live(commits, create_engine(URL), URL, safety_seconds=30.0, browsers=hub)
    commits.forward(live.committed)
    hub.forward(live.delivered)
    return live, woken


async def test_another_process_commit_wakes_the_listeners_and_is_not_announced_again() -> None:
    live, woken = _live(WebChatHub())
    live.hear("0badcafe;c")
    assert woken == ["listener"]
    assert live._payload() == live.origin  # nothing to tell the others: no echo between processes


async def test_this_process_own_notifications_are_ignored() -> None:
    live, woken = _live(WebChatHub())
    live.committed()
    live.hear(live._payload())
    assert woken == []


async def test_a_delivery_wakes_only_that_browser_streams_and_names_it_by_a_short_hash() -> None:
    hub = WebChatHub()
    live, _ = _live(hub)
    mine, other = hub.subscribe("a" * 40), hub.subscribe("b" * 40)
    live.hear(f"0badcafe;w={stream_key('a' * 40)}")
    assert mine.is_set()
    assert not other.is_set()
    hub.delivered("c" * 40)
    assert live._payload() == f"{live.origin};w={stream_key('c' * 40)}"
    live.hear("0badcafe;w=*")  # too many browsers for one payload: every stream reads
    assert other.is_set()


async def test_streams_poll_every_two_seconds_until_the_listener_is_listening() -> None:
    live, woken = _live(WebChatHub())
    assert live.poll_seconds() == 2.0
    live.state(True)  # listening: everyone reads once, then waits for the safety interval
    assert live.poll_seconds() == 30.0
    assert woken == ["listener"]
    live.state(False)
    assert live.poll_seconds() == 2.0
