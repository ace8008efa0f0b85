"""Every setting of the service, read from the environment and ``.env`` (see ``.env.example``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    optibot_default_language: Literal["fr", "en"] = "fr"
    db_pool_size: int = Field(default=20, ge=1, le=500)
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"
    engine_batch_size: int = Field(default=64, ge=1, le=1000)
    engine_accept_timeout: float = Field(default=20.0, gt=0)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=1, le=65535)
    web_chat_cookie_secure: bool = False

    auto_migrate: bool = Field(default=True, description="Migrate the database at start-up.")

    telegram_bot_token: SecretStr = Field(default=SecretStr(""), description="Empty: no Telegram.")
    telegram_api_url: str = Field(default="https://api.telegram.org", description="Bot API server.")
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: SecretStr = Field(default=SecretStr(""), description="1-256 of A-Z a-z 0-9 _ -")
    public_url: str = Field(default="", description="The service's public https base URL (webhooks).")
    telegram_max_per_second: int = Field(default=30, ge=1, le=30, description="This process's share.")
    telegram_chat_burst: int = Field(default=3, ge=1, le=20, description="Messages in a row to one chat.")

    console_cookie_secure: bool = Field(default=False, description="Secure session cookie (https).")
    console_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    console_priority_alert_minutes: int = Field(default=15, ge=1, le=24 * 60)

    dispatch_accept_minutes: int = Field(default=20, ge=1, le=24 * 60)
    dispatch_at_handoff: bool = Field(default=False, description="Offer visits as soon as handed off.")

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token.get_secret_value())

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
        return self
