"""Replies as Telegram messages: texts cut to Telegram's length, choices as keyboards.

Pure functions, no network: what the channel sends is decided here and tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from aiogram.types import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.channels.text import MAX_TEXT, split_text, utf16_length
from flows.catalog import Catalog
from storage.payloads import ChoiceData, OutboundPayload

__all__ = ["MAX_TEXT", "split_text", "utf16_length"]  # re-exported: the Telegram names for them

MAX_CALLBACK_DATA = 64  # bytes
# The data of a button already answered: pressing it again does nothing.
ANSWERED = "-"
# Commands offered in Telegram's menu, by the flow's name for them (the names are in the catalogue).
COMMANDS = ("restart", "help", "cancel", "language", "advisor", "my_data", "delete_data", "join_network")
_SHORT_LABEL = 18  # two buttons per row when every label is at most this long


def callback_data(step: str | None, value: str) -> str:
    """A button's data: the step it answers and the value, checked again when it is pressed."""
    data = f"{step or ''}:{value}"
    if len(data.encode()) > MAX_CALLBACK_DATA:
        raise ValueError(f"callback data longer than {MAX_CALLBACK_DATA} bytes: {data!r}")
    return data


def parse_callback_data(data: str) -> tuple[str | None, str]:
    """(step, value) of a pressed button; anything unexpected yields a value the flow refuses."""
    step, sep, value = data.partition(":")
    if not sep:
        return None, data
    return step or None, value


def inline_keyboard(choices: Sequence[ChoiceData], step: str | None) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=c["label"], callback_data=callback_data(step, c["value"])) for c in choices
    ]
    width = 2 if all(len(c["label"]) <= _SHORT_LABEL for c in choices) and len(buttons) > 2 else 1
    rows = [buttons[i : i + width] for i in range(0, len(buttons), width)]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def answered_keyboard(label: str, catalog: Catalog, language: str) -> InlineKeyboardMarkup:
    """What a pressed keyboard becomes: the choice, marked, and inert."""
    text = catalog.text(language, "telegram.chosen", label=label)
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=ANSWERED)]])


def share_phone_keyboard(catalog: Catalog, language: str) -> ReplyKeyboardMarkup:
    button = KeyboardButton(text=catalog.text(language, "telegram.share_phone"), request_contact=True)
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


def remove_keyboard() -> ReplyKeyboardRemove:
    return ReplyKeyboardRemove(remove_keyboard=True)


def bot_commands(catalog: Catalog, language: str) -> list[BotCommand]:
    return [
        BotCommand(
            command=catalog.text(language, f"telegram.commands.{name}.name"),
            description=catalog.text(language, f"telegram.commands.{name}.description"),
        )
        for name in COMMANDS
    ]


def language_of(payload: OutboundPayload) -> str:
    return "en" if payload.get("language") == "en" else "fr"


def parts_to_send(payload: OutboundPayload) -> Iterator[tuple[int, str, bool]]:
    """(index, text, last) of the parts of a reply still to send (a retry resumes after the sent)."""
    parts = split_text(payload.get("text") or "")
    for index in range(int(payload.get("sent_parts") or 0), len(parts)):
        yield index, parts[index], index == len(parts) - 1
