"""Telegram updates as the engine's channel-agnostic messages.

Pure translation, no network: a file is only *named* here (:class:`FileRef`); the channel fetches
it before storing the message. Updates the bot has nothing to say about (edits, group chats,
service messages) translate to nothing and are acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import CallbackQuery, Message, Update

from bot.channels.telegram.render import ANSWERED, parse_callback_data
from bot.messages import Inbound, sanitized
from flows.types import ClientInput, Language
from storage.payloads import ReceiptData

CHANNEL = "telegram"
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
# Kinds of message the bot cannot read: the client is asked to write or send a photo instead.
_UNSUPPORTED = (
    "sticker", "voice", "audio", "video", "video_note", "animation", "location", "venue", "poll",
    "dice", "game", "story", "paid_media", "checklist",
)  # fmt: skip
_DOCUMENT_TYPES = ("image/", "application/pdf")


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file the client sent, to fetch with ``getFile`` before the message is stored."""

    file_id: str
    size: int | None
    name: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """What one update means: a message to store (maybe with a file to fetch first), a button
    press to acknowledge, and/or a change of whether the client can be reached."""

    inbound: Inbound | None = None
    file: FileRef | None = None
    callback_id: str | None = None
    reachable: tuple[str, bool] | None = None  # (user, reachable)
    event_id: str | None = None  # the inbox key of an update that is not a message


def external_id(bot_id: int, update_id: int) -> str:
    """Update ids are per bot: the bot's id keeps two bots' updates apart."""
    return f"{bot_id}:{update_id}"


def language_of(code: str | None) -> Language | None:
    if not code:
        return None
    code = code.lower()
    if code.startswith("fr"):
        return "fr"
    if code.startswith("en"):
        return "en"
    return None


def translate(update: Update, bot_id: int) -> Incoming:
    ext = external_id(bot_id, update.update_id)
    if update.message is not None:
        return _message(update.message, ext)
    if update.callback_query is not None:
        return _callback(update.callback_query, ext)
    member = update.my_chat_member
    if member is not None and member.chat.type == "private":
        status = member.new_chat_member.status
        if status in ("kicked", "member"):
            return Incoming(reachable=(str(member.chat.id), status == "member"), event_id=ext)
    return Incoming()


def _message(message: Message, ext: str) -> Incoming:
    if message.chat.type != "private" or message.from_user is None or message.from_user.is_bot:
        return Incoming()  # the bot serves clients one to one
    user = str(message.chat.id)
    language = language_of(message.from_user.language_code)

    def inbound(said: ClientInput) -> Inbound:
        return sanitized(Inbound(CHANNEL, user, ext, said, language))  # Telegram's JSON may hold NUL

    if message.text is not None:
        return Incoming(inbound(ClientInput(text=message.text)))
    if message.contact is not None:
        return Incoming(inbound(ClientInput(contact_phone=message.contact.phone_number)))
    if message.photo:
        largest = message.photo[-1]
        ref = FileRef(largest.file_id, largest.file_size, "photo.jpg")
        return Incoming(inbound(ClientInput(media_name=ref.name)), file=ref)
    document = message.document
    if document is not None:
        name = document.file_name or "document"
        if (document.mime_type or "").startswith(_DOCUMENT_TYPES):
            return Incoming(
                inbound(ClientInput(media_name=name)),
                file=FileRef(document.file_id, document.file_size, name),
            )
        return Incoming(inbound(ClientInput(unsupported="file", media_name=name)))
    kind = next((k for k in _UNSUPPORTED if getattr(message, k, None) is not None), None)
    if kind is not None:
        return Incoming(inbound(ClientInput(unsupported=kind)))
    return Incoming()  # a service message (pinned, joined...): nothing was said


def _callback(query: CallbackQuery, ext: str) -> Incoming:
    if query.data is None or query.data == ANSWERED:
        return Incoming(callback_id=query.id)
    message = query.message
    chat = message.chat if message is not None else None
    if chat is not None and chat.type != "private":
        return Incoming(callback_id=query.id)
    user = str(chat.id if chat is not None else query.from_user.id)
    step, value = parse_callback_data(query.data)
    receipt: ReceiptData | None = {"message_id": message.message_id} if message is not None else None
    said = ClientInput(choice=value, step=step)
    language = language_of(query.from_user.language_code)
    return Incoming(sanitized(Inbound(CHANNEL, user, ext, said, language, receipt)), callback_id=query.id)
