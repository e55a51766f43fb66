"""What a fault run measures, per fault (Chaos Toolkit's steady-state hypothesis, checked
before, during and after each fault):

- ``before`` / ``during`` / ``after``: for the sliding window before the fault, the fault itself
  and the window once it had recovered, the processing p95 of the scans that *finished* in it
  (as a monitor's sliding-window percentile sees it: a backlog draining late counts), and the
  jobs, failed and lost among the scans that *started* in it;
- recovery time: from the end of the fault (a restarted server answering again) until the
  processing p95 over a sliding window and the queue depths are back at their steady level
  (p95: the higher of the window before the fault and the run before its first fault, times
  :data:`P95_TOLERANCE`; depths: the window before, plus :data:`DEPTH_SLACK`); ``None`` when
  they never were;
- jobs lost, failed and answered twice among the jobs the fault owns. Each job belongs to at
  most one fault: the last one that began before the job ended (and ended no more than
  :data:`INFLUENCE_SECONDS` before the job began); a lost job, which never ended, to the first
  fault it lived through.

A job *answered twice* is one whose stored answer changed after the app had it: the database's
``finished_at`` is later than when the user saw the result (a redelivery that ran the job
again and wrote a second answer). A second answer written before the user looked is not seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.collect.series import Series
from harness.gates.measurements import NO_FAULT, Samples
from harness.gates.stats import percentile

#: The sliding window of the steady-state checks, in real seconds at ``time_scale`` 1.
WINDOW_SECONDS = 10.0
#: Processing p95 counts as back when within this factor of the level before the fault ...
P95_TOLERANCE = 1.5
#: ... and queue depths when at most this many messages above their level before it.
DEPTH_SLACK = 2.0
#: A job accepted this long after a fault ended still counts as touched by it.
INFLUENCE_SECONDS = 30.0
#: Fewest finished scans a window needs to say anything about a p95.
MIN_WINDOW_JOBS = 3
#: Queues whose depth must come back (q.dlq keeps what failed; q.batch is background).
STEADY_QUEUES = ("q.ai", "q.api")
#: Seconds of slack between the database's clock and the user's view of a finished job.
ANSWER_SLACK = 1.0


@dataclass(frozen=True)
class Phase:
    """The steady-state probe over one stretch of the timeline."""

    start: float
    end: float
    jobs: int
    failed: int
    lost: int
    p95_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FaultOutcome:
    """One fault as the system lived it."""

    label: str
    kind: str
    started: float
    ended: float
    before: Phase
    during: Phase
    after: Phase | None
    recovery_seconds: float | None
    lost: int
    failed: int
    answered_twice: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["recovered"] = self.recovery_seconds is not None
        return data


def seen_at(event: Mapping[str, Any]) -> float | None:
    """When the user had the scan's outcome (epoch seconds), from its scheduled start."""
    scheduled, took = event.get("scheduled_at"), event.get("end_to_end_ms")
    if scheduled is None or took is None:
        return None
    return float(scheduled) + float(took) / 1000.0


def _span(event: Mapping[str, Any]) -> tuple[float, float]:
    start = float(event.get("started_at") or event.get("scheduled_at") or 0.0)
    return start, seen_at(event) or start


def _accepted(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("accepted")]


def _lost(event: Mapping[str, Any]) -> bool:
    return event.get("status") not in ("done", "failed")


def phase(events: Sequence[Mapping[str, Any]], start: float, end: float) -> Phase:
    """The probe over ``[start, end)``: p95 of the scans that finished in it, counts of the
    accepted scans that started in it."""
    inside = [e for e in _accepted(events) if start <= _span(e)[0] < end]
    times = [
        float(e["processing_ms"])
        for e in _accepted(events)
        if e.get("status") == "done"
        and e.get("processing_ms") is not None
        and not e.get("settled_late")
        and start <= _span(e)[1] < end
    ]
    return Phase(
        start=start,
        end=end,
        jobs=len(inside),
        failed=sum(e.get("status") == "failed" for e in inside),
        lost=sum(_lost(e) for e in inside),
        p95_ms=percentile(times, 95) if len(times) >= MIN_WINDOW_JOBS else None,
    )


def _depths(series: Series, start: float, end: float) -> list[float]:
    return [
        p.value
        for p in series.select("queue_depth")
        if p.tag("queue") in STEADY_QUEUES and start <= p.ts < end
    ]


def recovery_seconds(
    events: Sequence[Mapping[str, Any]],
    series: Series,
    *,
    fault_end: float,
    before: Phase,
    baseline_p95: float | None,
    window: float,
    run_end: float,
    step: float = 0.5,
) -> float | None:
    """Seconds from ``fault_end`` to the first moment whose following ``window`` has the
    processing p95 and the queue depths back at the steady level; ``None`` if none has."""
    # The steady level: what the window before the fault showed, or what the run showed before
    # its first fault if that is higher (one quiet window is a noisy probe).
    levels = [p for p in (before.p95_ms, baseline_p95) if p is not None]
    if not levels:
        return None
    level = max(levels)
    steady_depth = max(_depths(series, before.start, before.end), default=0.0) + DEPTH_SLACK
    t = fault_end
    while t + window <= run_end + 1e-9:
        probe = phase(events, t, t + window)
        depths = _depths(series, t, t + window)
        if (
            probe.p95_ms is not None
            and probe.p95_ms <= level * P95_TOLERANCE
            and probe.lost == 0
            and depths
            and max(depths) <= steady_depth
        ):
            return t - fault_end
        t += step
    return None


@dataclass(frozen=True)
class Played:
    """A fault that began and ended, from the timeline's window."""

    label: str
    kind: str
    started: float
    ended: float


def played(windows: Iterable[Mapping[str, Any]]) -> list[Played]:
    """The faults of ``windows`` (the timeline's, as dicts) that began and ended, in time order."""
    return sorted(
        (
            Played(str(w["label"]), str(w["kind"]), float(w["started"]), float(w["ended"]))
            for w in windows
            if w.get("started") and w.get("ended")
        ),
        key=lambda p: p.started,
    )


def fault_of(event: Mapping[str, Any], faults: Sequence[Played]) -> str:
    """The label of the fault a job belongs to (see :func:`owner`), or :data:`NO_FAULT`."""
    index = owner(event, [(f.started, f.ended) for f in faults])
    return NO_FAULT if index is None else faults[index].label


def owner(event: Mapping[str, Any], windows: Sequence[tuple[float, float]]) -> int | None:
    """The index of the fault (``windows``: (started, ended), in time order) a job belongs to,
    or ``None`` when no fault touched it."""
    begin, finish = _span(event)
    if _lost(event):
        lived = [i for i, (_, ended) in enumerate(windows) if ended >= begin]
        if lived:
            return lived[0]
        last = len(windows) - 1
        return last if windows and begin <= windows[last][1] + INFLUENCE_SECONDS else None
    candidates = [
        i
        for i, (started, ended) in enumerate(windows)
        if started <= finish and begin <= ended + INFLUENCE_SECONDS
    ]
    return candidates[-1] if candidates else None


def judge_faults(
    windows: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    series: Series,
    *,
    twice: set[str],
    time_scale: float,
    steady_from: float,
    run_end: float,
) -> list[FaultOutcome]:
    """One outcome per fault that began and ended (``windows``: the timeline's, as dicts);
    ``steady_from`` is the end of the warm-up (a cold cache is no steady state)."""
    window = max(3.0, WINDOW_SECONDS * time_scale)
    faults = played(windows)
    spans = [(f.started, f.ended) for f in faults]
    owners = [(e, owner(e, spans)) for e in _accepted(events)]
    # The steady state before the experiment (Chaos Toolkit's hypothesis): scans finished
    # after the warm-up and before the first fault began.
    first = spans[0][0] if spans else run_end
    baseline = phase(events, steady_from, first).p95_ms
    outcomes = []
    for index, fault in enumerate(faults):
        started, ended = spans[index]
        before = phase(events, started - window, started)
        # A window reaching into the next fault would measure that one: recovery is looked
        # for until the next fault begins.
        until = spans[index + 1][0] if index + 1 < len(spans) else run_end
        recovered = recovery_seconds(
            events,
            series,
            fault_end=ended,
            before=before,
            baseline_p95=baseline,
            window=window,
            run_end=until,
        )
        after = None
        if recovered is not None:
            after = phase(events, ended + recovered, ended + recovered + window)
        own = [e for e, o in owners if o == index]
        outcomes.append(
            FaultOutcome(
                label=fault.label,
                kind=fault.kind,
                started=started,
                ended=ended,
                before=before,
                during=phase(events, started, ended),
                after=after,
                recovery_seconds=recovered,
                lost=sum(_lost(e) for e in own),
                failed=sum(e.get("status") == "failed" for e in own),
                answered_twice=sum(str(e.get("job_id")) in twice for e in own),
            )
        )
    return outcomes


def answered_twice(
    events: Iterable[Mapping[str, Any]], finished: Mapping[str, float | None]
) -> set[str]:
    """Jobs the user saw done whose stored answer was written again afterwards.

    ``finished`` maps job ids to the database's ``finished_at`` (epoch seconds).
    """
    twice = set()
    for e in events:
        job = str(e.get("job_id") or "")
        seen = seen_at(e)
        stored = finished.get(job)
        if e.get("settled_late"):
            continue  # the user never saw it end: there is no first answer to compare with
        done = e.get("status") == "done" and seen is not None and stored is not None
        if done and stored > seen + ANSWER_SLACK:  # type: ignore[operator]
            twice.add(job)
    return twice


def add_observations(
    samples: Samples,
    outcomes: Sequence[FaultOutcome],
    events: Sequence[Mapping[str, Any]],
    *,
    twice: set[str],
) -> None:
    """The fault gates' metrics (see :mod:`harness.gates.measurements`)."""
    spans = [(o.started, o.ended) for o in outcomes]
    for o in outcomes:
        tags = {"fault": o.label}
        samples.record_event("unrecovered_faults", o.recovery_seconds is None, t=o.ended, tags=tags)
        if o.recovery_seconds is not None:
            samples.record("recovery_time", o.recovery_seconds * 1000, t=o.ended, tags=tags)
        if o.after is not None:
            for e in _accepted(events):
                finish = _span(e)[1]
                if (
                    o.after.start <= finish < o.after.end
                    and e.get("status") == "done"
                    and e.get("processing_ms") is not None
                    and not e.get("settled_late")
                ):
                    samples.record(
                        "processing_after_fault", float(e["processing_ms"]), t=finish, tags=tags
                    )
    for e in _accepted(events):
        begin = _span(e)[0]
        if e.get("status") == "done":
            samples.record_event("answered_twice", str(e.get("job_id")) in twice, t=begin)
        if e.get("status") in ("done", "failed") and owner(e, spans) is None:
            samples.record_event("failed_outside_faults", e.get("status") == "failed", t=begin)
