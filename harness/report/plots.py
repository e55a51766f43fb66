"""The report's figures as self-contained PNG data URIs (matplotlib, no display)."""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from harness.gates.stats import percentile
from harness.report.rundata import RunData
from harness.run.observations import STAGE_COLUMNS

TARGET_MS = 5000.0


def _data_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _t0(run: RunData) -> float:
    starts = [e["started_at"] for e in run.events if e.get("started_at")]
    points = [p.ts for p in run.series.points]
    return min(starts + points, default=0.0)


def _shade_faults(run: RunData, t0: float, *axes: Any) -> None:
    """Shade each fault's window (as it really happened) on plots over time."""
    windows = run.summary.get("fault_windows") or []
    for number, w in enumerate(windows):
        if not w.get("started"):
            continue
        end = w.get("ended") or w.get("planned_end") or w["started"]
        for ax in axes:
            ax.axvspan(
                w["started"] - t0,
                end - t0,
                color="tab:red",
                alpha=0.12,
                label="fault" if number == 0 and ax is axes[0] else None,
            )
    if windows:
        top = axes[0]
        for w in windows:
            if w.get("started"):
                top.annotate(
                    w["label"], (w["started"] - t0, 1.0), xycoords=("data", "axes fraction"),
                    fontsize=7, rotation=90, va="top", color="tab:red",
                )  # fmt: skip


def _done(run: RunData) -> list[dict[str, Any]]:
    return [e for e in run.events if e.get("status") == "done" and e.get("processing_ms")]


def latency_distribution(run: RunData) -> str | None:
    done = _done(run)
    if not done:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for label, hit in (("cache hit", True), ("cache miss", False)):
        values = [e["processing_ms"] for e in done if bool(e.get("cache_hit")) == hit]
        if values:
            ax.hist(values, bins=40, alpha=0.6, label=f"{label} (n={len(values)})")
    every = [e["processing_ms"] for e in done]
    for pct, style in ((50, ":"), (95, "--")):
        ax.axvline(percentile(every, pct), color="black", linestyle=style, label=f"p{pct}")
    ax.axvline(TARGET_MS, color="red", label="5 s target")
    ax.set_xlabel("processing time (upload-complete → result visible), ms")
    ax.set_ylabel("scans")
    ax.legend(fontsize=8)
    return _data_uri(fig)


def _rolling(
    xs: list[float], ys: list[float], window: float, reduce: Callable[[list[float]], float]
) -> tuple[list[float], list[float]]:
    """Reduce ``ys`` over trailing windows of ``window`` seconds, one point per second."""
    if not xs:
        return [], []
    pairs = sorted(zip(xs, ys, strict=True))
    out_x, out_y = [], []
    t, end = pairs[0][0], pairs[-1][0]
    while t <= end:
        inside = [y for x, y in pairs if t - window < x <= t]
        if inside:
            out_x.append(t)
            out_y.append(reduce(inside))
        t += 1.0
    return out_x, out_y


def latency_over_time(run: RunData) -> str | None:
    done = _done(run)
    if not done:
        return None
    t0 = _t0(run)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for label, hit, colour in (("hit", True, "tab:green"), ("miss", False, "tab:orange")):
        rows = [e for e in done if bool(e.get("cache_hit")) == hit]
        ax.scatter(
            [e["started_at"] - t0 for e in rows],
            [e["processing_ms"] for e in rows],
            s=6,
            alpha=0.5,
            color=colour,
            label=label,
        )
    xs, ys = _rolling(
        [e["started_at"] - t0 for e in done],
        [e["processing_ms"] for e in done],
        30.0,
        lambda v: percentile(v, 95),
    )
    ax.plot(xs, ys, color="black", label="p95 (30 s window)")
    ax.axhline(TARGET_MS, color="red", linewidth=1)
    _shade_faults(run, t0, ax)
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("processing ms")
    ax.legend(fontsize=8)
    return _data_uri(fig)


def queues_over_time(run: RunData) -> str | None:
    depth: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for p in run.series.select("queue_depth"):
        depth[p.tag("queue") or "?"].append((p.ts, p.value))
    waits = [
        (e["started_at"], e["server_queue_wait_ms"])
        for e in run.events
        if e.get("server_queue_wait_ms") is not None and e.get("started_at")
    ]
    if not depth and not waits:
        return None
    t0 = _t0(run)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for queue, values in sorted(depth.items()):
        top.plot([t - t0 for t, _ in values], [v for _, v in values], label=queue)
    top.set_ylabel("messages ready")
    if depth:
        top.legend(fontsize=8, ncol=5)
    if waits:
        bottom.scatter([t - t0 for t, _ in waits], [w for _, w in waits], s=6, alpha=0.5)
    bottom.set_ylabel("q.ai wait, ms")
    _shade_faults(run, t0, top, bottom)
    bottom.set_xlabel("seconds into the run")
    return _data_uri(fig)


def cache_over_time(run: RunData) -> str | None:
    done = _done(run)
    if not done:
        return None
    t0 = _t0(run)
    xs, ys = _rolling(
        [e["started_at"] - t0 for e in done],
        [1.0 if e.get("cache_hit") else 0.0 for e in done],
        60.0,
        lambda v: sum(v) / len(v),
    )
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.plot(xs, ys, label="hit ratio (60 s window)")
    ax.axhline(0.70, color="red", linewidth=1, label="70 % target")
    ax.set_ylim(0, 1)
    _shade_faults(run, t0, ax)
    ax.set_xlabel("seconds into the run")
    ax.legend(fontsize=8)
    return _data_uri(fig)


def resources_by_tier(run: RunData) -> str | None:
    cpu: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    rss: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for p in run.series.select("cpu_percent"):
        cpu[p.tag("tier") or "?"][round(p.ts)] += p.value
    for p in run.series.select("rss_bytes"):
        rss[p.tag("tier") or "?"][round(p.ts)] += p.value / 2**20
    if not cpu:
        return None
    t0 = _t0(run)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for tier, values in sorted(cpu.items()):
        times = sorted(values)
        top.plot([t - t0 for t in times], [values[t] for t in times], label=tier)
    for tier, values in sorted(rss.items()):
        times = sorted(values)
        bottom.plot([t - t0 for t in times], [values[t] for t in times], label=tier)
    top.set_ylabel("CPU % (100 = one core)")
    bottom.set_ylabel("RSS MiB")
    _shade_faults(run, t0, top, bottom)
    bottom.set_xlabel("seconds into the run")
    top.legend(fontsize=8, ncol=3)
    return _data_uri(fig)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def stage_split(run: RunData) -> str | None:
    """Where each job's time went on the server: left, the mean per stage stacked (it adds up
    to the mean server processing; "other" is the bookkeeping between stages); right, p50 and
    p95 of each stage, hits and misses side by side."""
    done = [e for e in run.events if e.get("status") == "done" and e.get("server_processing_ms")]
    groups = {
        label: [e for e in done if bool(e.get("cache_hit")) == hit]
        for label, hit in (("cache hit", True), ("cache miss", False))
    }
    groups = {label: events for label, events in groups.items() if events}
    if not groups:
        return None
    fig, (split, spread) = plt.subplots(1, 2, figsize=(11, 3.4))
    for row, events in enumerate(groups.values()):
        left = 0.0
        for stage, column in STAGE_COLUMNS.items():
            mean = _mean([e[column] for e in events if e.get(column) is not None])
            split.barh(row, mean, left=left, color=_STAGE_COLOURS[stage], label=stage)
            left += mean
        other = max(0.0, _mean([e["server_processing_ms"] for e in events]) - left)
        split.barh(row, other, left=left, color="lightgrey", label="other")
    split.set_yticks(range(len(groups)), [f"{k} (n={len(v)})" for k, v in groups.items()])
    split.set_xlabel("mean server processing per stage, ms")
    handles, labels = split.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    split.legend(unique.values(), unique.keys(), fontsize=7, ncol=3)
    width = 0.8 / (2 * len(groups))
    for index, (label, events) in enumerate(groups.items()):
        for k, pct in enumerate((50, 95)):
            xs, ys = [], []
            for x, column in enumerate(STAGE_COLUMNS.values()):
                values = [e[column] for e in events if e.get(column) is not None]
                if values:
                    xs.append(x + (2 * index + k) * width - 0.4 + width / 2)
                    ys.append(percentile(values, pct))
            spread.bar(xs, ys, width, label=f"{label} p{pct}", alpha=0.5 + 0.5 * k)
    spread.set_xticks(range(len(STAGE_COLUMNS)), list(STAGE_COLUMNS), fontsize=8)
    spread.set_yscale("symlog", linthresh=10)
    spread.set_ylabel("ms (log above 10)")
    spread.legend(fontsize=7)
    return _data_uri(fig)


_STAGE_COLOURS = {
    "queue_wait": "tab:purple",
    "download": "tab:orange",
    "cache_lookup": "tab:green",
    "model": "tab:blue",
    "store": "tab:brown",
}


FIGURES: dict[str, Callable[[RunData], str | None]] = {
    "Processing time distribution": latency_distribution,
    "Processing time over time": latency_over_time,
    "Where each job's time went (server stage times)": stage_split,
    "Queues: depth and q.ai wait": queues_over_time,
    "Cache hit ratio over time": cache_over_time,
    "Resources by tier": resources_by_tier,
}


def render_all(run: RunData) -> dict[str, str]:
    figures: dict[str, str] = {}
    for title, make in FIGURES.items():
        uri = make(run)
        if uri is not None:
            figures[title] = uri
    return figures
