"""Every setting of the service, read from the environment and ``.env`` (see ``.env.example``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
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

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.optibot_env == "production" and not self.optibot_file_key:
            raise ValueError("OPTIBOT_FILE_KEY must be set in production (see .env.example)")
        return self

    auto_migrate: bool = Field(default=True, description="Migrate the database at start-up.")
