"""A photo's upload state as its S3 tag: pending as the pre-signed POST stores it, checked once
upload-complete accepted it, pending still when upload-complete refused it (the bucket's lifecycle
rule, reference.common.bucket, expires pending photos; moto expires nothing, so that part is
AWS's). The POST's ``tagging`` field and its policy condition are enforced by the fake's policy
check (harness.mocks.s3_post_policy), as by AWS; moto alone would store the photo untagged."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from botocore.exceptions import EndpointConnectionError
from fastapi.testclient import TestClient

from reference.common import storage
from reference.common.settings import Settings
from tests.factories import photo
from tests.reference.waste.conftest import put_photo

pytestmark = pytest.mark.integration


def start(client: TestClient) -> dict:
    answer = client.post("/api/v1/waste/analyze", json={"content_type": "image/jpeg"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def upload_state(settings: Settings, job: dict) -> str | None:
    key = job["upload"]["fields"]["key"]
    tags = storage.s3_client(settings).get_object_tagging(Bucket=settings.s3_bucket, Key=key)
    return {tag["Key"]: tag["Value"] for tag in tags["TagSet"]}.get(storage.UPLOAD_TAG)


def etag(settings: Settings, job: dict) -> str:
    info = storage.head(settings, job["upload"]["fields"]["key"])
    assert info is not None
    return info.etag


def complete(client: TestClient, job: dict) -> int:
    return client.post(f"/api/v1/waste/upload-complete/{job['job_id']}").status_code


def test_the_policy_pins_the_pending_tag(client: TestClient) -> None:
    fields = start(client)["upload"]["fields"]
    assert fields["tagging"] == storage.tagging_xml(storage.PENDING)
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"tagging": fields["tagging"]} in policy["conditions"]


def test_a_checked_photo_is_tagged_checked_and_keeps_its_etag(
    client: TestClient, settings: Settings
) -> None:
    job = start(client)
    assert put_photo(job, photo()).status_code == 204
    assert upload_state(settings, job) == storage.PENDING
    stored = etag(settings, job)
    assert complete(client, job) == 202
    assert upload_state(settings, job) == storage.CHECKED
    # The worker downloads If-Match the ETag upload-complete recorded: tagging leaves it.
    assert etag(settings, job) == stored


def test_a_refused_upload_stays_pending(client: TestClient, settings: Settings) -> None:
    job = start(client)
    assert put_photo(job, b"%PDF-1.7 not an image at all").status_code == 204
    assert complete(client, job) == 415
    assert upload_state(settings, job) == storage.PENDING


def test_a_photo_posted_again_after_upload_complete_is_pending_again(
    client: TestClient, settings: Settings
) -> None:
    job = start(client)
    put_photo(job, photo())
    assert complete(client, job) == 202
    assert put_photo(job, photo("tuna_can")).status_code == 204  # the POST is valid for 900 s
    assert upload_state(settings, job) == storage.PENDING  # expires; the worker refuses it


@pytest.mark.parametrize(
    "tagging",
    [None, storage.tagging_xml(storage.CHECKED), ""],
    ids=["omitted", "checked", "empty"],
)
def test_a_post_without_the_pending_tag_is_refused(
    client: TestClient, settings: Settings, tagging: str | None
) -> None:
    job = start(client)
    fields = dict(job["upload"]["fields"])
    if tagging is None:
        del fields["tagging"]
    else:
        fields["tagging"] = tagging
    refused = httpx.post(job["upload"]["url"], data=fields, files={"file": ("photo", photo())})
    assert refused.status_code == 403 and "AccessDenied" in refused.text
    assert storage.head(settings, job["upload"]["fields"]["key"]) is None


def test_s3_down_at_the_tagging_keeps_the_job_waiting(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(settings: Settings, key: str) -> None:
        raise EndpointConnectionError(endpoint_url=settings.s3_endpoint_url)

    job = start(client)
    put_photo(job, photo())
    monkeypatch.setattr(storage, "mark_checked", unreachable)
    answer = client.post(f"/api/v1/waste/upload-complete/{job['job_id']}")
    assert answer.status_code == 503 and answer.json()["code"] == "storage_unavailable"
    assert client.get(f"/api/v1/waste/status/{job['job_id']}").json()["status"] == "awaiting_upload"
    assert upload_state(settings, job) == storage.PENDING
    monkeypatch.undo()
    assert complete(client, job) == 202
    assert upload_state(settings, job) == storage.CHECKED
