"""What a run measures: the metric registry (names, kinds, units, tags) and the ``Samples`` store.

Everything a gate can judge is an *observation*: ``(t, value, tags)`` under a metric name, where
``t`` is wall-clock time in epoch seconds (``time.time()``), ``value`` a float in the metric's
unit and ``tags`` string pairs such as ``queue="q.ai"``. The Locust users, the queue, Redis and
``/metrics`` collectors all append to one :class:`Samples`; several Locust processes each fill
their own and the runner merges them (:meth:`Samples.merge`, or JSON lines through
:meth:`Samples.dump_jsonl` / :meth:`Samples.load_jsonl`). Raw values are kept, never bucketed,
so percentiles over merged processes are exact.

Metric kinds (as in k6) decide what a value means and which aggregations a gate may use:

- ``trend``: one value per event (a duration in ms); ``p(N) avg min max med count``.
- ``rate``: one 0/1 value per event, 1 when the event *is* what the metric counts (a cache hit,
  a wrong answer, a failed request, a lost job); ``rate`` (share of 1s) and ``count`` (number
  of 1s). The number of observations is the denominator, so "no data" is visible.
- ``gauge``: a level sampled over time (queue depth); ``value`` (the last sample) and every
  trend aggregation over the samples.
- ``counter``: increments (tasks published); ``count`` (their sum) and ``rate`` (sum per second
  of the evaluation window).

A metric a target run cannot sample itself declares its PromQL beside it (``MetricSpec.promql``),
read from the cluster's Prometheus by :mod:`harness.collect.promql`. What a run could not observe
is marked with the reason (:meth:`Samples.mark_unavailable`), and gates on it are inconclusive.
Data that should have been there and was not (a finished scan whose result carried no server
timings) is recorded as *missing* under the metric it would have fed
(:meth:`Samples.record_missing`): a gate never passes while any of its data are missing.

Warm-up exclusion is a time filter: :meth:`Samples.excluding_warmup` keeps what was observed at
or after ``start + warmup``. Appending is safe from threads and greenlets (one ``list.append``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from harness.mocks.catalog import VARIANTS
from reference.common import tiers, topology
from reference.waste.stages import STAGES


class MetricKind(StrEnum):
    TREND = "trend"
    RATE = "rate"
    GAUGE = "gauge"
    COUNTER = "counter"


_TREND_AGGREGATIONS = frozenset({"p", "avg", "min", "max", "med", "count"})
AGGREGATIONS: Mapping[MetricKind, frozenset[str]] = MappingProxyType(
    {
        MetricKind.TREND: _TREND_AGGREGATIONS,
        MetricKind.GAUGE: _TREND_AGGREGATIONS | {"value"},
        MetricKind.RATE: frozenset({"rate", "count"}),
        MetricKind.COUNTER: frozenset({"count", "rate"}),
    }
)

TagValues = frozenset[str] | None  # None: any value (free-form, such as a request name)


@dataclass(frozen=True)
class PromQuery:
    """How a cluster's Prometheus answers a metric: a PromQL expression evaluated over the run's
    window, whose result labels named like the metric's tags become its tags; ``divisor`` turns
    a series' value into the metric's unit (cores or bytes into a share of the tier's budget).

    Queue depths and Redis clients are the services' and workers' own gauges (each process reads
    its own vhost and Redis, reference/workers/metrics.py); a step where any process's last read
    failed is left out, so a stale value shows as a gap instead of passing."""

    expr: str
    divisor: Callable[[Mapping[str, str]], float] | None = None


@dataclass(frozen=True)
class MetricSpec:
    """A metric a gate may name: kind, unit, the tags its observations carry, who records it."""

    name: str
    kind: MetricKind
    unit: str
    description: str
    recorded_by: str
    tags: Mapping[str, TagValues] = field(default_factory=dict)
    # Where a target run reads it: the cluster's Prometheus (harness.collect.promql).
    promql: PromQuery | None = None
    # Whether its values contain the model's latency, except for observations carrying one of
    # the ``model_free`` tag values (a cache hit calls no model): what ``model_scale`` is for.
    includes_model: bool = False
    model_free: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # What its observations are made of ("scans", "poller", "both_ways"): a scenario whose
    # mix supplies none cannot be gated on it (harness.scenario.requirements).
    needs: frozenset[str] = frozenset()

    @property
    def is_duration(self) -> bool:
        return self.unit == "ms"

    def includes_model_time(self, tags: Mapping[str, str]) -> bool:
        """Whether the observations a gate selects with ``tags`` contain the model's latency."""
        if not self.includes_model:
            return False
        return not any(tags.get(key) in values for key, values in self.model_free.items())


_QUEUES = frozenset(spec.name for spec in topology.QUEUES)
_TASKS = frozenset(task for spec in topology.QUEUES for task in spec.tasks)
_CACHE = frozenset({"hit", "miss"})
_MATCH = frozenset({"exact", "near", "model"})
_FOLLOW = frozenset({"poll", "stream"})
_MODES = frozenset({"analyze", "classify"})
_TIERS = frozenset(node.tier for node in tiers.NODES)
# Our workloads' containers only (cAdvisor, scraped per node and labelled with the node's tier):
# the control plane, kube-proxy and the CNI are not in any budget of ours.
_CONTAINERS = (
    'container!="", container!="POD", '
    'namespace=~"auth|users|locations|waste|messaging|default|monitoring"'
)
_HITS_FREE = {"cache": frozenset({"hit"})}
_HISTORY_REASONS = frozenset({"missing", "wrong", "unchecked"})
#: The ``fault`` tag of a job no fault touched.
NO_FAULT = "none"
_JOB_TAGS: Mapping[str, TagValues] = {
    "follow": _FOLLOW,
    "variant": frozenset(("new", *VARIANTS)),  # "new": a first photo of the item
    "mode": _MODES,
    # In a run with [[faults]]: the label of the fault that touched the job, or "none"
    # (harness.run.recovery.fault_of); the scenario checks the labels it names.
    "fault": None,
}

_SPECS = (
    MetricSpec(
        "processing_time", MetricKind.TREND, "ms",
        "from upload-complete sent to the finished result seen by the client",
        "locust", {**_JOB_TAGS, "cache": _CACHE}, includes_model=True, model_free=_HITS_FREE,
    ),
    MetricSpec(
        "end_to_end_time", MetricKind.TREND, "ms",
        "from the scan's scheduled start (its intended time, so a slow system cannot hide "
        "queueing: no coordinated omission) to the result in hand, S3 upload included",
        "locust", {**_JOB_TAGS, "cache": _CACHE}, includes_model=True, model_free=_HITS_FREE,
    ),
    MetricSpec(
        "server_processing_time", MetricKind.TREND, "ms",
        "server clock, per finished scan: upload-complete accepted to the result stored "
        "(processing_ms of the result); not quantised by the app's poll",
        "locust", {**_JOB_TAGS, "cache": _CACHE}, includes_model=True, model_free=_HITS_FREE,
    ),
    MetricSpec(
        "stack_overhead", MetricKind.TREND, "ms",
        "server clock, per finished scan: server processing minus the model's time (for a "
        "cache hit, the whole processing): what the stack itself adds",
        "locust", {**_JOB_TAGS, "cache": _CACHE},
    ),
    MetricSpec(
        "stage_time", MetricKind.TREND, "ms",
        "server clock, per finished scan and stage: queue_wait (queued to started; the value "
        "queue_wait{queue=q.ai} has), download (S3), cache_lookup (content key, Redis, decoding "
        "a hit), model (the model call(s), misses only), store (PostgreSQL until the result is "
        "stamped)",
        "locust", {**_JOB_TAGS, "cache": _CACHE, "stage": frozenset(STAGES)},
        includes_model=True, model_free={"stage": frozenset(STAGES) - {"model"}},
    ),
    MetricSpec(
        "cache_hit_ratio", MetricKind.RATE, "ratio",
        "one per finished analysis: 1 when the result says it came from the cache (match: "
        "exact digest, near perceptual hash, or model)",
        "locust", {**_JOB_TAGS, "match": _MATCH},
    ),
    MetricSpec(
        "wrong_answers", MetricKind.RATE, "ratio",
        "one per answer checked against the corpus truth: 1 when the item is wrong",
        "locust", {**_JOB_TAGS, "cache": _CACHE, "match": _MATCH},
    ),
    MetricSpec(
        "failed_jobs", MetricKind.RATE, "ratio",
        "one per job that reached an end: 1 when it ended failed (for example model errors)",
        "locust", {**_JOB_TAGS, "cache": _CACHE, "reason": None},
    ),
    MetricSpec(
        "lost_jobs", MetricKind.RATE, "ratio",
        "one per accepted job, stamped when it was accepted: 1 when it never reached done or "
        "failed by the end of the run plus its grace period",
        "runner", dict(_JOB_TAGS),
    ),
    MetricSpec(
        "error_ratio", MetricKind.RATE, "ratio",
        "one per HTTP request the app makes (an abusive user's are not the app's): 1 when it "
        "failed (5xx, unexpected status, connection error)",
        "locust", {"request": None, "status": None},
    ),
    MetricSpec(
        "honest_rate_limited", MetricKind.RATE, "ratio",
        "one per HTTP request an honest user (the app) makes: 1 when a rate limit or quota "
        "refused it (429)",
        "locust", {"request": None, "code": None},
    ),
    MetricSpec(
        "abuser_not_limited", MetricKind.RATE, "ratio",
        "one per abusive user (mix.abusive): 1 when none of its analyses past the scan limit "
        "was refused with 429, the stable code scan_rate_limited and a Retry-After",
        "locust", {"reason": frozenset({"never_refused", "wrong_refusal"})},
        needs=frozenset({"abusers"}),
    ),
    MetricSpec(
        "queue_wait", MetricKind.TREND, "ms",
        "per task: from published to started by a worker",
        "collector", {"queue": _QUEUES, "task": _TASKS},
    ),
    MetricSpec(
        "queue_depth", MetricKind.GAUGE, "messages",
        "ready messages in a queue, sampled periodically", "collector", {"queue": _QUEUES},
        promql=PromQuery(
            "max by (queue) (wastecoach_queue_messages)"
            " and on () (max(wastecoach_queue_sample_failed) == 0)"
        ),
    ),
    MetricSpec(
        "dlq_length", MetricKind.GAUGE, "messages",
        "messages in q.dlq, sampled periodically (alert bound: > 100)", "collector", {},
        promql=PromQuery(
            "max(wastecoach_dlq_messages) and on () (max(wastecoach_queue_sample_failed) == 0)"
        ),
    ),
    MetricSpec(
        "redis_clients", MetricKind.GAUGE, "clients",
        "the run's own Redis connections (named after it; on a target, all)", "collector", {},
        promql=PromQuery(
            "max(wastecoach_redis_connected_clients)"
            " and on () (max(wastecoach_redis_sample_failed) == 0)"
        ),
    ),
    MetricSpec(
        "history_missing", MetricKind.RATE, "ratio",
        "one per scan the user saw end (done or failed): 1 when the history the user read as "
        "it stopped lacks the scan (reason missing), shows it otherwise: another status or "
        "category than the user was served (wrong), or could not be read (unchecked)",
        "locust", {**_JOB_TAGS, "reason": _HISTORY_REASONS}, needs=frozenset({"scans"}),
    ),
    MetricSpec(
        "stats_mismatch", MetricKind.RATE, "ratio",
        "one per user, when it stopped: 1 when its statistics do not add up to its history "
        "(totals by status, cache hits, counts by category; reason mismatch), or could not be "
        "read (unchecked)",
        "locust", {"reason": frozenset({"mismatch", "unchecked"})},
    ),
    MetricSpec(
        "progress_backwards", MetricKind.RATE, "ratio",
        "one per polled scan: 1 when a later status showed less progress than an earlier one, "
        "or a job shown ended was later shown otherwise",
        "locust", dict(_JOB_TAGS), needs=frozenset({"scans", "poller"}),
    ),
    MetricSpec(
        "progress_frozen", MetricKind.RATE, "ratio",
        "one per polled cache miss that showed a stage between queued and done (0), or showed "
        "none although its poller first read it queued and its model call outlasted the "
        "poller's read spacing, so a read fell inside the call (1)",
        "locust", dict(_JOB_TAGS), needs=frozenset({"scans", "poller"}),
    ),
    MetricSpec(
        "follow_mismatch", MetricKind.RATE, "ratio",
        "one per finished scan also followed the other way (mix.follow_both): 1 when the "
        "second follower was given another result, or none",
        "locust", dict(_JOB_TAGS), needs=frozenset({"scans", "both_ways"}),
    ),
    MetricSpec(
        "status_result_mismatch", MetricKind.RATE, "ratio",
        "one per finished scan: 1 when a follower's terminal status and the result disagree "
        "(status, error code), or the result still said unfinished after the status said done",
        "locust", dict(_JOB_TAGS), needs=frozenset({"scans"}),
    ),
    MetricSpec(
        "batch_published", MetricKind.COUNTER, "tasks",
        "tasks the background flood published to q.batch", "runner",
        {"task": frozenset(topology.BATCH.tasks)},
    ),
    MetricSpec(
        "tier_cpu", MetricKind.GAUGE, "share of budget",
        "CPU used by a tier's processes (pods) as a share of the seed's CPU budget for the tier "
        "(reference/common/tiers.py; 1.0 is the budget, CPU limits are twice it)",
        "collector", {"tier": _TIERS},
        promql=PromQuery(
            f"sum by (tier) (rate(container_cpu_usage_seconds_total{{{_CONTAINERS}}}[1m]))",
            lambda tags: tiers.tier_budget(tags["tier"]).cpu_cores,
        ),
    ),
    MetricSpec(
        "tier_memory", MetricKind.GAUGE, "share of budget",
        "memory (RSS; on a cluster the working set) of a tier's processes as a share of the "
        "seed's memory budget for the tier (1.0 is the budget, which is also the limit)",
        "collector", {"tier": _TIERS},
        promql=PromQuery(
            f"sum by (tier) (container_memory_working_set_bytes{{{_CONTAINERS}}})",
            lambda tags: tiers.tier_budget(tags["tier"]).memory_bytes,
        ),
    ),
    # The fault timeline's (harness.run.recovery): one per fault, tagged with its label.
    MetricSpec(
        "recovery_time", MetricKind.TREND, "ms",
        "per fault that recovered: from its end until processing p95 over a sliding window "
        "and the queue depths are back at their level before it",
        "runner", {"fault": None},
    ),
    MetricSpec(
        "unrecovered_faults", MetricKind.RATE, "ratio",
        "one per fault: 1 when its steady state never came back before the run ended",
        "runner", {"fault": None},
    ),
    MetricSpec(
        "processing_after_fault", MetricKind.TREND, "ms",
        "processing time of the scans started in the window after a fault recovered",
        "runner", {"fault": None},
    ),
    MetricSpec(
        "answered_twice", MetricKind.RATE, "ratio",
        "one per job the user saw done: 1 when its stored answer was written again afterwards "
        "(a redelivery ran it a second time)",
        "runner",
    ),
    MetricSpec(
        "failed_outside_faults", MetricKind.RATE, "ratio",
        "one per ended job no fault touched (in flight during one, or accepted within 30 s "
        "after): 1 when it failed",
        "runner",
    ),
)  # fmt: skip
METRICS: Mapping[str, MetricSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
#: Metrics only a run with ``[[faults]]`` records (harness.run.recovery).
FAULT_METRICS = frozenset(
    {
        "recovery_time",
        "unrecovered_faults",
        "processing_after_fault",
        "answered_twice",
        "failed_outside_faults",
    }
)


def metric(name: str) -> MetricSpec:
    """The registered metric ``name``; ``KeyError`` lists the known ones."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of one metric at wall-clock time ``t`` (epoch seconds); tags sorted by key."""

    t: float
    value: float
    tags: Tags = ()

    def tag(self, key: str) -> str | None:
        return next((v for k, v in self.tags if k == key), None)

    def matches(self, selector: Mapping[str, str]) -> bool:
        """Whether every ``key=value`` of ``selector`` is among this observation's tags."""
        own = dict(self.tags)
        return all(own.get(k) == v for k, v in selector.items())


@dataclass(frozen=True, slots=True)
class Missing:
    """An observation that could not be made at ``t``: ``what`` names the absent datum."""

    t: float
    what: str
    tags: Tags = ()

    def matches(self, selector: Mapping[str, str]) -> bool:
        own = dict(self.tags)
        return all(own.get(k) == v for k, v in selector.items())


def _number(record: Mapping[str, object], key: str) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _freeze_tags(tags: Mapping[str, object] | None) -> Tags:
    return tuple(sorted((str(k), str(v)) for k, v in (tags or {}).items()))


class Samples:
    """Observations per metric name, plus the run's time bounds (epoch seconds).

    ``start`` is when load began (warm-up is counted from it); ``end`` when the run stopped
    (default: the latest observation). Both matter only for warm-up exclusion and counter rates.
    """

    def __init__(self, start: float | None = None, end: float | None = None) -> None:
        self.start = start
        self.end = end
        self._series: dict[str, list[Observation]] = {}
        # Metrics (or some of their tag sets) the run could not observe, with the reason: a gate
        # on them is inconclusive whatever was recorded (a window with gaps never passes).
        self._unavailable: list[tuple[str, Tags, str]] = []
        # Observations that should have been recorded and were not (Samples.record_missing).
        self._missing: dict[str, list[Missing]] = {}

    def mark_unavailable(
        self, name: str, reason: str, *, tags: Mapping[str, object] | None = None
    ) -> None:
        """Say why ``name`` (only its observations carrying ``tags``, when given) lacks data."""
        self._unavailable.append((name, _freeze_tags(tags), reason))

    def unavailable(self, name: str, tags: Mapping[str, str] | None = None) -> str | None:
        """Why a gate on ``name`` with the tag filter ``tags`` lacks data; None when it does not.

        An entry for a tag set applies to a filter naming those tags, or to no filter at all.
        """
        wanted = dict(tags or {})
        reasons = [
            reason
            for metric, marked, reason in self._unavailable
            if metric == name and all(wanted.get(k, v) == v for k, v in marked)
        ]
        return "; ".join(dict.fromkeys(reasons)) or None

    # -- recording ------------------------------------------------------------------------
    def record(
        self,
        name: str,
        value: float,
        *,
        t: float | None = None,
        tags: Mapping[str, object] | None = None,
    ) -> Observation:
        """Append one observation (``t`` defaults to now). Rate metrics take 0/1 or a bool."""
        spec = METRICS.get(name)
        number = float(value)
        if not name:
            raise ValueError("a metric needs a name")
        if not math.isfinite(number):
            raise ValueError(f"{name}: value must be a finite number, got {value!r}")
        if spec is not None and spec.kind is MetricKind.RATE and number not in (0.0, 1.0):
            raise ValueError(f"{name} is a rate: record 1 (it happened) or 0, got {value!r}")
        if spec is not None and spec.kind is MetricKind.COUNTER and number < 0:
            raise ValueError(f"{name} is a counter: increments must be >= 0, got {value!r}")
        obs = Observation(time.time() if t is None else float(t), number, _freeze_tags(tags))
        self._series.setdefault(name, []).append(obs)
        return obs

    def record_event(
        self,
        name: str,
        happened: bool,
        *,
        t: float | None = None,
        tags: Mapping[str, object] | None = None,
    ) -> Observation:
        """One event of a rate metric: ``True`` when it is what the metric counts."""
        return self.record(name, 1.0 if happened else 0.0, t=t, tags=tags)

    def increment(
        self,
        name: str,
        amount: float = 1.0,
        *,
        t: float | None = None,
        tags: Mapping[str, object] | None = None,
    ) -> Observation:
        """Add ``amount`` to a counter."""
        return self.record(name, amount, t=t, tags=tags)

    def record_missing(
        self, name: str, what: str, *, t: float, tags: Mapping[str, object] | None = None
    ) -> Missing:
        """Note that an observation of ``name`` could not be made: ``what`` was absent."""
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        gap = Missing(float(t), what, _freeze_tags(tags))
        self._missing.setdefault(name, []).append(gap)
        return gap

    # -- reading --------------------------------------------------------------------------
    def metrics(self) -> list[str]:
        return sorted(self._series)

    def observations(self, name: str, tags: Mapping[str, str] | None = None) -> list[Observation]:
        """The observations of ``name`` (in recording order) carrying every tag in ``tags``."""
        series = self._series.get(name, [])
        if not tags:
            return list(series)
        return [obs for obs in series if obs.matches(tags)]

    def missing(self, name: str, tags: Mapping[str, str] | None = None) -> list[Missing]:
        """What could not be observed of ``name`` among observations carrying ``tags``."""
        return [gap for gap in self._missing.get(name, []) if gap.matches(tags or {})]

    def values(self, name: str, tags: Mapping[str, str] | None = None) -> list[float]:
        return [obs.value for obs in self.observations(name, tags)]

    def __len__(self) -> int:
        return sum(len(series) for series in self._series.values())

    def last_time(self) -> float | None:
        times = [obs.t for series in self._series.values() for obs in series]
        return max(times) if times else None

    # -- time filters ---------------------------------------------------------------------
    def window(self, start: float | None = None, end: float | None = None) -> Samples:
        """A new store with the observations in ``[start, end]`` and those bounds."""
        out = Samples(
            start=self.start if start is None else start, end=self.end if end is None else end
        )
        for name, series in self._series.items():
            kept = [
                obs
                for obs in series
                if (start is None or obs.t >= start) and (end is None or obs.t <= end)
            ]
            if kept:
                out._series[name] = kept
        out._unavailable = list(self._unavailable)
        for name, gaps in self._missing.items():
            out._missing[name] = [
                gap
                for gap in gaps
                if (start is None or gap.t >= start) and (end is None or gap.t <= end)
            ]
        return out

    def excluding_warmup(self, warmup: float) -> Samples:
        """What was observed at or after ``start + warmup`` seconds (the measured part); with no
        ``start``, only a zero warm-up is possible and everything is kept."""
        if warmup < 0:
            raise ValueError(f"warm-up must be >= 0 seconds, got {warmup}")
        if self.start is None:
            if warmup == 0:
                return self.window()
            raise ValueError("these samples have no start time, so a warm-up cannot be excluded")
        return self.window(start=self.start + warmup)

    # -- combining and shipping -----------------------------------------------------------
    def merge(self, other: Samples) -> Samples:
        """Add ``other``'s observations to this store (start: the earlier, end: the later)."""
        for name, series in other._series.items():
            self._series.setdefault(name, []).extend(series)
        self._unavailable += other._unavailable
        for name, gaps in other._missing.items():
            self._missing.setdefault(name, []).extend(gaps)
        if other.start is not None:
            self.start = other.start if self.start is None else min(self.start, other.start)
        if other.end is not None:
            self.end = other.end if self.end is None else max(self.end, other.end)
        return self

    def records(self) -> Iterator[dict[str, object]]:
        """One JSON-ready dict per observation: ``{"metric", "t", "value", "tags"}``, then one
        per missing observation: ``{"metric", "t", "missing", "tags"}``."""
        for name, series in self._series.items():
            for obs in series:
                yield {"metric": name, "t": obs.t, "value": obs.value, "tags": dict(obs.tags)}
        for name, gaps in self._missing.items():
            for gap in gaps:
                yield {"metric": name, "t": gap.t, "missing": gap.what, "tags": dict(gap.tags)}

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, object]],
        *,
        start: float | None = None,
        end: float | None = None,
    ) -> Samples:
        out = cls(start=start, end=end)
        for rec in records:
            tags = rec.get("tags") or {}
            if not isinstance(tags, Mapping):
                raise ValueError(f"tags must be an object, got {tags!r}")
            if "missing" in rec:
                out.record_missing(
                    str(rec["metric"]), str(rec["missing"]), t=_number(rec, "t"), tags=tags
                )
                continue
            out.record(str(rec["metric"]), _number(rec, "value"), t=_number(rec, "t"), tags=tags)
        return out

    def dump_jsonl(self, path: Path) -> None:
        """Write a header line ``{"start", "end"}`` then one observation per line."""
        with path.open("w", encoding="utf-8") as out:
            out.write(json.dumps({"start": self.start, "end": self.end}) + "\n")
            for rec in self.records():
                out.write(json.dumps(rec) + "\n")

    @classmethod
    def load_jsonl(cls, path: Path) -> Samples:
        with path.open(encoding="utf-8") as src:
            header = json.loads(next(src, "{}"))
            lines = (json.loads(line) for line in src if line.strip())
            return cls.from_records(lines, start=header.get("start"), end=header.get("end"))
