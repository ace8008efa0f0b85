"""The checks of a message the business sends, with Meta's error codes and details: text, reply buttons,
lists, templates (by their number of parameters), media, reactions, locations."""

from __future__ import annotations

from typing import Any

from tests.fakes.server import Json
from tests.fakes.whatsapp.api import (
    MAX_BUTTON_BODY,
    MAX_BUTTON_ID,
    MAX_BUTTON_TITLE,
    MAX_BUTTONS,
    MAX_CAPTION,
    MAX_FOOTER,
    MAX_HEADER,
    MAX_LIST_BODY,
    MAX_LIST_BUTTON,
    MAX_ROW_DESCRIPTION,
    MAX_ROW_ID,
    MAX_ROW_TITLE,
    MAX_ROWS,
    MAX_SECTION_TITLE,
    MAX_SECTIONS,
    MAX_TEMPLATE_PARAM,
    MAX_TEXT,
    MEDIA_TYPES,
    PARAM_FORMAT,
    SEND_TYPES,
    GraphError,
    invalid,
    length_error,
    missing,
)
from tests.fakes.whatsapp.records import Media


def _fits(value: Any, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value) <= high


def check_message(body: Json, templates: dict[tuple[str, str], int], media: dict[str, Media]) -> str:
    """The type of a message the business sends, once its content passed Meta's checks."""
    kind = str(body.get("type", "text"))
    if kind not in SEND_TYPES:
        raise GraphError(
            100,
            f'Param type must be one of {{{", ".join(sorted(SEND_TYPES)).upper()}}} - got "{kind}".',
        )
    content = body.get(kind)
    if not isinstance(content, dict):
        raise missing(kind)
    if kind == "text":
        _check_text(content)
    elif kind == "interactive":
        _check_interactive(content)
    elif kind == "template":
        _check_template(content, templates)
    elif kind in MEDIA_TYPES:
        _check_media(kind, content, media)
    elif kind == "reaction":
        if not content.get("message_id"):
            raise missing("reaction['message_id']")
        if "emoji" not in content:
            raise missing("reaction['emoji']")
    elif kind == "location" and ("latitude" not in content or "longitude" not in content):
        raise missing("location['latitude']")
    return kind


def _check_text(content: Json) -> None:
    text = content.get("body")
    if text is None:
        raise missing("text['body']")
    if not _fits(text, 1, MAX_TEXT):
        raise (
            length_error("Text body", 1, MAX_TEXT)
            if isinstance(text, str)
            else invalid("Param text['body'] must be a string.")
        )
    if "preview_url" in content and not isinstance(content["preview_url"], bool):
        raise GraphError(100, "Param text['preview_url'] must be a boolean.")


def _check_interactive(content: Json) -> None:
    kind = content.get("type")
    if kind is None:
        raise missing("interactive['type']")
    if kind not in ("button", "list"):
        raise GraphError(100, f"Unsupported interactive type in this fake: {kind!r}")
    body = content.get("body")
    if not isinstance(body, dict) or "text" not in body:
        raise missing("interactive['body']['text']")
    body_limit = MAX_BUTTON_BODY if kind == "button" else MAX_LIST_BODY
    if not _fits(body["text"], 1, body_limit):
        raise length_error("Body text", 1, body_limit)
    header = content.get("header")
    if header is not None:
        if not isinstance(header, dict) or "type" not in header:
            raise missing("interactive['header']['type']")
        if header["type"] == "text":
            if not _fits(header.get("text"), 1, MAX_HEADER):
                raise length_error("Header text", 1, MAX_HEADER)
        elif kind == "list" or header["type"] not in ("image", "video", "document"):
            raise invalid(f"Header type {header['type']!r} is not supported for {kind} messages")
    footer = content.get("footer")
    if footer is not None and (not isinstance(footer, dict) or not _fits(footer.get("text"), 1, MAX_FOOTER)):
        raise length_error("Footer text", 1, MAX_FOOTER)
    action = content.get("action")
    if not isinstance(action, dict):
        raise missing("interactive['action']")
    if kind == "button":
        _check_buttons(action)
    else:
        _check_list(action)


def _check_buttons(action: Json) -> None:
    buttons = action.get("buttons")
    if buttons is None:
        raise missing("interactive['action']['buttons']")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        raise invalid(f"Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: {MAX_BUTTONS}")
    ids: set[str] = set()
    titles: set[str] = set()
    for button in buttons:
        if not isinstance(button, dict) or button.get("type") != "reply":
            raise invalid("Button type must be reply")
        reply = button.get("reply")
        if not isinstance(reply, dict):
            raise missing("interactive['action']['buttons'][]['reply']")
        if not _fits(reply.get("id"), 1, MAX_BUTTON_ID):
            raise length_error("Button id", 1, MAX_BUTTON_ID)
        if not _fits(reply.get("title"), 1, MAX_BUTTON_TITLE):
            raise length_error("Button title", 1, MAX_BUTTON_TITLE)
        if reply["id"] in ids:
            raise invalid(f"Duplicate button id: {reply['id']}")
        if reply["title"] in titles:
            raise invalid(f"Duplicate button title: {reply['title']}")
        ids.add(reply["id"])
        titles.add(reply["title"])


def _check_list(action: Json) -> None:
    if "button" not in action:
        raise missing("interactive['action']['button']")
    if not _fits(action["button"], 1, MAX_LIST_BUTTON):
        raise length_error("Button text", 1, MAX_LIST_BUTTON)
    sections = action.get("sections")
    if sections is None:
        raise missing("interactive['action']['sections']")
    if not isinstance(sections, list) or not 1 <= len(sections) <= MAX_SECTIONS:
        raise invalid(
            f"Invalid sections count. Min allowed sections: 1, Max allowed sections: {MAX_SECTIONS}"
        )
    total = 0
    ids: set[str] = set()
    for section in sections:
        if not isinstance(section, dict):
            raise missing("interactive['action']['sections'][]['rows']")
        title = section.get("title")
        if title is None and len(sections) > 1:
            raise missing("interactive['action']['sections'][]['title']")
        if title is not None and not _fits(title, 1, MAX_SECTION_TITLE):
            raise length_error("Section title", 1, MAX_SECTION_TITLE)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise missing("interactive['action']['sections'][]['rows']")
        total += len(rows)
        if total > MAX_ROWS:
            raise invalid(f"Total row count exceed max allowed count: {MAX_ROWS}")
        for row in rows:
            if not isinstance(row, dict) or not _fits(row.get("id"), 1, MAX_ROW_ID):
                raise length_error("Row id", 1, MAX_ROW_ID)
            if not _fits(row.get("title"), 1, MAX_ROW_TITLE):
                raise length_error("Row title", 1, MAX_ROW_TITLE)
            if "description" in row and not _fits(row["description"], 0, MAX_ROW_DESCRIPTION):
                raise length_error("Row description", 0, MAX_ROW_DESCRIPTION)
            if row["id"] in ids:
                raise invalid(f"Duplicate row id: {row['id']}")
            ids.add(row["id"])


def _check_template(content: Json, templates: dict[tuple[str, str], int]) -> None:
    name = content.get("name")
    if not name:
        raise missing("template['name']")
    language = content.get("language")
    if not isinstance(language, dict) or not language.get("code"):
        raise missing("template['language']['code']")
    code = language["code"]
    expected = templates.get((name, code))
    if expected is None:
        raise GraphError(132001, f"template name ({name}) does not exist in {code}")
    parameters: list[Any] = []
    for component in content.get("components") or []:
        if not isinstance(component, dict) or component.get("type") not in ("header", "body", "button"):
            raise invalid("Component type must be one of {HEADER, BODY, BUTTON}")
        if component["type"] != "body":
            raise GraphError(
                132000,
                f"{component['type']}: number of localizable_params (1) does not match the expected "
                "number of params (0)",
            )
        parameters += component.get("parameters") or []
    if len(parameters) != expected:
        raise GraphError(
            132000,
            f"body: number of localizable_params ({len(parameters)}) does not match the expected number "
            f"of params ({expected})",
        )
    for parameter in parameters:
        if not isinstance(parameter, dict) or parameter.get("type") != "text":
            kind = parameter.get("type") if isinstance(parameter, dict) else None
            raise GraphError(132012, f"body: Format mismatch, expected TEXT, received {str(kind).upper()}")
        text = parameter.get("text")
        if not isinstance(text, str) or not text.strip():
            raise GraphError(131008, "Parameter of type text is missing text value")
        if "\n" in text or "\t" in text or "     " in text:
            raise GraphError(132018, PARAM_FORMAT)
        if len(text) > MAX_TEMPLATE_PARAM:
            raise GraphError(132005, "Translated text too long")


def _check_media(kind: str, content: Json, media: dict[str, Media]) -> None:
    media_id, link = content.get("id"), content.get("link")
    if not media_id and not link:
        raise missing(f"{kind}['id']")
    if media_id and media_id not in media:
        raise invalid(f"Invalid media id: {media_id}")
    caption = content.get("caption")
    if caption is not None and (kind in ("audio", "sticker") or not _fits(caption, 0, MAX_CAPTION)):
        raise invalid(f"Param {kind}['caption'] is not valid")
