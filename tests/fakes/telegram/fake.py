"""A fake Telegram Bot API server for tests, spoken to by the real aiogram client.

It serves ``/bot<token>/<method>`` and ``/file/bot<token>/<path>`` on 127.0.0.1 like api.telegram.org:
parameters come from the query string and from a urlencoded, multipart or JSON body (complex values may
be JSON-encoded strings); answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N,
"description": "...", "parameters": {...}}`` with Telegram's own descriptions. Updates made by the test
(``say``, ``press``...) are queued for ``getUpdates`` long polling, or pushed to the webhook when one is set.

Deliberate simplifications: one bot, private chats only; plain ``http://`` webhook URLs are accepted;
message lengths are counted in code points; HTML and MarkdownV2 are checked for the common mistakes
(unsupported or unclosed tags, unescaped reserved characters) but no entities are returned.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from tests.fakes.server import ClientGoneError, Faults, Json
from tests.fakes.telegram.api import (
    TOKEN,
    TOKEN_SHAPE,
    ApiError,
    bad_request,
    decode_param,
    default_description,
)
from tests.fakes.telegram.limits import SendLimits
from tests.fakes.telegram.records import Call, Described, Fault, Handler, Request, Upload
from tests.fakes.telegram.users import TelegramUsers


class FakeTelegram(TelegramUsers):
    """A Bot API server for one bot; see the module docstring."""

    def __init__(
        self,
        token: str = TOKEN,
        *,
        enforce_limits: bool = True,
        chat_limit: tuple[int, float] = (3, 3.0),
        bot_limit: tuple[int, float] = (30, 1.0),
        strict_chats: bool = False,
        webhook_timeout: float = 10.0,
    ) -> None:
        """``strict_chats``: sending to a chat that never wrote to the bot answers "chat not found"."""
        limits = SendLimits(enforce=enforce_limits, chat_limit=chat_limit, bot_limit=bot_limit)
        super().__init__(token, limits=limits, strict_chats=strict_chats, webhook_timeout=webhook_timeout)
        self.base_url = ""
        self.requests: list[Request] = []
        self._faults: Faults[Fault] = Faults()
        self._hangs: Faults[Fault] = Faults()
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_media,
                "sendDocument": self._send_media,
                "editMessageText": self._edit_message,
                "editMessageReplyMarkup": self._edit_message,
                "answerCallbackQuery": self._answer_callback_query,
                "sendChatAction": self._send_chat_action,
                "getFile": self._get_file,
            }.items()
        }

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/bot{token}/{method}", self._handle_api)
        router.add_get("/file/bot{token}/{path:.+}", self._handle_file)

    async def _serving(self) -> None:
        self.base_url = self.root_url
        await super()._serving()

    # -- what the bot did --------------------------------------------------------------------------------

    @property
    def files(self) -> dict[str, bytes]:
        """Every file the fake holds, by ``file_id``."""
        return self.storage.files

    @property
    def too_many(self) -> int:
        """429s answered because a window (the chat's or the bot's) was full."""
        return self.limits.too_many

    @property
    def too_many_chat(self) -> int:
        """Of ``too_many``, the 429s whose chat window was full (the rest: the bot's)."""
        return self.limits.too_many_chat

    @property
    def flood_rejected(self) -> int:
        """429s answered under flood control."""
        return self.limits.flood_rejected

    def calls(self, method: str) -> list[Request]:
        """The recorded calls of one method (case-insensitive)."""
        return [request for request in self.requests if request.method.lower() == method.lower()]

    def describe(self) -> str:
        """A short account of the recent traffic, for failure messages."""
        lines = [f"pending updates: {len(self._pending)}; webhook: {self.webhook and self.webhook['url']}"]
        lines += [f"  {r.method} -> {r.status} {r.description or ''}".rstrip() for r in self.requests[-12:]]
        lines += [
            f"  sent to {m.chat_id}: {m.text[:80]!r} buttons={len(m.buttons())}" for m in self.sent[-6:]
        ]
        if self.webhook_attempts:
            lines.append(f"  webhook attempts: {self.webhook_attempts[-6:]}")
        return "\n".join(lines)

    # -- faults ------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        *,
        count: int = 1,
        retry_after: int | None = None,
        chat_id: int | None = None,
        description: str | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` (to ``chat_id`` only, if given) answer this error."""
        if status == 429 and retry_after is None:
            retry_after = 5
        self._faults.add(
            Fault(
                method=method.lower(),
                count=count,
                status=status,
                description=description or default_description(status, retry_after),
                retry_after=retry_after,
                chat_id=chat_id,
            )
        )

    def hang_next(self, method: str, seconds: float, *, count: int = 1, deliver: bool = False) -> None:
        """The next ``count`` calls of ``method`` wait ``seconds`` before being handled.

        The call is handled (sent, recorded) only after the wait, and only if the client is still there:
        a client that timed out meanwhile gets nothing done (the request is recorded with status 499).
        With ``deliver=True`` it is handled anyway, like a send whose answer was lost on the way back.
        """
        self._hangs.add(Fault(method=method.lower(), count=count, seconds=seconds, deliver=deliver))

    def flood(self, seconds: int) -> None:
        """For ``seconds`` seconds every send method answers 429 (counted in ``flood_rejected``)."""
        self.limits.flood(seconds)

    # -- HTTP ----------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        raw_method = request.match_info["method"]
        entry = self._methods.get(raw_method.lower())
        record = Request(
            method=entry[0] if entry else raw_method,
            params={},
            at=time.monotonic(),
            content_type=request.content_type if request.body_exists else "",
            http_method=request.method,
        )
        self.requests.append(record)

        async def handle() -> Json:
            self._check_token(request.match_info["token"])
            params, files = await self._read_params(request)
            record.params = params
            if entry is None:
                raise ApiError(404, "Not Found")
            result = await self._run(entry, Call(params=params, files=files, record=record, request=request))
            if isinstance(result, Described):
                return {"ok": True, "result": result.result, "description": result.description}
            return {"ok": True, "result": result}

        return await self._answer(record, handle)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        content = self.storage.at(request.match_info["path"])
        if request.match_info["token"] != self.token or content is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    def _check_token(self, token: str) -> None:
        if token == self.token:
            return
        if TOKEN_SHAPE.fullmatch(token):
            raise ApiError(401, "Unauthorized")
        raise ApiError(404, "Not Found")

    async def _read_params(self, request: web.Request) -> tuple[Json, dict[str, Upload]]:
        raw: Json = dict(request.query)
        files: dict[str, Upload] = {}
        if request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as error:
                    raise bad_request("can't parse JSON object") from error
                if not isinstance(body, dict):
                    raise bad_request("can't parse JSON object")
                raw.update(body)
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        files[key] = Upload(filename=value.filename, content=value.file.read())
                    else:
                        raw[key] = value
        return {key: decode_param(key, value) for key, value in raw.items()}, files

    async def _run(self, entry: tuple[str, Handler], call: Call) -> Any:
        name, handler = entry
        hang = self._take(self._hangs, name, call.params)
        if hang is not None:
            await self._hold(hang.seconds)
            if self._stopped.is_set():
                raise ApiError(500, "Internal Server Error")
            if not hang.deliver and call.request is not None and self._caller_left(call.request):
                raise ClientGoneError
        fault = self._take(self._faults, name, call.params)
        if fault is not None:
            raise ApiError(fault.status, fault.description, fault.retry_after)
        return await handler(call)

    @staticmethod
    def _take(faults: Faults[Fault], method: str, params: Json) -> Fault | None:
        return faults.take(
            lambda fault: fault.method == method.lower() and fault.chat_id in (None, params.get("chat_id"))
        )

    async def _run_webhook_reply(self, method: str, params: Json, files: dict[str, Upload]) -> None:
        entry = self._methods.get(method.lower())
        params = {key: decode_param(key, value) for key, value in params.items()}
        record = Request(
            method=entry[0] if entry else method,
            params=params,
            at=time.monotonic(),
            content_type="webhook-reply",
        )
        self.requests.append(record)
        try:
            if entry is None:
                raise ApiError(404, "Not Found")
            await self._run(entry, Call(params=params, files=files, record=record))
            record.status = 200
        except ApiError as error:
            record.status, record.description = error.status, error.description
