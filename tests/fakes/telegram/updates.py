"""How updates reach the bot: the queue of pending updates, ``getUpdates`` long polling (one poller at a time,
``allowed_updates``), and the webhook (set, deleted, described, and pushed to with retries; a method the bot
answers a webhook with is run)."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import secrets
import time
from typing import Any

from aiohttp import BodyPartReader, ClientConnectorError, ClientResponse, MultipartReader

from tests.fakes.server import POST_ERRORS, FakeServer, Json
from tests.fakes.telegram.api import (
    OPT_IN_UPDATES,
    POLL_CONFLICT,
    SECRET_TOKEN,
    WEBHOOK_CONFLICT,
    ApiError,
    bad_request,
)
from tests.fakes.telegram.records import Call, Described, Upload


class TelegramUpdates(FakeServer):
    """The update side of the fake Bot API; ``webhook`` is the webhook set (None: polling)."""

    def __init__(self, *, webhook_timeout: float) -> None:
        super().__init__(webhook_timeout=webhook_timeout)
        self.webhook: Json | None = None
        self.webhook_attempts: list[tuple[int, int | str]] = []
        self.updates: list[Json] = []  # every update made or pushed, delivered or not
        self._pending: list[Json] = []
        self._allowed: list[str] = []
        self._next_update = secrets.randbelow(900_000_000) + 100_000_000
        self._poll_generation = 0
        self._last_error: tuple[int, str] | None = None
        self._cond = asyncio.Condition()
        self._pusher: asyncio.Task[None] | None = None

    async def _serving(self) -> None:
        if self.webhook is not None:  # a restart: pushing resumes
            self._pusher = asyncio.create_task(self._push_loop(self.webhook))

    async def _stopping(self) -> None:
        async with self._cond:
            self._cond.notify_all()  # wakes long polls
        await self._stop_pusher()

    async def _run_webhook_reply(self, method: str, params: Json, files: dict[str, Upload]) -> None:
        """Run ``method``, answered to a webhook (the fake's method table does)."""
        raise NotImplementedError

    @property
    def pending_updates(self) -> list[Json]:
        """Updates not yet confirmed (polling) or acknowledged (webhook)."""
        return list(self._pending)

    async def push(self, update: Json) -> Json:
        """Deliver a raw update (given an ``update_id`` if it has none); pushing one again re-delivers it.

        Updates of a type not allowed by the current ``allowed_updates`` are dropped, as Telegram does.
        """
        if "update_id" not in update:
            update["update_id"] = self._new_update_id()
        stored = json.loads(json.dumps(update))
        self.updates.append(stored)
        if self._is_allowed(stored):
            async with self._cond:
                bisect.insort(self._pending, stored, key=lambda pending: pending["update_id"])
                self._cond.notify_all()
        return update

    def _new_update_id(self) -> int:
        self._next_update += 1
        return self._next_update

    async def _deliver(self, kind: str, payload: Json) -> Json:
        return await self.push({"update_id": self._new_update_id(), kind: payload})

    def _is_allowed(self, update: Json) -> bool:
        kind = next((key for key in update if key != "update_id"), "")
        return kind in self._allowed if self._allowed else kind not in OPT_IN_UPDATES

    def _set_allowed(self, allowed: Any) -> None:
        if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
            raise bad_request("can't parse allowed_updates JSON array")
        self._allowed = list(allowed)
        self._pending = [update for update in self._pending if self._is_allowed(update)]

    async def _get_updates(self, call: Call) -> list[Json]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        params = call.params
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        offset, limit, timeout = params.get("offset", 0), params.get("limit", 100), params.get("timeout", 0)
        if not all(isinstance(value, int) for value in (offset, limit)) or not isinstance(
            timeout, int | float
        ):
            raise bad_request("wrong parameter in getUpdates request")
        if offset > 0:
            self._pending = [update for update in self._pending if update["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        limit = min(max(limit, 1), 100)
        async with self._cond:
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            if not self._pending and timeout > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._cond.wait_for(
                            lambda: (
                                bool(self._pending)
                                or generation != self._poll_generation
                                or self._stopped.is_set()
                                or self.webhook is not None
                            )
                        )
            if generation != self._poll_generation:
                raise ApiError(409, POLL_CONFLICT)
            if self.webhook is not None:
                raise ApiError(409, WEBHOOK_CONFLICT)
            return [json.loads(json.dumps(update)) for update in self._pending[:limit]]

    async def _set_webhook(self, call: Call) -> Described:
        params = call.params
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(call)
        if not url.startswith(("https://", "http://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not SECRET_TOKEN.fullmatch(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        max_connections = params.get("max_connections", 40)
        if not isinstance(max_connections, int) or not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            self._pending.clear()
        hook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": list(self._allowed),
            "max_connections": max_connections,
            "drop_pending_updates": bool(params.get("drop_pending_updates")),
            "ip_address": params.get("ip_address"),
        }
        same = self.webhook is not None and self.webhook["url"] == url
        await self._stop_pusher()
        self.webhook = hook
        self._pusher = asyncio.create_task(self._push_loop(hook))
        async with self._cond:
            self._cond.notify_all()  # a waiting getUpdates answers 409 at once
        return Described(True, "Webhook is already set" if same else "Webhook was set")

    async def _delete_webhook(self, call: Call) -> Described:
        existed = self.webhook is not None
        await self._stop_pusher()
        self.webhook = None
        if call.params.get("drop_pending_updates"):
            self._pending.clear()
        return Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    async def _get_webhook_info(self, call: Call) -> Json:
        info: Json = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._pending)}
        if self.webhook is not None:
            info["url"] = self.webhook["url"]
            info["max_connections"] = self.webhook["max_connections"]
            if self._allowed:
                info["allowed_updates"] = list(self._allowed)
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
        if self._last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._last_error
        return info

    # -- the webhook pusher --------------------------------------------------------------------------------

    async def _stop_pusher(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None

    async def _push_loop(self, hook: Json) -> None:
        delay = 0.1
        while True:
            async with self._cond:
                await self._cond.wait_for(lambda: bool(self._pending))
                update = self._pending[0]
            outcome = await self._post_update(hook, update)
            self.webhook_attempts.append((update["update_id"], outcome))
            if isinstance(outcome, int) and 200 <= outcome < 300:
                with contextlib.suppress(ValueError):
                    self._pending.remove(update)
                delay = 0.1
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _post_update(self, hook: Json, update: Json) -> int | str:
        headers = {"Content-Type": "application/json"}
        if hook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        try:
            async with self._posting(hook["url"], json.dumps(update), headers) as response:
                if not 200 <= response.status < 300:
                    await response.read()
                    self._last_error = (
                        int(time.time()),
                        f"Wrong response from the webhook: {response.status} {response.reason}",
                    )
                    return response.status
                await self._webhook_reply(response)
                return response.status
        except POST_ERRORS as error:
            if isinstance(error, TimeoutError):
                message = "Read timeout expired"
            elif isinstance(error, ClientConnectorError):
                message = "Connection refused"
            else:
                message = f"Connection failed: {type(error).__name__}"
            self._last_error = (int(time.time()), message)
            return type(error).__name__

    async def _webhook_reply(self, response: ClientResponse) -> None:
        """Run a method the bot answered the webhook with, as Telegram does (its outcome is not reported)."""
        params: Json = {}
        files: dict[str, Upload] = {}
        if response.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = await response.json()
                if isinstance(body, dict):
                    params = body
        elif response.content_type == "multipart/form-data":
            reader = MultipartReader.from_response(response)
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.filename:
                    files[part.name or ""] = Upload(part.filename, bytes(await part.read()))
                else:
                    params[part.name or ""] = await part.text()
        else:
            await response.read()
        method = params.pop("method", None)
        if not isinstance(method, str):
            return
        await self._run_webhook_reply(method, params, files)
