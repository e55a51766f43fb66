"""Typed settings read from the environment (prefix ``WASTECOACH_``).

Defaults work on a developer machine with the standard servers on 127.0.0.1. Settings fail
closed: ``WASTECOACH_ENVIRONMENT`` has no default (start-up fails without it), and the published
development secrets and ``POST /auth/dev-login`` exist only where it is ``development``; any
other environment must set the secrets or start-up fails.
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

    # No default: a deployment that forgets it must not silently get the development secret
    # and dev-login. The local stack, the harness and the tests set "development" explicitly.
    environment: Literal["development", "production"]

    # Storage tier.
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    # RabbitMQ's management API (vhosts, queue statistics); empty: the broker's host, port 15672.
    broker_management_url: str = ""
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
    # An analysis whose upload was not completed this long after it was asked for is expired
    # by jobs.expire_uploads (failed upload_abandoned, its object removed); longer than the
    # pre-signed POST lives, so only an app that gave up is caught.
    upload_abandon_seconds: int = Field(3600, ge=60)
    # Photos still tagged pending (never passed upload-complete's checks: abandoned, rejected,
    # or POSTed again over a checked one) expire this many days after they were stored: the
    # bucket's lifecycle rule (reference.common.bucket). Longer than an upload may be completed.
    upload_pending_expire_days: int = Field(1, ge=1, le=3650)

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
    # Near duplicates (reference.waste.near_cache): a photo within this many bits (Hamming
    # distance of 64-bit pHashes) of a cached one, whose 4x4 colour thumbnail is also within
    # cache_near_colour_distance (mean RGB distance of the cells, 0..441.7; anything larger
    # checks nothing), is answered from it. Both chosen with `wastecoach cache-sweep` (README,
    # "The cache"): the pHash alone serves look-alikes of another category.
    cache_near_enabled: bool = True
    cache_near_radius: int = Field(8, ge=0, le=64)
    cache_near_colour_distance: float = Field(40.0, ge=0)

    # Security: JWT access and refresh tokens (HS256), revocation through a Redis deny-list.
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    jwt_issuer: str = "wastecoach"
    access_token_minutes: int = Field(180, gt=0)
    refresh_token_days: int = Field(30, gt=0)

    # Social login (auth-service and the oauth.verify task). reference/auth/providers.py appends
    # each endpoint's path to a base URL: oauth_<provider>_base_url for the token endpoint, and
    # for the authorize and profile endpoints too unless their own is set. The fake (the default,
    # harness.mocks.oauth_server) serves all three under one; the real providers split them
    # (cluster/overlays/ec2): Kakao's profile is on kapi.kakao.com, Naver's on
    # openapi.naver.com, Google's authorize page on accounts.google.com and its profile on
    # openidconnect.googleapis.com.
    oauth_kakao_base_url: str = "http://127.0.0.1:8082/kakao"
    oauth_naver_base_url: str = "http://127.0.0.1:8082/naver"
    oauth_google_base_url: str = "http://127.0.0.1:8082/google"
    # Empty means oauth_<provider>_base_url.
    oauth_kakao_authorize_base_url: str = ""
    oauth_naver_authorize_base_url: str = ""
    oauth_google_authorize_base_url: str = ""
    oauth_kakao_profile_base_url: str = ""
    oauth_naver_profile_base_url: str = ""
    oauth_google_profile_base_url: str = ""
    oauth_kakao_client_id: str = "wastecoach-dev-kakao"
    oauth_naver_client_id: str = "wastecoach-dev-naver"
    oauth_google_client_id: str = "wastecoach-dev-google"
    # Checked where they are used (auth-service, api worker), not at start-up: the other
    # services run in production without them.
    oauth_kakao_client_secret: SecretStr = SecretStr(DEV_SECRET)
    oauth_naver_client_secret: SecretStr = SecretStr(DEV_SECRET)
    oauth_google_client_secret: SecretStr = SecretStr(DEV_SECRET)
    # Where the app reaches this API: the providers redirect to
    # <oauth_redirect_base_url>/api/v1/auth/callback/<provider>.
    oauth_redirect_base_url: str = "http://127.0.0.1:8000"
    oauth_state_ttl_seconds: int = Field(600, ge=30, le=3600)
    # How long the callback waits for oauth.verify (q.api) before answering 504.
    oauth_verify_timeout_seconds: float = Field(10.0, gt=0)
    oauth_http_timeout_seconds: float = Field(5.0, gt=0)
    # Attempts at each provider call (first included) on 5xx, 429 and time-outs.
    oauth_attempts: int = Field(3, ge=1, le=10)
    oauth_backoff_initial_seconds: float = Field(0.2, ge=0)

    # Rate limits and quotas (reference/common/limits.py), in Redis, shared by all replicas.
    # Per user: analyses started per minute, jobs queued for the model per UTC day (each is at
    # most one paid GPT-4o call), event streams open at once. Per client address: social logins
    # started per minute (each writes a state to Redis before anyone is authenticated).
    limit_scans_per_minute: int = Field(30, ge=1)
    limit_model_calls_per_day: int = Field(300, ge=1)
    limit_event_streams: int = Field(3, ge=1)
    limit_logins_per_minute: int = Field(20, ge=1)

    # Workers expose Prometheus metrics on this port (0 disables the listener, unless a port
    # file is given: then the kernel picks the port and the worker writes it to that file, as
    # the local stack starts its workers).
    worker_metrics_port: int = Field(0, ge=0, le=65535)
    worker_metrics_port_file: str | None = None

    # AI tasks (q.ai): retries after a transient error (Redis, PostgreSQL or S3 unavailable),
    # with exponential backoff from the first delay up to the cap, before the job is failed
    # with its reason and the message dead-lettered to q.dlq. The defaults ride out 35 s of a
    # dependency being down (1+2+4+8+10+10), a server restart with room to spare, and end within
    # the harness's 60 s drain. (Model errors are retried by the classifier.)
    ai_max_retries: int = Field(6, ge=0, le=20)
    ai_retry_backoff_seconds: float = Field(1.0, ge=0)
    ai_retry_backoff_max_seconds: float = Field(10.0, ge=0)
    # Publishing a task waits at most this long for the broker's confirm (then it is an error:
    # 503 broker_unavailable to the client, or a retried task dead-lettered).
    publish_timeout_seconds: float = Field(5.0, gt=0)

    # Batch and scheduled tasks (q.batch, q.sched): attempts after the first run, with
    # exponential backoff from this delay, before the message is dead-lettered to q.dlq.
    batch_max_retries: int = Field(3, ge=0, le=10)
    batch_retry_backoff_seconds: float = Field(5.0, ge=0)
    # Load simulation only: extra work added to every q.batch task (analytics.daily,
    # report.generate) so a harness can flood q.batch with tasks that last as long as in
    # production (30-120 s). "cpu" burns that much CPU time on one core (longer on a contended
    # node), "sleep" waits. 0 (the default) adds nothing.
    batch_extra_work_seconds: float = Field(0.0, ge=0, le=3600)
    batch_extra_work_kind: Literal["cpu", "sleep"] = "cpu"
    # Where reports and database backups go; empty means s3_bucket. Production keeps backups
    # in their own bucket (other lifecycle and access rules than the photos).
    s3_reports_bucket: str = ""
    s3_backups_bucket: str = ""
    # The pg_dump binary for backup.database (its major version must be at least the server's).
    pg_dump_path: str = "pg_dump"
    backup_timeout_seconds: float = Field(3600.0, gt=0)
    # stats.aggregate first computes any of the last N days that analytics.daily has not.
    stats_backfill_days: int = Field(7, ge=0, le=366)
    # Workers sample the queue depths (and the DLQ gauge) this often while metrics are served.
    queue_sample_seconds: float = Field(15.0, gt=0)
    # Tests only: > 0 replaces every beat crontab with this interval, so beat can be run for
    # real in a test without waiting for 02:00.
    beat_every_seconds: float = Field(0.0, ge=0)

    # Kakao Local API (map.search on q.api), or the fake in harness/mocks in development.
    # The fake on its standard port; production sets https://dapi.kakao.com.
    kakao_base_url: str = "http://127.0.0.1:8081"
    kakao_rest_key: SecretStr = SecretStr(DEV_SECRET)
    # One call's timeout, and attempts (first call included) on 5xx, 429 and time-outs.
    kakao_timeout_seconds: float = Field(2.0, gt=0)
    kakao_attempts: int = Field(3, ge=1, le=10)
    kakao_backoff_initial_seconds: float = Field(0.2, ge=0)
    kakao_backoff_max_seconds: float = Field(1.0, ge=0)
    # How long GET /locations/search waits for map.search (then 504 map_timeout), and how long
    # an answer is cached in Redis.
    map_search_wait_seconds: float = Field(10.0, gt=0, le=300)
    map_search_cache_seconds: int = Field(600, ge=0)

    @field_validator("s3_endpoint_url")
    @classmethod
    def _empty_is_aws(cls, value: str | None) -> str | None:
        return value or None

    @property
    def development(self) -> bool:
        """True only where development was chosen explicitly: the development secret, dev-login
        and cookies without ``Secure`` are allowed there and nowhere else."""
        return self.environment == "development"

    @model_validator(mode="before")
    @classmethod
    def _environment_is_explicit(cls, data: object) -> object:
        if isinstance(data, dict) and "environment" not in data:
            raise ValueError(
                "WASTECOACH_ENVIRONMENT must be set: development (local stack, tests; the "
                "development secret and dev-login) or production (everything else)"
            )
        return data

    @model_validator(mode="after")
    def _pending_photos_outlive_their_uploads(self) -> Settings:
        # S3 would delete the photo of an upload the app may still complete.
        if self.upload_pending_expire_days * 86400 <= self.upload_abandon_seconds:
            days, seconds = self.upload_pending_expire_days, self.upload_abandon_seconds
            raise ValueError(
                f"WASTECOACH_UPLOAD_PENDING_EXPIRE_DAYS ({days} d) must be longer than "
                f"WASTECOACH_UPLOAD_ABANDON_SECONDS ({seconds} s)"
            )
        return self

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> Settings:
        if not self.development:
            for name in ("jwt_secret", "openai_api_key"):
                if getattr(self, name).get_secret_value() == DEV_SECRET:
                    raise ValueError(
                        f"WASTECOACH_{name.upper()} must be set outside development "
                        f"(WASTECOACH_ENVIRONMENT={self.environment})"
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
