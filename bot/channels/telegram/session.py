"""aiogram's aiohttp session, lighter on the calls the service makes for every reply.

aiogram posts every call as a multipart form (each field JSON-encoded on its own) and validates
every answer whole into aiogram objects: for a message sent, the message Telegram echoes back (its
text, its keyboard, the bot as sender), each nested object running aiogram's Python hooks. On the
Telegram benchmark that was about a third of the cost of a send (docs/PERFORMANCE.md).

:class:`LeanSession` posts a call that carries no file as one JSON body (the Bot API takes both), and
reads a successful answer to the calls of :data:`LEAN_RESULTS` for what the service reads of it:
``ok``, and the message's id, date and chat, validated by aiogram's own ``Message`` (the text and
keyboard echoed back are neither read nor turned into objects). Every other answer (a refusal, a
429, a body that is not the expected one) goes through aiogram's own ``check_response``: errors are
raised exactly as aiogram raises them.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, cast

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile, Message
from aiohttp import ClientError, ClientTimeout
from pydantic import ValidationError

_JSON_HEADERS = {"Content-Type": "application/json"}
# The calls whose successful answer is read lean, and whether ``True`` is a result of theirs (an
# inline message's edit answers True).
LEAN_RESULTS: dict[type[TelegramMethod[Any]], bool] = {
    SendMessage: False,
    EditMessageReplyMarkup: True,
    EditMessageText: True,
}
# The calls sent as pydantic serialises them (they carry no file nor date, where aiogram's
# preparation differs): the same JSON as :meth:`LeanSession.prepared`, made in Rust.
SERIALISED = (SendMessage, EditMessageReplyMarkup, EditMessageText, AnswerCallbackQuery)
# What the service reads of a message it sent: validated by aiogram's own Message type.
KEPT = ("message_id", "date", "chat")


class LeanSession(AiohttpSession):
    """aiogram's :class:`AiohttpSession`, with JSON bodies and the lean reading of frequent answers."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:  # a file to upload: a multipart form, as aiogram sends it
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            wait = ClientTimeout(total=self.timeout if timeout is None else timeout)
            async with session.post(url, data=body, headers=_JSON_HEADERS, timeout=wait) as response:
                raw = await response.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            raise TelegramNetworkError(method=method, message=f"{type(error).__name__}: {error}") from error
        if HTTPStatus.OK <= response.status <= HTTPStatus.IM_USED:
            lean = lean_result(bot, method, raw)
            if lean is not None:
                return cast(TelegramType, lean)
        return cast(TelegramType, self.check_response(bot, method, response.status, raw).result)

    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
        """The call as one JSON object (see :func:`serialised` and :meth:`prepared`); None if the call
        uploads a file."""
        if isinstance(method, SERIALISED):
            body = serialised(bot, method)
            if body is not None:
                return body
        return self.prepared(bot, method)

    def prepared(self, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
        """The call as one JSON object, with aiogram's own preparation of each value (the bot's
        defaults resolved, nested objects as dicts, ``None`` and ``""`` left out as in its form);
        None if the call uploads a file."""
        files: dict[str, InputFile] = {}
        fields: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is None or prepared == "":
                continue
            fields[key] = prepared
        if files:
            return None
        return self.json_dumps(fields).encode()


def serialised(bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
    """pydantic's own JSON of one of :data:`SERIALISED` (no file, no date in them), ``None`` values
    left out; None (not this way) when a default of the bot's applies to it."""
    unset = set()
    for name, value in method:
        if isinstance(value, Default):
            if bot.default[value.name] is not None:
                return None
            unset.add(name)
    return method.model_dump_json(exclude_none=True, exclude=unset, warnings=False).encode()


def lean_result(bot: Bot, method: TelegramMethod[Any], raw: str) -> Message | bool | None:
    """The result of a successful answer to one of :data:`LEAN_RESULTS`: ``True``, or the message
    with its :data:`KEPT` fields only, validated by aiogram's ``Message``. None when the call is not
    one of them or the answer is not of the expected shape (aiogram then reads it, and says what)."""
    true_too = LEAN_RESULTS.get(type(method))
    if true_too is None:
        return None
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        return None
    result = answer.get("result")
    if result is True and true_too:
        return True
    if not isinstance(result, dict):
        return None
    try:
        return Message.model_validate({k: result[k] for k in KEPT if k in result}, context={"bot": bot})
    except ValidationError:
        return None
