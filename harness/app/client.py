"""The mobile app's image-analysis flow as a client: analyze, POST to S3, upload-complete,
then follow the job (polling status like the seed's app, or the event stream).

Pre-signed upload URLs name S3 as the API reaches it; from elsewhere (the host of a kind
cluster) that name may not resolve. :class:`RewriteUploads` sends those requests to an address
that reaches the same server, the way ``curl --connect-to`` does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

FollowMode = Literal["poll", "stream"]
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NOT_IN_NETLOC = frozenset("/?#@=\\ \t\n")


def parse_netloc(text: str) -> tuple[str, int | None]:
    """``host[:port]`` (IPv6 in brackets) -> (lower-case host, port or None); ValueError if not."""
    if not text or _NOT_IN_NETLOC & set(text):
        raise ValueError(f"{text!r} is not host[:port]")
    try:
        # A scheme without a default port, so that an explicit :80 or :443 is kept.
        url = httpx.URL(f"tcp://{text}")
    except httpx.InvalidURL as exc:
        raise ValueError(f"{text!r} is not host[:port] ({exc})") from None
    if not url.host:
        raise ValueError(f"{text!r} has no host")
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError(f"{text!r} has a port outside 1-65535")
    return url.host, url.port


def parse_upload_rewrites(items: Iterable[str]) -> dict[str, str]:
    """``FROM=TO`` items (each ``host[:port]``) as the mapping :class:`RewriteUploads` takes.

    Raises ValueError naming the first bad item: no ``=``, a side that is not ``host[:port]``,
    or the same FROM sent to two places.
    """
    rewrites: dict[str, str] = {}
    for item in items:
        source, sep, target = (part.strip() for part in item.partition("="))
        if not sep or not source or not target:
            raise ValueError(f"{item!r} is not FROM=TO (e.g. s3.internal:5000=127.0.0.1:30500)")
        try:
            parse_netloc(source)
            parse_netloc(target)
        except ValueError as exc:
            raise ValueError(f"{item!r}: {exc}") from None
        if rewrites.get(source, target) != target:
            raise ValueError(f"{source} is sent to both {rewrites[source]} and {target}")
        rewrites[source] = target
    return rewrites


class RewriteUploads(httpx.BaseTransport):
    """Sends requests for the ``host[:port]`` keys of ``rewrites`` to the address each maps to.

    Only where the request connects changes: the URL's path and query and the ``Host`` header
    stay the original's (and, over TLS, the name the certificate is checked against), so a
    pre-signed URL's signature, which covers the host, still matches. Other requests pass
    through to ``inner`` untouched.
    """

    def __init__(
        self, rewrites: Mapping[str, str], inner: httpx.BaseTransport | None = None
    ) -> None:
        self.rewrites = dict(rewrites)
        self.inner = inner or httpx.HTTPTransport()
        self._targets = {
            parse_netloc(source): parse_netloc(target) for source, target in self.rewrites.items()
        }

    def _target(self, url: httpx.URL) -> tuple[str, int | None] | None:
        found = self._targets.get((url.host, url.port))
        if found is None and url.port is None:  # a default port, written or not
            found = self._targets.get((url.host, _DEFAULT_PORTS.get(url.scheme)))
        return found

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self._target(request.url)
        if target is not None:
            original = request.url.host
            # The Host header was set from the original URL when the request was built.
            request.url = request.url.copy_with(host=target[0], port=target[1])
            if request.url.scheme == "https":
                request.extensions = {"sni_hostname": original, **request.extensions}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class FlowError(RuntimeError):
    """A step of the flow answered something other than what the app expects."""

    def __init__(self, step: str, response: httpx.Response) -> None:
        super().__init__(f"{step}: HTTP {response.status_code} {response.text[:300]}")
        self.step = step
        self.status_code = response.status_code
        # Seconds the server asked to wait (429 from a rate limit), 0 when it did not say.
        retry = response.headers.get("Retry-After", "")
        self.retry_after = float(retry) if retry.isdigit() else 0.0
        try:
            self.code = response.json().get("code")
        except ValueError:
            self.code = None


@dataclass
class FlowResult:
    job_id: str
    status: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    cache_hit: bool | None
    # Client-side milestones (seconds since the flow started) and server-side timings.
    marks: dict[str, float] = field(default_factory=dict)
    server_timings: dict[str, Any] = field(default_factory=dict)

    @property
    def processing_seconds(self) -> float:
        """upload-complete sent -> result visible to the client."""
        return self.marks["result_visible"] - self.marks["upload_complete_sent"]


class WasteClient:
    """The app's calls; ``upload_rewrites`` (see :class:`RewriteUploads`) redirect the uploads.

    ``transport`` makes the transport of each of its two clients (API and uploads), e.g.
    :class:`harness.app.transport.GeventTransport` in the Locust workers; httpx's own by default.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        upload_rewrites: Mapping[str, str] | None = None,
        transport: Callable[[], httpx.BaseTransport] | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        make = transport or httpx.HTTPTransport
        self.http = httpx.Client(
            base_url=base_url, timeout=timeout, headers=headers, transport=make()
        )
        uploads = RewriteUploads(upload_rewrites, make()) if upload_rewrites else make()
        self.uploads = httpx.Client(timeout=timeout, transport=uploads)

    def close(self) -> None:
        self.http.close()
        self.uploads.close()

    def __enter__(self) -> WasteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, content_type: str = "image/jpeg", mode: str = "analyze") -> dict[str, Any]:
        answer = self.http.post(
            "/api/v1/waste/analyze", json={"content_type": content_type, "mode": mode}
        )
        if answer.status_code != 201:
            raise FlowError("analyze", answer)
        return answer.json()

    def upload(self, job: dict[str, Any], photo: bytes) -> None:
        """The pre-signed POST: the policy's fields, then the photo as the last part."""
        target = job["upload"]
        answer = self.uploads.request(
            target["method"],
            target["url"],
            data=target["fields"],
            files={"file": ("photo", photo, target["fields"].get("Content-Type"))},
        )
        if answer.status_code not in (200, 201, 204):
            raise FlowError("upload", answer)

    def complete(self, job_id: str) -> dict[str, Any]:
        answer = self.http.post(f"/api/v1/waste/upload-complete/{job_id}")
        if answer.status_code != 202:
            raise FlowError("upload-complete", answer)
        return answer.json()

    def status(self, job_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/api/v1/waste/status/{job_id}")
        if answer.status_code != 200:
            raise FlowError("status", answer)
        return answer.json()

    def result(self, job_id: str) -> tuple[int, dict[str, Any]]:
        answer = self.http.get(f"/api/v1/waste/result/{job_id}")
        if answer.status_code not in (200, 202):
            raise FlowError("result", answer)
        return answer.status_code, answer.json()

    def wait_polling(self, job_id: str, interval: float, timeout: float) -> dict[str, Any]:
        """Poll status every ``interval`` s (the seed's app: 0.5 s) until terminal; then result."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status(job_id)["status"] in ("done", "failed"):
                code, body = self.result(job_id)
                if code == 200:
                    return body
            time.sleep(interval)
        raise TimeoutError(f"job {job_id} not finished after {timeout:.0f}s")

    def wait_streaming(
        self,
        job_id: str,
        timeout: float,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Follow the server-sent events until the result event; ``on_progress`` is given
        each progress event's state."""
        event = ""
        with self.http.stream(
            "GET", f"/api/v1/waste/events/{job_id}", timeout=httpx.Timeout(timeout)
        ) as answer:
            if answer.status_code != 200:
                answer.read()
                raise FlowError("events", answer)
            for line in answer.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "progress" and on_progress:
                    on_progress(json.loads(line.split(":", 1)[1]))
                elif line.startswith("data:") and event == "result":
                    return json.loads(line.split(":", 1)[1])
                elif line.startswith("data:") and event == "timeout":
                    break
        raise TimeoutError(f"event stream of job {job_id} ended without a result")

    def analyze_photo(
        self,
        photo: bytes,
        *,
        content_type: str = "image/jpeg",
        mode: str = "analyze",
        follow: FollowMode = "stream",
        poll_interval: float = 0.5,
        timeout: float = 120.0,
    ) -> FlowResult:
        t0 = time.perf_counter()
        marks: dict[str, float] = {}
        job = self.start(content_type, mode)
        marks["analyze_answered"] = time.perf_counter() - t0
        self.upload(job, photo)
        marks["uploaded"] = time.perf_counter() - t0
        marks["upload_complete_sent"] = time.perf_counter() - t0
        self.complete(job["job_id"])
        marks["upload_complete_answered"] = time.perf_counter() - t0
        if follow == "stream":
            body = self.wait_streaming(job["job_id"], timeout)
        else:
            body = self.wait_polling(job["job_id"], poll_interval, timeout)
        marks["result_visible"] = time.perf_counter() - t0
        return FlowResult(
            job_id=job["job_id"],
            status=body["status"],
            result=body.get("result"),
            error=body.get("error"),
            cache_hit=body.get("cache_hit"),
            marks=marks,
            server_timings=body.get("timings") or {},
        )
