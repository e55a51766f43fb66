"""Redirecting the app's uploads (harness.app.client.RewriteUploads) and reading FROM=TO options."""

from __future__ import annotations

import httpx
import pytest

from harness.app.client import RewriteUploads, WasteClient, parse_upload_rewrites

IN_CLUSTER = "s3.fakes.svc.cluster.local:5000"


def sent_through(
    rewrites: dict[str, str], *urls: str
) -> list[tuple[httpx.Request, dict[str, object]]]:
    seen: list[tuple[httpx.Request, dict[str, object]]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append((request, dict(request.extensions)))
        return httpx.Response(200)

    with httpx.Client(transport=RewriteUploads(rewrites, httpx.MockTransport(record))) as client:
        for url in urls:
            client.put(url, content=b"x")
    return seen


def test_only_the_named_address_moves_and_keeps_its_host_header() -> None:
    seen = sent_through(
        {IN_CLUSTER: "127.0.0.1:30500"},
        f"http://{IN_CLUSTER}/bucket/a.jpg?X-Amz-Signature=ab",
        "http://s3.fakes.svc.cluster.local:5001/bucket/b.jpg",
        "http://127.0.0.1:30080/healthz",
    )
    (moved, _), (other_port, _), (untouched, _) = seen
    assert str(moved.url) == "http://127.0.0.1:30500/bucket/a.jpg?X-Amz-Signature=ab"
    assert moved.headers["Host"] == IN_CLUSTER
    assert other_port.url.port == 5001 and other_port.url.host.startswith("s3.")
    assert str(untouched.url) == "http://127.0.0.1:30080/healthz"


def test_a_default_port_matches_written_or_not_and_ipv6_targets_work() -> None:
    seen = sent_through(
        {"s3.internal": "[::1]:9000", "store.internal:443": "127.0.0.1:8443"},
        "http://s3.internal/k",
        "http://s3.internal:80/k",
        "https://store.internal/k",
    )
    assert [str(request.url) for request, _ in seen] == [
        "http://[::1]:9000/k",
        "http://[::1]:9000/k",
        "https://127.0.0.1:8443/k",
    ]
    assert [request.headers["Host"] for request, _ in seen] == [
        "s3.internal",
        "s3.internal",
        "store.internal",
    ]
    # Over TLS the certificate is checked against the original name, not 127.0.0.1.
    assert seen[2][1]["sni_hostname"] == "store.internal"
    assert "sni_hostname" not in seen[0][1]


def test_a_waste_client_with_rewrites_sends_its_uploads_through_them() -> None:
    with WasteClient("http://api.test", upload_rewrites={IN_CLUSTER: "127.0.0.1:1"}) as client:
        transport = client.uploads._transport
        assert isinstance(transport, RewriteUploads)
        assert transport.rewrites == {IN_CLUSTER: "127.0.0.1:1"}
    with WasteClient("http://api.test") as plain:
        assert not isinstance(plain.uploads._transport, RewriteUploads)


def test_rewrite_options_are_read_as_a_mapping() -> None:
    assert parse_upload_rewrites(
        [
            f"{IN_CLUSTER}=127.0.0.1:30500",
            " s3.other = [::1]:9000 ",
            f"{IN_CLUSTER}=127.0.0.1:30500",
        ]
    ) == {IN_CLUSTER: "127.0.0.1:30500", "s3.other": "[::1]:9000"}
    assert parse_upload_rewrites([]) == {}


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ("s3.internal:5000", "is not FROM=TO"),
        ("=127.0.0.1:1", "is not FROM=TO"),
        ("s3.internal:5000=", "is not FROM=TO"),
        ("http://s3.internal:5000=127.0.0.1:1", r"is not host\[:port\]"),
        ("s3.internal:5000=127.0.0.1:1/path", r"is not host\[:port\]"),
        ("s3.internal:5000=127.0.0.1:port", "Invalid port"),
        ("s3.internal:5000=127.0.0.1:70000", "outside 1-65535"),
        ("s3.internal:5000=a=b", r"is not host\[:port\]"),
    ],
)
def test_a_bad_rewrite_option_names_the_item(item: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        parse_upload_rewrites([item])
    assert repr(item) in str(caught.value) and "\n" not in str(caught.value)


def test_one_address_sent_to_two_places_is_refused() -> None:
    with pytest.raises(ValueError, match=r"sent to both 127\.0\.0\.1:1 and 127\.0\.0\.1:2"):
        parse_upload_rewrites(["s3.internal=127.0.0.1:1", "s3.internal=127.0.0.1:2"])
