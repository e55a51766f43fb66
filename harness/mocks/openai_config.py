"""How the mock OpenAI behaves: latency distributions, fault rates, seed and time scale.

Served and replaced at runtime through ``GET/PUT /_mock/config``; the same model validates the
``--config`` file of the command line.
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class UniformLatency(BaseModel):
    """Latency drawn uniformly from ``[low, high]`` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["uniform"] = "uniform"
    low: float = Field(2.0, ge=0)
    high: float = Field(5.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    def sample(self, rng: random.Random) -> float:
        """One latency in seconds."""
        return rng.uniform(self.low, self.high)


class LognormalLatency(BaseModel):
    """Latency with a long right tail: ``median * exp(N(0, sigma))``, capped at ``cap``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["lognormal"] = "lognormal"
    median: float = Field(3.0, gt=0)
    sigma: float = Field(0.35, ge=0)
    cap: float = Field(30.0, gt=0)

    def sample(self, rng: random.Random) -> float:
        """One latency in seconds."""
        return min(self.cap, rng.lognormvariate(math.log(self.median), self.sigma))


class FixedLatency(BaseModel):
    """The same latency for every call."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["fixed"] = "fixed"
    seconds: float = Field(3.0, ge=0)

    def sample(self, rng: random.Random) -> float:
        """One latency in seconds (``rng`` unused, kept for a uniform interface)."""
        return self.seconds


Latency = Annotated[UniformLatency | LognormalLatency | FixedLatency, Field(discriminator="kind")]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class MockOpenAIConfig(BaseModel):
    """How the mock behaves. Fault rates are shares of calls and together at most 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # The seed's timings: image.analyze (GPT-4o vision) 2-5 s, image.classify 1-3 s.
    latency: Latency = Field(default_factory=UniformLatency)
    classify_latency: Latency = Field(default_factory=lambda: UniformLatency(low=1.0, high=3.0))
    error_rate: Rate = 0.0
    rate_limit_rate: Rate = 0.0
    invalid_json_rate: Rate = 0.0
    timeout_rate: Rate = 0.0
    # Not scaled by time_scale: a held request has to outlast the client's real timeout.
    hang_seconds: float = Field(60.0, ge=0)
    retry_after_seconds: float = Field(1.0, ge=0)
    seed: int = 0
    # Multiplies every sampled latency, so CI can run the same scenario fast.
    time_scale: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _rates_fit(self) -> Self:
        total = self.error_rate + self.rate_limit_rate + self.invalid_json_rate + self.timeout_rate
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:.3f}; they must total at most 1")
        return self
