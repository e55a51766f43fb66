"""Hypothesis strategies for scenario files: random *valid* scenarios as TOML-shaped dicts.

Keys that have defaults are sometimes left out, so defaults are exercised too.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from harness.gates.expressions import COMPARATORS
from harness.gates.measurements import AGGREGATIONS, FAULT_METRICS, METRICS
from harness.mocks.catalog import ITEMS

positive = st.floats(min_value=1e-3, max_value=1e5, allow_nan=False)
non_negative = st.floats(min_value=0, max_value=1e5, allow_nan=False)
shares = st.floats(min_value=0, max_value=1, allow_nan=False)
small_shares = st.floats(min_value=0, max_value=0.25, allow_nan=False)
toml_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
names = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)


@st.composite
def distributions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(("uniform", "lognormal", "fixed")))
    if kind == "uniform":
        low, high = sorted(draw(st.tuples(non_negative, non_negative)))
        return {"kind": kind, "low": low, "high": high}
    if kind == "lognormal":
        return {
            "kind": kind,
            "median": draw(positive),
            "sigma": draw(st.floats(min_value=0, max_value=3)),
            "cap": draw(positive),
        }
    return {"kind": kind, "seconds": draw(non_negative)}


@st.composite
def stages(draw: st.DrawFn, model: str) -> dict[str, Any]:
    stage: dict[str, Any] = {"duration": draw(positive)}
    if model == "closed":
        stage["users"] = draw(st.integers(min_value=1, max_value=5000))
        stage["spawn_rate"] = draw(positive)
    else:
        stage["arrival_rate"] = draw(positive)
        stage.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "max_users": st.integers(min_value=1, max_value=5000),
                        "spawn_rate": positive,
                    },
                )
            )
        )
    return stage


@st.composite
def loads(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(("closed", "open")))
    drawn = draw(st.lists(stages(model), min_size=1, max_size=4))
    total = math.fsum(stage["duration"] for stage in drawn)
    load: dict[str, Any] = {"stages": drawn}
    optional = {
        "time_scale": st.floats(min_value=1e-3, max_value=10),
        "warmup": st.floats(min_value=0, max_value=0.99).map(lambda share: share * total),
        "locust_processes": st.integers(min_value=1, max_value=64),
        "photos_ahead": st.booleans(),
    }
    load.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return load


mixes = st.fixed_dictionaries(
    {"scan": st.floats(min_value=0.001, max_value=100)},
    optional={
        "browse_map": st.floats(min_value=0, max_value=100),
        "profile": st.floats(min_value=0, max_value=100),
        "follow": st.sampled_from(("poll", "stream")),
        "follow_both": st.floats(min_value=0, max_value=1),
        "abusive": st.floats(min_value=0, max_value=1),
        "abuse_rate": positive,
        "poll_interval": positive,
        "think_time": distributions(),
    },
)


@st.composite
def variant_shares(draw: st.DrawFn) -> dict[str, float]:
    raw = draw(st.lists(st.integers(min_value=0, max_value=100), min_size=4, max_size=4))
    if sum(raw) == 0:
        raw[0] = 1
    keys = ("identical", "reencoded", "resized", "cropped")
    return {key: value / sum(raw) for key, value in zip(keys, raw, strict=True)}


images = st.fixed_dictionaries(
    {},
    optional={
        "items": st.integers(min_value=1, max_value=len(ITEMS)),
        "zipf": st.floats(min_value=0, max_value=10),
        "repeat_probability": shares,
        "variants": variant_shares(),
        "size": st.tuples(
            st.integers(min_value=16, max_value=4096), st.integers(min_value=16, max_value=4096)
        ).map(list),
    },
)

openai = st.fixed_dictionaries(
    {},
    optional={
        "latency": distributions(),
        "classify_latency": distributions(),
        "error_rate": small_shares,
        "rate_limit_rate": small_shares,
        "invalid_json_rate": small_shares,
        "timeout_rate": small_shares,
        "hang_seconds": non_negative,
        "retry_after_seconds": non_negative,
        "seed": toml_ints,
        "time_scale": non_negative,
    },
)

kakao = st.fixed_dictionaries(
    {},
    optional={"latency": distributions(), "error_rate": shares, "time_scale": non_negative},
)


@st.composite
def batch_floods(draw: st.DrawFn, total: float) -> dict[str, Any]:
    flood: dict[str, Any] = {
        "task": draw(st.sampled_from(("analytics.daily", "report.generate"))),
        "work_seconds": draw(non_negative),
        "start": draw(st.floats(min_value=0, max_value=0.99)) * total,
    }
    if draw(st.booleans()):
        flood["rate"] = draw(positive)
    else:
        flood["burst"] = draw(st.integers(min_value=1, max_value=10_000))
    return flood


@st.composite
def thresholds(draw: st.DrawFn, metric: str) -> str:
    spec = METRICS[metric]
    aggregation = draw(st.sampled_from(sorted(AGGREGATIONS[spec.kind])))
    label = aggregation
    if aggregation == "p":
        label = f"p({draw(st.integers(min_value=1, max_value=100))})"
    bound = draw(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
    unit = draw(st.sampled_from(("", "ms", "s"))) if spec.is_duration else ""
    return f"{label} {draw(st.sampled_from(COMPARATORS))} {bound!r}{unit}"


@st.composite
def gates(draw: st.DrawFn) -> dict[str, Any]:
    # These scenarios play no [[faults]]: the faults' metrics and the fault tag are refused.
    metric = draw(st.sampled_from(sorted(set(METRICS) - FAULT_METRICS)))
    spec = METRICS[metric]
    gate: dict[str, Any] = {
        "metric": metric,
        "thresholds": draw(st.lists(thresholds(metric), min_size=1, max_size=3)),
    }
    keys = sorted(set(spec.tags) - {"fault"})
    if keys and draw(st.booleans()):
        key = draw(st.sampled_from(keys))
        allowed = spec.tags[key]
        value = draw(st.sampled_from(sorted(allowed)) if allowed is not None else text)
        gate["tags"] = {key: value}
    optional = {
        "name": text,
        "min_samples": st.integers(min_value=1, max_value=10_000),
        "include_warmup": st.booleans(),
    }
    gate.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return gate


def _bounds_model_time(gate: dict[str, Any]) -> bool:
    spec = METRICS[gate["metric"]]
    timed = any(not t.startswith("count") for t in gate["thresholds"])
    return timed and spec.includes_model_time(gate.get("tags", {}))


@st.composite
def scenario_dicts(draw: st.DrawFn) -> dict[str, Any]:
    load = draw(loads())
    total = math.fsum(stage["duration"] for stage in load["stages"])
    data: dict[str, Any] = {"name": draw(names), "description": draw(text), "load": load}
    optional: dict[str, Any] = {
        "seed": toml_ints,
        "mix": mixes,
        "images": images,
        "fakes": st.fixed_dictionaries({}, optional={"openai": openai, "kakao": kakao}),
        "background": st.fixed_dictionaries({}, optional={"batch": batch_floods(total)}),
    }
    data.update(draw(st.fixed_dictionaries({}, optional=optional)))
    data["gates"] = draw(st.lists(gates(), min_size=1, max_size=4))
    openai_fake = data.get("fakes", {}).get("openai", {})
    if "time_scale" in openai_fake and any(_bounds_model_time(g) for g in data["gates"]):
        # An unscaled bound on the model's latency is refused when the model is scaled (the
        # refusal has its own tests); these gates' bounds are written in real ms.
        openai_fake["time_scale"] = 1.0
    needs = set().union(*(METRICS[gate["metric"]].needs for gate in data["gates"]))
    if needs & {"poller", "both_ways"}:  # a valid scenario gives its gates their data
        mix = data.setdefault("mix", {"scan": 1.0})
        mix["follow_both"] = draw(st.floats(min_value=0.01, max_value=1))
    if "abusers" in needs:
        mix = data.setdefault("mix", {"scan": 1.0})
        mix["abusive"] = draw(st.floats(min_value=0.01, max_value=1))
    return data
