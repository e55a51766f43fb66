"""What a follower of a job saw, and the checks on it (no locust import).

A :class:`Trail` keeps the states one follower of a job saw in order: a poller (the status
answers, with how long each request took) or the event stream (its progress events), then the
result it got. The checks a scan records from its trails:

- :meth:`Trail.went_backwards`: a later state showed less progress than an earlier one, or a
  job seen ended was later seen otherwise.
- :meth:`Trail.frozen`: a poller that had to read a cache miss while its model call ran saw a
  stage between queued and the end.
- :func:`status_agrees`: the terminal state and the result say the same (status, error), and
  the result did not lag behind a status that said the job had ended.
- :func:`same_result`: two followers of one job were given the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TERMINAL = ("done", "failed")
# Order of a job's statuses; a state never moves to an earlier one.
_RANK = {"awaiting_upload": 0, "queued": 1, "processing": 2, "done": 3, "failed": 3}
BEFORE_WORK = ("awaiting_upload", "queued")


@dataclass
class Trail:
    """The states one follower (``"poll"`` or ``"stream"``) saw, then its result."""

    follow: str
    states: list[dict[str, Any]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    result: dict[str, Any] | None = None
    # The status said the job had ended while the result still said it had not (HTTP 202).
    result_lagged: bool = False
    error: str = ""

    def add(self, state: Mapping[str, Any], latency_ms: float | None = None) -> None:
        self.states.append(dict(state))
        if latency_ms is not None:
            self.latencies_ms.append(latency_ms)

    @property
    def ended(self) -> bool:
        return bool(self.states) and self.states[-1].get("status") in TERMINAL

    @property
    def slowest_ms(self) -> float:
        return max(self.latencies_ms, default=0.0)

    def stages_text(self) -> str:
        """``queued:5>classifying:50>done:100``: the stages seen, repeats collapsed."""
        shown: list[str] = []
        for state in self.states:
            stage = str(state.get("stage") or state.get("status") or "?")
            text = f"{stage}:{state['progress']}" if state.get("progress") is not None else stage
            if not shown or shown[-1] != text:
                shown.append(text)
        return ">".join(shown)

    def went_backwards(self) -> bool:
        previous: tuple[int, int] | None = None
        previous_status = ""
        for state in self.states:
            status = str(state.get("status") or "")
            key = (_RANK.get(status, -1), int(state.get("progress") or 0))
            if previous is not None and (
                key < previous or (previous_status in TERMINAL and status != previous_status)
            ):
                return True
            previous, previous_status = key, status
        return False

    def frozen(self, *, model_ms: float, poll_interval: float) -> bool | None:
        """For a miss whose model call took ``model_ms``: False when this poller was shown the
        work, True when it was not although it had to be (:meth:`held_to_progress`), None when
        it may simply have read too seldom."""
        if self.saw_intermediate():
            return False
        return (
            True if self.held_to_progress(model_ms=model_ms, poll_interval=poll_interval) else None
        )

    def held_to_progress(self, *, model_ms: float, poll_interval: float) -> bool:
        """Whether this poller must have read the job while its model call ran: it first saw
        the job before any work (so the call came after that read), saw it end (so the call
        came before that one), and the call outlasted its reads' spacing
        (:func:`must_show_progress`)."""
        if not self.ended or self.states[0].get("status") not in BEFORE_WORK:
            return False
        return must_show_progress(
            model_ms=model_ms, poll_interval=poll_interval, slowest_ms=self.slowest_ms
        )

    def saw_intermediate(self) -> bool:
        """Whether a state between queued and the end was shown (the job being worked on)."""
        return any(state.get("status") not in (*BEFORE_WORK, *TERMINAL) for state in self.states)


def must_show_progress(*, model_ms: float, poll_interval: float, slowest_ms: float) -> bool:
    """Whether a model call ``model_ms`` long, between two reads of a poller, contains one.

    A poller starts a status request every ``poll_interval`` s, or at once when the last took
    longer; with requests of at most ``slowest_ms`` the server reads the state at most
    ``max(interval, slowest) + slowest`` apart, so a longer call contains a read, and the stage
    shown then is the one under way ("classifying").
    """
    interval_ms = poll_interval * 1000
    return model_ms > max(interval_ms, slowest_ms) + slowest_ms


def status_agrees(trail: Trail) -> bool:
    """The follower's terminal state and its result agree (status, and the error's code)."""
    if trail.result is None or trail.result_lagged or not trail.ended:
        return False
    state, result = trail.states[-1], trail.result
    if state.get("status") != result.get("status"):
        return False
    return _error_code(state) == _error_code(result)


def same_result(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Whether two followers of one job were given the same answer."""
    return _answer(first) == _answer(second)


def _answer(body: Mapping[str, Any]) -> tuple[object, ...]:
    result = body.get("result") or {}
    return (
        body.get("status"),
        body.get("cache_hit"),
        result.get("category"),
        result.get("item"),
        result.get("analysis_id"),
        _error_code(body),
    )


def _error_code(body: Mapping[str, Any]) -> object:
    return (body.get("error") or {}).get("code")
