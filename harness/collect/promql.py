"""The gauges a target run cannot sample itself (queues, Redis, CPU and memory by tier), read from
the cluster's Prometheus over the run's exact time window.

Each metric's PromQL is declared next to it in :mod:`harness.gates.measurements`
(``MetricSpec.promql``); this module evaluates it with ``/api/v1/query_range`` from the run's
start to its end at a fixed step and records every point as an observation. Anything short of
a full window is never a pass: an unreachable Prometheus, a refused query, a query with no series
or a series with a missing step (a failed scrape leaves a stale series, so a gap shows) marks the
metric unavailable with the reason, and its gates are inconclusive
(:meth:`harness.gates.measurements.Samples.mark_unavailable`).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import httpx

from harness.gates.measurements import METRICS, MetricSpec, Samples
from harness.stack.waits import WaitTimeout, wait_for

# Who exports a metric family in the cluster (cluster/base), for the "what to check" of a query.
EXPORTERS = {
    "container_": "the kubelets' cAdvisor (job kubernetes-cadvisor, labelled by node tier)",
    "wastecoach_": "the services' and workers' /metrics (job kubernetes-pods)",
}


def prometheus_metrics() -> tuple[str, ...]:
    """The metrics a cluster's Prometheus answers for a target run."""
    return tuple(name for name, spec in METRICS.items() if spec.promql is not None)


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    step: float

    def steps(self) -> list[float]:
        count = math.floor((self.end - self.start) / self.step + 1e-9) + 1
        return [self.start + k * self.step for k in range(count)]


class PrometheusSource:
    """Reads the registry's PromQL from one Prometheus (``url``: its base, e.g. http://host:9090)."""

    def __init__(self, url: str, *, step: float = 5.0, client: httpx.Client | None = None) -> None:
        if step <= 0:
            raise ValueError(f"the query step must be > 0 seconds, got {step}")
        self.url = url.rstrip("/")
        self.step = step
        self.http = client or httpx.Client(timeout=30)

    def close(self) -> None:
        self.http.close()

    def wait_scraped(self, after: float, *, timeout: float) -> None:
        """Wait until every scrape target has been scraped after ``after`` (the run's end), so
        the window's last step is data, not an artefact of ingestion lag; a Prometheus that does
        not get there in time is left to the gap check, one that does not answer to :meth:`read`."""
        try:
            self._oldest_scrape()
        except (httpx.HTTPError, ValueError, LookupError):
            return  # read() says so, query by query, without waiting for it
        with contextlib.suppress(WaitTimeout):
            wait_for(
                lambda: self._oldest_scrape() >= after,
                timeout=timeout,
                interval=0.5,
                describe=f"{self.url} to scrape every target after the run",
            )

    def _oldest_scrape(self) -> float:
        answer = self.http.get(f"{self.url}/api/v1/query", params={"query": "min(timestamp(up))"})
        result = answer.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def read(self, samples: Samples, *, start: float, end: float) -> list[str]:
        """Record every registry metric with a query into ``samples`` over ``[start, end]``;
        returns one note per query that could not be judged (which query, what to check)."""
        window = Window(round(start, 3), round(end, 3), self.step)  # the API's precision
        notes = []
        for name in prometheus_metrics():
            problem = self._read_metric(samples, METRICS[name], window)
            if problem is not None:
                notes.append(problem)
        return notes

    def _read_metric(self, samples: Samples, spec: MetricSpec, window: Window) -> str | None:
        assert spec.promql is not None
        query = spec.promql.expr
        try:
            result = self._query_range(query, window)
        except QueryError as exc:
            samples.mark_unavailable(spec.name, f"Prometheus {exc.reason}")
            return f"{spec.name}: query {query!r} {exc.reason}; {exc.check}"
        if not result:
            reason = f"query {query!r} returned no series over the run"
            samples.mark_unavailable(spec.name, f"Prometheus {reason}")
            return f"{spec.name}: {reason}; check that Prometheus scrapes {_exporter(query)}"
        expected = window.steps()
        problems = []
        seen: dict[str, set[str]] = {key: set() for key in spec.tags}
        for series in result:
            labels = {k: str(v) for k, v in (series.get("metric") or {}).items()}
            tags = {key: labels[key] for key in spec.tags if key in labels}
            allowed = {key: spec.tags[key] for key in tags}
            if any(values is not None and tags[k] not in values for k, values in allowed.items()):
                continue  # a queue or tier that is not ours
            for key, value in tags.items():
                seen[key].add(value)
            divisor = spec.promql.divisor(tags) if spec.promql.divisor else 1.0
            got = {}
            for ts, text in series.get("values") or []:
                value = float(text)
                if math.isfinite(value):
                    got[round(float(ts), 3)] = value / divisor
            for ts in sorted(got):
                samples.record(spec.name, got[ts], t=ts, tags=tags)
            missing = [ts for ts in expected if round(ts, 3) not in got]
            if missing:
                where = ",".join(f"{k}={v}" for k, v in sorted(tags.items())) or "the series"
                reason = (
                    f"{where}: {len(missing)} of {len(expected)} steps of {self.step:g} s have "
                    f"no value (a gap from {missing[0]:.0f})"
                )
                samples.mark_unavailable(spec.name, f"Prometheus {reason}", tags=tags)
                problems.append(reason)
        for key, values in spec.tags.items():
            if values is None or not seen[key]:
                continue  # a free-form tag, or one the query does not label by
            for value in sorted(values - seen[key]):
                samples.mark_unavailable(
                    spec.name,
                    f"Prometheus query {query!r} has no series for {key}={value}",
                    tags={key: value},
                )
        if problems:
            return (
                f"{spec.name}: query {query!r} has gaps ({'; '.join(problems)}); check the "
                f"scrape targets of {_exporter(query)} on {self.url}/targets"
            )
        return None

    def _query_range(self, query: str, window: Window) -> list[dict[str, object]]:
        params = {
            "query": query,
            "start": f"{window.start:.3f}",
            "end": f"{window.end:.3f}",
            "step": f"{window.step:g}",
        }
        try:
            answer = self.http.get(f"{self.url}/api/v1/query_range", params=params)
        except httpx.HTTPError as exc:
            raise QueryError(
                f"at {self.url} does not answer ({type(exc).__name__}: {exc})",
                "check --prometheus (the cluster's Prometheus: kind's is on 127.0.0.1:30090)",
            ) from None
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200 or body.get("status") != "success":
            error = body.get("error") or answer.text[:200]
            raise QueryError(
                f"refused it (HTTP {answer.status_code}: {error})",
                f"check that {self.url} is a Prometheus and the query parses",
            )
        return list((body.get("data") or {}).get("result") or [])


class QueryError(Exception):
    def __init__(self, reason: str, check: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.check = check


def _exporter(query: str) -> str:
    found = [who for prefix, who in EXPORTERS.items() if prefix in query]
    return " and ".join(found) or "the exporter of that metric"
