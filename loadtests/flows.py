"""The app's actions as one signed-in install performs them, timed request by request.

An :class:`AppSession` wraps :class:`harness.app.client.WasteClient` (the app's flow as a client)
and records every request it makes. The scan follows the seed's steps (analyze, POST to the
pre-signed URL, upload-complete, then status every ``poll_interval`` seconds or the event
stream, then the result); its polling loop is written out here rather than calling
``WasteClient.wait_polling`` so each status request gets its own timing row. A share of scans
(``follow_both``) is also followed the other way at the same time, and every follower's view is
checked (:mod:`loadtests.progress`). When the user stops, :meth:`AppSession.check_history`
holds its history and statistics to the scans it saw end (:mod:`loadtests.history_check`).

No locust import: under Locust the process is gevent-patched, so ``time.sleep`` and the
sockets of httpx yield to other users; elsewhere (tests) the same code runs plainly.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from harness.app.client import FlowError, WasteClient
from harness.app.corpus import Photo
from loadtests import progress
from loadtests.history_check import Ended, check_user
from loadtests.pacing import Clock
from loadtests.progress import Trail
from loadtests.records import FlowRecord, ProcessRecorder, UserCheck, server_timings

T = TypeVar("T")

WASTE = "/api/v1/waste"
# The longest Retry-After the app honours at once (a daily quota's is hours).
MAX_RETRY_AFTER_SECONDS = 60.0
ROUTES = {
    "login": "/api/v1/auth/dev-login",
    "analyze": f"{WASTE}/analyze",
    "upload": "s3:pre-signed-post",
    "upload_complete": f"{WASTE}/upload-complete/{{job_id}}",
    "status": f"{WASTE}/status/{{job_id}}",
    "result": f"{WASTE}/result/{{job_id}}",
    "events": f"{WASTE}/events/{{job_id}}",
    "nearby": "/api/v1/locations/nearby",
    "search": "/api/v1/locations/search",
    "me": "/api/v1/users/me",
    "history": "/api/v1/users/me/history",
    "stats": "/api/v1/users/me/stats",
}
TERMINAL = progress.TERMINAL
OTHER_WAY = {"poll": "stream", "stream": "poll"}
# Where the app is used: Seoul, roughly within the city limits.
_LAT, _LON = (37.48, 37.65), (126.90, 127.10)
_SEARCHES = ("폐건전지", "폐형광등", "의류수거함", "주민센터", "재활용 정거장", "폐의약품")


class InFlight:
    """The actions a process has under way, so the end of the load can wait for them."""

    def __init__(self) -> None:
        self.scans: dict[int, FlowRecord] = {}
        self.others = 0
        self._next = 0

    def add(self, record: FlowRecord) -> int:
        self._next += 1
        self.scans[self._next] = record
        return self._next

    def remove(self, key: int) -> None:
        self.scans.pop(key, None)

    def __len__(self) -> int:
        return len(self.scans) + self.others


class AppSession:
    """One app install (a user): signs in, scans, browses the map, opens the profile."""

    def __init__(
        self,
        base_url: str,
        recorder: ProcessRecorder,
        clock: Clock,
        *,
        user: int,
        subject: str,
        follow: str,
        poll_interval: float,
        flow_timeout: float,
        follow_both: float = 0.0,
        request_timeout: float = 30.0,
        rng: random.Random | None = None,
        upload_rewrites: Mapping[str, str] | None = None,
        actor: str = "app",
        transport: Callable[[], httpx.BaseTransport] | None = None,
    ) -> None:
        # upload_rewrites: where pre-signed URLs name an address this host cannot reach
        # (harness.app.client.RewriteUploads); transport: see WasteClient.
        self.client = WasteClient(
            base_url,
            timeout=request_timeout,
            upload_rewrites=upload_rewrites,
            transport=transport,
        )
        self.recorder = recorder
        self.clock = clock
        self.user = user
        # "app" for an honest user, "abuser" for one of mix.abusive (every request says which).
        self.actor = actor
        self.subject = subject
        self.follow = follow
        # The share of scans also followed the other way, to compare what both were given.
        self.follow_both = follow_both
        self.poll_interval = poll_interval
        self.flow_timeout = flow_timeout
        self.rng = rng or random.Random(subject)
        self.token: str | None = None
        self.needs_login = True
        # The scans this user saw end (done or failed), by job id: what it holds its history to.
        self.ended: dict[str, Ended] = {}

    def close(self) -> None:
        self.client.close()

    # -- recording -----------------------------------------------------------------------------
    def _timed(self, route: str, method: str, call: Callable[[], T], ok_status: int) -> T:
        """Run one request of the flow through ``call`` and record it (re-raising failures)."""
        started = time.perf_counter()
        ts = self.clock.epoch(started)
        try:
            value = call()
        except FlowError as exc:
            self._record(ts, started, route, method, exc.status_code, exc.code or "http_error")
            if exc.status_code == 401:
                self.needs_login = True
            raise
        except httpx.HTTPError as exc:
            self._record(ts, started, route, method, 0, type(exc).__name__)
            raise
        except TimeoutError:
            self._record(ts, started, route, method, ok_status, "timeout")
            raise
        self._record(ts, started, route, method, ok_status, None)
        return value

    def _record(
        self, ts: float, started: float, route: str, method: str, status: int, error: str | None
    ) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        self.recorder.request(
            ts,
            ROUTES[route],
            method,
            status,
            elapsed,
            ok=error is None,
            error=error,
            user=self.user,
            actor=self.actor,
        )

    def _get(self, route: str, params: dict[str, Any] | None = None) -> bool:
        """A plain GET of the app (map, profile): recorded, never raised; True when 200."""
        started = time.perf_counter()
        ts = self.clock.epoch(started)
        try:
            answer = self.client.http.get(ROUTES[route], params=params)
        except httpx.HTTPError as exc:
            self._record(ts, started, route, "GET", 0, type(exc).__name__)
            return False
        error = None if answer.status_code == 200 else _error_code(answer)
        self._record(ts, started, route, "GET", answer.status_code, error)
        if answer.status_code == 401:
            self.needs_login = True
        return error is None

    # -- sign-in -------------------------------------------------------------------------------
    def login(self) -> None:
        """Dev login as a Kakao user; a stack without it (404) is used without a token."""
        self.needs_login = False
        started = time.perf_counter()
        ts = self.clock.epoch(started)
        try:
            answer = self.client.http.post(
                ROUTES["login"], json={"provider": "kakao", "subject": self.subject}
            )
        except httpx.HTTPError as exc:
            self._record(ts, started, "login", "POST", 0, type(exc).__name__)
            return
        if answer.status_code in (200, 201):
            self._record(ts, started, "login", "POST", answer.status_code, None)
            self.token = answer.json()["access_token"]
            self.client.http.headers["Authorization"] = f"Bearer {self.token}"
        elif answer.status_code == 404:
            # Today's stack has no auth: proceed without a token, and do not count an error.
            self._record(ts, started, "login", "POST", 404, None)
            self.token = None
        else:
            self._record(ts, started, "login", "POST", answer.status_code, _error_code(answer))

    def ensure_login(self) -> None:
        if self.needs_login:
            self.login()

    # -- the scan ------------------------------------------------------------------------------
    def new_record(self, photo: Photo, scheduled: float, started: float) -> FlowRecord:
        return FlowRecord(
            process=self.recorder.process,
            user=self.user,
            scheduled_at=round(self.clock.epoch(scheduled), 6),
            started_at=round(self.clock.epoch(started), 6),
            item_key=photo.item_key,
            expected_category=photo.category,
            variant=photo.variant,
            is_repeat=photo.is_repeat,
            follow=self.follow,
        )

    def scan(self, photo: Photo, record: FlowRecord, scheduled: float) -> FlowRecord:
        """The whole image flow for ``photo``; fills ``record`` (never raises on failures).

        ``scheduled`` is the intended start on the monotonic clock: end-to-end time counts
        from it, not from when the flow actually began.
        """
        stage = record.stage = "analyze"
        client = self.client
        retry_after = 0.0
        try:
            job = self._timed("analyze", "POST", client.start, 201)
            job_id = str(job["job_id"])
            record.job_id = job_id
            stage = record.stage = "upload"
            self._timed("upload", "POST", lambda: client.upload(job, photo.data), 204)
            stage = record.stage = "upload_complete"
            sent = time.perf_counter()
            self._timed("upload_complete", "POST", lambda: client.complete(job_id), 202)
            record.accepted = True
            stage = record.stage = "events" if self.follow == "stream" else "status"
            deadline = sent + self.flow_timeout
            second = None
            if self.follow_both > 0 and self.rng.random() < self.follow_both:
                second = _SecondFollower(self, job_id, deadline).start()
            trail = Trail(self.follow)
            body = self._follow(self.follow, job_id, deadline, trail)
            visible = time.perf_counter()
            record.processing_ms = (visible - sent) * 1000
            record.end_to_end_ms = (visible - scheduled) * 1000
            _fill_from_result(record, body)
            trails = [trail] if second is None else [trail, second.join(deadline)]
            self._judge(record, trails)
        except FlowError as exc:
            record.fail("error", stage, exc.code or "http_error", exc.status_code)
            retry_after = exc.retry_after
        except TimeoutError:
            record.fail("timeout", stage, "flow_timeout")
        except httpx.HTTPError as exc:  # no answer at all: http_status 0
            record.fail("error", stage, type(exc).__name__, 0)
        except Exception as exc:  # a bug or a malformed answer: still one row, named
            record.fail("error", stage, f"{type(exc).__name__}: {exc}"[:200])
        if record.end_to_end_ms is None:
            record.end_to_end_ms = (time.perf_counter() - scheduled) * 1000
        if record.status in TERMINAL and record.job_id:
            self.ended[record.job_id] = Ended(
                record.job_id, record.status, record.got_category, record.error_code
            )
        if retry_after:
            # Refused by a rate limit (429): the app waits as long as it was told to.
            time.sleep(min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return record

    def _follow(self, way: str, job_id: str, deadline: float, trail: Trail) -> dict[str, Any]:
        """Follow the job ``way`` ("poll" or "stream") until its result, filling ``trail``."""
        if way == "stream":
            body = self._timed(
                "events",
                "GET",
                lambda: self.client.wait_streaming(
                    job_id, max(0.0, deadline - time.perf_counter()), on_progress=trail.add
                ),
                200,
            )
        else:
            body = self._poll(job_id, deadline, trail)
        trail.result = body
        return body

    def _judge(self, record: FlowRecord, trails: list[Trail]) -> None:
        """Record the checks on what the followers of a finished scan saw."""
        record.status_result_mismatch = not all(
            progress.status_agrees(t) for t in trails if t.result is not None
        )
        if len(trails) == 2:
            first, second = trails
            record.second_follow = second.follow
            record.follow_mismatch = second.result is None or not progress.same_result(
                first.result or {}, second.result
            )
        poller = next((t for t in trails if t.follow == "poll" and t.states), None)
        if poller is None:
            return
        record.progress_stages = poller.stages_text()
        record.progress_backwards = poller.went_backwards()
        miss_ms = record.model_ms if record.status == "done" and not record.cache_hit else None
        if miss_ms:
            record.progress_frozen = poller.frozen(
                model_ms=miss_ms, poll_interval=self.poll_interval
            )

    def _poll(self, job_id: str, deadline: float, trail: Trail) -> dict[str, Any]:
        """Status every ``poll_interval`` s (a timer, like the app's), then the result."""
        next_poll = time.perf_counter()
        while True:
            asked = time.perf_counter()
            state = self._timed("status", "GET", lambda: self.client.status(job_id), 200)
            trail.add(state, (time.perf_counter() - asked) * 1000)
            if state["status"] in TERMINAL:
                code, body = self._result(job_id)
                if code == 200:
                    return body
                trail.result_lagged = True
            next_poll += self.poll_interval
            now = time.perf_counter()
            if next_poll >= deadline:
                raise TimeoutError(f"job {job_id} not finished in {self.flow_timeout:g}s")
            time.sleep(max(0.0, next_poll - now))

    def _result(self, job_id: str) -> tuple[int, dict[str, Any]]:
        started = time.perf_counter()
        ts = self.clock.epoch(started)
        try:
            code, body = self.client.result(job_id)
        except FlowError as exc:
            self._record(ts, started, "result", "GET", exc.status_code, exc.code or "http_error")
            raise
        except httpx.HTTPError as exc:
            self._record(ts, started, "result", "GET", 0, type(exc).__name__)
            raise
        self._record(ts, started, "result", "GET", code, None)
        return code, body

    # -- what the user sees afterwards ---------------------------------------------------------
    def check_history(self) -> UserCheck:
        """Hold this user's history and statistics to the scans it saw end (when it stops)."""
        self.ensure_login()  # a 401 on the way (an expired token) signs the user in again
        return check_user(
            self.client.http,
            self.ended,
            process=self.recorder.process,
            user=self.user,
            now=self.clock.epoch(time.perf_counter()),
        )

    # -- the other screens ---------------------------------------------------------------------
    def browse_map(self) -> bool:
        """The map screen: collection points nearby, sometimes a keyword search."""
        lat = round(self.rng.uniform(*_LAT), 5)
        lon = round(self.rng.uniform(*_LON), 5)
        radius = self.rng.choice((500, 1000, 2000))
        ok = self._get("nearby", {"lat": lat, "lon": lon, "radius": radius})
        if self.rng.random() < 0.5:
            query = self.rng.choice(_SEARCHES)
            ok = self._get("search", {"q": query, "lat": lat, "lon": lon}) and ok
        return ok

    def profile(self) -> bool:
        """The profile screen: who I am, my scan history, my statistics."""
        return all([self._get("me"), self._get("history"), self._get("stats")])


class _SecondFollower:
    """Follows a job the other way from the scan's own, in a thread of its own (a greenlet
    under Locust), so the two results can be compared."""

    def __init__(self, session: AppSession, job_id: str, deadline: float) -> None:
        self.session = session
        self.job_id = job_id
        self.deadline = deadline
        self.trail = Trail(OTHER_WAY[session.follow])
        self.thread = threading.Thread(target=self._run, name=f"follow-{job_id}", daemon=True)

    def start(self) -> _SecondFollower:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.session._follow(self.trail.follow, self.job_id, self.deadline, self.trail)
        except Exception as exc:  # what it saw is judged; how it failed is kept for reading
            self.trail.error = f"{type(exc).__name__}: {exc}"[:200]

    def join(self, deadline: float) -> Trail:
        self.thread.join(timeout=max(0.0, deadline - time.perf_counter()))
        return self.trail


def _error_code(answer: httpx.Response) -> str:
    try:
        code = answer.json().get("code")
    except (ValueError, AttributeError):
        code = None
    return str(code or f"http_{answer.status_code}")


def _fill_from_result(record: FlowRecord, body: dict[str, Any]) -> None:
    status = body.get("status")
    record.cache_hit = body.get("cache_hit")
    record.cache_match = str(body.get("cache_match") or "")
    record.cache_distance = body.get("cache_distance")
    result = body.get("result") or {}
    record.got_category = str(result.get("category") or "")
    for column, value in server_timings(body.get("timings") or {}).items():
        setattr(record, column, value)
    if status == "done":
        record.status = "done"
    elif status == "failed":
        error = body.get("error") or {}
        record.fail("failed", "job", str(error.get("code") or "failed"))
    else:
        record.fail("error", "result", f"unexpected status {status!r}")
