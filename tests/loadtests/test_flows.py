"""The app's actions against a scripted API (httpx mock transport): what each flow records."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.app.corpus import PhotoStream
from loadtests.flows import AppSession
from loadtests.pacing import Clock
from loadtests.records import EVENT_COLUMNS, REQUEST_COLUMNS, ProcessRecorder
from tests.loadtests.factories import TinyServer

BASE = "http://api.test"
UPLOAD = "http://s3.test/bucket"
# A pre-signed URL naming an address only the API's side resolves (.invalid never does).
IN_CLUSTER = "s3.cluster.invalid:5000"
PRESIGNED = f"http://{IN_CLUSTER}/bucket"
FIELDS = {
    "key": "uploads/key.jpeg",
    "Content-Type": "image/jpeg",
    "policy": "e30=",
    "x-amz-signature": "ab",
}
QUEUED = "2026-01-01T00:00:00.000+00:00"
STARTED = "2026-01-01T00:00:00.250+00:00"


class FakeApi:
    """Answers like the gateway; ``overrides`` replace the answer of one route."""

    def __init__(self, **overrides: Callable[[httpx.Request], httpx.Response]) -> None:
        self.overrides = overrides
        self.status_calls = 0
        self.job = str(uuid.uuid4())
        self.headers: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.headers.append((request.url.host, request.headers.get("authorization")))
        route = next((name for name in self.routes() if self.routes()[name](path)), None)
        if route in self.overrides:
            return self.overrides[route](request)
        if route == "login":
            return httpx.Response(404, json={"code": "not_found"})
        if route == "analyze":
            upload = {"method": "POST", "url": UPLOAD, "fields": FIELDS}
            return httpx.Response(201, json={"job_id": self.job, "upload": upload})
        if route == "upload":
            return httpx.Response(204)
        if route == "complete":
            return httpx.Response(202, json={"job_id": self.job, "status": "queued"})
        if route == "status":
            self.status_calls += 1
            return httpx.Response(
                200, json={"status": "done" if self.status_calls > 2 else "queued"}
            )
        if route == "result":
            return httpx.Response(200, json=done(self.job, "paper"))
        return httpx.Response(404, json={"code": "not_found"})

    @staticmethod
    def routes() -> dict[str, Callable[[str], bool]]:
        return {
            "login": lambda p: p.endswith("/auth/dev-login"),
            "analyze": lambda p: p.endswith("/waste/analyze"),
            "upload": lambda p: p.startswith("/bucket"),
            "complete": lambda p: "/upload-complete/" in p,
            "status": lambda p: "/status/" in p,
            "result": lambda p: "/result/" in p,
            "events": lambda p: "/events/" in p,
            "history": lambda p: p.endswith("/me/history"),
            "stats": lambda p: p.endswith("/me/stats"),
        }


def done(job: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": job,
        "status": "done",
        "cache_hit": True,
        "result": {"category": category},
        "timings": {
            "queued_at": QUEUED,
            "started_at": STARTED,
            "processing_ms": 300.0,
            "queue_wait_ms": 250.0,
            "download_ms": 12.5,
            "cache_lookup_ms": 3.25,
            "model_ms": None,
            "store_ms": 8.0,
        },
        **extra,
    }


@pytest.fixture
def recorder(tmp_path: Path) -> ProcessRecorder:
    return ProcessRecorder(3)


def session(api: FakeApi, recorder: ProcessRecorder, **kwargs: Any) -> AppSession:
    app = AppSession(
        BASE,
        recorder,
        Clock.now(),
        user=7,
        subject="lt-test-u7",
        follow=kwargs.pop("follow", "poll"),
        follow_both=kwargs.pop("follow_both", 0.0),
        poll_interval=0.01,
        flow_timeout=kwargs.pop("flow_timeout", 5.0),
    )
    transport = httpx.MockTransport(api)
    app.client.http = httpx.Client(base_url=BASE, transport=transport)
    app.client.uploads = httpx.Client(transport=transport)
    return app


def photo() -> Any:
    return PhotoStream(3, 1.0, 0.0, {"identical": 1.0}, (32, 24), seed=1).next()


def run_scan(app: AppSession) -> dict[str, str]:
    pic = photo()
    now = time.perf_counter()
    record = app.new_record(pic, now - 0.2, now)
    app.scan(pic, record, now - 0.2)
    app.recorder.flow(record)
    return dict(zip(EVENT_COLUMNS, [str(c) for c in record.row()], strict=True))


def requests_of(recorder: ProcessRecorder) -> list[dict[str, str]]:
    """The request rows the recorder holds for the master, as the CSV file will hold them."""
    return [
        dict(zip(REQUEST_COLUMNS, [str(c) for c in row], strict=True))
        for row in recorder.requests.pending
    ]


def test_a_polled_scan_records_every_step(recorder: ProcessRecorder, tmp_path: Path) -> None:
    api = FakeApi()
    app = session(api, recorder)
    app.login()
    row = run_scan(app)
    assert row["status"] == "done" and row["accepted"] == "true"
    assert row["got_category"] == row["expected_category"] == "paper"
    assert row["cache_hit"] == "true" and row["server_queue_wait_ms"] == "250.0"
    assert (row["server_download_ms"], row["server_cache_lookup_ms"]) == ("12.5", "3.25")
    assert (row["model_ms"], row["server_store_ms"]) == ("", "8.0")
    assert float(row["end_to_end_ms"]) >= float(row["processing_ms"]) + 200 - 1
    requests = requests_of(recorder)
    assert [(r["method"], r["name"], r["status"], r["ok"]) for r in requests] == [
        ("POST", "/api/v1/auth/dev-login", "404", "true"),
        ("POST", "/api/v1/waste/analyze", "201", "true"),
        ("POST", "s3:pre-signed-post", "204", "true"),
        ("POST", "/api/v1/waste/upload-complete/{job_id}", "202", "true"),
        ("GET", "/api/v1/waste/status/{job_id}", "200", "true"),
        ("GET", "/api/v1/waste/status/{job_id}", "200", "true"),
        ("GET", "/api/v1/waste/status/{job_id}", "200", "true"),
        ("GET", "/api/v1/waste/result/{job_id}", "200", "true"),
    ]
    assert {auth for _, auth in api.headers} == {None}  # no token without dev-login


def test_login_sends_the_token_on_every_later_api_call(recorder: ProcessRecorder) -> None:
    api = FakeApi(login=lambda r: httpx.Response(200, json={"access_token": "tok", "x": 1}))
    app = session(api, recorder)
    app.login()
    run_scan(app)
    after_login = api.headers[1:]
    assert {auth for host, auth in after_login if host == "api.test"} == {"Bearer tok"}
    # the pre-signed S3 upload carries its own signature, never our token
    assert {auth for host, auth in after_login if host == "s3.test"} == {None}


def test_a_rate_limited_scan_waits_as_long_as_it_was_told(recorder: ProcessRecorder) -> None:
    refused = httpx.Response(429, json={"code": "scan_rate_limited"}, headers={"Retry-After": "1"})
    api = FakeApi(analyze=lambda r: refused)
    started = time.perf_counter()
    row = run_scan(session(api, recorder))
    waited = time.perf_counter() - started
    assert (row["status"], row["error_code"], row["http_status"]) == (
        "error",
        "scan_rate_limited",
        "429",
    )
    assert waited >= 1.0  # the next scan starts after Retry-After, not at once
    assert float(row["end_to_end_ms"]) < 1000  # the wait is not counted as the scan's time


def test_a_rejected_upload_complete_is_an_error_at_that_stage(
    recorder: ProcessRecorder,
) -> None:
    api = FakeApi(complete=lambda r: httpx.Response(404, json={"code": "job_not_found"}))
    row = run_scan(session(api, recorder))
    assert (row["status"], row["error_stage"], row["error_code"], row["http_status"]) == (
        "error",
        "upload_complete",
        "job_not_found",
        "404",
    )
    assert row["accepted"] == "false" and row["processing_ms"] == ""
    assert recorder.counts["request_errors"] == 1


def test_a_failed_job_is_failed_with_its_reason(recorder: ProcessRecorder) -> None:
    def failed(request: httpx.Request) -> httpx.Response:
        body = done("j", "paper", status="failed", error={"code": "model_unavailable"})
        return httpx.Response(200, json={**body, "result": None, "cache_hit": None})

    row = run_scan(session(FakeApi(result=failed), recorder))
    assert (row["status"], row["error_stage"], row["error_code"]) == (
        "failed",
        "job",
        "model_unavailable",
    )
    assert row["accepted"] == "true" and row["processing_ms"] != ""


def test_a_job_that_never_ends_times_out(recorder: ProcessRecorder) -> None:
    never = FakeApi(status=lambda r: httpx.Response(200, json={"status": "processing"}))
    row = run_scan(session(never, recorder, flow_timeout=0.1))
    assert (row["status"], row["error_stage"], row["error_code"]) == (
        "timeout",
        "status",
        "flow_timeout",
    )


def test_no_answer_at_all_is_status_zero(recorder: ProcessRecorder, tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    row = run_scan(session(FakeApi(analyze=refuse), recorder))
    assert (row["status"], row["error_stage"], row["error_code"], row["http_status"]) == (
        "error",
        "analyze",
        "ConnectError",
        "0",
    )
    failed = requests_of(recorder)[-1]
    assert (failed["status"], failed["ok"], failed["error"]) == ("0", "false", "ConnectError")


def test_map_and_profile_screens_record_their_requests(
    recorder: ProcessRecorder, tmp_path: Path
) -> None:
    app = session(FakeApi(), recorder)
    assert app.profile() is False  # today's fake answers 404
    for _ in range(10):
        app.browse_map()
    names = {r["name"] for r in requests_of(recorder)}
    assert names == {
        "/api/v1/users/me",
        "/api/v1/users/me/history",
        "/api/v1/users/me/stats",
        "/api/v1/locations/nearby",
        "/api/v1/locations/search",
    }


def presigned_in_cluster(api: FakeApi) -> Callable[[httpx.Request], httpx.Response]:
    def analyze(request: httpx.Request) -> httpx.Response:
        upload = {"method": "POST", "url": PRESIGNED, "fields": FIELDS}
        return httpx.Response(201, json={"job_id": api.job, "upload": upload})

    return analyze


def rewriting_session(
    api: FakeApi, recorder: ProcessRecorder, rewrites: dict[str, str] | None
) -> AppSession:
    """A session whose API answers are scripted but whose uploads go over real sockets."""
    app = AppSession(
        BASE,
        recorder,
        Clock.now(),
        user=7,
        subject="lt-test-u7",
        follow="poll",
        poll_interval=0.01,
        flow_timeout=5.0,
        upload_rewrites=rewrites,
    )
    app.client.http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(api))
    return app


def test_an_upload_rewrite_puts_to_the_reachable_address_with_the_original_host(
    recorder: ProcessRecorder, tmp_path: Path
) -> None:
    api = FakeApi()
    api.overrides["analyze"] = presigned_in_cluster(api)
    with TinyServer() as s3:
        app = rewriting_session(api, recorder, {IN_CLUSTER: s3.netloc})
        row = run_scan(app)
        app.close()
    assert row["status"] == "done", row
    (post,) = s3.seen
    assert (post.method, post.target) == ("POST", "/bucket")
    assert post.host == IN_CLUSTER  # where the app was told to upload, not where it was sent
    assert b'name="policy"' in post.body and b"\r\n\r\n\xff\xd8" in post.body  # fields, JPEG
    upload = next(r for r in requests_of(recorder) if r["name"] == "s3:pre-signed-post")
    assert (upload["name"], upload["status"], upload["ok"]) == ("s3:pre-signed-post", "204", "true")


def test_without_the_rewrite_the_in_cluster_address_is_unreachable(
    recorder: ProcessRecorder,
) -> None:
    api = FakeApi()
    api.overrides["analyze"] = presigned_in_cluster(api)
    with TinyServer() as s3:
        app = rewriting_session(api, recorder, None)
        row = run_scan(app)
        app.close()
    assert s3.seen == []
    assert (row["status"], row["error_stage"], row["error_code"], row["http_status"]) == (
        "error",
        "upload",
        "ConnectError",
        "0",
    )


# -- what the user saw of the job ---------------------------------------------------------------


def states(*stages: str) -> Callable[[httpx.Request], httpx.Response]:
    """Status answers walking through ``stages`` (the last one repeats)."""
    percent = {"queued": 5, "classifying": 50, "saving": 90, "done": 100}
    answers = iter(stages)
    last = {"stage": stages[-1]}

    def status(request: httpx.Request) -> httpx.Response:
        stage = next(answers, last["stage"])
        kind = stage if stage in ("queued", "done") else "processing"
        return httpx.Response(
            200, json={"status": kind, "stage": stage, "progress": percent[stage]}
        )

    return status


def missed(job: str, model_ms: float = 300.0) -> Callable[[httpx.Request], httpx.Response]:
    body = done(job, "paper", cache_hit=False)
    body["timings"] = {**body["timings"], "model_ms": model_ms}
    return lambda request: httpx.Response(200, json=body)


def test_a_polled_miss_records_the_stages_it_saw(recorder: ProcessRecorder) -> None:
    api = FakeApi(status=states("queued", "classifying", "classifying", "saving", "done"))
    api.overrides["result"] = missed(api.job)
    row = run_scan(session(api, recorder))
    assert row["progress_stages"] == "queued:5>classifying:50>saving:90>done:100"
    assert (row["progress_backwards"], row["progress_frozen"]) == ("false", "false")
    assert row["status_result_mismatch"] == "false"
    assert (row["second_follow"], row["follow_mismatch"]) == ("", "")  # not followed twice


def test_a_miss_frozen_at_queued_until_done_is_caught(recorder: ProcessRecorder) -> None:
    api = FakeApi(status=states("queued", "queued", "queued", "done"))
    api.overrides["result"] = missed(api.job)
    row = run_scan(session(api, recorder))
    assert row["progress_frozen"] == "true"
    # a model call too short for the poller to have read it mid-way holds it to nothing
    api = FakeApi(status=states("queued", "done"))
    api.overrides["result"] = missed(api.job, model_ms=1.0)
    short = run_scan(session(api, ProcessRecorder(4)))
    assert short["status"] == "done" and short["progress_frozen"] == ""


def test_a_result_lagging_behind_the_status_is_a_mismatch(recorder: ProcessRecorder) -> None:
    api = FakeApi()
    results = iter([httpx.Response(202, json={"status": "processing"})])
    api.overrides["result"] = lambda r: (
        next(results, None) or httpx.Response(200, json=done(api.job, "paper"))
    )
    row = run_scan(session(api, recorder))
    assert row["status"] == "done" and row["status_result_mismatch"] == "true"


def stream(*events: tuple[str, dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    text = "".join(f"event: {kind}\ndata: {json.dumps(data)}\n\n" for kind, data in events)
    return lambda request: httpx.Response(
        200, text=text, headers={"content-type": "text/event-stream"}
    )


def test_a_scan_followed_both_ways_compares_the_two_results(recorder: ProcessRecorder) -> None:
    api = FakeApi()
    ended = {"status": "done", "stage": "done", "progress": 100}
    api.overrides["events"] = stream(("progress", ended), ("result", done(api.job, "paper")))
    row = run_scan(session(api, recorder, follow_both=1.0))
    assert (row["second_follow"], row["follow_mismatch"]) == ("stream", "false")
    assert row["status_result_mismatch"] == "false"

    api = FakeApi()
    api.overrides["events"] = stream(("progress", ended), ("result", done(api.job, "glass")))
    row = run_scan(session(api, ProcessRecorder(4), follow_both=1.0))
    assert row["follow_mismatch"] == "true"


def test_a_streamed_scan_also_polled_gives_the_poller_view(recorder: ProcessRecorder) -> None:
    api = FakeApi(status=states("queued", "classifying", "done"))
    api.overrides["result"] = missed(api.job)
    body = missed(api.job)(httpx.Request("GET", BASE)).json()
    ended = {"status": "done", "stage": "done", "progress": 100}
    api.overrides["events"] = stream(("progress", ended), ("result", body))
    row = run_scan(session(api, recorder, follow="stream", follow_both=1.0))
    assert (row["follow"], row["second_follow"]) == ("stream", "poll")
    assert row["progress_stages"] == "queued:5>classifying:50>done:100"
    assert (row["progress_frozen"], row["follow_mismatch"]) == ("false", "false")


def test_the_user_checks_its_history_against_the_scans_it_saw_end(
    recorder: ProcessRecorder,
) -> None:
    api = FakeApi()
    app = session(api, recorder)
    app.login()
    run_scan(app)
    assert set(app.ended) == {api.job}
    listed = {"job_id": api.job, "status": "done", "category": "paper", "cache_hit": True}
    api.overrides["history"] = lambda r: httpx.Response(
        200, json={"items": [listed], "next_cursor": None}
    )
    stats = {
        "total_scans": 1, "done": 1, "failed": 0, "in_progress": 0, "cache_hits": 1,
        "cache_hit_ratio": 1.0, "by_category": [{"category": "paper", "count": 1}],
    }  # fmt: skip
    api.overrides["stats"] = lambda r: httpx.Response(200, json=stats)
    check = app.check_history()
    assert (check.scans_held, check.history_items) == (1, 1)
    assert (check.history_missing, check.stats_mismatch, check.error) == ("", "", "")
    api.overrides["history"] = lambda r: httpx.Response(
        200, json={"items": [], "next_cursor": None}
    )
    check = app.check_history()
    assert check.history_missing == api.job
    assert check.stats_mismatch.startswith("total_scans: stats 1, history 0")
