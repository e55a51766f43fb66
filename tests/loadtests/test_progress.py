"""The checks on what a follower of a job saw: progress, status against result, two followers."""

from __future__ import annotations

from typing import Any

import pytest

from loadtests.progress import Trail, must_show_progress, same_result, status_agrees


def state(status: str, stage: str, progress: int, **extra: Any) -> dict[str, Any]:
    return {"status": status, "stage": stage, "progress": progress, **extra}


QUEUED = state("queued", "queued", 5)
CLASSIFYING = state("processing", "classifying", 50)
SAVING = state("processing", "saving", 90)
DONE = state("done", "done", 100)
FAILED = state("failed", "failed", 100, error={"code": "model_unavailable"})


def trail(*states: dict[str, Any], result: dict[str, Any] | None = None) -> Trail:
    seen = Trail("poll", result=result)
    for s in states:
        seen.add(s, 10.0)
    return seen


def test_a_healthy_sequence_moves_forward_and_shows_the_work() -> None:
    seen = trail(QUEUED, QUEUED, CLASSIFYING, CLASSIFYING, SAVING, DONE)
    assert not seen.went_backwards()
    assert seen.saw_intermediate() and seen.ended
    assert seen.stages_text() == "queued:5>classifying:50>saving:90>done:100"


@pytest.mark.parametrize(
    "states",
    [
        (QUEUED, SAVING, CLASSIFYING, DONE),  # less progress than before
        (QUEUED, CLASSIFYING, QUEUED, DONE),  # back to the queue
        (QUEUED, DONE, CLASSIFYING),  # unfinished after done
        (QUEUED, DONE, FAILED),  # ended twice, differently
    ],
)
def test_progress_going_back_is_caught(states: tuple[dict[str, Any], ...]) -> None:
    assert trail(*states).went_backwards()


def test_a_frozen_sequence_shows_no_stage_between_queued_and_done() -> None:
    seen = trail(QUEUED, QUEUED, QUEUED, DONE)
    assert not seen.saw_intermediate()
    assert not seen.went_backwards()


def test_answers_without_stage_or_percent_still_read() -> None:
    seen = trail({"status": "queued"}, {"status": "done"})
    assert seen.stages_text() == "queued>done"
    assert not seen.went_backwards() and not seen.saw_intermediate()


def test_a_poller_must_see_a_model_call_longer_than_its_read_spacing() -> None:
    # reads every 500 ms, requests up to 40 ms: at most 540 ms apart
    assert must_show_progress(model_ms=600, poll_interval=0.5, slowest_ms=40)
    assert not must_show_progress(model_ms=500, poll_interval=0.5, slowest_ms=40)
    # a request slower than the interval widens the spacing to twice its time
    assert not must_show_progress(model_ms=1100, poll_interval=0.1, slowest_ms=600)
    assert must_show_progress(model_ms=1300, poll_interval=0.1, slowest_ms=600)


def test_a_poller_is_held_to_progress_only_when_it_read_the_job_before_and_after_the_work() -> None:
    assert trail(QUEUED, QUEUED, DONE).held_to_progress(model_ms=600, poll_interval=0.5)
    # its requests took 10 ms: reads at most 510 ms apart
    assert not trail(QUEUED, DONE).held_to_progress(model_ms=500, poll_interval=0.5)
    # first read after the work began (it may have run before it): nothing to hold it to
    assert not trail(DONE).held_to_progress(model_ms=600, poll_interval=0.5)
    assert not trail(CLASSIFYING, DONE).held_to_progress(model_ms=600, poll_interval=0.5)
    # never saw the end: the call may still have been running
    assert not trail(QUEUED, QUEUED).held_to_progress(model_ms=600, poll_interval=0.5)


def test_a_miss_is_frozen_only_when_its_poller_had_to_see_the_work_and_did_not() -> None:
    assert trail(QUEUED, QUEUED, DONE).frozen(model_ms=600, poll_interval=0.5) is True
    # shown the work: not frozen, however seldom it read (even first read mid-way)
    assert trail(CLASSIFYING, DONE).frozen(model_ms=100, poll_interval=0.5) is False
    assert trail(QUEUED, SAVING, DONE).frozen(model_ms=100, poll_interval=0.5) is False
    # not shown the work, but it may have read too seldom: no verdict
    assert trail(QUEUED, DONE).frozen(model_ms=300, poll_interval=0.5) is None


def test_status_and_result_agree_on_the_end_and_its_error() -> None:
    done = {"status": "done", "error": None}
    assert status_agrees(trail(QUEUED, DONE, result=done))
    failed = {"status": "failed", "error": {"code": "model_unavailable"}}
    assert status_agrees(trail(QUEUED, FAILED, result=failed))
    assert not status_agrees(trail(QUEUED, DONE, result=failed))
    other_error = {"status": "failed", "error": {"code": "image_missing"}}
    assert not status_agrees(trail(QUEUED, FAILED, result=other_error))
    assert not status_agrees(trail(QUEUED, result=done))  # the status never said it ended
    lagged = trail(QUEUED, DONE, DONE, result=done)
    lagged.result_lagged = True  # status done, result still 202
    assert not status_agrees(lagged)


def test_two_followers_agree_only_on_the_same_answer() -> None:
    answer = {
        "status": "done",
        "cache_hit": False,
        "result": {"category": "plastic", "item": "cup", "analysis_id": "a1"},
    }
    assert same_result(answer, dict(answer))
    assert not same_result(answer, {**answer, "cache_hit": True})
    other = {**answer, "result": {**answer["result"], "category": "glass"}}
    assert not same_result(answer, other)
    assert not same_result(answer, {"status": "failed", "error": {"code": "x"}})
