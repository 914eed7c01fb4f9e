"""One typed settings object, read from ``TRACELOT_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACELOT_")

    database_url: str = "sqlite:///./tracelot.db"
    secret_key: str = "change-me-in-production"
    base_uri: str = "https://tracelot.example"  # the company's own identifier URIs (EPCIS)
    webhook_timeout_seconds: float = 5.0


@lru_cache
def get_settings() -> Settings:
    return Settings()
