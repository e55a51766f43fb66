from __future__ import annotations

import pytest
from pydantic import ValidationError

from reference.common.settings import DEV_SECRET, Settings


def test_defaults_point_at_local_servers() -> None:
    settings = Settings()
    assert "127.0.0.1:5432" in settings.database_url
    assert settings.redis_url.startswith("redis://127.0.0.1:6379")
    assert settings.cache_ttl_seconds == 7 * 24 * 3600


def test_environment_has_no_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WASTECOACH_ENVIRONMENT", raising=False)
    with pytest.raises(ValidationError, match="WASTECOACH_ENVIRONMENT must be set"):
        Settings()


@pytest.mark.parametrize("environment", ["test", "staging", "prod", ""])
def test_only_the_two_environments_are_accepted(environment: str) -> None:
    with pytest.raises(ValidationError):
        Settings(environment=environment)


def test_development_is_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASTECOACH_ENVIRONMENT", "development")
    assert Settings().development
    assert not Settings(
        environment="production", jwt_secret="s" * 32, openai_api_key="k"
    ).development


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError, match="WASTECOACH_JWT_SECRET must be set"):
        Settings(environment="production")


def test_production_accepts_real_secrets() -> None:
    settings = Settings(environment="production", jwt_secret="s" * 32, openai_api_key="sk-x")
    assert settings.jwt_secret.get_secret_value() != DEV_SECRET


def test_production_refuses_a_short_jwt_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(environment="production", jwt_secret="short", openai_api_key="sk-x")


def test_pending_photos_must_outlive_the_uploads_the_app_may_still_complete() -> None:
    with pytest.raises(ValidationError, match="UPLOAD_PENDING_EXPIRE_DAYS"):
        Settings(upload_pending_expire_days=1, upload_abandon_seconds=86400)
    assert Settings(upload_pending_expire_days=1, upload_abandon_seconds=86399)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASTECOACH_UPLOAD_MAX_BYTES", "123")
    monkeypatch.setenv("WASTECOACH_S3_ENDPOINT_URL", "")
    settings = Settings()
    assert settings.upload_max_bytes == 123
    assert settings.s3_endpoint_url is None  # empty means AWS's own endpoint


def test_to_env_round_trips() -> None:
    original = Settings(redis_prefix="x:", cache_enabled=False, openai_attempts=2)
    rebuilt = Settings(
        **{k.removeprefix("WASTECOACH_").lower(): v for k, v in original.to_env().items()}
    )
    assert rebuilt.model_dump() == original.model_dump()
