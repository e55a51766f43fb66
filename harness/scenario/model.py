"""The scenario schema: one typed, frozen model per TOML table; unknown keys are refused.

Times are seconds (numbers, or text such as ``"5m"``); ``load.time_scale`` multiplies every
duration of the load (stages, warm-up, think times, batch start and work) so CI can run a short
version. It does not touch rates (arrival and batch rates stay per real second; spawn rates are
divided by it so a ramp keeps its shape) nor the fakes, which have their own ``time_scale``.

Gates judge the seed's targets at the scenario's own scale: where ``fakes.openai.time_scale`` is
not 1, a bound on a time that contains the model's latency must be written at the seed's scale
times ``model_scale`` (``"p(95) < 5000 * model_scale + 500"``), or the file is refused.
"""

from __future__ import annotations

import math
import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.gates.evaluate import Evaluation, evaluate
from harness.gates.measurements import FAULT_METRICS, NO_FAULT, Samples
from harness.gates.model import FieldIssue, Gate
from harness.mocks.catalog import ITEMS, VARIANTS
from harness.mocks.openai_config import MockOpenAIConfig, Rate, UniformLatency
from harness.scenario import requirements
from harness.scenario.durations import Distribution, Seconds
from harness.scenario.faults import Fault, check_timeline
from harness.scenario.scaled import ScaledScenario

CATALOG_SIZE = len(ITEMS)
# An open-model stage without max_users gets enough users to keep this many seconds of
# arrivals in flight: a scan with a slow model plus think time fits in it.
OPEN_POOL_SECONDS = 30.0
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Model):
    """A stretch of load: ``users`` + ``spawn_rate`` (closed) or ``arrival_rate`` (open)."""

    duration: Seconds = Field(gt=0)
    users: int | None = Field(None, gt=0)
    spawn_rate: float | None = Field(None, gt=0)
    arrival_rate: float | None = Field(None, gt=0)
    max_users: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_model(self) -> Self:
        if self.users is not None and self.arrival_rate is not None:
            raise FieldIssue(
                ("arrival_rate",),
                "a stage has users (closed model) or arrival_rate (open model), not both",
            )
        if self.users is None and self.arrival_rate is None:
            raise FieldIssue(
                (),
                "give users and spawn_rate (closed model) or arrival_rate (open model)",
            )
        if self.users is not None and self.spawn_rate is None:
            raise FieldIssue(("spawn_rate",), "required with users (users started per second)")
        if self.users is not None and self.max_users is not None:
            raise FieldIssue(("max_users",), "only for open-model stages (with arrival_rate)")
        return self

    @property
    def model(self) -> Literal["closed", "open"]:
        return "closed" if self.users is not None else "open"

    @property
    def pool_size(self) -> int:
        """Users that carry the load: ``users``, or for an open stage ``max_users`` (default:
        enough for :data:`OPEN_POOL_SECONDS` of arrivals)."""
        if self.users is not None:
            return self.users
        assert self.arrival_rate is not None
        return self.max_users or max(1, math.ceil(self.arrival_rate * OPEN_POOL_SECONDS))


class Load(_Model):
    """``[load]``: the stages in order, the time scale, the warm-up, the Locust processes."""

    stages: tuple[Stage, ...] = Field(min_length=1)
    time_scale: float = Field(1.0, gt=0)
    warmup: Seconds = Field(0.0, ge=0)
    locust_processes: int = Field(1, ge=1, le=64)
    # How long the app waits for a scan's result before it gives up (the job then counts as
    # lost unless the server ends it within the run's settling); default: the load generator's.
    flow_timeout: Seconds | None = Field(None, gt=0)
    # Render each Locust process's photos before the load's t=0 (as many as its users will
    # draw, erring high: loadtests.plan.ProcessPlan.photos_needed), so the load generator spends
    # no CPU on them while it measures; the run's start takes that long longer. For loads whose
    # generator is near its limit (peak, capacity); photos past those are rendered on demand.
    photos_ahead: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        first = self.stages[0].model
        for index, stage in enumerate(self.stages):
            if stage.model != first:
                raise FieldIssue(
                    ("stages", index),
                    f"all stages use one model; stage 0 is {first}, this one is {stage.model}",
                )
        if self.warmup >= self.nominal_duration:
            raise FieldIssue(
                ("warmup",),
                f"must be shorter than the stages' total of {self.nominal_duration:g} s",
            )
        return self

    @property
    def model(self) -> Literal["closed", "open"]:
        return self.stages[0].model

    @property
    def nominal_duration(self) -> float:
        """The stages' total in seconds as written (before ``time_scale``)."""
        return math.fsum(stage.duration for stage in self.stages)


class Mix(_Model):
    """``[mix]``: relative weights of the app's behaviours, how a scan follows its job, think
    time between actions."""

    scan: float = Field(1.0, ge=0)
    browse_map: float = Field(0.0, ge=0)
    profile: float = Field(0.0, ge=0)
    follow: Literal["poll", "stream"] = "poll"
    # The share of scans also followed the other way (stream if follow is poll, else poll),
    # so both results are compared and a stream scenario still has a poller's view.
    follow_both: Rate = 0.0
    # The seed app polls every 0.5 s; the app's behaviour, so not scaled by time_scale.
    poll_interval: float = Field(0.5, gt=0)
    think_time: Distribution = Field(default_factory=lambda: UniformLatency(low=1.0, high=3.0))
    # The share of users that abuse the API instead of using the app (loadtests.abuse): they
    # ask for analyses at ``abuse_rate`` a second (scenario time, scaled like every rate) and
    # never upload, ignoring Retry-After, to show the rate limits refuse them and only them.
    abusive: Rate = 0.0
    abuse_rate: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _something_to_do(self) -> Self:
        if self.scan + self.browse_map + self.profile <= 0:
            raise FieldIssue((), "at least one of scan, browse_map, profile must weigh > 0")
        return self

    def weights(self) -> dict[str, float]:
        return {"scan": self.scan, "browse_map": self.browse_map, "profile": self.profile}


class Variants(_Model):
    """How a repeated photo differs from the earlier one; shares add up to 1."""

    identical: Rate = 0.0
    reencoded: Rate = 0.0
    resized: Rate = 0.0
    cropped: Rate = 0.0
    # A second photo of the same scene (harness.mocks.catalog.render): what a person re-taking
    # the photo produces; identical bytes come only from app retries.
    rephotographed: Rate = 0.0

    @model_validator(mode="after")
    def _sum_to_one(self) -> Self:
        total = math.fsum(getattr(self, variant) for variant in VARIANTS)
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise FieldIssue((), f"shares add up to {total:g}; they must add up to 1")
        return self

    def shares(self) -> dict[str, float]:
        return {variant: getattr(self, variant) for variant in VARIANTS}


class Images(_Model):
    """``[images]``: the photos scans upload (see :mod:`harness.scenario.workload`).

    Each scan picks one of the first ``items`` catalog items with Zipf popularity (weight of
    the k-th item proportional to ``1 / k**zipf``; 0 is uniform). With ``repeat_probability``,
    if the item was photographed before, the scan re-photographs one of its earlier photos as a
    ``variants`` near-duplicate; otherwise it is a new photo.
    """

    items: int = Field(10, ge=1, le=CATALOG_SIZE)
    zipf: float = Field(1.0, ge=0, le=10)
    repeat_probability: Rate = 0.5
    variants: Variants = Field(default_factory=lambda: Variants(identical=1.0))
    size: tuple[int, int] = (640, 480)

    @field_validator("size")
    @classmethod
    def _sane_size(cls, size: tuple[int, int]) -> tuple[int, int]:
        for index, side in enumerate(size):
            if not 16 <= side <= 4096:
                raise FieldIssue((index,), f"must be from 16 to 4096 pixels, got {side}")
        return size


class Kakao(_Model):
    """``[fakes.kakao]``: the Kakao Map fake (seed: map.search about 0.5 s)."""

    latency: Distribution = Field(default_factory=lambda: UniformLatency(low=0.3, high=0.7))
    error_rate: Rate = 0.0
    time_scale: float = Field(1.0, ge=0)


class Fakes(_Model):
    """``[fakes]``: ``openai`` takes exactly the mock server's configuration."""

    openai: MockOpenAIConfig = Field(default_factory=MockOpenAIConfig)
    kakao: Kakao = Field(default_factory=Kakao)


class BatchFlood(_Model):
    """``[background.batch]``: tasks published to q.batch during the run, at ``rate`` per
    second or as one ``burst``, each doing ``work_seconds`` of extra work."""

    task: Literal["analytics.daily", "report.generate"] = "analytics.daily"
    rate: float | None = Field(None, gt=0)
    burst: int | None = Field(None, gt=0)
    work_seconds: Seconds = Field(0.0, ge=0)
    start: Seconds = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _rate_or_burst(self) -> Self:
        if (self.rate is None) == (self.burst is None):
            raise FieldIssue((), "give either rate (tasks per second) or burst (a task count)")
        return self


class Background(_Model):
    batch: BatchFlood | None = None


class Scenario(_Model):
    """A scenario file: what load to apply, against which fakes, and the gates that judge it."""

    name: str
    description: str = Field(min_length=1)
    seed: int = 0
    load: Load
    mix: Mix = Field(default_factory=Mix)
    images: Images = Field(default_factory=Images)
    fakes: Fakes = Field(default_factory=Fakes)
    background: Background = Field(default_factory=Background)
    faults: tuple[Fault, ...] = ()
    gates: tuple[Gate, ...] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _slug(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{name!r}: use lowercase letters, digits and dashes, like 'batch-flood'"
            )
        return name

    @model_validator(mode="after")
    def _batch_within_run(self) -> Self:
        batch = self.background.batch
        if batch is not None and batch.start >= self.load.nominal_duration:
            raise FieldIssue(
                ("background", "batch", "start"),
                f"must be before the end of the stages ({self.load.nominal_duration:g} s)",
            )
        return self

    @model_validator(mode="after")
    def _bounds_at_the_models_scale(self) -> Self:
        factor = self.fakes.openai.time_scale
        if factor == 1:
            return self
        for g, gate in enumerate(self.gates):
            for t, threshold in enumerate(gate.thresholds):
                if threshold.scale is None and gate.judges_model_time(threshold):
                    raise FieldIssue(
                        ("gates", g, "thresholds", t),
                        f"{gate.selector} contains the model's latency, which "
                        f"fakes.openai.time_scale = {factor:g} scales; write the bound at the "
                        "seed's scale times model_scale, e.g. 'p(95) < 5000 * model_scale + 500'",
                    )
        return self

    @property
    def scales(self) -> dict[str, float]:
        """The factor of each scale a threshold may name (:data:`expressions.SCALES`)."""
        return {"model_scale": self.fakes.openai.time_scale}

    @model_validator(mode="after")
    def _gates_have_their_data(self) -> Self:
        for index, gate in enumerate(self.gates):
            problem = requirements.unmet(gate.metric, self.mix)
            if problem is not None:
                raise FieldIssue(("gates", index, "metric"), problem)
        return self

    @model_validator(mode="after")
    def _fault_gates_name_played_faults(self) -> Self:
        labels = {fault.label for fault in self.faults}
        for index, gate in enumerate(self.gates):
            if gate.metric in FAULT_METRICS and not labels:
                raise FieldIssue(
                    ("gates", index, "metric"),
                    f"{gate.metric} is measured on [[faults]] and this scenario has none",
                )
            label = gate.tags.get("fault")
            if label is None:
                continue
            # Job metrics tag a job no fault touched "none"; the faults' own metrics do not.
            known = labels | ({NO_FAULT} if labels and gate.metric not in FAULT_METRICS else set())
            if label not in known:
                played = ", ".join(sorted(known)) or "none: the scenario has no [[faults]]"
                raise FieldIssue(
                    ("gates", index, "tags", "fault"),
                    f"{label!r} is no fault of this scenario (its labels: {played})",
                )
        return self

    @model_validator(mode="after")
    def _faults_within_run(self) -> Self:
        check_timeline(self.faults, self.load.nominal_duration)
        return self

    @property
    def total_duration(self) -> float:
        """Real seconds the load runs: the stages' total times ``time_scale``."""
        return self.load.nominal_duration * self.load.time_scale

    @property
    def warmup(self) -> float:
        """Real seconds excluded from the gates at the start."""
        return self.load.warmup * self.load.time_scale

    def scaled(self) -> ScaledScenario:
        """Real times after ``time_scale``: stage boundaries, think time, batch timing."""
        return ScaledScenario.of(self)

    def evaluate(self, samples: Samples) -> Evaluation:
        """Judge this scenario's gates on ``samples``, excluding the warm-up."""
        return evaluate(self.gates, samples, warmup=self.warmup, scales=self.scales)
