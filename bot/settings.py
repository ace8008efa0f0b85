"""Every setting of the service, read from the environment and ``.env`` (see ``.env.example``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GRAPH_API_URL = "https://graph.facebook.com/v25.0"
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
_TEMPLATE_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")


class Settings(BaseSettings):
    """One object, built once in the composition root (``bot/app.py``) and passed down."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./optibot.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    optibot_data_dir: Path = Field(default=Path("./data"), description="Prescription files.")
    optibot_file_key: str = Field(
        default="",
        description="Fernet key encrypting prescription files; empty: a key file in the data folder.",
    )
    optibot_env: Literal["development", "production"] = "development"
    optibot_log_level: str = "INFO"
    optibot_log_format: Literal["text", "json"] = Field(
        default="text", description="text: one readable line per event; json: one JSON object per line."
    )
    optibot_default_language: Literal["fr", "en"] = "fr"
    db_pool_size: int = Field(default=20, ge=1, le=500)
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"
    engine_batch_size: int = Field(default=64, ge=1, le=1000)
    engine_accept_timeout: float = Field(default=20.0, gt=0)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=1, le=65535)
    web_chat_cookie_secure: bool = False
    metrics_host: str = Field(default="127.0.0.1", description="Where /metrics (Prometheus) listens.")
    metrics_port: int | None = Field(
        default=9108, ge=1, le=65535, description="Port of /metrics; empty: no metrics listener."
    )
    live_safety_seconds: float = Field(
        default=30.0,
        ge=1.0,
        le=600.0,
        description="Live streams and the outbox re-read this often even when nothing woke them.",
    )
    export_link_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="Minutes a web chat's data-export link works."
    )

    auto_migrate: bool = Field(default=True, description="Migrate the database at start-up.")

    telegram_bot_token: SecretStr = Field(default=SecretStr(""), description="Empty: no Telegram.")
    telegram_api_url: str = Field(default="https://api.telegram.org", description="Bot API server.")
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: SecretStr = Field(default=SecretStr(""), description="1-256 of A-Z a-z 0-9 _ -")
    public_url: str = Field(default="", description="The service's public https base URL (webhooks).")
    telegram_max_per_second: int = Field(default=30, ge=1, le=30, description="This process's share.")
    telegram_chat_burst: int = Field(default=3, ge=1, le=20, description="Messages in a row to one chat.")

    whatsapp_access_token: SecretStr = Field(default=SecretStr(""), description="Empty: no WhatsApp.")
    whatsapp_phone_number_id: str = Field(default="", description="The business number's id (digits).")
    whatsapp_app_secret: SecretStr = Field(default=SecretStr(""), description="Signs Meta's webhooks.")
    whatsapp_verify_token: SecretStr = Field(default=SecretStr(""), description="Webhook verification.")
    whatsapp_business_account_id: str = Field(
        default="", description="The WhatsApp Business Account's id (digits): doctor checks its templates."
    )
    whatsapp_api_url: str = Field(default=GRAPH_API_URL, description="Graph API base, version pinned.")
    whatsapp_template_name_fr: str = Field(default="optibot_suivi", description="Approved template {{1}}.")
    whatsapp_template_language_fr: str = "fr"
    whatsapp_template_name_en: str = "optibot_follow_up"
    whatsapp_template_language_en: str = "en"
    whatsapp_max_per_second: int = Field(default=80, ge=1, le=1000, description="This process's share.")
    whatsapp_read_marks: bool = Field(default=True, description="Blue ticks and typing dots.")

    # E-mail to web chat clients on the waitlist (bot/mail.py, bot/broadcasts.py); no SMTP_HOST: no
    # e-mail (those clients are listed for a call-back when they left a phone number).
    smtp_host: str = Field(default="", description="SMTP server; empty: no e-mail.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="587 (STARTTLS) or 465 (TLS).")
    smtp_username: str = Field(default="", description="Empty: no login.")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="The SMTP account's password.")
    smtp_from: str = Field(default="", description="The sender, e.g. Opticiens Mobiles <contact@example.fr>.")
    smtp_starttls: bool = Field(
        default=True, description="STARTTLS on a plain port (false: TLS at connect on 465)."
    )
    smtp_timeout: float = Field(default=30.0, gt=0, le=300, description="Seconds an SMTP exchange may take.")
    broadcast_emails_per_second: float = Field(
        default=2.0, gt=0, le=100, description="E-mails a broadcast sends per second (this process)."
    )
    broadcast_sending_timeout: int = Field(
        default=600,
        ge=1,
        le=24 * 3600,
        description="Seconds before an e-mail left 'sending' by a dead process is given up.",
    )

    console_cookie_secure: bool = Field(default=False, description="Secure session cookie (https).")
    console_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    console_priority_alert_minutes: int = Field(default=15, ge=1, le=24 * 60)

    # Limits on the doors (bot/throttle.py, docs/DECISIONS.md): "N/period" moving windows joined
    # by ";"; an empty value: no limit.
    rate_limit_storage: str = Field(
        default="memory://", description="memory:// (each process counts alone) or redis://host:port/db."
    )
    forwarded_allow_ips: str = Field(
        default="", description="Proxies whose X-Forwarded-For is believed (IPs, networks, *); empty: none."
    )
    web_chat_messages_per_browser: str = "20/minute;200/hour"
    web_chat_messages_per_address: str = "120/minute;2000/hour"
    web_chat_uploads_per_browser: str = "5/10 minutes;20/hour"
    web_chat_uploads_per_address: str = "30/10 minutes"
    web_chat_new_chats_per_address: str = "5/minute;20/hour"
    console_login_failures_per_device: str = "5/15 minutes"

    dispatch_accept_minutes: int = Field(default=20, ge=1, le=24 * 60)
    dispatch_at_handoff: bool = Field(default=False, description="Offer visits as soon as handed off.")
    appointment_reminder_hour: int = Field(
        default=7, ge=0, le=23, description="The hour (Paris time) of a visit's morning reminder."
    )

    # The members' desk (issue 16): video follow-ups are Jitsi Meet rooms with random names (no API
    # call); their link is this base plus the room.
    jitsi_base_url: str = Field(
        default="https://meet.jit.si", description="Where video follow-up rooms are (a Jitsi Meet server)."
    )
    video_slot_minutes: int = Field(default=30, ge=10, le=180, description="A video follow-up's length.")
    video_reminder_minutes: int = Field(
        default=60, ge=5, le=24 * 60, description="How long before a video follow-up both are reminded."
    )

    # A case's life and personal data (docs/PRIVACY.md).
    case_reopen_days: int = Field(default=7, ge=0, le=365, description="A client writing reopens a case.")
    retention_inbox_days: int = Field(default=7, ge=7, le=3650, description="Processed inbound messages.")
    retention_case_days: int = Field(default=90, ge=1, le=3650, description="Closed cases, then anonymised.")
    retention_file_days: int = Field(default=30, ge=0, le=3650, description="Prescriptions after the end.")
    retention_waitlist_days: int = Field(default=180, ge=1, le=3650, description="Waitlist entries.")
    retention_journal_days: int = Field(default=365, ge=30, le=3650, description="The access journal.")
    retention_candidate_days: int = Field(
        default=365, ge=30, le=3650, description="Candidates declined or left untouched (issue 15)."
    )
    retention_member_request_days: int = Field(
        default=730, ge=30, le=3650, description="Members' requests, after they are closed (issue 16)."
    )
    retention_sweep_minutes: int = Field(default=60, ge=1, le=24 * 60, description="How often to purge.")

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token.get_secret_value())

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.whatsapp_access_token.get_secret_value())

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _empty_port_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.optibot_env == "production" and not self.optibot_file_key:
            raise ValueError("OPTIBOT_FILE_KEY must be set in production (see .env.example)")
        token = self.telegram_bot_token.get_secret_value()
        if token and not re.fullmatch(r"\d+:[A-Za-z0-9_-]{30,}", token):
            raise ValueError("TELEGRAM_BOT_TOKEN does not look like a token from @BotFather (digits:letters)")
        if token and not self.telegram_api_url.startswith(("https://", "http://")):
            raise ValueError("TELEGRAM_API_URL must be an http(s) URL, e.g. https://api.telegram.org")
        if token and self.telegram_mode == "webhook":
            secret = self.telegram_webhook_secret.get_secret_value()
            if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
                raise ValueError(
                    "TELEGRAM_WEBHOOK_SECRET must be 16-256 characters among A-Z a-z 0-9 _ - in webhook mode"
                )
            if not self.public_url.startswith(("https://", "http://")):
                raise ValueError("PUBLIC_URL (the address Telegram calls) is needed in webhook mode")
            if self.optibot_env == "production" and not self.public_url.startswith("https://"):
                raise ValueError("PUBLIC_URL must be https in production: Telegram only calls https webhooks")
        if self.whatsapp_enabled:
            self._check_whatsapp()
        if self.smtp_host and "@" not in self.smtp_from:
            raise ValueError(
                "SMTP_FROM (the sender's address, e.g. contact@example.fr) is needed with SMTP_HOST"
            )
        self._check_limits()
        return self

    def _check_limits(self) -> None:
        for name in (
            "web_chat_messages_per_browser",
            "web_chat_messages_per_address",
            "web_chat_uploads_per_browser",
            "web_chat_uploads_per_address",
            "web_chat_new_chats_per_address",
            "console_login_failures_per_device",
        ):
            value = getattr(self, name)
            try:
                if value.strip():
                    parse_many(value)
            except ValueError:
                example = "20/minute;200/hour"
                raise ValueError(f"{name.upper()}: limits such as {example}, not {value!r}") from None
        if not self.rate_limit_storage.startswith(("memory://", "redis://", "rediss://", "redis+unix://")):
            raise ValueError("RATE_LIMIT_STORAGE: memory:// or redis://host:port/db")

    def _check_whatsapp(self) -> None:
        if not re.fullmatch(r"\d{5,32}", self.whatsapp_phone_number_id):
            raise ValueError("WHATSAPP_PHONE_NUMBER_ID (digits, from the WhatsApp Manager) is needed")
        account = self.whatsapp_business_account_id
        if account and not re.fullmatch(r"\d{5,32}", account):
            raise ValueError("WHATSAPP_BUSINESS_ACCOUNT_ID: digits (from the WhatsApp Manager), or empty")
        if len(self.whatsapp_app_secret.get_secret_value()) < 16:
            raise ValueError("WHATSAPP_APP_SECRET (the Meta app's secret, which signs webhooks) is needed")
        if len(self.whatsapp_verify_token.get_secret_value()) < 16:
            raise ValueError("WHATSAPP_VERIFY_TOKEN must be at least 16 characters (you choose it)")
        if not self.whatsapp_api_url.startswith(("https://", "http://")):
            raise ValueError(f"WHATSAPP_API_URL must be an http(s) URL, e.g. {GRAPH_API_URL}")
        for language in ("fr", "en"):
            if not _TEMPLATE_NAME.fullmatch(getattr(self, f"whatsapp_template_name_{language}")):
                raise ValueError(
                    f"WHATSAPP_TEMPLATE_NAME_{language.upper()}: lower-case letters, digits and _ only"
                )
            if not _TEMPLATE_LANGUAGE.fullmatch(getattr(self, f"whatsapp_template_language_{language}")):
                raise ValueError(
                    f"WHATSAPP_TEMPLATE_LANGUAGE_{language.upper()}: a language code such as fr or en_US"
                )

    def whatsapp_template(self, language: str) -> tuple[str, str]:
        """The approved template (name, language code) for messages outside the 24-hour window."""
        language = "en" if language == "en" else "fr"
        return (
            getattr(self, f"whatsapp_template_name_{language}"),
            getattr(self, f"whatsapp_template_language_{language}"),
        )
