"""The AI worker's stage timer: milliseconds per stage, retries added up, unknown stages refused."""

from __future__ import annotations

import pytest

from reference.waste.stages import STAGES, TIMED_STAGES, StageTimer


def test_a_stage_entered_twice_adds_up_and_an_exception_still_counts() -> None:
    timer = StageTimer()
    with timer.stage("model"):
        pass
    first = timer.ms["model"]
    with pytest.raises(RuntimeError), timer.stage("model"):
        raise RuntimeError("the model failed; its time was spent all the same")
    assert timer.ms["model"] >= first >= 0
    assert set(timer.ms) == {"model"}


def test_only_the_workers_stages_are_timed() -> None:
    assert TIMED_STAGES == ("download", "cache_lookup", "model", "store")
    assert STAGES[0] == "queue_wait" and STAGES[1:] == TIMED_STAGES  # from the timestamps
    with (
        pytest.raises(ValueError, match="unknown stage 'queue_wait'"),
        StageTimer().stage("queue_wait"),
    ):
        pass
