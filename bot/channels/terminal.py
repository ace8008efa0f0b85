"""The terminal channel: ``optibot chat`` reads one client message per line, prints the replies."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import TextIO

from bot.engine import Engine
from bot.messages import Inbound
from bot.outbox import OutboxSender
from flows.types import ClientInput, Language
from storage.files import FileStore, RejectedFileError
from storage.payloads import ChoiceData, OutboundPayload

CHANNEL = "terminal"
FILE_SUFFIXES = (".jpg", ".jpeg", ".png", ".pdf")


class TerminalChannel:
    """Prints replies; choices become numbered options the client may answer by number."""

    name = CHANNEL

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.last_choices: dict[str, tuple[str | None, list[ChoiceData]]] = {}

    async def deliver(self, recipient: str, payload: OutboundPayload) -> None:
        lines = [str(payload.get("text", ""))]
        document = payload.get("document")
        if isinstance(document, dict) and document.get("filename"):
            # The terminal is a local tool: the document is named, not written anywhere.
            lines.append(f"📎 {document['filename']}")
        choices = list(payload.get("choices") or [])
        for number, choice in enumerate(choices, start=1):
            lines.append(f"  {number}. {choice['label']}")
        if choices:
            self.last_choices[recipient] = (payload.get("step"), choices)
        else:  # a number typed now is an answer, not an old option
            self.last_choices.pop(recipient, None)
        self.out.write("\n".join(lines) + "\n\n")
        self.out.flush()

    def read(self, recipient: str, line: str, files: FileStore) -> ClientInput | None:
        """A typed line as the client meant it: an option number, a file path, or text.

        ``None``: nothing to send (a file path that does not exist; the client is told here).
        """
        text = line.strip()
        step, choices = self.last_choices.get(recipient, (None, []))
        if text.isdigit() and 1 <= int(text) <= len(choices):
            return ClientInput(choice=choices[int(text) - 1]["value"], step=step)
        # Paths as terminals paste them: quoted, or with escaped spaces (drag and drop).
        candidate = text.strip("'\"").replace("\\ ", " ")
        path = Path(candidate).expanduser()
        if 0 < len(candidate) < 1024 and path.suffix.lower() in FILE_SUFFIXES:
            if not path.is_file():
                if "/" in candidate or candidate.startswith("~"):
                    self.notice(f"Fichier introuvable / file not found: {candidate}")
                    return None
                return ClientInput(text=line.rstrip("\n"))
            try:
                return ClientInput(media=files.save(path.read_bytes()), media_name=path.name)
            except (OSError, RejectedFileError):
                return ClientInput(unsupported="file", media_name=path.name)
        return ClientInput(text=line.rstrip("\n"))

    def notice(self, text: str) -> None:
        """A word from the terminal itself (not the bot), on standard error."""
        print(text, file=sys.stderr, flush=True)


async def chat(
    engine: Engine,
    sender: OutboxSender,
    channel: TerminalChannel,
    *,
    user: str,
    language: Language | None,
    stdin: TextIO = sys.stdin,
) -> None:
    """Run a chat until end of input. Each line is one inbound message with a fresh id."""
    await sender.flush(recipient=user)
    last = await engine.last_question(CHANNEL, user)
    if last is not None:  # a conversation in progress: show where the client was
        await channel.deliver(user, last)
    while True:
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        if not line.strip():
            continue
        said = channel.read(user, line, engine.files)
        if said is None:
            continue
        inbound = Inbound(CHANNEL, user, uuid.uuid4().hex, said, language)
        await engine.handle(inbound)
        await sender.flush(recipient=user)
