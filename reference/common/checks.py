"""Readiness checks of the storage tier and S3, shared by every service's ``/readyz``."""

from __future__ import annotations

from kombu import Connection

from reference.common import db, storage
from reference.common.app import ReadinessCheck
from reference.common.cache import get_redis
from reference.common.settings import Settings


def _postgres(settings: Settings) -> None:
    db.ping(settings.database_url)


def _redis(settings: Settings) -> None:
    get_redis(settings.redis_url).ping()


def _rabbitmq(settings: Settings) -> None:
    with Connection(settings.broker_url, connect_timeout=3) as conn:
        conn.ensure_connection(max_retries=1)


def _s3(settings: Settings) -> None:
    storage.s3_client(settings).head_bucket(Bucket=settings.s3_bucket)


POSTGRES = ReadinessCheck("postgres", _postgres)
REDIS = ReadinessCheck("redis", _redis)
RABBITMQ = ReadinessCheck("rabbitmq", _rabbitmq)
S3 = ReadinessCheck("s3", _s3)
