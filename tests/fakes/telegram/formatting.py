"""What Telegram makes of a text and a keyboard before sending: the ``parse_mode`` rendering (with Telegram's
"can't parse entities" errors), and the checks of the ``text``/``caption`` and ``reply_markup`` parameters."""

from __future__ import annotations

import html
import re

from tests.fakes.server import Json
from tests.fakes.telegram.api import HTML_TAGS, MAX_CALLBACK_DATA, bad_request

_TAG_NAME = re.compile(r"[^\s>]*")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def render_html(text: str) -> str:
    """The text a user sees for ``parse_mode=HTML``; raises Telegram's "can't parse entities" errors."""
    out: list[str] = []
    stack: list[str] = []
    index = 0
    while (start := text.find("<", index)) >= 0:
        out.append(text[index:start])
        offset = _byte_offset(text, start)
        if text.startswith("</", start):
            end = text.find(">", start)
            if end < 0:
                raise bad_request(f"can't parse entities: Unclosed end tag at byte offset {offset}")
            name = text[start + 2 : end].strip().lower()
            if not stack:
                raise bad_request(f"can't parse entities: Unexpected end tag at byte offset {offset}")
            if name and name != stack[-1]:
                raise bad_request(
                    f"can't parse entities: Unmatched end tag at byte offset {offset}, "
                    f'expected "</{stack[-1]}>", found "</{name}>"'
                )
            stack.pop()
        else:
            match = _TAG_NAME.match(text, start + 1)
            assert match is not None  # the pattern matches the empty string
            if match.end() >= len(text):
                raise bad_request(f"can't parse entities: Unclosed start tag at byte offset {offset}")
            name = match.group().lower()
            if name not in HTML_TAGS:
                raise bad_request(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
                )
            end = text.find(">", match.end())
            if end < 0:
                raise bad_request(
                    f'can\'t parse entities: Unclosed start tag "{name}" at byte offset {offset}'
                )
            if name == "span" and not re.search(r"class\s*=\s*[\"']?tg-spoiler", text[match.end() : end]):
                raise bad_request(
                    f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset {offset}'
                )
            stack.append(name)
        index = end + 1
    out.append(text[index:])
    if stack:
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return html.unescape("".join(out))


_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_MARKERS = (
    ("||", "Spoiler"),
    ("__", "Underline"),
    ("*", "Bold"),
    ("_", "Italic"),
    ("~", "Strikethrough"),
)


def render_markdown_v2(text: str) -> str:
    """The text a user sees for ``parse_mode=MarkdownV2``; raises on unescaped reserved characters."""
    out: list[str] = []
    open_at: dict[str, int] = {}
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char == "\\" and index + 1 < size:
            out.append(text[index + 1])
            index += 2
            continue
        if char == "`":
            fence = "```" if text.startswith("```", index) else "`"
            end = text.find(fence, index + len(fence))
            if end < 0:
                kind = "Pre" if fence == "```" else "Code"
                raise bad_request(
                    f"can't parse entities: Can't find end of {kind} entity at byte offset "
                    f"{_byte_offset(text, index)}"
                )
            body = text[index + len(fence) : end]
            if fence == "```" and "\n" in body and " " not in body.split("\n", 1)[0]:
                body = body.split("\n", 1)[1]  # the first line names the language
            out.append(body.replace("\\`", "`").replace("\\\\", "\\"))
            index = end + len(fence)
            continue
        if text.startswith("](", index):
            end = text.find(")", index + 2)
            if end < 0:
                raise bad_request(
                    "can't parse entities: Can't find end of a url at byte offset "
                    f"{_byte_offset(text, index)}"
                )
            index = end + 1
            continue
        marker = next((m for m, _ in _MD2_MARKERS if text.startswith(m, index)), None)
        if marker is not None:
            if marker in open_at:
                del open_at[marker]
            else:
                open_at[marker] = index
            index += len(marker)
            continue
        if char in "[]" or (char == ">" and (index == 0 or text[index - 1] == "\n")):
            index += 1
            continue
        if char in _MD2_RESERVED:
            raise bad_request(
                f"can't parse entities: Character '{char}' is reserved and must be escaped "
                "with the preceding '\\'"
            )
        out.append(char)
        index += 1
    if open_at:
        marker, position = min(open_at.items(), key=lambda item: item[1])
        name = dict(_MD2_MARKERS)[marker]
        raise bad_request(
            f"can't parse entities: Can't find end of {name} entity at byte offset "
            f"{_byte_offset(text, position)}"
        )
    return "".join(out)


def render(text: str, parse_mode: str | None) -> str:
    """Apply a parse_mode as Telegram would (legacy Markdown: markers are only stripped)."""
    if not parse_mode:
        return text
    mode = parse_mode.lower()
    if mode == "html":
        return render_html(text)
    if mode == "markdownv2":
        return render_markdown_v2(text)
    if mode == "markdown":
        return (
            re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("*", "").replace("_", "").replace("`", "")
        )
    raise bad_request("unsupported parse_mode")


def text_param(params: Json, key: str, limit: int, *, required: bool) -> tuple[str, str]:
    """(rendered, source) of a text or caption parameter."""
    source = params.get(key)
    source = "" if source is None else str(source)
    rendered = render(source, params.get("parse_mode") or None)
    if required and not rendered.strip():
        raise bad_request("message text is empty")
    if len(rendered) > limit:
        raise bad_request("message is too long" if key == "text" else "message caption is too long")
    return rendered, source


def markup_param(params: Json, *, inline_only: bool = False) -> Json | None:
    markup = params.get("reply_markup")
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for button in (button for row in rows for button in row):
            if not isinstance(button, dict) or not str(button.get("text") or "").strip():
                raise bad_request("can't parse inline keyboard button: Text must be non-empty")
            if len(button) < 2:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise bad_request("BUTTON_DATA_INVALID")
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
        for button in (button for row in rows for button in row):
            if not isinstance(button, str | dict) or (isinstance(button, dict) and not button.get("text")):
                raise bad_request("can't parse keyboard button: Text must be non-empty")
        return markup
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")
