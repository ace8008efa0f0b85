"""The webhooks the fake Graph API pushes to the app: ``messages`` (what the users write) and ``statuses``
(what became of a send, with its pricing), signed, bodies escaped like Meta's, delivered again after
``retry_delays``; and the raw traffic a test makes itself (a re-delivery, a forged signature, the
subscription handshake)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from tests.fakes.server import POST_ERRORS, Json
from tests.fakes.whatsapp.api import WABA_ID, GraphError, encode_body, sign
from tests.fakes.whatsapp.records import Inbound, SentMessage, Webhook, WebhookDeliveryError
from tests.fakes.whatsapp.state import WhatsAppState


def webhook_payload(entries: list[list[Json]]) -> Json:
    """A webhook's JSON: each entry (of the business account) with its changes."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": changes} for changes in entries],
    }


class WhatsAppWebhooks(WhatsAppState):
    """Pushing webhooks to ``webhook_url``, each POST recorded in ``webhook_attempts``."""

    def __init__(
        self,
        *,
        app_secret: str,
        phone_number_id: str,
        display_phone_number: str,
        webhook_url: str | None,
        retry_delays: Iterable[float],
        status_delay: float,
        webhook_timeout: float,
    ) -> None:
        super().__init__(webhook_timeout=webhook_timeout)
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.webhook_url = webhook_url
        self.retry_delays = tuple(retry_delays)
        self.status_delay = status_delay
        self.webhooks: list[Webhook] = []
        self.webhook_attempts: list[tuple[str, int | str]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _stopping(self) -> None:
        """Pending deliveries are abandoned."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def settle(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until every webhook being pushed in the background is delivered or given up."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- the client's side: raw webhook traffic ----------------------------------------------------------

    async def redeliver(self, what: Webhook | Json) -> int | str:
        """POST a webhook body again, byte for byte (Meta re-delivering); ``what`` is the Webhook, its
        payload or one of its messages. Returns the HTTP status (or the connection error's name)."""
        hook = self._find_webhook(what)
        outcome = await self._post(hook.body, sign(hook.body, self.app_secret))
        hook.outcomes.append(outcome)
        self.webhook_attempts.append((hook.label + " (again)", outcome))
        return outcome

    def _find_webhook(self, what: Webhook | Json) -> Webhook:
        if isinstance(what, Webhook):
            return what
        for hook in reversed(self.webhooks):
            if hook.payload is what or hook.payload == what:
                return hook
            for entry in hook.payload["entry"]:
                for change in entry["changes"]:
                    items = change["value"].get("messages", []) + change["value"].get("statuses", [])
                    if any(item.get("id") == what.get("id") for item in items):
                        return hook
        raise AssertionError(f"no webhook was made for {what!r}")

    async def post_raw(self, body: bytes, signature: str | None) -> int:
        """POST ``body`` to the webhook with ``signature`` as ``X-Hub-Signature-256`` (None: no header)."""
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        assert self._client is not None, "start the fake first"
        assert self.webhook_url, "set webhook_url first"
        async with self._client.post(self.webhook_url, data=body, headers=headers) as response:
            await response.read()
            self.webhook_attempts.append(("raw", response.status))
            return response.status

    async def verify(self, mode: str, token: str, challenge: str) -> tuple[int, str]:
        """Meta's subscription handshake: GET ``webhook_url?hub.mode&hub.verify_token&hub.challenge``."""
        assert self._client is not None, "start the fake first"
        assert self.webhook_url, "set webhook_url first"
        params = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}
        async with self._client.get(self.webhook_url, params=params) as response:
            return response.status, await response.text()

    # -- webhooks ----------------------------------------------------------------------------------------

    def _metadata(self) -> Json:
        return {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}

    def _change(self, value: Json) -> Json:
        return {
            "value": {"messaging_product": "whatsapp", "metadata": self._metadata(), **value},
            "field": "messages",
        }

    def changes_of(self, items: Iterable[Inbound]) -> list[Json]:
        """The ``changes`` of client messages: one a user, with their contact and their messages in order."""
        groups: dict[str, tuple[Json, list[Json]]] = {}
        for item in items:
            groups.setdefault(item.contact["wa_id"], (item.contact, []))[1].append(item.message)
        return [
            self._change({"contacts": [contact], "messages": messages})
            for contact, messages in groups.values()
        ]

    def _webhook(self, kind: str, label: str, entries: list[list[Json]]) -> Webhook:
        payload = webhook_payload(entries)
        hook = Webhook(kind, label, payload, encode_body(payload))
        self.webhooks.append(hook)
        return hook

    def _status_webhook(self, message: SentMessage, status: str, error: GraphError | None = None) -> Webhook:
        message.status = status
        if error is not None:
            message.errors.append(error.webhook_error())
        wa_id = message.wa_id
        user_id = message.user_id
        item: Json = {"id": message.wamid, "status": status, "timestamp": str(int(self.now()))}
        if wa_id:
            item["recipient_id"] = wa_id
        # a failed message sent to a phone number does not name the BSUID
        if user_id and not (status == "failed" and message.user == wa_id):
            item["recipient_user_id"] = user_id
        if status in ("sent", "delivered"):
            item["pricing"] = self._pricing(message)
        if error is not None:
            item["errors"] = [error.webhook_error()]
        value: Json = {}
        if user_id and status != "failed":
            contact: Json = {"wa_id": wa_id} if wa_id else {}
            contact["user_id"] = user_id
            value["contacts"] = [contact]
        value["statuses"] = [item]
        return self._webhook("statuses", f"statuses:{message.wamid}:{status}", [[self._change(value)]])

    def _pricing(self, message: SentMessage) -> Json:
        if message.template is None or self._window_open_at(message, message.at):
            return {
                "billable": False,
                "pricing_model": "PMP",
                "category": "service" if message.template is None else "utility",
                "type": "free_customer_service",
            }
        return {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}

    async def _push(self, hook: Webhook, wait: bool) -> None:
        if wait:
            if not await self._deliver(hook):
                raise WebhookDeliveryError(
                    f"webhook {hook.label} never got a 2xx: {hook.outcomes}\n{self.describe()}"
                )
            return
        self._spawn(self._deliver(hook))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: Webhook) -> bool:
        """POST ``hook``, then again after each of ``retry_delays`` until a 2xx."""
        signature = sign(hook.body, self.app_secret)
        for delay in (0.0, *self.retry_delays):
            if delay:
                await asyncio.sleep(delay)
            outcome = await self._post(hook.body, signature)
            hook.outcomes.append(outcome)
            self.webhook_attempts.append((hook.label, outcome))
            if isinstance(outcome, int) and 200 <= outcome < 300:
                return True
        return False

    async def _post(self, body: bytes, signature: str) -> int | str:
        if not self.webhook_url:
            return "no webhook_url"
        if self._client is None:
            return "stopped"
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        try:
            async with self._posting(self.webhook_url, body, headers) as response:
                await response.read()
                return response.status
        except POST_ERRORS as error:
            return type(error).__name__

    async def _push_statuses(
        self, message: SentMessage, statuses: Iterable[tuple[str, GraphError | None]]
    ) -> None:
        await asyncio.sleep(self.status_delay)
        for status, error in statuses:
            await self._deliver(self._status_webhook(message, status, error))
