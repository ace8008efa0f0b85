"""What the WhatsApp benchmark's clients send: their messages as Meta's signed webhooks (typed text and
presses of the bot's real buttons and list rows, by their ids), one message a webhook or batched, and
how they are posted to the app."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import SCRIPTS, Step
from bench.fake_whatsapp_server import FakeWhatsAppProcess
from tests.fakes.whatsapp import APP_SECRET, FakeWhatsApp, Inbound, encode_body, new_wamid, sign
from tests.fakes.whatsapp.webhooks import webhook_payload

BATCH = 5  # clients per batched webhook
NAME = "Camille"


def wa_id(number: int) -> str:
    return f"{33_600_000_000 + number}"


@dataclass(frozen=True)
class Pressed:
    """A choice learnt once from the bot's real interactive message: a reply button or a list row."""

    kind: str  # "button" or "list"
    id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class Hook:
    """One signed webhook body and the number of client messages it carries."""

    body: bytes
    signature: str
    messages: int


class Messages:
    """Client messages as Meta's webhooks carry them, built (and their wamids kept) by the test fake,
    which is only used here to build them: it is not started in this process."""

    def __init__(self) -> None:
        self.builder = FakeWhatsApp()
        self.wamids: dict[str, str] = {}  # wamid -> wa_id, for the fake server to know them

    def text(self, user: str, text: str) -> Inbound:
        inbound = self.builder.text_message(user, text, name=NAME)
        self.wamids[inbound.wamid] = user
        return inbound

    def press(self, user: str, pressed: Pressed) -> Inbound:
        choice = {"id": pressed.id, "title": pressed.title, "description": pressed.description}
        pressed_on = new_wamid()  # the interactive message pressed
        inbound = self.builder.choice_message(user, pressed.kind, choice, replying_to=pressed_on, name=NAME)
        self.wamids[inbound.wamid] = user
        return inbound

    def step(self, user: str, step: Step, pressed: Pressed | None) -> Inbound:
        return self.text(user, step.text or "") if pressed is None else self.press(user, pressed)

    def hook(self, items: Sequence[Inbound]) -> Hook:
        """One webhook: one entry, one change per client (their contact and messages, in order)."""
        body = encode_body(webhook_payload([self.builder.changes_of(items)]))
        return Hook(body, sign(body, APP_SECRET), len(items))

    def conversation(self, user: str, script: list[Step], presses: list[Pressed | None]) -> list[Inbound]:
        return [self.step(user, s, p) for s, p in zip(script, presses, strict=True)]


RESENT = [0]  # webhooks sent again after a connection error (a keep-alive closed by the server)


async def post_webhook(http: Any, url: str, hook: Hook) -> None:
    """POST one webhook; on a connection error, again (as Meta does: a message is stored once)."""
    import aiohttp

    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": hook.signature}
    for attempt in range(3):
        try:
            async with http.post(url, data=hook.body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the webhook answered {response.status}")
                return
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
            if attempt == 2:
                raise
            RESENT[0] += 1


async def find_choice(fake: FakeWhatsAppProcess, user: str, label: str) -> Pressed:
    """The press of the button or list row ``label`` on the last interactive message sent to ``user``."""
    sent = [m for m in await fake.messages_to(user) if m["type"] == "interactive"]
    if not sent:
        raise RuntimeError(f"no interactive message to press {label!r} on")
    message = sent[-1]
    wanted = label.casefold()
    for choice in message["buttons"]:
        if wanted in choice["title"].casefold() or wanted in choice["description"].casefold():
            return Pressed(message["interactive_type"], choice["id"], choice["title"], choice["description"])
    raise RuntimeError(f"no choice {label!r} in {message['buttons']}")


@dataclass
class Workload:
    """One round's conversations on fresh clients, as single webhooks and as batched ones."""

    conversations: int
    singles: list[list[Hook]]  # per conversation, one webhook a message
    batched: list[list[Hook]]  # per group of BATCH conversations, the next message of each
    users: list[str]
    batched_users: list[str]
    messages: int
    wamids: dict[str, str]


def workload(learnt: list[list[Pressed | None]], conversations: int, base: int) -> Workload:
    """The round's conversations, on clients numbered from ``base``, as their webhooks."""
    build = Messages()
    users = [wa_id(base + i) for i in range(conversations)]
    singles = []
    for i, user in enumerate(users):
        script = i % len(SCRIPTS)
        singles.append([build.hook([m]) for m in build.conversation(user, SCRIPTS[script], learnt[script])])
    batched_users = [wa_id(base + conversations + i) for i in range(conversations)]
    batched = []
    for start in range(0, conversations, BATCH):
        group = [
            build.conversation(user, SCRIPTS[i % len(SCRIPTS)], learnt[i % len(SCRIPTS)])
            for i, user in enumerate(batched_users[start : start + BATCH], start)
        ]
        batched.append([build.hook([c[k] for c in group if k < len(c)]) for k in range(max(map(len, group)))])
    messages = sum(len(c) for c in singles)
    return Workload(conversations, singles, batched, users, batched_users, messages, build.wamids)
