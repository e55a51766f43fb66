"""An abusive user (mix.abusive): which users are abusive, what each analysis records, and how
its rows become the gates' observations (refused rightly, never, or wrongly; the app's own
requests refused by a limit)."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import pytest

from harness.gates.evaluate import Verdict, evaluate_gate
from harness.gates.measurements import Samples
from harness.report.rundata import read_requests
from harness.run.observations import add_requests
from harness.scenario import find_scenario, load_scenario
from loadtests.abuse import ACTOR, ANALYZE, Abuser, is_abusive
from loadtests.flows import AppSession
from loadtests.pacing import Clock
from loadtests.records import ProcessRecorder
from tests.loadtests.test_flows import requests_of

BASE = "http://gateway.test"
JOB = {"job_id": "00000000-0000-0000-0000-000000000001", "upload": {}}


def test_the_share_of_abusive_users_is_spread_over_the_numbers() -> None:
    assert [n for n in range(10) if is_abusive(n, 0.2)] == [4, 9]
    assert [n for n in range(6) if is_abusive(n, 0.5)] == [1, 3, 5]
    assert not any(is_abusive(n, 0.0) for n in range(100))
    assert all(is_abusive(n, 1.0) for n in range(100))


def _abuser(answers: list[httpx.Response]) -> tuple[Abuser, ProcessRecorder]:
    recorder = ProcessRecorder(0)
    session = AppSession(
        BASE,
        recorder,
        Clock.now(),
        user=4,
        subject="lt-abuser-u4",
        follow="poll",
        poll_interval=0.5,
        flow_timeout=5.0,
        actor=ACTOR,
    )
    replies = iter(answers)
    session.client.http = httpx.Client(
        base_url=BASE, transport=httpx.MockTransport(lambda request: next(replies))
    )
    return Abuser(session, interval=0.01), recorder


def _rows(recorder: ProcessRecorder) -> list[dict[str, str]]:
    return requests_of(recorder)  # the rows the recorder holds for the master


def test_each_analysis_is_recorded_as_the_abusers_with_its_refusal(tmp_path: Path) -> None:
    limited = {"code": "scan_rate_limited", "message": "at most 30 scans per minute"}
    abuser, recorder = _abuser(
        [
            httpx.Response(201, json=JOB),
            httpx.Response(429, json=limited, headers={"Retry-After": "7"}),
            httpx.Response(429, json=limited),  # no Retry-After: refused, but not as agreed
        ],
    )
    for _ in range(3):
        abuser.step()
    rows = _rows(recorder)
    assert [(r["name"], r["status"], r["error"]) for r in rows] == [
        (ANALYZE, "201", ""),
        (ANALYZE, "429", "scan_rate_limited"),
        (ANALYZE, "429", "scan_rate_limited:no_retry_after"),
    ]
    assert {(r["user"], r["actor"]) for r in rows} == {("4", ACTOR)}


def test_an_abusers_session_must_say_it_is_one(tmp_path: Path) -> None:
    recorder = ProcessRecorder(0)
    session = AppSession(
        BASE, recorder, Clock.now(), user=1, subject="s", follow="poll",
        poll_interval=0.5, flow_timeout=5.0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="abuser"):
        Abuser(session, interval=1.0)


def test_the_pace_does_not_catch_up_after_a_slow_answer(tmp_path: Path) -> None:
    abuser, _ = _abuser([])
    abuser.interval = 1000.0
    assert 999.0 < abuser.wait() <= 1000.0


# -- observations --------------------------------------------------------------------------
def _request(user: int, status: int, error: str = "", *, actor: str = ACTOR) -> dict[str, object]:
    return {
        "ts": 1_700_000_000.0 + user,
        "process": "0",
        "name": ANALYZE,
        "method": "POST",
        "status": str(status),
        "ok": status < 400,
        "error": error,
        "user": str(user),
        "actor": actor,
    }


def _samples(rows: list[dict[str, object]]) -> Samples:
    samples = Samples(start=1_699_999_000.0, end=1_700_001_000.0)
    add_requests(samples, rows)
    return samples


def _smoke_verdict(title: str, samples: Samples) -> Verdict:
    scenario = load_scenario(find_scenario("smoke"))
    gate = next(g for g in scenario.gates if g.title == title)
    return evaluate_gate(gate, samples, warmup=0.0, scales=scenario.scales).verdict


ABUSER_GATE = "the abusive user is refused with scan_rate_limited"
HONEST_GATE = "no honest request refused by a rate limit"


def test_an_abuser_refused_with_the_stable_code_passes_and_is_not_an_app_error() -> None:
    rows = [_request(4, 201), _request(4, 429, "scan_rate_limited"), _request(4, 429, "x")]
    rows[2]["error"] = "scan_rate_limited"
    samples = _samples(rows)
    assert [o.value for o in samples.observations("abuser_not_limited")] == [0.0]
    assert (
        samples.observations("error_ratio") == []
    )  # the abuser's refusals are not the app's errors
    assert _smoke_verdict(ABUSER_GATE, samples) is Verdict.PASS


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ([(201, "")] * 5, "never_refused"),  # a build without limits
        ([(201, ""), (429, "scan_rate_limited:no_retry_after")], "wrong_refusal"),
        ([(429, "scan_rate_limited"), (429, "too_many_streams")], "wrong_refusal"),
    ],
)
def test_an_abuser_not_refused_as_agreed_fails_the_gate(
    answers: list[tuple[int, str]], reason: str
) -> None:
    samples = _samples([_request(4, status, error) for status, error in answers])
    (seen,) = samples.observations("abuser_not_limited")
    assert seen.value == 1.0 and dict(seen.tags) == {"reason": reason}
    assert _smoke_verdict(ABUSER_GATE, samples) is Verdict.FAIL


def test_one_refused_honest_request_fails_the_honest_gate() -> None:
    honest = [_request(n % 5, 201, actor="app") for n in range(120)]
    assert _smoke_verdict(HONEST_GATE, _samples(honest)) is Verdict.PASS
    honest[60] = _request(3, 429, "scan_rate_limited", actor="app")
    samples = _samples(honest)
    refused = [o for o in samples.observations("honest_rate_limited") if o.value]
    assert [dict(o.tags) for o in refused] == [{"request": ANALYZE, "code": "scan_rate_limited"}]
    assert _smoke_verdict(HONEST_GATE, samples) is Verdict.FAIL


def test_request_rows_written_before_the_actor_column_count_as_the_apps(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ts", "process", "name", "method", "status", "ms", "ok", "error"])
        writer.writerow([1_700_000_000.0, 0, ANALYZE, "POST", 201, 12.0, "true", ""])
    samples = _samples(read_requests(path))
    assert [o.value for o in samples.observations("honest_rate_limited")] == [0.0]
