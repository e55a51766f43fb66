"""moto's S3 as a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from harness.mocks import catalog
from harness.mocks.s3_server import REGION, MotoS3
from harness.stack.processes import free_port
from harness.stack.waits import wait_for

BUCKET = "wastecoach-test-images"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with MotoS3() as server:
        yield server


@pytest.fixture
def s3(moto: MotoS3) -> MotoS3:
    """The shared server, emptied, with the test bucket."""
    moto.reset()
    moto.create_bucket(BUCKET)
    return moto


def presigned_put(s3: MotoS3, key: str, content_type: str = "image/jpeg") -> str:
    return s3.client().generate_presigned_url(
        "put_object",
        Params={"Bucket": BUCKET, "Key": key, "ContentType": content_type},
        ExpiresIn=300,
    )


def test_a_presigned_put_stores_the_object(s3: MotoS3) -> None:
    photo = catalog.render(catalog.get("snack_bag"))
    url = presigned_put(s3, "uploads/job-1.jpg")
    assert url.startswith(s3.url())
    response = httpx.put(url, content=photo, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200
    stored = s3.client().get_object(Bucket=BUCKET, Key="uploads/job-1.jpg")
    assert stored["ContentType"] == "image/jpeg"
    assert stored["Body"].read() == photo


def test_the_client_puts_and_lists_objects_in_the_region(s3: MotoS3) -> None:
    client = s3.client()
    client.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"jpeg bytes")
    listed = client.list_objects_v2(Bucket=BUCKET)
    assert [entry["Key"] for entry in listed["Contents"]] == ["a.jpg"]
    assert client.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == REGION


TAGGING = "<Tagging><TagSet><Tag><Key>state</Key><Value>new</Value></Tag></TagSet></Tagging>"


def test_a_presigned_post_tags_the_object_with_its_tagging_field(s3: MotoS3) -> None:
    """moto ignores a POST's ``tagging`` field; the fake applies it, as AWS does."""
    client = s3.client()
    tagged = client.generate_presigned_post(
        BUCKET, "tagged.jpg", Fields={"tagging": TAGGING}, Conditions=[{"tagging": TAGGING}]
    )
    plain = client.generate_presigned_post(BUCKET, "plain.jpg")
    for post in (tagged, plain):
        answer = httpx.post(post["url"], data=post["fields"], files={"file": ("f", b"jpeg")})
        assert answer.status_code == 204, answer.text
    assert client.get_object_tagging(Bucket=BUCKET, Key="tagged.jpg")["TagSet"] == [
        {"Key": "state", "Value": "new"}
    ]
    assert client.get_object_tagging(Bucket=BUCKET, Key="plain.jpg")["TagSet"] == []
    assert client.get_object(Bucket=BUCKET, Key="tagged.jpg")["Body"].read() == b"jpeg"


def test_create_bucket_twice_is_fine(s3: MotoS3) -> None:
    s3.create_bucket(BUCKET)
    names = [bucket["Name"] for bucket in s3.client().list_buckets()["Buckets"]]
    assert names == [BUCKET]


def test_moto_does_not_verify_presigned_signatures(s3: MotoS3) -> None:
    """A known limit of the fake: the service must check uploads itself (size, type)."""
    url = urlsplit(presigned_put(s3, "forged.jpg"))
    query = dict(parse_qsl(url.query))
    query["X-Amz-Signature"] = "0" * 64
    forged = urlunsplit(url._replace(query=urlencode(query)))
    response = httpx.put(forged, content=b"x", headers={"Content-Type": "image/jpeg"})
    # Real S3 would answer 403 SignatureDoesNotMatch. If this starts failing, moto has begun
    # checking signatures and the harness docs can say so.
    assert response.status_code == 200


def test_stop_takes_the_server_down() -> None:
    server = MotoS3().start()
    url = server.url()
    assert httpx.get(f"{url}/").status_code == 200
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/", timeout=2)
    server.stop()  # stopping twice is harmless


def test_a_failed_start_raises_with_the_server_log() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MotoS3(port=taken.getsockname()[1], startup_timeout=30)
        with pytest.raises(RuntimeError, match="in use"):
            server.start()


def test_python_dash_m_serves_s3_with_the_bucket(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "moto.log").open("wb")
    command = [
        sys.executable, "-m", "harness.mocks.s3_server", "--port", str(port), "--bucket", BUCKET,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    client = MotoS3(port=port).client()
    try:
        wait_for(
            lambda: BUCKET in [b["Name"] for b in client.list_buckets()["Buckets"]],
            timeout=30,
            describe="python -m harness.mocks.s3_server with its bucket",
            abort=lambda: None if process.poll() is None else "it exited",
        )
    finally:
        process.terminate()
        exit_code = process.wait(timeout=15)
        log.close()
    # SIGTERM is the ordinary way to stop it: a clean exit, moto's child stopped with it.
    assert exit_code == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
