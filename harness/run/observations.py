"""Turning a run's raw records (``events.csv``, ``requests.csv``, the sampled series) into the
observations gates judge (:class:`harness.gates.measurements.Samples`).

One place decides what each gate metric means for this system:

- ``processing_time``: upload-complete sent -> result visible, per finished scan (tag cache)
- ``end_to_end_time``: the scan's *scheduled* start -> result visible (no coordinated omission)
- ``cache_hit_ratio``: per finished scan, 1 when served from the cache (tag match: exact, near,
  model)
- ``wrong_answers``: per finished scan, 1 when the category is not the photo's true one (tags
  cache, match)
- ``failed_jobs``: per accepted job that ended, 1 when it ended failed (tag reason)
- ``lost_jobs``: per accepted job, 1 when it had not ended by the end of the drain
- ``error_ratio``: per HTTP request of the app, 1 when it failed (5xx, unexpected status, no
  answer); an abusive user's requests (``actor`` abuser) are not the app's
- ``honest_rate_limited``: per HTTP request of the app, 1 when a limit refused it (429)
- ``abuser_not_limited``: per abusive user, 1 when no analysis of its was refused with 429
  ``scan_rate_limited`` and a Retry-After (reason never_refused), or one was refused otherwise
  (reason wrong_refusal)
- ``queue_wait``: per AI job, queued -> started by a worker (server clock), tag queue=q.ai
- ``server_processing_time``: per finished scan, queued -> result stored (server clock)
- ``stack_overhead``: per finished scan, server processing minus the model's time
- ``stage_time``: per finished scan and stage (tag stage), the server's stage times
- in a run with faults, every per-job metric above is also tagged ``fault``: the label of the
  fault that touched the job (:func:`harness.run.recovery.fault_of`), or ``none``, so a gate
  can judge the steady state outside the faults (``tags = { fault = "none" }``)
- ``queue_depth``, ``dlq_length``, ``redis_clients``: sampled gauges
- ``tier_cpu``, ``tier_memory``: per sample, the CPU (cores) and RSS of a tier's processes
  summed, as a share of the tier's budget (``reference.common.tiers.tier_budget``)
- what the user sees (recorded by the load generator, :mod:`loadtests.progress` and
  :mod:`loadtests.history_check`): ``progress_backwards``, ``progress_frozen``,
  ``status_result_mismatch``, ``follow_mismatch`` per scan as its row says (an empty cell: the
  check did not apply); ``history_missing`` per scan the client saw end (not one the harness
  settled late: the user could not have seen it), from its user's row in ``checks.csv``;
  ``stats_mismatch`` per user. Fail closed: a user who scanned but has no check row, or whose
  check could not read its history, counts 1 (reason ``unchecked``) on both.

A target run has no process samples nor servers of its own: those gauges come from the cluster's
Prometheus (:mod:`harness.collect.promql`) or are marked unavailable with the reason.

A finished scan whose result lacks a server time one of these needs is recorded as missing
(:meth:`Samples.record_missing`), so a gate on it cannot pass on the scans that have it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.collect.series import Series
from harness.gates.measurements import Samples
from harness.run import recovery
from loadtests import abuse
from loadtests.records import SERVER_TIMINGS
from reference.common import tiers
from reference.waste.stages import STAGES

SERIES_GAUGES = ("queue_depth", "dlq_length", "redis_clients")
# The events.csv column of each server stage time (the result's ``<stage>_ms``).
STAGE_COLUMNS = {stage: SERVER_TIMINGS[f"{stage}_ms"] for stage in STAGES}
# Per-scan checks the load generator wrote as event columns, each a rate metric of that name.
SCAN_CHECKS = ("progress_backwards", "progress_frozen", "status_result_mismatch", "follow_mismatch")


def _job_tags(event: Mapping[str, Any], faults: Sequence[recovery.Played]) -> dict[str, str]:
    tags = {"follow": str(event.get("follow") or "poll")}
    if event.get("variant"):
        tags["variant"] = str(event["variant"])
    if event.get("mode"):
        tags["mode"] = str(event["mode"])
    if faults:
        tags["fault"] = recovery.fault_of(event, faults)
    return tags


def add_events(
    samples: Samples,
    events: Iterable[Mapping[str, Any]],
    faults: Sequence[recovery.Played] = (),
) -> None:
    for e in events:
        t = float(e.get("started_at") or e.get("scheduled_at") or 0.0)
        tags = _job_tags(e, faults)
        status = e.get("status")
        accepted = bool(e.get("accepted"))
        if status == "done":
            cache = "hit" if e.get("cache_hit") else "miss"
            if e.get("processing_ms") is not None:
                samples.record(
                    "processing_time", e["processing_ms"], t=t, tags={**tags, "cache": cache}
                )
            if e.get("end_to_end_ms") is not None:
                samples.record(
                    "end_to_end_time", e["end_to_end_ms"], t=t, tags={**tags, "cache": cache}
                )
            match = _match(e)
            samples.record_event(
                "cache_hit_ratio", bool(e.get("cache_hit")), t=t, tags={**tags, "match": match}
            )
            if e.get("expected_category"):
                wrong = e.get("got_category") != e.get("expected_category")
                samples.record_event(
                    "wrong_answers", wrong, t=t, tags={**tags, "cache": cache, "match": match}
                )
            add_server_times(samples, e, t=t, tags={**tags, "cache": cache})
        if accepted and status in ("done", "failed"):
            reason = str(e.get("error_code") or "") if status == "failed" else ""
            failed_tags = {**tags, "reason": reason} if reason else tags
            samples.record_event("failed_jobs", status == "failed", t=t, tags=failed_tags)
        if accepted:
            samples.record_event("lost_jobs", status not in ("done", "failed"), t=t, tags=tags)
        for name in SCAN_CHECKS:
            if e.get(name) is not None:
                samples.record_event(name, bool(e[name]), t=t, tags=tags)
        if e.get("server_queue_wait_ms") is not None:
            task = "image.classify" if e.get("mode") == "classify" else "image.analyze"
            samples.record(
                "queue_wait", e["server_queue_wait_ms"], t=t, tags={"queue": "q.ai", "task": task}
            )


def _match(event: Mapping[str, Any]) -> str:
    """How the scan was answered: exact, near (the cache) or model; a result from before the
    server said so counts as exact when it was a hit."""
    found = str(event.get("cache_match") or "")
    if found in ("exact", "near", "model"):
        return found
    return "exact" if event.get("cache_hit") else "model"


def add_server_times(
    samples: Samples, event: Mapping[str, Any], *, t: float, tags: Mapping[str, str]
) -> None:
    """The server-side times of one finished scan: processing, overhead, each stage."""
    hit = tags["cache"] == "hit"

    def value(column: str) -> float | None:
        found = event.get(column)
        return None if found is None else float(found)

    processing, model = value("server_processing_ms"), value("model_ms")
    if processing is None:
        samples.record_missing("server_processing_time", "server_processing_ms", t=t, tags=tags)
        samples.record_missing("stack_overhead", "server_processing_ms", t=t, tags=tags)
    else:
        samples.record("server_processing_time", processing, t=t, tags=tags)
        if hit:
            samples.record("stack_overhead", processing, t=t, tags=tags)
        elif model is None:
            samples.record_missing("stack_overhead", "model_ms", t=t, tags=tags)
        else:
            samples.record("stack_overhead", max(0.0, processing - model), t=t, tags=tags)
    for stage, column in STAGE_COLUMNS.items():
        if stage == "model" and hit:
            continue  # a hit calls no model
        stage_tags = {**tags, "stage": stage}
        found = value(column)
        if found is None:
            samples.record_missing("stage_time", column, t=t, tags=stage_tags)
        else:
            samples.record("stage_time", found, t=t, tags=stage_tags)


def _user(row: Mapping[str, Any]) -> tuple[str, str]:
    return str(row.get("process")), str(row.get("user"))


def _seen_ended(event: Mapping[str, Any]) -> bool:
    return event.get("status") in ("done", "failed") and not event.get("settled_late")


def add_checks(
    samples: Samples,
    events: Iterable[Mapping[str, Any]],
    checks: Iterable[Mapping[str, Any]],
    faults: Sequence[recovery.Played] = (),
) -> None:
    by_user = {_user(c): c for c in checks}
    last_seen: dict[tuple[str, str], float] = {}
    for e in events:
        t = float(e.get("started_at") or e.get("scheduled_at") or 0.0)
        key = _user(e)
        last_seen[key] = max(t, last_seen.get(key, t))
        if not (_seen_ended(e) and e.get("job_id")):
            continue
        reason = _history_reason(str(e["job_id"]), by_user.get(key))
        tags = {**_job_tags(e, faults), **({"reason": reason} if reason else {})}
        samples.record_event("history_missing", bool(reason), t=t, tags=tags)
    for key in sorted(set(last_seen) | set(by_user)):
        check = by_user.get(key)
        if check is None or check.get("error"):
            reason = "unchecked"
        else:
            reason = "mismatch" if check.get("stats_mismatch") else ""
        t = float((check or {}).get("checked_at") or last_seen[key])
        tags = {"reason": reason} if reason else {}
        samples.record_event("stats_mismatch", bool(reason), t=t, tags=tags)


def _history_reason(job_id: str, check: Mapping[str, Any] | None) -> str:
    if check is None or check.get("error"):
        return "unchecked"
    if job_id in str(check.get("history_missing") or "").split():
        return "missing"
    wrong = {entry.split(":", 1)[0] for entry in str(check.get("history_wrong") or "").split()}
    return "wrong" if job_id in wrong else ""


def check_notes(
    events: Iterable[Mapping[str, Any]], checks: Iterable[Mapping[str, Any]]
) -> list[str]:
    """What the report says about users whose history and statistics were not checked."""
    by_user = {_user(c): c for c in checks}
    users = {_user(e) for e in events}
    absent = sorted(users - set(by_user))
    failed = sorted((key, c["error"]) for key, c in by_user.items() if c.get("error"))
    notes = []
    if absent:
        shown = ", ".join(f"p{p}-u{u}" for p, u in absent[:10])
        notes.append(
            f"{len(absent)} user(s) who scanned wrote no history check (the load generator "
            f"stopped them before they could): {shown}; counted as unchecked"
        )
    for (process, user), error in failed[:10]:
        notes.append(f"history check of p{process}-u{user} failed, counted as unchecked: {error}")
    if len(failed) > 10:
        notes.append(f"... and {len(failed) - 10} more failed history checks")
    return notes


def add_requests(samples: Samples, requests: Iterable[Mapping[str, Any]]) -> None:
    """The app's requests (error ratio, refused by a limit) and, per abusive user, whether the
    limits refused it as they should (:mod:`loadtests.abuse`)."""
    abusers: dict[tuple[str, str], tuple[float, str]] = {}
    for r in requests:
        t = float(r.get("ts") or 0.0)
        status = str(r.get("status") or "")
        request = str(r.get("name") or "?")
        if r.get("actor") == abuse.ACTOR:
            first, verdict = abusers.get(_user(r), (t, "never_refused"))
            if request == abuse.ANALYZE:
                verdict = _abuser_verdict(verdict, status, str(r.get("error") or ""))
            abusers[_user(r)] = (min(first, t), verdict)
            continue
        samples.record_event(
            "error_ratio", not r.get("ok"), t=t, tags={"request": request, "status": status}
        )
        limited = status == "429"
        tags = {"request": request, **({"code": str(r.get("error") or "")} if limited else {})}
        samples.record_event("honest_rate_limited", limited, t=t, tags=tags)
    for first, verdict in abusers.values():
        tags = {} if verdict == "refused" else {"reason": verdict}
        samples.record_event("abuser_not_limited", verdict != "refused", t=first, tags=tags)


def _abuser_verdict(verdict: str, status: str, error: str) -> str:
    """An abusive user's standing after one more analysis answered ``status``: refused once a
    429 carried the stable code and a Retry-After; any other 429 (another code, no
    Retry-After) makes it wrong_refusal for good."""
    if verdict == "wrong_refusal" or status != "429":
        return verdict
    return "refused" if error == abuse.REFUSAL_CODE else "wrong_refusal"


def add_series(samples: Samples, series: Series) -> None:
    for name in SERIES_GAUGES:
        for p in series.select(name):
            samples.record(name, p.value, t=p.ts, tags=dict(p.tags))


def add_tier_use(
    samples: Samples,
    series: Series,
    *,
    budget: Callable[[str], tiers.TierBudget] = tiers.tier_budget,
) -> None:
    """``tier_cpu`` and ``tier_memory`` from the process samples (``cpu_percent`` is of one
    core, ``rss_bytes``), one observation per tier per sampling instant."""
    known = {node.tier for node in tiers.NODES}
    for source, name, scale in (
        ("cpu_percent", "tier_cpu", lambda b: b.cpu_millis / 10),  # percent of one core
        ("rss_bytes", "tier_memory", lambda b: b.memory_bytes),
    ):
        totals: dict[tuple[float, str], float] = defaultdict(float)
        for p in series.select(source):
            tier = p.tag("tier")
            if tier in known:
                totals[(p.ts, tier)] += p.value
        for (ts, tier), used in sorted(totals.items()):
            samples.record(name, used / scale(budget(tier)), t=ts, tags={"tier": tier})


def build(
    events: Iterable[Mapping[str, Any]],
    requests: Iterable[Mapping[str, Any]],
    series: Series,
    *,
    start: float,
    end: float,
    checks: Iterable[Mapping[str, Any]] = (),
    faults: Sequence[recovery.Played] = (),
) -> Samples:
    """Every observation of a run; with ``faults`` (the faults played), the job metrics are
    tagged with the fault that touched each job (``fault``, or ``none``)."""
    events = list(events)
    samples = Samples(start=start, end=end)
    add_events(samples, events, faults)
    add_checks(samples, events, checks, faults)
    add_requests(samples, requests)
    add_series(samples, series)
    add_tier_use(samples, series)
    return samples
