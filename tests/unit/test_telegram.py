"""The Telegram channel's pure parts: rendering, reading updates, pacing."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Coroutine
from typing import Any

import pytest
from aiogram.types import Update

from bot.channels.telegram import render
from bot.channels.telegram.updates import CHANNEL, translate
from bot.ratelimit import RateLimiter, WaitTooLongError, Window
from bot.settings import Settings
from flows.catalog import Catalog
from flows.steps import STEPS
from flows.types import ClientInput

BOT_ID = 42


# --- rendering ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "court",
        "x" * 4096,
        "x" * 4097,
        ("Une phrase assez longue pour remplir. " * 400).strip(),
        "\n\n".join(["paragraphe " * 50] * 30),
        "👓" * 3000,  # two UTF-16 units each: Telegram counts 6,000
        "a" * 4095 + "👓" + "b" * 10,  # the emoji straddles the limit: never cut in half
    ],
)
def test_split_text_keeps_everything_within_telegram_limit(text: str) -> None:
    parts = render.split_text(text)
    assert all(0 < render.utf16_length(p) <= render.MAX_TEXT for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
    if render.utf16_length(text) <= render.MAX_TEXT:
        assert parts == [text]


def test_split_text_cuts_at_paragraphs_when_it_can() -> None:
    paragraphs = [f"§{i} " + "mot " * 150 for i in range(20)]
    parts = render.split_text("\n\n".join(p.strip() for p in paragraphs))
    assert len(parts) > 1
    assert all(part.startswith("§") for part in parts)


def test_parts_resume_after_those_already_sent() -> None:
    payload = {"text": "x" * 9000, "sent_parts": 1}
    resumed = list(render.parts_to_send(payload))
    assert [index for index, _, _ in resumed] == [1, 2]
    assert resumed[-1][2] is True


def test_every_button_of_every_step_fits_in_callback_data() -> None:
    for name, step in STEPS.items():
        for choice in (*step.choices, None):
            value = choice.value if choice else "advisor"
            data = render.callback_data(name, value)
            assert len(data.encode()) <= render.MAX_CALLBACK_DATA
            assert render.parse_callback_data(data) == (name, value)


def test_callback_data_longer_than_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        render.callback_data("step", "é" * 40)


@pytest.mark.parametrize("data", ["", "no-colon", ":", "x" * 64, "need:" + "z" * 59])
def test_tampered_callback_data_reads_as_something_the_flow_refuses(data: str) -> None:
    step, value = render.parse_callback_data(data)
    assert step is None or step not in STEPS or value not in {c.value for c in STEPS[step].choices}


def test_keyboards_and_commands_come_from_the_catalogue() -> None:
    catalog = Catalog.load()
    keyboard = render.inline_keyboard(
        [
            {"value": "yes", "label": "Oui"},
            {"value": "no", "label": "Non"},
            {"value": "advisor", "label": "X"},
        ],
        "urgency",
    )
    assert [[b.callback_data for b in row] for row in keyboard.inline_keyboard] == [
        ["urgency:yes", "urgency:no"],
        ["urgency:advisor"],
    ]
    phone = render.share_phone_keyboard(catalog, "fr")
    assert phone.keyboard[0][0].request_contact is True
    assert "numéro" in phone.keyboard[0][0].text
    assert render.share_phone_keyboard(catalog, "en").keyboard[0][0].text.endswith("Share my number")
    french = [c.command for c in render.bot_commands(catalog, "fr")]
    english = [c.command for c in render.bot_commands(catalog, "en")]
    assert french == [
        "start",
        "aide",
        "annuler",
        "langue",
        "conseiller",
        "mesdonnees",
        "supprimer",
        "rejoindre",
    ]
    assert english == ["start", "help", "cancel", "language", "advisor", "mydata", "delete", "join"]
    answered = render.answered_keyboard("Oui", catalog, "fr")
    assert answered.inline_keyboard[0][0].callback_data == render.ANSWERED


# --- reading updates ------------------------------------------------------------------------------


def _update(update_id: int = 7, **content: Any) -> Update:
    return Update.model_validate({"update_id": update_id, **content})


def _message(**content: Any) -> dict[str, Any]:
    return {
        "message_id": 3,
        "date": 1_790_000_000,
        "chat": {"id": 555, "type": "private", "first_name": "A"},
        "from": {"id": 555, "is_bot": False, "first_name": "A", "language_code": "en-GB"},
        **content,
    }


def test_a_text_message_becomes_an_inbound_message_keyed_by_bot_and_update() -> None:
    incoming = translate(_update(9, message=_message(text="mes lunettes")), BOT_ID)
    assert incoming.inbound is not None
    assert incoming.inbound.channel == CHANNEL
    assert incoming.inbound.user == "555"
    assert incoming.inbound.external_id == "42:9"
    assert incoming.inbound.said == ClientInput(text="mes lunettes")
    assert incoming.inbound.language == "en"


def test_a_shared_contact_gives_the_phone() -> None:
    contact = {"phone_number": "+33612345678", "first_name": "A", "user_id": 555}
    incoming = translate(_update(message=_message(contact=contact)), BOT_ID)
    assert incoming.inbound is not None
    assert incoming.inbound.said.contact_phone == "+33612345678"


def test_a_photo_names_its_largest_size_to_fetch() -> None:
    sizes = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 900},
        {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960, "file_size": 90_000},
    ]
    incoming = translate(_update(message=_message(photo=sizes)), BOT_ID)
    assert incoming.file is not None
    assert incoming.file.file_id == "large"
    assert incoming.file.size == 90_000


def test_a_document_that_is_not_an_image_or_pdf_is_refused_without_fetching() -> None:
    document = {"file_id": "d", "file_unique_id": "d", "file_name": "virus.exe", "mime_type": "application/x"}
    incoming = translate(_update(message=_message(document=document)), BOT_ID)
    assert incoming.file is None
    assert incoming.inbound is not None
    assert incoming.inbound.said.unsupported == "file"


def test_stickers_and_voice_are_unsupported_content() -> None:
    sticker = {
        "file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
        "is_animated": False, "is_video": False,
    }  # fmt: skip
    voice = {"file_id": "v", "file_unique_id": "v", "duration": 2}
    location = {"latitude": 45.76, "longitude": 4.83}
    for content, kind in ((sticker, "sticker"), (voice, "voice"), (location, "location")):
        incoming = translate(_update(message=_message(**{kind: content})), BOT_ID)
        assert incoming.inbound is not None
        assert incoming.inbound.said.unsupported == kind


def test_a_button_press_carries_step_value_and_the_pressed_message() -> None:
    query = {
        "id": "cb1",
        "from": {"id": 555, "is_bot": False, "first_name": "A", "language_code": "fr"},
        "chat_instance": "ci",
        "data": "urgency:yes",
        "message": _message(message_id=77, text="Est-ce urgent ?"),
    }
    incoming = translate(_update(callback_query=query), BOT_ID)
    assert incoming.callback_id == "cb1"
    assert incoming.inbound is not None
    assert incoming.inbound.said == ClientInput(choice="yes", step="urgency")
    assert incoming.inbound.receipt == {"message_id": 77}


def test_an_answered_keyboard_press_is_only_acknowledged() -> None:
    query = {
        "id": "cb2",
        "from": {"id": 555, "is_bot": False, "first_name": "A"},
        "chat_instance": "ci",
        "data": render.ANSWERED,
    }
    incoming = translate(_update(callback_query=query), BOT_ID)
    assert incoming.inbound is None
    assert incoming.callback_id == "cb2"


def test_group_chats_and_edits_are_ignored() -> None:
    group = _message(text="hello", chat={"id": -100, "type": "group", "title": "G"})
    assert translate(_update(message=group), BOT_ID).inbound is None
    assert translate(_update(edited_message={**_message(text="x"), "edit_date": 1}), BOT_ID).inbound is None


def test_blocking_and_unblocking_the_bot_change_reachability() -> None:
    def member(status: str) -> dict[str, Any]:
        user = {"id": 555, "is_bot": False, "first_name": "A"}
        bot = {"id": BOT_ID, "is_bot": True, "first_name": "B"}
        return {
            "chat": {"id": 555, "type": "private", "first_name": "A"},
            "from": user,
            "date": 1,
            "old_chat_member": {"status": "member", "user": bot},
            "new_chat_member": {
                "status": status,
                "user": bot,
                **({"until_date": 0} if status == "kicked" else {}),
            },
        }

    assert translate(_update(my_chat_member=member("kicked")), BOT_ID).reachable == ("555", False)
    assert translate(_update(my_chat_member=member("member")), BOT_ID).reachable == ("555", True)


# --- pacing ---------------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class VirtualTime:
    """Time that moves only when every task waits: concurrent senders, deterministic instants."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), wake))
        await wake

    async def run(self, *work: Coroutine[Any, Any, None]) -> None:
        tasks = [asyncio.create_task(w) for w in work]
        while True:
            for _ in range(50):  # let every task run until it waits
                await asyncio.sleep(0)
            if all(t.done() for t in tasks):
                break
            assert self._sleepers, "every task waits and none sleeps: a deadlock"
            at, _, wake = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            wake.set_result(None)
        await asyncio.gather(*tasks)


async def test_one_chat_gets_a_short_burst_then_one_message_a_second() -> None:
    time = FakeTime()
    limiter = RateLimiter(Window(3, 3.0), Window(30, 1.0), clock=time.clock, sleep=time.sleep)
    sent = []
    for _ in range(7):
        await limiter.acquire("chat")
        sent.append(time.now - 100.0)
    assert sent[2] < 0.1  # a burst of three (the bot's even pace spreads them by 1/30 s)
    assert sent[1] > 0
    assert 3.0 <= sent[3] < 3.1
    assert 6.0 <= sent[6] < 6.1
    for i in range(len(sent) - 3):
        assert sent[i + 3] - sent[i] >= 3.0  # never more than 3 in any 3 s


async def test_sends_made_elsewhere_count_in_the_chat_window_once() -> None:
    """Sends to a chat by another process (seeded as ages) fill its window; a send known both here
    and from the database counts once; what the log knew is never forgotten."""
    time = FakeTime()
    limiter = RateLimiter(Window(3, 3.0), Window(30, 1.0), clock=time.clock, sleep=time.sleep)
    limiter.seed("chat", [2.5, 2.0, 1.0, 10.0])  # three in the window (10 s ago: outside it)
    start = time.now
    await limiter.acquire("chat")
    assert 0.5 - 1e-9 <= time.now - start < 0.6  # when the oldest of the three leaves the window

    other = RateLimiter(Window(3, 3.0), Window(30, 1.0), clock=time.clock, sleep=time.sleep)
    await other.acquire("chat")
    time.now += 0.1
    # The database: its own send (recorded a little after it left: the same one) and an older one.
    other.seed("chat", [0.05, 2.5])
    other.seed("chat", [2.5])  # a partial, older picture: nothing known is forgotten
    start = time.now
    await other.acquire("chat")
    assert time.now - start < 0.1  # two known, a third may go
    await other.acquire("chat")
    assert time.now - start >= 0.5 - 1e-9  # held: three in the window until the older one leaves it


async def test_the_bot_never_exceeds_its_budget_per_second() -> None:
    time = FakeTime()
    limiter = RateLimiter(Window(3, 3.0), Window(29, 1.0), clock=time.clock, sleep=time.sleep)
    sent = []
    for chat in range(100):
        await limiter.acquire(f"chat{chat}")
        sent.append(time.now)
    for i in range(len(sent) - 29):
        assert sent[i + 29] - sent[i] >= 1.0
    assert sent[-1] - sent[0] < 100 / 29  # and keeps up the pace
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 1 / 29 - 1e-9  # evenly: never a clump


async def test_a_429_pauses_the_chat_and_a_flood_pauses_the_bot() -> None:
    time = FakeTime()
    limiter = RateLimiter(Window(3, 3.0), Window(30, 1.0), clock=time.clock, sleep=time.sleep)
    limiter.pause("a", 5)
    assert limiter.paused_for("a") == 5
    assert limiter.paused_for("b") == 0
    await limiter.acquire("a")
    assert time.now == 105.0
    limiter.pause("b", 2)
    limiter.pause("c", 2)
    limiter.pause("d", 2)  # three chats in a second: the limit was the bot's
    assert limiter.paused_for("zz") == 2
    await limiter.acquire("zz")
    assert time.now == 107.0


async def test_a_limit_said_to_be_the_chat_s_alone_never_pauses_the_bot() -> None:
    time = FakeTime()
    limiter = RateLimiter(Window(3, 3.0), Window(30, 1.0), clock=time.clock, sleep=time.sleep)
    for chat in "abcd":
        limiter.pause(chat, 6, flood=False)  # WhatsApp's 131056: too many to this one client
    assert limiter.paused_for("a") == 6
    assert limiter.paused_for("zz") == 0


async def test_a_sender_that_cannot_wait_long_is_told_how_long_instead() -> None:
    time = FakeTime()
    limiter = RateLimiter(Window(3, 3.0), Window(30, 1.0), clock=time.clock, sleep=time.sleep)
    await limiter.acquire("a", within=10)  # no wait at all
    limiter.pause_all(60)
    with pytest.raises(WaitTooLongError) as raised:
        await limiter.acquire("a", within=10)
    assert raised.value.seconds == pytest.approx(60)
    assert time.now == 100.0  # it did not wait
    limiter.pause("b", 5, flood=False)
    time.now += 60
    await limiter.acquire("b", within=10)  # the pauses are over: it goes


# --- settings -------------------------------------------------------------------------------------

GOOD_TOKEN = "123456:" + "A" * 35


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"telegram_bot_token": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
        ({"telegram_bot_token": GOOD_TOKEN, "telegram_api_url": "api.telegram.org"}, "TELEGRAM_API_URL"),
        ({"telegram_bot_token": GOOD_TOKEN, "telegram_mode": "webhook"}, "TELEGRAM_WEBHOOK_SECRET"),
        (
            {
                "telegram_bot_token": GOOD_TOKEN,
                "telegram_mode": "webhook",
                "telegram_webhook_secret": "x" * 20,
            },
            "PUBLIC_URL",
        ),
        (
            {
                "telegram_bot_token": GOOD_TOKEN,
                "telegram_mode": "webhook",
                "telegram_webhook_secret": "x" * 20,
                "public_url": "http://example.org",
                "optibot_env": "production",
                "optibot_file_key": "k",
            },
            "https",
        ),
        (
            {
                "telegram_bot_token": GOOD_TOKEN,
                "telegram_mode": "webhook",
                "telegram_webhook_secret": "has spaces in it !",
                "public_url": "https://example.org",
            },
            "TELEGRAM_WEBHOOK_SECRET",
        ),
    ],
)
def test_telegram_settings_are_checked_with_a_clear_message(values: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_telegram_is_off_without_a_token_and_the_token_never_prints() -> None:
    assert not Settings(_env_file=None).telegram_enabled  # type: ignore[call-arg]
    settings = Settings(_env_file=None, telegram_bot_token=GOOD_TOKEN)  # type: ignore[call-arg]
    assert settings.telegram_enabled
    assert GOOD_TOKEN not in repr(settings)


async def test_concurrent_senders_never_overbook_and_a_pause_holds_them_all() -> None:
    """Ten concurrent senders on virtual time: the windows and the pause hold to the instant."""
    clock = VirtualTime()
    limiter = RateLimiter(Window(2, 0.2), Window(5, 0.1), clock=clock.clock, sleep=clock.sleep)
    sent: list[tuple[float, str]] = []
    paused_at: list[float] = []

    async def sender(chat: str) -> None:
        for _ in range(4):
            await limiter.acquire(chat)
            sent.append((clock.now, chat))

    async def pauser() -> None:
        await clock.sleep(0.15)
        for chat in ("c0", "c1", "c2"):  # three chats refused within a second: the bot waits
            limiter.pause(chat, 0.3)
        paused_at.append(clock.now)

    await clock.run(pauser(), *(sender(f"c{i}") for i in range(10)))
    times = [t for t, _ in sent]
    assert len(times) == 40
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 0.1 - 1e-9  # never more than 5 in any 0.1 s
    for chat in {c for _, c in sent}:
        own = [t for t, c in sent if c == chat]
        for i in range(len(own) - 2):
            assert own[i + 2] - own[i] >= 0.2 - 1e-9  # never more than 2 in any 0.2 s per chat
    assert [t for t in times if t <= paused_at[0]]  # some went before the pause...
    assert not [t for t in times if paused_at[0] < t < paused_at[0] + 0.3 - 1e-9]  # ...none during it
    # And the pace is kept up: 8 sends before the pause, 32 after it at one per 0.02 s.
    assert max(times) == pytest.approx(0.15 + 0.3 + 31 * 0.02)


async def test_waiters_for_the_bot_s_window_are_served_in_arrival_order() -> None:
    clock = VirtualTime()
    limiter = RateLimiter(Window(3, 3.0), Window(4, 1.0), clock=clock.clock, sleep=clock.sleep)
    order: list[str] = []

    async def send(chat: str, after: float = 0.0) -> None:
        if after:
            await clock.sleep(after)
        await limiter.acquire(chat)
        order.append(chat)

    # A late sender arrives just as the bot's window lets one more through: it queues behind
    # the ten that were already waiting, it does not take their turn.
    late = send("late", after=0.5)
    await clock.run(late, *(send(f"c{i}") for i in range(10)))
    assert order == [*(f"c{i}" for i in range(10)), "late"]


async def test_a_sender_held_by_its_own_chat_does_not_hold_up_the_others() -> None:
    clock = VirtualTime()
    limiter = RateLimiter(Window(1, 3.0), Window(4, 1.0), clock=clock.clock, sleep=clock.sleep)
    sent: dict[str, list[float]] = {}

    async def send(chat: str, count: int) -> None:
        for _ in range(count):
            await limiter.acquire(chat)
            sent.setdefault(chat, []).append(clock.now)

    await clock.run(send("busy", 3), *(send(f"c{i}", 1) for i in range(6)))
    assert sent["busy"] == [0.0, 3.0, 6.0]  # its own chat's pace
    assert max(t for chat, times in sent.items() if chat != "busy" for t in times) < 2.0


async def test_a_pause_tells_those_in_line_who_cannot_wait_so_long() -> None:
    clock = VirtualTime()
    limiter = RateLimiter(Window(3, 3.0), Window(4, 1.0), clock=clock.clock, sleep=clock.sleep)
    outcome: dict[str, str] = {}

    async def send(chat: str) -> None:
        try:
            await limiter.acquire(chat, within=10)
            outcome[chat] = f"sent at {clock.now}"
        except WaitTooLongError:
            outcome[chat] = f"refused at {clock.now}"

    async def pause() -> None:
        await clock.sleep(0.1)
        limiter.pause_all(60)

    await clock.run(pause(), *(send(f"c{i}") for i in range(4)))
    # Those behind the first are told at once; the first when it wakes for its turn.
    assert outcome == {
        "c0": "sent at 0.0",
        "c1": "refused at 0.25",
        "c2": "refused at 0.1",
        "c3": "refused at 0.1",
    }
