"""A toy run of the system that records :class:`Samples` like the Locust side and the collectors
will, with knobs that break one property at a time (cache off, latency added, q.ai starved,
a job dropped, ...). Gate tests judge shipped scenarios' gates on it: healthy, every gate
passes; with a fault, the gate guarding that property fails."""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.gates.measurements import NO_FAULT, Samples
from harness.scenario import Scenario, photo_stream

START = 1_700_000_000.0  # an epoch time; observations are stamped from here
# The share of re-photographed repeats the near-duplicate cache answers as shipped (pHash within
# 8 bits, colour thumbnail within 40): `wastecoach cache-sweep` measured 3908 near hits among
# the cache workload's 4779 re-photographed repeats (4 seeds x 1500 photos), about 0.82.
NEAR_HIT_SHARE = 0.82


@dataclass(frozen=True)
class Faults:
    added_latency_ms: float = 0.0  # every model call slower (misses)
    hit_delay_ms: float = 0.0  # cache hits held up (a slow cache read)
    stack_delay_ms: float = 0.0  # every job slower in the stack (a slow S3 download)
    cache_disabled: bool = False
    wrong_from_cache: int = 0  # this many hits serve another item's answer
    wrong_from_model: int = 0  # this many misses answer the wrong item
    ai_starved: bool = False  # q.ai tasks wait behind the batch flood
    no_batch_flood: bool = False  # the flood never reaches q.batch
    http_error_every: int = 0  # every n-th request fails
    failed_job_every: int = 0  # every n-th job ends failed
    dropped_jobs: int = 0  # accepted jobs that never finish
    dlq_per_second: float = 0.0  # messages dead-lettered per second
    redis_leak: bool = False  # one Redis client more per scan, never released
    history_drop_every: int = 0  # every n-th finished scan is missing from its user's history
    stats_off: bool = False  # every user's statistics disagree with its history
    progress_backwards_every: int = 0  # every n-th polled scan shows progress going back
    progress_frozen: bool = False  # polled misses show no stage between queued and done
    follow_mismatch_every: int = 0  # every n-th scan followed both ways gets two answers
    status_result_every: int = 0  # every n-th finished scan's status and result disagree
    fault_from: float = 0.0  # seconds after start before the faults begin
    over_budget: bool = False  # every tier uses more CPU and memory than its budget
    honest_limited_every: int = 0  # every n-th request of the app is refused by a limit
    limits_off: bool = False  # no abusive user is ever refused


def simulate(
    scenario: Scenario, faults: Faults = Faults(), *, scans: int = 600, seed: int = 0
) -> Samples:
    """``scans`` scans spread evenly over the scenario's real duration, plus 1 Hz gauges."""
    rng = random.Random(seed)
    timeline = scenario.scaled()
    duration = timeline.total_duration
    samples = Samples(start=START, end=START + duration)
    photos = photo_stream(scenario.images, scenario.seed)
    follow = scenario.mix.follow
    both_every = round(1 / scenario.mix.follow_both) if scenario.mix.follow_both else 0
    polled = follow == "poll"
    wrong_hits, wrong_misses, requests, dropped = 0, 0, 0, 0
    for index in range(scans):
        elapsed = duration * index / scans
        t = START + elapsed
        broken = elapsed >= faults.fault_from
        plan = photos.next_spec()
        near = plan.variant == "rephotographed" and rng.random() < NEAR_HIT_SHARE
        hit = (
            plan.is_repeat
            and (plan.variant == "identical" or near)
            and not (broken and faults.cache_disabled)
        )
        tags = {"follow": follow, "variant": plan.variant, "mode": "analyze"}
        if scenario.faults:  # no infrastructure fault is simulated: every job is steady state
            tags["fault"] = NO_FAULT
        for _ in range(4):  # analyze, PUT, upload-complete, a status poll
            requests += 1
            failed = broken and faults.http_error_every and requests % faults.http_error_every == 0
            samples.record_event("error_ratio", bool(failed), t=t, tags={"request": "scan"})
            limited = broken and faults.honest_limited_every
            limited = limited and requests % faults.honest_limited_every == 0
            samples.record_event(
                "honest_rate_limited", bool(limited), t=t, tags={"request": "scan"}
            )
        lost = broken and dropped < faults.dropped_jobs and index % 7 == 0
        dropped += lost
        samples.record_event("lost_jobs", lost, t=t, tags=tags)
        wait = rng.uniform(5, 80)
        if broken and faults.ai_starved:
            wait += rng.uniform(2000, 20000)
        samples.record("queue_wait", wait, t=t, tags={"queue": "q.ai", "task": "image.analyze"})
        if lost:
            continue
        failed_job = broken and faults.failed_job_every and index % faults.failed_job_every == 0
        cache = "hit" if hit else "miss"
        samples.record_event("failed_jobs", bool(failed_job), t=t, tags={**tags, "cache": cache})
        _seen(
            samples,
            faults,
            index,
            t,
            tags,
            broken=broken,
            both=bool(both_every) and index % both_every == 0,
            polled=polled,
            miss=not hit and not failed_job,
        )
        if failed_job:
            continue
        job_tags = {**tags, "cache": cache}
        stages = _stages(rng, scenario, faults if broken else Faults(), hit=hit, wait=wait)
        server = sum(stages.values()) + rng.uniform(1, 10)  # bookkeeping between stages
        for stage, ms in stages.items():
            samples.record("stage_time", ms, t=t, tags={**job_tags, "stage": stage})
        samples.record("server_processing_time", server, t=t, tags=job_tags)
        samples.record("stack_overhead", server - stages.get("model", 0.0), t=t, tags=job_tags)
        took = server + rng.uniform(0, scenario.mix.poll_interval * 1000)  # seen at a poll
        samples.record("processing_time", took, t=t + took / 1000, tags=job_tags)
        samples.record("end_to_end_time", took + rng.uniform(100, 400), t=t, tags=job_tags)
        samples.record_event("cache_hit_ratio", hit, t=t, tags=tags)
        wrong = False
        if broken and hit and wrong_hits < faults.wrong_from_cache:
            wrong, wrong_hits = True, wrong_hits + 1
        if broken and not hit and wrong_misses < faults.wrong_from_model:
            wrong, wrong_misses = True, wrong_misses + 1
        samples.record_event("wrong_answers", wrong, t=t, tags=job_tags)
    users = max(stage.pool_size for stage in scenario.load.stages)
    for _ in range(users):  # each user checks its statistics when it stops
        off = faults.stats_off and duration >= faults.fault_from
        samples.record_event("stats_mismatch", off, t=START + duration)
    for _ in range(round(users * scenario.mix.abusive)):  # each abusive user's standing
        unlimited = faults.limits_off and duration >= faults.fault_from
        tags = {"reason": "never_refused"} if unlimited else {}
        samples.record_event("abuser_not_limited", unlimited, t=START, tags=tags)
    _gauges(samples, scenario, faults, duration, scans, rng)
    return samples


def _stages(
    rng: random.Random, scenario: Scenario, faults: Faults, *, hit: bool, wait: float
) -> dict[str, float]:
    """Server stage times of one job (ms); the model's scale as the scenario's fake has it."""
    stages = {
        "queue_wait": wait,
        "download": rng.uniform(5, 30) + faults.stack_delay_ms,
        "cache_lookup": rng.uniform(1, 10) + (faults.hit_delay_ms if hit else 0.0),
        "store": rng.uniform(5, 40),
    }
    if not hit:
        model = rng.uniform(1000, 4000) * scenario.fakes.openai.time_scale
        stages["model"] = model + faults.added_latency_ms
    return stages


def _seen(
    samples: Samples,
    faults: Faults,
    index: int,
    t: float,
    tags: dict[str, str],
    *,
    broken: bool,
    both: bool,
    polled: bool,
    miss: bool,
) -> None:
    """What the user saw of a scan that ended: its history entry, progress, the two followers."""

    def every(n: int) -> bool:
        return broken and n > 0 and index % n == 0

    samples.record_event("history_missing", every(faults.history_drop_every), t=t, tags=tags)
    samples.record_event(
        "status_result_mismatch", every(faults.status_result_every), t=t, tags=tags
    )
    if both:
        samples.record_event("follow_mismatch", every(faults.follow_mismatch_every), t=t, tags=tags)
    if polled or both:
        backwards = every(faults.progress_backwards_every)
        samples.record_event("progress_backwards", backwards, t=t, tags=tags)
        if miss:
            frozen = broken and faults.progress_frozen
            samples.record_event("progress_frozen", frozen, t=t, tags=tags)


def _gauges(
    samples: Samples,
    scenario: Scenario,
    faults: Faults,
    duration: float,
    scans: int,
    rng: random.Random,
) -> None:
    batch = scenario.scaled().batch
    second = 0.0
    while second <= duration:
        t = START + second
        broken = second >= faults.fault_from
        samples.record("queue_depth", rng.randint(0, 3), t=t, tags={"queue": "q.ai"})
        depth = 0.0
        if batch is not None and second >= batch.start and not faults.no_batch_flood:
            drained = 2 * (1 + (second - batch.start) // max(batch.work_seconds, 0.001))
            if batch.burst is not None:
                depth = max(0.0, batch.burst - drained)
            else:
                depth = max(0.0, (batch.rate or 0) * (second - batch.start) - drained)
        samples.record("queue_depth", depth, t=t, tags={"queue": "q.batch"})
        dlq = faults.dlq_per_second * (second - faults.fault_from) if broken else 0.0
        samples.record("dlq_length", dlq, t=t)
        leaked = int(scans * second / duration) if broken and faults.redis_leak else 0
        samples.record("redis_clients", rng.randint(20, 40) + leaked, t=t)
        over = broken and faults.over_budget
        for tier in ("control", "api", "async", "storage"):
            cpu = rng.uniform(1.2, 1.8) if over else rng.uniform(0.1, 0.6)
            memory = rng.uniform(1.05, 1.3) if over else rng.uniform(0.2, 0.5)
            samples.record("tier_cpu", cpu, t=t, tags={"tier": tier})
            samples.record("tier_memory", memory, t=t, tags={"tier": tier})
        second += 1.0
