"""The checks of the chat platforms, with the service's own settings: Telegram (the token through
``getMe``, the webhook through ``getWebhookInfo``) and WhatsApp (the number's node and the account's
templates on the Graph API). Each asks, changes nothing."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bot.doctor.verdicts import Verdict, describe
from bot.settings import Settings

WEBHOOK_PATH = "/webhooks/telegram"  # bot/channels/telegram/webhook.py (not imported: it pulls FastAPI in)
# A webhook error younger than this fails the check; an older one is only reported (Telegram keeps
# the last error until another happens, however many updates went through since).
WEBHOOK_ERROR_FRESH_SECONDS = 3600
TEMPLATE_PAGE = 100


async def telegram(settings: Settings, seconds: float) -> list[Verdict]:
    if not settings.telegram_enabled:
        return [Verdict("off", "telegram", "telegram.off")]
    from aiogram.exceptions import TelegramNotFound, TelegramUnauthorizedError

    from bot.channels.telegram.client import make_bot

    bot = make_bot(settings)
    try:
        try:
            me = await bot.get_me(request_timeout=int(seconds) + 1)
        except (TelegramUnauthorizedError, TelegramNotFound):
            return [Verdict("fail", "telegram", "telegram.refused", {"url": settings.telegram_api_url})]
        except TimeoutError:
            raise
        except Exception as error:
            return [
                Verdict(
                    "fail",
                    "telegram",
                    "telegram.unreachable",
                    {"url": settings.telegram_api_url, "error": describe(error)},
                )
            ]
        found = [Verdict("ok", "telegram", "telegram.ok", {"username": me.username or me.id})]
        info = await bot.get_webhook_info(request_timeout=int(seconds) + 1)
    finally:
        await bot.session.close()
    found.append(
        _webhook(settings, info.url, info.last_error_date, info.last_error_message, info.pending_update_count)
    )
    return found


def _webhook(settings: Settings, url: str, error_at: Any, error: str | None, pending: int) -> Verdict:
    values: dict[str, object] = {"pending": pending}
    if settings.telegram_mode == "polling":
        if url:
            return Verdict("warn", "webhook", "webhook.set_while_polling", values)
        return Verdict("ok", "webhook", "webhook.polling", values)
    expected = settings.public_url.rstrip("/") + WEBHOOK_PATH
    values["expected"] = expected
    if not url:
        return Verdict("warn", "webhook", "webhook.not_set", values)
    if url != expected:
        return Verdict("fail", "webhook", "webhook.elsewhere", {**values, "url": url})
    if error_at is not None and error:
        at = error_at.timestamp() if hasattr(error_at, "timestamp") else float(error_at)
        minutes = max(0, int((time.time() - at) // 60))
        fresh = time.time() - at < WEBHOOK_ERROR_FRESH_SECONDS
        return Verdict(
            "fail" if fresh else "warn",
            "webhook",
            "webhook.error" if fresh else "webhook.old_error",
            {**values, "minutes": minutes, "error": error[:200]},
        )
    return Verdict("ok", "webhook", "webhook.ok", values)


class _GraphRefusalError(Exception):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def whatsapp(settings: Settings, seconds: float) -> list[Verdict]:
    if not settings.whatsapp_enabled:
        return [Verdict("off", "whatsapp", "whatsapp.off")]
    token = settings.whatsapp_access_token.get_secret_value()
    async with httpx.AsyncClient(
        base_url=settings.whatsapp_api_url.rstrip("/") + "/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=seconds,
    ) as http:
        number = settings.whatsapp_phone_number_id
        try:
            node = await _get(http, number, {"fields": "display_phone_number,verified_name"})
        except _GraphRefusalError as refusal:
            return [_refused("whatsapp", refusal, {"id": number})]
        except httpx.HTTPError as error:
            url = settings.whatsapp_api_url
            return [
                Verdict("fail", "whatsapp", "whatsapp.unreachable", {"url": url, "error": describe(error)})
            ]
        found = [
            Verdict(
                "ok",
                "whatsapp",
                "whatsapp.ok",
                {"number": node.get("display_phone_number", "?"), "name": node.get("verified_name", "?")},
            )
        ]
        return found + await _templates(http, settings)


async def _templates(http: httpx.AsyncClient, settings: Settings) -> list[Verdict]:
    account = settings.whatsapp_business_account_id
    if not account:
        return [Verdict("warn", "templates", "templates.no_account")]
    listed: dict[tuple[str, str], str] = {}
    query = {"fields": "name,language,status", "limit": str(TEMPLATE_PAGE)}
    try:
        while True:
            page = await _get(http, f"{account}/message_templates", query)
            for template in page.get("data") or []:
                listed[(str(template.get("name")), str(template.get("language")))] = str(
                    template.get("status")
                )
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                break
            query = {**query, "after": str(after)}
    except _GraphRefusalError as refusal:
        return [_refused("templates", refusal, {"id": account})]
    verdicts = []
    for language in ("fr", "en"):
        name, code = settings.whatsapp_template(language)
        values = {"name": name, "code": code}
        status = listed.get((name, code))
        if status is None:
            verdicts.append(Verdict("fail", "templates", "templates.missing", values))
        elif status != "APPROVED":
            verdicts.append(
                Verdict("fail", "templates", "templates.not_approved", {**values, "status": status})
            )
        else:
            verdicts.append(Verdict("ok", "templates", "templates.ok", values))
    return verdicts


async def _get(http: httpx.AsyncClient, path: str, query: dict[str, str]) -> dict[str, Any]:
    answer = await http.get(path, params=query)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code >= 400 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            raise _GraphRefusalError(answer.status_code, None, "not an answer of the Graph API")
        code = error.get("code")
        raise _GraphRefusalError(
            answer.status_code, code if isinstance(code, int) else None, str(error.get("message"))[:200]
        )
    return body


def _refused(area: str, refusal: _GraphRefusalError, values: dict[str, object]) -> Verdict:
    if refusal.code == 190 or refusal.status == 401:
        return Verdict("fail", area, "graph.token", values)
    if refusal.code == 100:
        return Verdict("fail", area, f"{area}.unknown_id", values)
    return Verdict(
        "fail", area, "graph.error", {**values, "status": refusal.status, "error": refusal.message}
    )
