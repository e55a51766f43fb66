"""The photo bucket's setup: its lifecycle rule, which expires the photos still tagged pending.

A photo is stored tagged pending, then tagged checked by upload-complete
(:mod:`reference.common.storage`); :func:`pending_rule` expires the pending ones
``upload_pending_expire_days`` after they were stored. This module is the rule's one
definition: the cluster applies it at each sync (``python -m reference.common.bucket``, the Job
``wastecoach-bucket``; the bucket must exist), the local stack and the tests as they create
their bucket (:func:`ensure`).

:func:`apply_lifecycle` is idempotent and keeps the bucket's other rules: S3 replaces a bucket's
whole lifecycle configuration at once, so the rule is put beside the others, by its ID.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from reference.common import storage
from reference.common.settings import Settings, get_settings

RULE_ID = "wastecoach-expire-pending-uploads"


def pending_rule(settings: Settings) -> dict[str, Any]:
    """The lifecycle rule, as S3's API takes and answers it."""
    return {
        "ID": RULE_ID,
        "Status": "Enabled",
        "Filter": {"Tag": {"Key": storage.UPLOAD_TAG, "Value": storage.PENDING}},
        "Expiration": {"Days": settings.upload_pending_expire_days},
    }


def lifecycle_rules(settings: Settings) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules (none when it has no lifecycle configuration)."""
    try:
        answer = storage.s3_client(settings).get_bucket_lifecycle_configuration(
            Bucket=settings.s3_bucket
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise
    return list(answer["Rules"])


def apply_lifecycle(settings: Settings) -> bool:
    """Make :func:`pending_rule` one of the bucket's lifecycle rules; the bucket's other rules
    stay. Returns whether the configuration changed."""
    current = lifecycle_rules(settings)
    rule = pending_rule(settings)
    if rule in current:
        return False
    others = [other for other in current if other.get("ID") != RULE_ID]
    storage.s3_client(settings).put_bucket_lifecycle_configuration(
        Bucket=settings.s3_bucket, LifecycleConfiguration={"Rules": [*others, rule]}
    )
    return True


def ensure(settings: Settings) -> None:
    """Create the bucket unless it exists (idempotent, also when two callers race) and apply
    the lifecycle rule: the local stack's and the tests' bucket."""
    try:
        storage.s3_client(settings).create_bucket(
            Bucket=settings.s3_bucket,
            CreateBucketConfiguration={"LocationConstraint": settings.s3_region},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
    apply_lifecycle(settings)


def main(argv: list[str] | None = None) -> None:
    """Apply the lifecycle rule to the configured bucket; one line says what was done."""
    argparse.ArgumentParser(
        prog="python -m reference.common.bucket",
        description="Apply the photo bucket's lifecycle rule (idempotent; the bucket must exist).",
    ).parse_args(argv)
    settings = get_settings()
    try:
        changed = apply_lifecycle(settings)
    except (BotoCoreError, ClientError) as exc:
        sys.exit(f"error: could not apply the lifecycle rule to bucket {settings.s3_bucket}: {exc}")
    done = "applied" if changed else "already in place"
    days = settings.upload_pending_expire_days
    print(f"bucket {settings.s3_bucket}: {RULE_ID} ({days} d) {done}")


if __name__ == "__main__":
    main()
