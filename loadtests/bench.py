"""What the load generator's own CPU pays per action, as a Locust worker pays it:
``python -m loadtests.bench --base-url URL --out FILE`` (``wastecoach bench`` runs it against
its stack).

In one gevent-patched process (as a worker is), per HTTP transport of :data:`TRANSPORTS`:
``users`` signed-in app sessions first each finish one scan, then poll its status back to back
for ``seconds`` through the load path (:meth:`AppSession._timed`, the recorder, Locust's
request statistics, the poller's trail), then run ``scans`` whole scan flows (analyze, upload,
upload-complete, a status poll every 0.5 s, the result) with photos rendered beforehand. The
process's CPU time (user + system) over each phase divided by its actions is the CPU per
action; the transports take turns for ``rounds`` rounds, and each figure is the median.
Photos: the CPU of rendering the scenario's photo stream, per variant.

Imports locust (gevent-patches the process): never import it from the harness or pytest.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import httpx

# Importing locust gevent-patches the process (as in loadtests.worker): sockets and sleeps yield.
import locust  # noqa: F401
from locust.env import Environment

from harness.app.corpus import Photo, PhotoStream
from harness.app.transport import GeventTransport
from harness.scenario import find_scenario, load_scenario
from loadtests.flows import ROUTES, AppSession
from loadtests.pacing import Clock
from loadtests.plan import ProcessPlan
from loadtests.progress import Trail
from loadtests.records import REQUEST_COLUMNS, FlowRecord, ProcessRecorder
from loadtests.worker import locust_statistics

TRANSPORTS: dict[str, Callable[[], httpx.BaseTransport]] = {
    "httpx": httpx.HTTPTransport,
    "gevent": GeventTransport,
}


def cpu() -> float:
    """This process's CPU seconds so far (user + system, every thread; finer than the ticks
    of ``os.times``)."""
    return time.process_time()


def render_costs(make: Callable[[], PhotoStream], photos: int) -> dict[str, Any]:
    """CPU ms per photo of a stream: rendered one by one as users ask (by variant), rendered
    ahead (:meth:`PhotoStream.prepare`), and handed out once rendered ahead."""
    stream = make()
    spent: dict[str, float] = defaultdict(float)
    counts: Counter[str] = Counter()
    for _ in range(photos):
        spec = stream.next_spec()
        started = cpu()
        stream.render(spec)
        spent[spec.variant] += cpu() - started
        counts[spec.variant] += 1
    ahead = make()
    started = cpu()
    ahead.prepare(photos)
    prepared = cpu() - started
    started = cpu()
    for _ in range(photos):
        ahead.next()
    taken = cpu() - started
    return {
        "photos": photos,
        "by_variant": dict(counts),
        "on_demand_cpu_ms_per_photo": {
            v: round(1000 * spent[v] / counts[v], 2) for v in sorted(counts)
        },
        "on_demand_cpu_ms_mean": round(1000 * sum(spent.values()) / photos, 2),
        "ahead_cpu_ms_mean": round(1000 * prepared / photos, 2),
        "taken_from_ahead_cpu_ms_mean": round(1000 * taken / photos, 3),
    }


class Bench:
    """The sessions of one transport and what their phases cost."""

    def __init__(self, base_url: str, transport: str, users: int, run: str) -> None:
        self.env = Environment(user_classes=[])
        self.env.create_local_runner()  # Locust's request statistics, as a worker keeps them
        self.recorder = ProcessRecorder(0, on_request=locust_statistics(self.env))
        clock = Clock.now()
        self.sessions = [
            AppSession(
                base_url,
                self.recorder,
                clock,
                user=n,
                subject=f"bench-{run}-{transport}-{n}",
                follow="poll",
                poll_interval=0.5,
                flow_timeout=60.0,
                transport=TRANSPORTS[transport],
            )
            for n in range(users)
        ]

    def close(self) -> None:
        for session in self.sessions:
            session.close()

    def scan_all(self, photos: list[Photo]) -> list[FlowRecord]:
        """One scan per photo, the sessions taking them in turn, all sessions at once."""

        def one(session: AppSession, mine: list[Photo]) -> list[FlowRecord]:
            out = []
            for photo in mine:
                now = time.perf_counter()
                out.append(session.scan(photo, session.new_record(photo, now, now), now))
            return out

        n = len(self.sessions)
        jobs = [gevent.spawn(one, session, photos[i::n]) for i, session in enumerate(self.sessions)]
        gevent.joinall(jobs, raise_error=True)
        return [record for job in jobs for record in job.value]

    def warm_up(self, photos: list[Photo], attempts: int = 3) -> list[str]:
        """Sign every session in and give each a finished job (a busy stack may fail a scan:
        it is tried again); the job ids."""
        finished: dict[int, str] = {}
        outcomes: Counter[tuple[str, str, str]] = Counter()
        for session in self.sessions:
            session.login()
        for _ in range(attempts):
            for session in self.sessions:
                session.ensure_login()  # again if refused (a 401, or no answer at first)
            records = self.scan_all(photos)
            for number, record in enumerate(records):
                if record.status == "done" and record.job_id and number not in finished:
                    finished[number] = record.job_id
                outcomes[(record.status, record.error_stage, record.error_code)] += 1
            if len(finished) == len(self.sessions):
                return [finished[n] for n in range(len(self.sessions))]
        raise RuntimeError(f"warm-up scans did not all finish after {attempts} tries: {outcomes}")

    def polls(self, job_ids: list[str], seconds: float) -> int:
        """Status polls back to back, each session on its own finished job, for ``seconds``."""
        until = time.perf_counter() + seconds
        counts = [0] * len(self.sessions)

        def poll(index: int, session: AppSession, job_id: str) -> None:
            trail = Trail("poll")
            while time.perf_counter() < until:
                asked = time.perf_counter()
                state = session._timed("status", "GET", lambda: session.client.status(job_id), 200)
                trail.add(state, (time.perf_counter() - asked) * 1000)
                counts[index] += 1
                if len(trail.states) > 100:
                    trail.states.clear()

        jobs = [
            gevent.spawn(poll, i, s, j)
            for i, (s, j) in enumerate(zip(self.sessions, job_ids, strict=True))
        ]
        gevent.joinall(jobs, raise_error=True)
        return sum(counts)


def measure_transport(
    base_url: str, transport: str, photos: list[Photo], *, users: int, seconds: float, run: str
) -> dict[str, Any]:
    bench = Bench(base_url, transport, users, run)
    try:
        job_ids = bench.warm_up(photos[:users])
        bench.recorder.take()
        started = cpu()
        wall = time.perf_counter()
        polls = bench.polls(job_ids, seconds)
        poll_cpu, poll_wall = cpu() - started, time.perf_counter() - wall
        bench.recorder.take()
        requests_before = bench.recorder.counts["requests"]
        scans = photos[users:]
        started = cpu()
        records = bench.scan_all(scans)
        scan_cpu = cpu() - started
        requests = bench.recorder.counts["requests"] - requests_before
        statuses = Counter(r.status for r in records)
        rows = bench.recorder.take()["requests"]
    finally:
        bench.close()
    name = REQUEST_COLUMNS.index("name")
    status_polls = sum(1 for row in rows if row[name] == ROUTES["status"])
    return {
        "status_polls": polls,
        "polls_per_second": round(polls / poll_wall, 1),
        "cpu_ms_per_status_poll": round(1000 * poll_cpu / polls, 3),
        "scans": len(records),
        "scan_statuses": dict(statuses),
        "requests_per_scan": round(requests / max(len(records), 1), 2),
        "status_polls_per_scan": round(status_polls / max(len(records), 1), 2),
        "cpu_ms_per_scan_flow": round(1000 * scan_cpu / max(len(records), 1), 3),
    }


def _median(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number's median over the rounds (the first round's other values)."""
    out = dict(measured[0])
    for key, value in out.items():
        if isinstance(value, int | float):
            out[key] = round(statistics.median(m[key] for m in measured), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]  (see loadtests.worker)
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench", description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--out", type=Path, required=True, help="the JSON written")
    parser.add_argument("--scenario", default="capacity", help="whose photo stream (capacity)")
    parser.add_argument("--seconds", type=float, default=10.0, help="of status polls (10)")
    parser.add_argument("--users", type=int, default=20, help="sessions at once (20)")
    parser.add_argument("--scans", type=int, default=40, help="whole scan flows (40)")
    parser.add_argument("--photos", type=int, default=150, help="photos rendered (150)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each transport (3)")
    args = parser.parse_args(argv)
    scenario = load_scenario(find_scenario(args.scenario))
    run = f"{int(time.time())}-{random.randrange(10**6)}"
    plan = ProcessPlan.of(scenario, 0, scenario.load.locust_processes)
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "render": render_costs(lambda: plan.photo_stream(run), args.photos),
    }
    stream = plan.photo_stream(f"{run}-flows")
    # The transports take turns, round after round, so a machine busier in one stretch does
    # not favour one of them; each figure is the median over the rounds.
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in TRANSPORTS}
    for number in range(args.rounds):
        for name in TRANSPORTS:
            photos = [stream.next() for _ in range(args.users + args.scans)]
            rounds[name].append(
                measure_transport(
                    args.base_url,
                    name,
                    photos,
                    users=args.users,
                    seconds=args.seconds,
                    run=f"{run}-{number}",
                )
            )
    transports = {name: _median(measured) for name, measured in rounds.items()}
    report["transports"] = transports
    report["rounds"] = rounds
    base = transports["httpx"]
    report["ratios_to_httpx"] = {
        name: {
            "status_poll": round(t["cpu_ms_per_status_poll"] / base["cpu_ms_per_status_poll"], 3),
            "scan_flow": round(t["cpu_ms_per_scan_flow"] / base["cpu_ms_per_scan_flow"], 3),
        }
        for name, t in transports.items()
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
