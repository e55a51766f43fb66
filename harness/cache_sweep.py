"""``wastecoach cache-sweep``: measure the near-duplicate cache before trusting a radius.

Two measurements, both through the reference's own code against the real Redis, under a key
prefix of their own that is deleted afterwards:

- the sweep: a scenario's photo stream (re-photographs, app retries, look-alikes of other
  categories) replayed through :mod:`reference.waste.near_cache` at each radius, a new photo
  stored with its true answer as the model would give it. Per radius: hit ratio (exact and near)
  and false-hit ratio (a hit whose category is not the photo's true one), a table and a plot;
- the benchmark: the band index filled with ``n`` hashes (pipelined), then lookup time p50/p95
  and Redis memory per entry (``used_memory`` before and after) at each size.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from random import Random
from typing import Any

import redis

from harness.corpus import Photo
from harness.mocks import catalog
from harness.scenario.model import Images
from harness.scenario.workload import photo_stream
from reference.common.settings import Settings
from reference.waste import near_cache
from reference.waste.categories import LABELS_KO
from reference.waste.near_index import NearIndex
from reference.waste.photo_hash import perceptual_hash
from reference.waste.results import cache_payload
from reference.waste.schemas import ResultBody


@dataclass(frozen=True)
class SweepRow:
    radius: int
    photos: int
    exact_hits: int
    near_hits: int
    false_hits: int  # hits (exact or near) with another category than the photo's

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
class BenchRow:
    entries: int
    radius: int
    lookup_p50_ms: float
    lookup_p95_ms: float
    bytes_per_entry: float
    load_seconds: float


def _answer(item: catalog.CatalogItem) -> bytes:
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


def _settings(base: Settings, prefix: str, radius: int) -> Settings:
    return base.model_copy(
        update={"redis_prefix": prefix, "cache_near_radius": radius, "cache_enabled": True}
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


def corpus(images: Images, photos: int, seed: int) -> list[tuple[Photo, near_cache.Photo]]:
    """The scenario's first ``photos`` photos with the keys the cache computes for them."""
    stream = photo_stream(images, seed)
    out = []
    for _ in range(photos):
        photo = stream.next()
        out.append((photo, near_cache.Photo.hashed(photo.sha256, perceptual_hash(photo.data))))
    return out


def sweep(
    base: Settings, photos: list[tuple[Photo, near_cache.Photo]], radii: Sequence[int]
) -> list[SweepRow]:
    """Replay the photos at each radius: a hit is served, a miss is stored as answered."""
    client = near_cache.get_redis(base.redis_url)
    rows = []
    for radius in radii:
        prefix = f"{base.redis_prefix}sweep-{uuid.uuid4().hex[:8]}:"
        settings = _settings(base, prefix, radius)
        exact = near = false = 0
        try:
            for photo, keys in photos:
                found = near_cache.lookup(settings, "analyze", keys)
                if found is None:
                    near_cache.store(
                        settings, "analyze", keys, _answer(catalog.get(photo.item_key))
                    )
                    continue
                exact += found.match == "exact"
                near += found.match == "near"
                false += found.body.category.value != photo.category
        finally:
            delete_prefix(client, prefix)
        rows.append(SweepRow(radius, len(photos), exact, near, false))
    return rows


def bench(
    base: Settings, *, sizes: Sequence[int], radius: int, probes: Sequence[int], seed: int = 0
) -> list[BenchRow]:
    """Lookup time and memory per entry of the band index at each size (uniform random
    hashes as the filling; ``probes`` are the hashes looked up, real photos' hashes)."""
    client = near_cache.get_redis(base.redis_url)
    rows = []
    for size in sizes:
        prefix = f"{base.redis_prefix}bench-{uuid.uuid4().hex[:8]}:"
        index = NearIndex(client, prefix=prefix, mode="analyze", radius=radius, ttl_seconds=3600)
        rng = Random(f"{seed}:{size}")
        try:
            before = int(client.info("memory")["used_memory"])
            started = time.perf_counter()
            _bulk_add(index, [rng.getrandbits(64) for _ in range(size)])
            loaded = time.perf_counter() - started
            after = int(client.info("memory")["used_memory"])
            times = []
            for phash in probes:
                t0 = time.perf_counter()
                index.lookup(phash)
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


def _bulk_add(index: NearIndex, hashes: Sequence[int], batch: int = 2000) -> None:
    """``NearIndex.add`` for many hashes, pipelined (one round trip per batch)."""
    now = time.time()
    expires = now + index.ttl_seconds
    pipe = index.client.pipeline(transaction=False)
    for count, phash in enumerate(hashes, 1):
        pipe.set(index.pointer_key(phash), f"{phash:064x}", ex=index.ttl_seconds)
        member = phash.to_bytes(8, "big")
        for key in index.band_keys(phash):
            pipe.zadd(key, {member: expires})
            pipe.expire(key, index.ttl_seconds)
        if count % batch == 0:
            pipe.execute()
    pipe.execute()


def plot(rows: Sequence[SweepRow], path: Path) -> None:
    """Hit ratio against false-hit ratio, one point per radius."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    xs = [row.false_hit_ratio for row in rows]
    ys = [row.hit_ratio for row in rows]
    ax.plot(xs, ys, marker="o")
    for row, x, y in zip(rows, xs, ys, strict=True):
        ax.annotate(f"r={row.radius}", (x, y), textcoords="offset points", xytext=(4, -10))
    ax.axhline(0.70, color="grey", linestyle="--", linewidth=0.8, label="hit ratio 0.70")
    ax.set_xlabel("false-hit ratio (hits with another category, per photo)")
    ax.set_ylabel("hit ratio (exact + near, per photo)")
    ax.set_title("near-duplicate cache: hits against false hits by radius")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(
    *,
    scenario_images: Images,
    photos: int,
    radii: Sequence[int],
    sizes: Sequence[int],
    bench_radius: int,
    seed: int,
    out_dir: Path,
) -> dict[str, Any]:
    """Sweep, plot and benchmark; write ``sweep.json`` and ``sweep.png`` to ``out_dir``."""
    import json

    base = Settings(_env_file=None)  # type: ignore[call-arg]
    out_dir.mkdir(parents=True, exist_ok=True)
    replayed = corpus(scenario_images, photos, seed)
    rows = sweep(base, replayed, radii)
    plot(rows, out_dir / "sweep.png")
    probes = [keys.phash for _, keys in replayed[:400] if keys.phash is not None]
    benched = bench(base, sizes=sizes, radius=bench_radius, probes=probes) if sizes else []
    found = {
        "photos": photos,
        "seed": seed,
        "variants": scenario_images.variants.shares(),
        "sweep": [row.as_dict() for row in rows],
        "bench": [asdict(row) for row in benched],
        "plot": str(out_dir / "sweep.png"),
    }
    (out_dir / "sweep.json").write_text(json.dumps(found, indent=2))
    return found
