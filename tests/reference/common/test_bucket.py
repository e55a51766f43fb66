"""The photo bucket's lifecycle rule, applied to moto's S3 (which stores the configuration but
expires nothing: that the rule deletes pending photos is AWS's part, not tested here)."""

from __future__ import annotations

import uuid

import pytest

from reference.common import bucket, storage
from reference.common.settings import Settings

OTHER_RULE = {
    "ID": "archive-reports",
    "Status": "Enabled",
    "Filter": {"Prefix": "reports/"},
    "Expiration": {"Days": 400},
}


@pytest.fixture
def settings(moto_url: str) -> Settings:
    """A bucket of its own, not yet created."""
    return Settings(s3_endpoint_url=moto_url, s3_bucket=f"wc-lifecycle-{uuid.uuid4().hex[:12]}")


def test_the_rule_expires_photos_tagged_pending(settings: Settings) -> None:
    assert bucket.pending_rule(settings) == {
        "ID": bucket.RULE_ID,
        "Status": "Enabled",
        "Filter": {"Tag": {"Key": "wastecoach-upload", "Value": "pending"}},
        "Expiration": {"Days": 1},
    }
    # The tag is the one the pre-signed POST sets.
    assert storage.tagging_xml(storage.PENDING) == (
        "<Tagging><TagSet><Tag><Key>wastecoach-upload</Key><Value>pending</Value></Tag>"
        "</TagSet></Tagging>"
    )


def test_ensure_creates_the_bucket_with_the_rule_and_is_idempotent(settings: Settings) -> None:
    bucket.ensure(settings)
    assert bucket.lifecycle_rules(settings) == [bucket.pending_rule(settings)]
    bucket.ensure(settings)
    assert bucket.lifecycle_rules(settings) == [bucket.pending_rule(settings)]
    assert bucket.apply_lifecycle(settings) is False


def test_applying_keeps_the_other_rules_and_replaces_an_older_version(settings: Settings) -> None:
    bucket.ensure(settings)
    client = storage.s3_client(settings)
    older = bucket.pending_rule(settings) | {"Expiration": {"Days": 7}}
    client.put_bucket_lifecycle_configuration(
        Bucket=settings.s3_bucket, LifecycleConfiguration={"Rules": [OTHER_RULE, older]}
    )
    assert bucket.apply_lifecycle(settings) is True
    assert bucket.lifecycle_rules(settings) == [OTHER_RULE, bucket.pending_rule(settings)]
    assert bucket.apply_lifecycle(settings) is False


def test_the_command_applies_the_rule_and_says_so(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket.ensure(settings)
    storage.s3_client(settings).delete_bucket_lifecycle(Bucket=settings.s3_bucket)
    monkeypatch.setattr(bucket, "get_settings", lambda: settings)
    bucket.main([])
    bucket.main([])
    first, again = capsys.readouterr().out.splitlines()
    assert first.endswith(f"{bucket.RULE_ID} (1 d) applied")
    assert again.endswith("already in place")
    assert bucket.lifecycle_rules(settings) == [bucket.pending_rule(settings)]


def test_the_command_fails_in_one_line_when_the_bucket_is_missing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cluster's bucket is created out of band: the Job does not create one.
    monkeypatch.setattr(bucket, "get_settings", lambda: settings)
    with pytest.raises(SystemExit) as exited:
        bucket.main([])
    message = str(exited.value.code)
    assert message.startswith(
        f"error: could not apply the lifecycle rule to bucket {settings.s3_bucket}"
    )
    assert "NoSuchBucket" in message and "\n" not in message
