"""S3 object storage: pre-signed uploads, checks of what arrived, downloads.

Uploads are bounded where they are written and where they are read: the app uploads with a
pre-signed POST whose policy S3 enforces (``content-length-range`` up to ``upload_max_bytes``,
the exact key and ``Content-Type``); upload-complete records the object's size and ETag; the
worker downloads only that object (``If-Match``), reads at most the limit, and refuses an object
that changed since it was checked.

Every photo carries its upload's state as the tag :data:`UPLOAD_TAG`: S3 sets it to ``pending``
as it stores a POSTed photo (the policy's ``tagging`` field, which the policy pins, so an upload
without it is refused), and upload-complete sets it to ``checked`` once the photo passed its
checks. The bucket's lifecycle rule (:mod:`reference.common.bucket`) expires pending photos:
those of abandoned and rejected uploads, and a photo POSTed again over a checked one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from reference.common.settings import Settings

# The tag holding a photo's upload state, and its two values.
UPLOAD_TAG = "wastecoach-upload"
PENDING = "pending"
CHECKED = "checked"


@dataclass(frozen=True)
class PresignedUpload:
    """A browser-style POST: send ``fields`` then the file (last, named ``file``) as
    multipart/form-data to ``url``."""

    url: str
    fields: dict[str, str]
    expires_in: int


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str | None
    etag: str


class ObjectChanged(Exception):
    """The object is not the one upload-complete checked (replaced, or over the limit)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


_MISSING = ("404", "NoSuchKey", "NotFound")
_PRECONDITION = ("412", "PreconditionFailed")


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


def tagging_xml(value: str) -> str:
    """The XML Tagging document that sets :data:`UPLOAD_TAG` to ``value`` (a POST's ``tagging``
    field)."""
    tag = f"<Tag><Key>{UPLOAD_TAG}</Key><Value>{value}</Value></Tag>"
    return f"<Tagging><TagSet>{tag}</TagSet></Tagging>"


def presign_post(settings: Settings, key: str, content_type: str) -> PresignedUpload:
    """A pre-signed POST whose policy allows this key only, this Content-Type only, and 1 to
    ``upload_max_bytes`` bytes; S3 refuses anything else before storing a byte of it. The photo
    is stored tagged pending (the ``tagging`` field, which the policy requires unchanged)."""
    fields = {"Content-Type": content_type, "tagging": tagging_xml(PENDING)}
    conditions: list[Any] = [
        ["content-length-range", 1, settings.upload_max_bytes],
        {"Content-Type": content_type},
        {"tagging": fields["tagging"]},
    ]
    post = s3_client(settings).generate_presigned_post(
        settings.s3_bucket,
        key,
        Fields=fields,
        Conditions=conditions,
        ExpiresIn=settings.presign_expiry_seconds,
    )
    return PresignedUpload(post["url"], dict(post["fields"]), settings.presign_expiry_seconds)


def mark_checked(settings: Settings, key: str) -> None:
    """Tag the object as checked: the lifecycle rule no longer expires it (the ETag stays)."""
    s3_client(settings).put_object_tagging(
        Bucket=settings.s3_bucket,
        Key=key,
        Tagging={"TagSet": [{"Key": UPLOAD_TAG, "Value": CHECKED}]},
    )


def head(settings: Settings, key: str) -> ObjectInfo | None:
    try:
        answer = s3_client(settings).head_object(Bucket=settings.s3_bucket, Key=key)
    except ClientError as exc:
        if _error_code(exc) in _MISSING:
            return None
        raise
    return ObjectInfo(int(answer["ContentLength"]), answer.get("ContentType"), answer["ETag"])


def read_prefix(settings: Settings, key: str, *, length: int, etag: str) -> bytes:
    """The object's first ``length`` bytes, provided it is still the object with ``etag``."""
    try:
        answer = s3_client(settings).get_object(
            Bucket=settings.s3_bucket, Key=key, Range=f"bytes=0-{length - 1}", IfMatch=etag
        )
    except ClientError as exc:
        if _error_code(exc) in _PRECONDITION + _MISSING:
            raise ObjectChanged(
                "upload_changed", "the upload changed while it was checked"
            ) from None
        raise
    return answer["Body"].read(length)


def download(settings: Settings, key: str, *, checked: ObjectInfo, max_bytes: int) -> bytes | None:
    """The bytes of the object upload-complete checked (``checked``: its size and ETag); None
    when it is gone. Never reads more than ``max_bytes``; raises :class:`ObjectChanged` when the
    object was replaced since (another ETag or size) or is over the limit."""
    try:
        answer = s3_client(settings).get_object(
            Bucket=settings.s3_bucket, Key=key, IfMatch=checked.etag
        )
    except ClientError as exc:
        if _error_code(exc) in _MISSING:
            return None
        if _error_code(exc) in _PRECONDITION:
            raise ObjectChanged(
                "image_changed", f"object {key} was replaced after upload-complete checked it"
            ) from None
        raise
    body = answer["Body"]
    try:
        length = int(answer["ContentLength"])
        if length > max_bytes:
            raise ObjectChanged(
                "image_too_large", f"object {key} is {length} bytes, over the {max_bytes} limit"
            )
        # At most one byte over the limit, whatever the length header said.
        data: bytes = body.read(max_bytes + 1)
    finally:
        body.close()
    if len(data) > max_bytes:
        raise ObjectChanged("image_too_large", f"object {key} is over the {max_bytes} limit")
    if len(data) != checked.size or answer.get("ETag", checked.etag) != checked.etag:
        raise ObjectChanged(
            "image_changed",
            f"object {key} is {len(data)} bytes, {checked.size} were checked at upload-complete",
        )
    return data


def delete_objects(settings: Settings, keys: list[str]) -> None:
    """Delete these objects of the bucket (missing ones are no error), 1000 per request."""
    client = s3_client(settings)
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        answer = client.delete_objects(
            Bucket=settings.s3_bucket, Delete={"Objects": batch, "Quiet": True}
        )
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise RuntimeError(f"S3 refused to delete {first.get('Key')}: {first.get('Code')}")
