"""Replies as WhatsApp messages: texts cut to length, choices as reply buttons or a list, and the
approved template that carries a message outside the 24-hour window.

Pure functions, no network. Every limit of the Cloud API is met here, so that no message is
refused for its shape: titles too long for a button are replaced by the catalogue's short label or
shortened at a word, and more than three choices (or a label that will not fit) become a list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.channels.text import split_text
from bot.channels.whatsapp.wire import (
    ButtonsContent,
    DocumentMessage,
    InteractiveMessage,
    ListContent,
    ListRow,
    Part,
    ReplyButton,
    TemplateMessage,
    TextMessage,
)
from flows.answers import format_phone, slot_short_label
from flows.catalog import Catalog
from storage.payloads import ChoiceData, OutboundPayload

MAX_BODY = 1024  # the text of an interactive message
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_LIST_BUTTON = 20
MAX_ID = 200  # a list row's id (a button's may be 256)
# A template's body parameter: Graph takes up to 1024 characters for the whole body, so a longer
# message goes out as several templates, each leaving room for the template's own words.
MAX_PARAMETER = 900
_SPACES = re.compile(r"[ \t\u00a0]+")
_BREAKS = re.compile(r"\s*\n\s*")
_PHONE_VALUE = re.compile(r"\+\d{6,15}")  # a choice whose value is a number (E.164): the client's own


def language_of(payload: OutboundPayload) -> str:
    return "en" if payload.get("language") == "en" else "fr"


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: cut at a word if one ends late enough, with "…"."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space >= limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:-/(") + "…"


def messages(payload: OutboundPayload, catalog: Catalog) -> list[Part]:
    """The messages one reply becomes, in order: text parts (of at most
    :data:`bot.channels.text.MAX_TEXT`), then the question with its choices."""
    text = payload.get("text") or ""
    choices = list(
        {c["value"]: c for c in payload.get("choices") or () if c.get("value") and c.get("label")}.values()
    )
    parts = split_text(text)
    if not choices:
        return [_text(p) for p in parts]
    # The choices go with the last part, whose text must fit an interactive message's body.
    *leading, last = parts
    *more, body = split_text(last, MAX_BODY)
    texts = [_text(p) for p in (*leading, *more)]
    return [*texts, interactive(body, choices, payload.get("step"), catalog, language_of(payload))]


def interactive(
    body: str, choices: Sequence[ChoiceData], step: str | None, catalog: Catalog, language: str
) -> InteractiveMessage:
    """Reply buttons when up to three choices fit them, else a list (a long list is cut to ten)."""
    ids = [choice_id(step, c["value"]) for c in choices]
    if len(choices) <= MAX_BUTTONS:
        titles = [_label(c, MAX_BUTTON_TITLE, catalog, language) for c in choices]
        if all(len(t) <= MAX_BUTTON_TITLE for t in titles) and len(set(titles)) == len(titles):
            buttons: list[ReplyButton] = [
                {"type": "reply", "reply": {"id": i, "title": t}} for i, t in zip(ids, titles, strict=True)
            ]
            content: ButtonsContent = {
                "type": "button",
                "body": {"text": body},
                "action": {"buttons": buttons},
            }
            return {"type": "interactive", "interactive": content}
    rows: list[ListRow] = []
    seen: set[str] = set()
    for choice, row_id in zip(choices[:MAX_ROWS], ids, strict=False):
        title = shorten(_label(choice, MAX_ROW_TITLE, catalog, language), MAX_ROW_TITLE)
        if title in seen:  # two labels alike once shortened: the full label tells them apart
            title = shorten(f"{len(rows) + 1}. {title}", MAX_ROW_TITLE)
        seen.add(title)
        row: ListRow = {"id": row_id, "title": title}
        if title.rstrip("…") != choice["label"].strip():
            row["description"] = shorten(choice["label"], MAX_ROW_DESCRIPTION)
        rows.append(row)
    button = shorten(catalog.text(language, "whatsapp.list_button"), MAX_LIST_BUTTON)
    listed: ListContent = {
        "type": "list",
        "body": {"text": body},
        "action": {"button": button, "sections": [{"rows": rows}]},
    }
    return {"type": "interactive", "interactive": listed}


def choice_id(step: str | None, value: str) -> str:
    """A button's id: the step it answers and the value, checked again when it is pressed."""
    return f"{step or ''}:{value}"[:MAX_ID]


def plain(message: Part) -> str:
    """What a text or interactive message says, as text: its body, then its choices."""
    if message["type"] == "text":
        return message["text"]["body"]
    interactive = message["interactive"]
    if interactive["type"] == "button":
        titles = [b["reply"]["title"] for b in interactive["action"]["buttons"]]
    else:
        sections = interactive["action"]["sections"]
        titles = [row.get("description") or row["title"] for s in sections for row in s["rows"]]
    body = interactive["body"]["text"]
    return f"{body}\n({' / '.join(titles)})" if titles else body


def templates(parts: Sequence[Part], name: str, language_code: str) -> list[TemplateMessage]:
    """The templates that carry ``parts`` (as :func:`messages` made them) outside the window: their
    text and choices, cut at paragraphs or sentences into as many templates as it takes, each
    flattened and numbered "(1/3)" when there are several."""
    limit = MAX_PARAMETER - len("(10/10) ")
    chunks: list[str] = []
    # Whole lines packed together (joined by " — ", as a parameter holds no line break); a line
    # too long for one template is cut at sentences.
    for line in _BREAKS.split("\n".join(plain(p) for p in parts).strip()):
        for piece in split_text(_flatten(line), limit):
            if chunks and len(chunks[-1]) + len(" — ") + len(piece) <= limit:
                chunks[-1] += " — " + piece
            else:
                chunks.append(piece)
    if len(chunks) > 1:
        chunks = [f"({n}/{len(chunks)}) {chunk}" for n, chunk in enumerate(chunks, 1)]
    return [template(chunk, name, language_code) for chunk in chunks]


def _flatten(text: str) -> str:
    """A parameter may hold no line break, no tab and no run of spaces."""
    return _SPACES.sub(" ", _BREAKS.sub(" — ", text.strip())) or "…"


def template(text: str, name: str, language_code: str) -> TemplateMessage:
    """The approved template whose one body parameter carries ``text``, flattened (and shortened
    if need be: :func:`templates` cuts a long message into several instead)."""
    flat = _flatten(text)
    return {
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language_code},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": shorten(flat, MAX_PARAMETER)}]}
            ],
        },
    }


def _text(body: str) -> TextMessage:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _label(choice: ChoiceData, limit: int, catalog: Catalog, language: str) -> str:
    """The choice's label, or the catalogue's short one when the label is longer than ``limit``."""
    label = choice["label"].strip()
    if len(label) <= limit:
        return label
    if _PHONE_VALUE.fullmatch(choice["value"]):  # "Use this number (…)": the number, whole
        return catalog.text(language, "whatsapp.short.channel_phone", phone=format_phone(choice["value"]))
    half_day = slot_short_label(catalog, language, choice["value"])  # "Jeu. 3/12, matin"
    if half_day is not None:
        return half_day
    try:
        return catalog.text(language, f"whatsapp.short.{choice['value']}")
    except KeyError:
        return label


def document(media_id: str, filename: str) -> DocumentMessage:
    """A document message: an uploaded file, shown to the client under ``filename``."""
    return {"type": "document", "document": {"id": media_id, "filename": filename}}
