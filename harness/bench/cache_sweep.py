"""``wastecoach cache-sweep``: measure the near-duplicate cache before trusting a setting.

Two measurements, both through the reference's own code against the real Redis, under a key
prefix of their own that is deleted afterwards:

- the sweep: scenarios' photo streams (re-photographs, app retries, look-alikes of other
  categories) replayed through :mod:`reference.waste.near_cache` for each scheme (pHash alone,
  or pHash verified by the colour thumbnail within a threshold) and radius, a new photo stored
  with its true answer as the model would give it. Live runs salt the photo seed with the run id
  (``loadtests.plan``), so every run is a fresh draw of look-alike scenes: the sweep replays each
  workload at several seeds, with the scenario's Locust processes interleaved as a run has them.
  Per scheme, radius and workload: hit ratio (exact and near) and false-hit ratio (a hit whose
  category is not the photo's true one), pooled and at the worst seed, and the margin: how far
  the closest candidate of another category within the radius stayed beyond the colour
  threshold. A table (``sweep.json``) and a plot (``sweep.png``);
- the benchmark: the band index filled with ``n`` entries (pipelined), then lookup time p50/p95
  and Redis memory per entry (``used_memory`` before and after) at each size.
"""

from __future__ import annotations

import math
import statistics
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from random import Random
from typing import Any

import redis

from harness.app.corpus import Photo
from harness.mocks import catalog
from harness.scenario.model import Images
from harness.scenario.workload import photo_stream
from reference.common.settings import Settings
from reference.waste import near_cache
from reference.waste.categories import LABELS_KO
from reference.waste.near_index import NearIndex, member
from reference.waste.photo_hash import COLOUR_BYTES, Fingerprint, fingerprint
from reference.waste.results import cache_payload
from reference.waste.schemas import ResultBody

MODE = "analyze"


@dataclass(frozen=True)
class Scheme:
    """How a near candidate is accepted: pHash within the radius, and (unless ``colour`` is
    None) its colour thumbnail within ``colour`` (``cache_near_colour_distance``)."""

    colour: float | None

    @property
    def name(self) -> str:
        return "phash" if self.colour is None else f"phash+colour<={self.colour:g}"

    @classmethod
    def parse(cls, text: str) -> Scheme:
        """``off`` (pHash alone) or a colour threshold."""
        if text.strip() == "off":
            return cls(None)
        value = float(text)
        if not value >= 0 or not math.isfinite(value):
            raise ValueError(f"a colour threshold is a number >= 0 or 'off', got {text!r}")
        return cls(value)


@dataclass(frozen=True)
class Workload:
    """One photo stream: the ``[images]`` of the scenarios named, split over ``processes``
    Locust processes as a run splits it, drawn at ``seed``."""

    name: str
    images: Images
    processes: int
    seed: int


@dataclass(frozen=True)
class SweepRow:
    """One replay: a workload at one seed through one scheme and radius."""

    scheme: str
    radius: int
    workload: str
    seed: int
    photos: int
    exact_hits: int
    near_hits: int
    false_hits: int  # hits (exact or near) with another category than the photo's
    # Hits answered from another photo than the one photographed again (its category right or
    # not): on this corpus every photo of an item has the item's colours, so a loose radius can
    # be right by category from a different scene, which on real photos would be luck.
    other_photo_hits: int
    # Near candidates within the radius whose category is not the photo's (served or not), and
    # the smallest colour distance among them (None: there was none).
    false_candidates: int
    closest_false_colour: float | None

    @property
    def hit_ratio(self) -> float:
        return (self.exact_hits + self.near_hits) / self.photos

    @property
    def false_hit_ratio(self) -> float:
        return self.false_hits / self.photos

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "hit_ratio": round(self.hit_ratio, 4),
            "false_hit_ratio": round(self.false_hit_ratio, 4),
        }


@dataclass(frozen=True)
class SummaryRow:
    """A scheme and radius over every seed of a workload: pooled, and the worst seed."""

    scheme: str
    radius: int
    workload: str
    seeds: int
    photos: int
    exact_hits: int
    near_hits: int
    false_hits: int
    other_photo_hits: int
    hit_ratio: float
    false_hit_ratio: float
    worst_hit_ratio: float  # the lowest over the seeds
    worst_hit_seed: int
    worst_false_hit_ratio: float  # the highest over the seeds
    worst_false_seed: int
    false_candidates: int
    # The closest candidate of another category minus the colour threshold (positive: how far
    # it stayed beyond it; None: no colour check, or no such candidate).
    colour_margin: float | None


@dataclass(frozen=True)
class BenchRow:
    entries: int
    radius: int
    lookup_p50_ms: float
    lookup_p95_ms: float
    bytes_per_entry: float
    load_seconds: float


def model_answer(item: catalog.CatalogItem) -> bytes:
    """What the model would answer for the item, as the cache stores it."""
    body = ResultBody(
        item=item.name_ko,
        item_en=item.name_en,
        category=item.category,
        category_label=LABELS_KO[item.category],
        disposal_steps=list(item.steps),
        model="sweep",
        analysis_id=uuid.uuid4(),
    )
    return cache_payload(body)


def _settings(base: Settings, prefix: str, scheme: Scheme, radius: int) -> Settings:
    colour = math.inf if scheme.colour is None else scheme.colour
    return base.model_copy(
        update={
            "redis_prefix": prefix,
            "cache_near_radius": radius,
            "cache_near_colour_distance": colour,
            "cache_enabled": True,
            "cache_near_enabled": True,
        }
    )


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key under ``prefix`` (the sweep's own); how many."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += client.unlink(*batch)
    return deleted


def corpus(workload: Workload, photos: int) -> list[tuple[Photo, near_cache.Photo]]:
    """The workload's first ``photos`` photos, its processes' streams taken in turn, with the
    keys the cache computes for them."""
    streams = [
        photo_stream(workload.images, workload.seed, process=i, processes=workload.processes)
        for i in range(workload.processes)
    ]
    out = []
    for number in range(photos):
        photo = streams[number % workload.processes].next()
        out.append((photo, near_cache.Photo.hashed(photo.sha256, fingerprint(photo.data))))
    return out


def replay(
    base: Settings,
    workload: Workload,
    photos: list[tuple[Photo, near_cache.Photo]],
    scheme: Scheme,
    radius: int,
) -> SweepRow:
    """The photos through the cache: a hit is served, a miss is stored as the model answers."""
    client = near_cache.get_redis(base.redis_url)
    prefix = f"{base.redis_prefix}sweep-{uuid.uuid4().hex[:8]}:"
    settings = _settings(base, prefix, scheme, radius)
    index = near_cache.index(settings, MODE)
    stored: dict[str, Photo] = {}  # every photo stored, by digest
    exact = near = false = other_photo = false_candidates = 0
    closest: float | None = None
    try:
        for photo, keys in photos:
            found = near_cache.lookup(settings, MODE, keys)
            if keys.fingerprint is not None and (found is None or found.match == "near"):
                for candidate in index.candidates(keys.fingerprint):
                    if stored[candidate.digest].category != photo.category:
                        false_candidates += 1
                        gap = candidate.colour_distance
                        closest = gap if closest is None else min(closest, gap)
            if found is None:
                near_cache.store(settings, MODE, keys, model_answer(catalog.get(photo.item_key)))
                stored[keys.digest] = photo
                continue
            exact += found.match == "exact"
            near += found.match == "near"
            false += found.body.category.value != photo.category
            other_photo += stored[found.digest].photo_id != photo.photo_id
    finally:
        delete_prefix(client, prefix)
    return SweepRow(
        scheme.name,
        radius,
        workload.name,
        workload.seed,
        len(photos),
        exact,
        near,
        false,
        other_photo,
        false_candidates,
        None if closest is None else round(closest, 2),
    )


def summarise(rows: Sequence[SweepRow], schemes: Sequence[Scheme]) -> list[SummaryRow]:
    """Per scheme, radius and workload: pooled over the seeds, the worst seed, the margin."""
    thresholds = {scheme.name: scheme.colour for scheme in schemes}
    groups: dict[tuple[str, int, str], list[SweepRow]] = {}
    for row in rows:
        groups.setdefault((row.scheme, row.radius, row.workload), []).append(row)
    out = []
    for (scheme, radius, workload), group in groups.items():
        photos = sum(row.photos for row in group)
        exact = sum(row.exact_hits for row in group)
        near = sum(row.near_hits for row in group)
        false = sum(row.false_hits for row in group)
        other_photo = sum(row.other_photo_hits for row in group)
        lowest = min(group, key=lambda row: (row.hit_ratio, row.seed))
        highest = max(group, key=lambda row: (row.false_hit_ratio, -row.seed))
        closest = [row.closest_false_colour for row in group]
        closest = [gap for gap in closest if gap is not None]
        threshold = thresholds[scheme]
        margin = None if threshold is None or not closest else round(min(closest) - threshold, 2)
        out.append(
            SummaryRow(
                scheme,
                radius,
                workload,
                len(group),
                photos,
                exact,
                near,
                false,
                other_photo,
                round((exact + near) / photos, 4),
                round(false / photos, 4),
                round(lowest.hit_ratio, 4),
                lowest.seed,
                round(highest.false_hit_ratio, 4),
                highest.seed,
                sum(row.false_candidates for row in group),
                margin,
            )
        )
    return out


def bench(
    base: Settings,
    *,
    sizes: Sequence[int],
    radius: int,
    colour: float,
    probes: Sequence[Fingerprint],
    seed: int = 0,
) -> list[BenchRow]:
    """Lookup time (the candidates read and verified) and memory per entry of the band index at
    each size (uniform random entries as the filling; ``probes`` are real photos')."""
    client = near_cache.get_redis(base.redis_url)
    rows = []
    for size in sizes:
        prefix = f"{base.redis_prefix}bench-{uuid.uuid4().hex[:8]}:"
        index = NearIndex(
            client,
            prefix=prefix,
            mode=MODE,
            radius=radius,
            colour_distance=colour,
            ttl_seconds=3600,
        )
        rng = Random(f"{seed}:{size}")
        try:
            before = int(client.info("memory")["used_memory"])
            started = time.perf_counter()
            _bulk_add(index, (_random_entry(rng) for _ in range(size)))
            loaded = time.perf_counter() - started
            after = int(client.info("memory")["used_memory"])
            times = []
            for probe in probes:
                t0 = time.perf_counter()
                index.matches(probe)
                times.append((time.perf_counter() - t0) * 1000)
        finally:
            delete_prefix(client, prefix)
        cuts = statistics.quantiles(times, n=20)
        rows.append(
            BenchRow(
                size,
                radius,
                round(statistics.median(times), 3),
                round(cuts[18], 3),
                round((after - before) / size, 1),
                round(loaded, 1),
            )
        )
    return rows


def _random_entry(rng: Random) -> tuple[Fingerprint, str]:
    return Fingerprint(rng.getrandbits(64), rng.randbytes(COLOUR_BYTES)), rng.randbytes(32).hex()


def _bulk_add(
    index: NearIndex, entries: Iterable[tuple[Fingerprint, str]], batch: int = 2000
) -> None:
    """``NearIndex.add`` for many entries, pipelined (one round trip per batch)."""
    expires = time.time() + index.ttl_seconds
    pipe = index.client.pipeline(transaction=False)
    for count, (found, digest) in enumerate(entries, 1):
        entry = member(found, digest)
        pipe.set(index.pointer_key(digest), digest, ex=index.ttl_seconds)
        for key in index.band_keys(found.phash):
            pipe.zadd(key, {entry: expires})
            pipe.expire(key, index.ttl_seconds)
        if count % batch == 0:
            pipe.execute()
    pipe.execute()


def plot(rows: Sequence[SummaryRow], path: Path) -> None:
    """Hit ratio against false-hit ratio (the worst seed's), one line per scheme and workload,
    one point per radius."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    lines: dict[tuple[str, str], list[SummaryRow]] = {}
    for row in rows:
        lines.setdefault((row.scheme, row.workload), []).append(row)
    for (scheme, workload), line in lines.items():
        line.sort(key=lambda row: row.radius)
        xs = [row.worst_false_hit_ratio for row in line]
        ys = [row.hit_ratio for row in line]
        ax.plot(xs, ys, marker="o", label=f"{scheme}, {workload}")
        for row, x, y in zip(line, xs, ys, strict=True):
            ax.annotate(f"r={row.radius}", (x, y), textcoords="offset points", xytext=(4, -10))
    ax.axhline(0.70, color="grey", linestyle="--", linewidth=0.8, label="hit ratio 0.70")
    ax.set_xlabel("false-hit ratio at the worst seed (hits with another category, per photo)")
    ax.set_ylabel("hit ratio over the seeds (exact + near, per photo)")
    ax.set_title("near-duplicate cache: hits against false hits by scheme and radius")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(
    *,
    workloads: Sequence[Workload],
    photos: int,
    schemes: Sequence[Scheme],
    radii: Sequence[int],
    sizes: Sequence[int],
    bench_radius: int | None,
    out_dir: Path,
    progress: Any = None,
) -> dict[str, Any]:
    """Sweep, plot and benchmark; write ``sweep.json`` and ``sweep.png`` to ``out_dir``.
    ``progress`` (a callable taking a line) hears of each workload as it is replayed."""
    import json

    base = Settings(_env_file=None)  # type: ignore[call-arg]
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[SweepRow] = []
    probes: list[Fingerprint] = []
    started = time.perf_counter()
    for workload in workloads:
        replayed = corpus(workload, photos)
        probes = probes or [keys.fingerprint for _, keys in replayed[:400] if keys.fingerprint]
        for scheme in schemes:
            for radius in radii:
                rows.append(replay(base, workload, replayed, scheme, radius))
        if progress is not None:
            progress(
                f"{workload.name} seed {workload.seed}: {photos} photos replayed"
                f" ({time.perf_counter() - started:.0f} s)"
            )
    summary = summarise(rows, schemes)
    plot(summary, out_dir / "sweep.png")
    radius = base.cache_near_radius if bench_radius is None else bench_radius
    colour = base.cache_near_colour_distance
    benched = bench(base, sizes=sizes, radius=radius, colour=colour, probes=probes) if sizes else []
    found = {
        "photos": photos,
        "workloads": [
            {
                "name": w.name,
                "seed": w.seed,
                "processes": w.processes,
                "variants": w.images.variants.shares(),
            }
            for w in workloads
        ],
        "summary": [asdict(row) for row in summary],
        "sweep": [row.as_dict() for row in rows],
        "bench": [asdict(row) for row in benched],
        "plot": str(out_dir / "sweep.png"),
    }
    (out_dir / "sweep.json").write_text(json.dumps(found, indent=2))
    return found
