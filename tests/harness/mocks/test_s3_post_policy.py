"""The fake's POST policy rules (what AWS enforces and moto does not), on policies boto signs."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from botocore.config import Config

from harness.mocks.s3_post_policy import PolicyRefused, check, signature
from harness.mocks.s3_server import ACCESS_KEY, REGION, SECRET_KEY

BUCKET = "wastecoach-images"
KEY = "uploads/a.jpeg"


def presigned(expires: int = 60, max_bytes: int = 100) -> dict[str, str]:
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:1",
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    post: dict[str, Any] = s3.generate_presigned_post(
        BUCKET,
        KEY,
        Fields={"Content-Type": "image/jpeg"},
        Conditions=[["content-length-range", 1, max_bytes], {"Content-Type": "image/jpeg"}],
        ExpiresIn=expires,
    )
    return {name.lower(): value for name, value in post["fields"].items()}


def run(fields: dict[str, str], size: int, bucket: str = BUCKET) -> None:
    check(fields["policy"], fields, file_size=size, bucket=bucket, secret_key=SECRET_KEY)


def test_an_honest_upload_at_the_limit_passes() -> None:
    run(presigned(), 100)
    run(presigned(), 1)


@pytest.mark.parametrize(
    ("change", "size", "code"),
    [
        ({}, 101, "EntityTooLarge"),
        ({}, 0, "EntityTooSmall"),
        ({"content-type": "text/html"}, 10, "AccessDenied"),
        ({"key": "uploads/other.jpeg"}, 10, "AccessDenied"),
        ({"x-amz-meta-extra": "1"}, 10, "AccessDenied"),  # a field the policy does not name
        ({"x-amz-signature": "0" * 64}, 10, "SignatureDoesNotMatch"),
    ],
)
def test_what_aws_refuses_the_fake_refuses(change: dict[str, str], size: int, code: str) -> None:
    with pytest.raises(PolicyRefused) as refused:
        run(presigned() | change, size)
    assert refused.value.code == code


def test_another_bucket_and_an_expired_policy_are_refused() -> None:
    with pytest.raises(PolicyRefused, match="bucket"):
        run(presigned(), 10, bucket="someone-elses")
    fields = presigned()
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["expiration"] = "2000-01-01T00:00:00Z"
    fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    # Re-signed with the right key, so only the expiry is wrong.
    fields["x-amz-signature"] = signature(SECRET_KEY, fields["policy"], fields["x-amz-credential"])
    with pytest.raises(PolicyRefused, match="expired"):
        run(fields, 10)
