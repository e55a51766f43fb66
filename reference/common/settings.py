"""Typed settings read from the environment (prefix ``WASTECOACH_``).

Defaults work on a developer machine with the standard servers on 127.0.0.1. Secrets have a
development default only; any other environment must set them or start-up fails.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-not-a-secret-do-not-deploy-0000"


class Settings(BaseSettings):
    """Every URL, secret and knob of the reference services and workers."""

    model_config = SettingsConfigDict(env_prefix="WASTECOACH_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"

    # Storage tier.
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    # Every Redis key this deployment writes starts with this, so runs can share one server.
    redis_prefix: str = "wc:"

    # Object storage (S3, or moto's server in development).
    # moto's server on its standard port; empty means AWS's own endpoint (production).
    s3_endpoint_url: str | None = "http://127.0.0.1:5000"
    s3_region: str = "ap-northeast-2"
    s3_bucket: str = "wastecoach-images"
    aws_access_key_id: str = "testing"
    aws_secret_access_key: SecretStr = SecretStr("testing")
    presign_expiry_seconds: int = Field(900, ge=30, le=7 * 24 * 3600)
    upload_max_bytes: int = Field(10 * 1024 * 1024, gt=0)

    # OpenAI (GPT-4o vision), or the mock server in development.
    # The mock server in development; production sets https://api.openai.com/v1.
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_api_key: SecretStr = SecretStr(DEV_SECRET)
    openai_model: str = "gpt-4o"
    openai_classify_model: str = "gpt-4o-mini"
    openai_timeout_seconds: float = Field(20.0, gt=0)
    # Attempts at the model per job (first call included) before the job fails to the DLQ.
    openai_attempts: int = Field(4, ge=1, le=10)
    openai_backoff_initial_seconds: float = Field(0.5, ge=0)
    openai_backoff_max_seconds: float = Field(8.0, ge=0)

    # Result cache: the seed keeps classifications for 7 days.
    cache_ttl_seconds: int = Field(7 * 24 * 3600, gt=0)
    # Progress records of jobs; long enough for any client to read its result.
    job_state_ttl_seconds: int = Field(24 * 3600, gt=0)
    cache_enabled: bool = True

    # Security: JWT access and refresh tokens (HS256), revocation through a Redis deny-list.
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    jwt_issuer: str = "wastecoach"
    access_token_minutes: int = Field(180, gt=0)
    refresh_token_days: int = Field(30, gt=0)

    # Workers expose Prometheus metrics on this port (0 disables the listener).
    worker_metrics_port: int = Field(0, ge=0, le=65535)

    @field_validator("s3_endpoint_url")
    @classmethod
    def _empty_is_aws(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> Settings:
        if self.environment == "production":
            for name in ("jwt_secret", "openai_api_key"):
                if getattr(self, name).get_secret_value() == DEV_SECRET:
                    raise ValueError(
                        f"WASTECOACH_{name.upper()} must be set when "
                        "WASTECOACH_ENVIRONMENT=production"
                    )
            if len(self.jwt_secret.get_secret_value()) < 32:
                raise ValueError("WASTECOACH_JWT_SECRET must be at least 32 characters (HS256)")
        return self

    def to_env(self) -> dict[str, str]:
        """These settings as the environment variables that reproduce them in a subprocess."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"WASTECOACH_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        return env


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests override them with FastAPI's dependency_overrides."""
    return Settings()
