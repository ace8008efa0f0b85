"""What a check of ``optibot doctor`` answers: one verdict per line, its words in the catalogues
(``flows/texts/<language>/doctor.toml``), and what keeps secrets out of what is printed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from bot.settings import Settings
from flows.catalog import Catalog

Status = Literal["ok", "warn", "fail", "off"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "fail", "off")
HIDDEN = "•••"


@dataclass(frozen=True)
class Verdict:
    """``area`` and ``key`` name texts ``doctor.area.<area>`` and ``doctor.<key>``; ``values`` fill
    the text's ``{placeholders}``. ``off``: not configured (optional), never a failure."""

    status: Status
    area: str
    key: str
    values: Mapping[str, object] = field(default_factory=dict)


Check = Callable[[Settings, float], Awaitable[list[Verdict]]]


async def within(check: Check, area: str, settings: Settings, seconds: float) -> list[Verdict]:
    """``check``'s verdicts, or one failure when it takes longer than ``seconds`` or breaks."""
    try:
        async with asyncio.timeout(seconds):
            return await check(settings, seconds)
    except TimeoutError:
        return [Verdict("fail", area, "timeout", {"seconds": f"{seconds:g}"})]
    except Exception as error:
        return [Verdict("fail", area, "error", {"error": describe(error)})]


def describe(error: BaseException) -> str:
    """An error's class and the first line of its message, short (redacted when printed)."""
    message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value a line could carry by accident (tokens, passwords, keys)."""
    found = [
        settings.telegram_bot_token.get_secret_value(),
        settings.telegram_webhook_secret.get_secret_value(),
        settings.whatsapp_access_token.get_secret_value(),
        settings.whatsapp_app_secret.get_secret_value(),
        settings.whatsapp_verify_token.get_secret_value(),
        settings.smtp_password.get_secret_value(),
        settings.optibot_file_key,
    ]
    for url in (settings.database_url, settings.rate_limit_storage):
        try:
            found.append(urlsplit(url).password or "")
        except ValueError:
            continue
    return [value for value in found if len(value) >= 4]


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


class Printer:
    """Lines in one language: ``LABEL  Area: what was found``, then a summary."""

    def __init__(self, catalog: Catalog, language: str, secrets: Sequence[str] = ()) -> None:
        self.catalog = catalog
        self.language = language
        self.secrets = list(secrets)
        self._labels = {status: catalog.text(language, f"doctor.label.{status}") for status in STATUSES}
        self._width = max(len(label) for label in self._labels.values())

    def text(self, key: str, **values: object) -> str:
        return redact(self.catalog.text(self.language, f"doctor.{key}", **values), self.secrets)

    def line(self, verdict: Verdict) -> str:
        return self.text(
            "line",
            label=self._labels[verdict.status].ljust(self._width),
            area=self.catalog.text(self.language, f"doctor.area.{verdict.area}"),
            text=self.text(verdict.key, **verdict.values),
        )

    def summary(self, verdicts: Sequence[Verdict]) -> str:
        failures = sum(v.status == "fail" for v in verdicts)
        warnings = sum(v.status == "warn" for v in verdicts)
        if failures:
            return self.text("summary.failed", failures=failures, warnings=warnings)
        if warnings:
            return self.text("summary.warnings", warnings=warnings)
        return self.text("summary.ok", checks=len(verdicts))
