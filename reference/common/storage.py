"""S3 object storage: pre-signed uploads, checks of what arrived, downloads."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from reference.common.settings import Settings


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    method: str
    headers: dict[str, str]
    expires_in: int


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str | None


@lru_cache(maxsize=8)
def _client(endpoint: str | None, region: str, key_id: str, secret: str) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=50,
            s3={"addressing_style": "path"},
        ),
    )


def s3_client(settings: Settings) -> BaseClient:
    return _client(
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.aws_access_key_id,
        settings.aws_secret_access_key.get_secret_value(),
    )


def presign_put(settings: Settings, key: str, content_type: str) -> PresignedUpload:
    """A pre-signed PUT; the Content-Type is part of the signature, so the app must send it."""
    url = s3_client(settings).generate_presigned_url(
        "put_object",
        Params={"Bucket": settings.s3_bucket, "Key": key, "ContentType": content_type},
        ExpiresIn=settings.presign_expiry_seconds,
        HttpMethod="PUT",
    )
    return PresignedUpload(
        url, "PUT", {"Content-Type": content_type}, settings.presign_expiry_seconds
    )


def head(settings: Settings, key: str) -> ObjectInfo | None:
    try:
        answer = s3_client(settings).head_object(Bucket=settings.s3_bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return ObjectInfo(int(answer["ContentLength"]), answer.get("ContentType"))


def read_prefix(settings: Settings, key: str, length: int = 64) -> bytes:
    answer = s3_client(settings).get_object(
        Bucket=settings.s3_bucket, Key=key, Range=f"bytes=0-{length - 1}"
    )
    return answer["Body"].read()


def download(settings: Settings, key: str) -> bytes | None:
    try:
        answer = s3_client(settings).get_object(Bucket=settings.s3_bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return answer["Body"].read()


def ensure_bucket(settings: Settings) -> None:
    """Create the bucket unless it exists (idempotent, also when two callers race)."""
    try:
        s3_client(settings).create_bucket(
            Bucket=settings.s3_bucket,
            CreateBucketConfiguration={"LocationConstraint": settings.s3_region},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
