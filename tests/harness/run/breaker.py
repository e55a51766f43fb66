"""The ``breaker`` scenario (about 20 s of load with every standard gate), for breaking one
property at a time (test_run.py, test_watch.py), and the stack its runs share."""

from __future__ import annotations

from pathlib import Path

from harness.run.runner import RunOptions, _stack_options
from harness.scenario import load_scenario
from harness.stack.local import StackOptions
from harness.stack.sandbox import ServerUrls

# The breaker runs' local workers (api: the map search), one process each: a quicker start.
WORKERS = ("ai", "api", "batch")

FAST_MODEL = '{ kind = "uniform", low = 0.2, high = 0.4 }'

BREAKER = """
name = "breaker"
description = "A short run with every standard gate, for breaking one property at a time"
seed = 7

[load]
time_scale = 1.0
warmup = "4s"
locust_processes = 1

[[load.stages]]
duration = "16s"
users = {all_users}   # {users} honest users and one abusive (the last: mix.abusive)
spawn_rate = {all_users}

[mix]
scan = 8
browse_map = 1
profile = 1
follow = "poll"
think_time = {{ kind = "uniform", low = 0.2, high = 0.5 }}
# A poller every 0.1 s reads a 0.2-0.4 s model call mid-way (the frozen-progress gate's data);
# a fifth of the scans are also streamed, to compare both results.
poll_interval = 0.1
follow_both = 0.2
# One abusive user asks for 10 analyses a second: past the 30 a minute within 3 s.
abusive = {abusive}
abuse_rate = 10.0

[images]
items = {items}
zipf = 1.0
repeat_probability = 0.95
variants = {variants}
size = [160, 120]

[fakes.openai]
latency = {latency}
error_rate = {error_rate}
seed = 7

# Done 2 s after the load, not 8 s: a shared stack's reset waits until the workers are idle,
# and a burst that started at 8 s with 4 s a task held every run's reset and every own stack's
# stop about 8 s. Not before 6 s: the priority breaker's AI worker, which takes q.batch too, is
# blocked from the burst on, and it needs scans done after the 4 s warm-up (starting at 2 s
# left it 4 samples, inconclusive).
[background.batch]
task = "analytics.daily"
burst = 4
work_seconds = "3s"
start = "6s"

[[gates]]
name = "p95 processing time under 5 s"
metric = "processing_time"
thresholds = ["p(95) < 5000"]
min_samples = 10

[[gates]]
name = "p95 end-to-end time under 10 s"
metric = "end_to_end_time"
thresholds = ["p(95) < 10000"]
min_samples = 10

[[gates]]
name = "cache hit ratio at least 70 %"
metric = "cache_hit_ratio"
thresholds = ["rate >= 0.70"]
min_samples = 10

[[gates]]
name = "no wrong answer from the cache"
metric = "wrong_answers"
tags = {{ cache = "hit" }}
thresholds = ["count == 0"]
min_samples = 5
include_warmup = true

[[gates]]
name = "no wrong answer at all"
metric = "wrong_answers"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true

[[gates]]
name = "q.batch really had a backlog"
metric = "queue_depth"
tags = {{ queue = "q.batch" }}
# One batch process takes one of the 4 at a time: 3 ready for 3 s, then 2 for 3 s. RabbitMQ
# refreshes its queue statistics every 5 s, so a sample is sure to see 2, not 3.
thresholds = ["max >= 2"]
include_warmup = true

[[gates]]
name = "q.ai wait stays low while q.batch is busy"
metric = "queue_wait"
tags = {{ queue = "q.ai" }}
thresholds = ["p(95) < 1000"]
min_samples = 10

[[gates]]
name = "request error ratio under 1 %"
metric = "error_ratio"
thresholds = ["rate < 0.01"]
min_samples = 50

[[gates]]
name = "no honest request refused by a rate limit"
metric = "honest_rate_limited"
thresholds = ["count == 0"]
min_samples = 50
include_warmup = true

[[gates]]
name = "the abusive user is refused with scan_rate_limited"
metric = "abuser_not_limited"
thresholds = ["count == 0"]
min_samples = 1
include_warmup = true

[[gates]]
name = "failed jobs under 1 %"
metric = "failed_jobs"
thresholds = ["rate < 0.01"]
min_samples = 10

[[gates]]
name = "no job lost"
metric = "lost_jobs"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true

[[gates]]
name = "q.dlq under its alert bound"
metric = "dlq_length"
thresholds = ["max <= 100"]
include_warmup = true

[[gates]]
name = "Redis clients bounded"
metric = "redis_clients"
thresholds = ["max < 200"]
include_warmup = true

[[gates]]
name = "p95 stack overhead under 700 ms"
metric = "stack_overhead"
thresholds = ["p(95) < 700"]
min_samples = 10

[[gates]]
name = "cache hits answered within the seed's ~1 s"
metric = "server_processing_time"
tags = {{ cache = "hit" }}
thresholds = ["p(95) < 700"]
min_samples = 10

[[gates]]
name = "every finished scan in the user's history"
metric = "history_missing"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true

[[gates]]
name = "statistics add up to the history"
metric = "stats_mismatch"
thresholds = ["count == 0"]
min_samples = {users}
include_warmup = true

[[gates]]
name = "progress never goes backwards"
metric = "progress_backwards"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true

[[gates]]
name = "a miss shows progress between queued and done"
metric = "progress_frozen"
thresholds = ["count == 0"]
min_samples = 3
include_warmup = true

[[gates]]
name = "stream and polling give the same result"
metric = "follow_mismatch"
thresholds = ["count == 0"]
min_samples = 5
include_warmup = true

[[gates]]
name = "status and result agree"
metric = "status_result_mismatch"
thresholds = ["count == 0"]
min_samples = 10
include_warmup = true
"""

GATES = {
    "processing": "p95 processing time under 5 s",
    "end_to_end": "p95 end-to-end time under 10 s",
    "cache": "cache hit ratio at least 70 %",
    "wrong_from_cache": "no wrong answer from the cache",
    "wrong": "no wrong answer at all",
    "backlog": "q.batch really had a backlog",
    "priority": "q.ai wait stays low while q.batch is busy",
    "errors": "request error ratio under 1 %",
    "honest": "no honest request refused by a rate limit",
    "abuser": "the abusive user is refused with scan_rate_limited",
    "failed": "failed jobs under 1 %",
    "lost": "no job lost",
    "dlq": "q.dlq under its alert bound",
    "redis": "Redis clients bounded",
    "overhead": "p95 stack overhead under 700 ms",
    "hits": "cache hits answered within the seed's ~1 s",
    "history": "every finished scan in the user's history",
    "stats": "statistics add up to the history",
    "backwards": "progress never goes backwards",
    "frozen": "a miss shows progress between queued and done",
    "follow": "stream and polling give the same result",
    "status_result": "status and result agree",
}


IDENTICAL = "{ identical = 1.0 }"


def breaker_toml(
    *,
    latency: str = FAST_MODEL,
    error_rate: float = 0.0,
    users: int = 4,
    items: int = 4,
    variants: str = IDENTICAL,
) -> str:
    """The breaker scenario with ``users`` honest users and one abusive user more."""
    return BREAKER.format(
        latency=latency,
        error_rate=error_rate,
        users=users,
        all_users=users + 1,
        abusive=1 / (users + 1),
        items=items,
        variants=variants,
    )


def shared_stack_options(folder: Path, servers: ServerUrls) -> StackOptions:
    """The stack a breaker run with nothing broken starts, as :func:`harness.run.run` would
    start it (so every run that changes only the scenario's load, fakes or faults can share
    it)."""
    path = folder / "breaker.toml"
    path.write_text(breaker_toml())
    options = RunOptions(path, servers=servers, workers=WORKERS, seed_replicas=False)
    return _stack_options(load_scenario(path), options, folder, servers)
