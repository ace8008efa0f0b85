"""The Cloud API's message objects as the channel sends them (the ``type`` and its content; the
Graph client adds the addressing), declared once for :mod:`.render`, which builds them, and the
parts that send them.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class TextContent(TypedDict):
    body: str
    preview_url: bool


class TextMessage(TypedDict):
    type: Literal["text"]
    text: TextContent


class ReplyId(TypedDict):
    id: str  # "<step>:<value>", read back when the client presses it
    title: str


class ReplyButton(TypedDict):
    type: Literal["reply"]
    reply: ReplyId


class ListRow(TypedDict):
    id: str
    title: str
    description: NotRequired[str]


class ListSection(TypedDict):
    rows: list[ListRow]


class ButtonsAction(TypedDict):
    buttons: list[ReplyButton]


class ListAction(TypedDict):
    button: str  # the label of the button that opens the list
    sections: list[ListSection]


class BodyText(TypedDict):
    text: str


class ButtonsContent(TypedDict):
    type: Literal["button"]
    body: BodyText
    action: ButtonsAction


class ListContent(TypedDict):
    type: Literal["list"]
    body: BodyText
    action: ListAction


class InteractiveMessage(TypedDict):
    type: Literal["interactive"]
    interactive: ButtonsContent | ListContent


class TemplateParameter(TypedDict):
    type: Literal["text"]
    text: str


class TemplateComponent(TypedDict):
    type: Literal["body"]
    parameters: list[TemplateParameter]


class TemplateLanguage(TypedDict):
    code: str


class TemplateContent(TypedDict):
    name: str
    language: TemplateLanguage
    components: list[TemplateComponent]


class TemplateMessage(TypedDict):
    type: Literal["template"]
    template: TemplateContent


class DocumentContent(TypedDict):
    id: str  # the media id of the uploaded file
    filename: str


class DocumentMessage(TypedDict):
    type: Literal["document"]
    document: DocumentContent


Part = TextMessage | InteractiveMessage  # what a reply becomes inside the 24-hour window
Message = Part | TemplateMessage | DocumentMessage
