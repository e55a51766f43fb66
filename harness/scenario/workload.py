"""What ``[images]`` means, as code: the photo each scan uploads, and the cache hits to expect.

The model, one scan at a time (one sampler per Locust process, ``stream`` = process index):

1. Pick an item among the first ``items`` of the catalog, the k-th with weight ``1 / k**zipf``.
2. If that item was photographed before in this stream, then with ``repeat_probability`` the
   user photographs one of its earlier photos again, as a near-duplicate drawn from
   ``variants``: ``identical`` uploads the very same bytes, the others new bytes of the same
   scene (re-encoded, resized, cropped). Otherwise the scan takes a new photo (a new seed).

The reference cache keys on the bytes' SHA-256, so only identical repeats can hit. A new photo
always misses; an identical repeat hits once the earlier job has finished. Hence the expected
exact-hit ratio is ``repeat_probability * identical`` once every item has been seen, and lower
while the cache is cold; :func:`expected_hit_ratio` gives it for a number of scans.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from harness.mocks import catalog
from harness.mocks.catalog import CatalogItem, Variant
from harness.scenario.model import Images

# Photo seeds of different streams never meet, so processes do not hit each other's photos.
_STREAM_STRIDE = 1_000_000_000


def item_weights(images: Images) -> list[float]:
    """Popularity of the first ``images.items`` catalog items (sums to 1)."""
    raw = [1.0 / (rank**images.zipf) for rank in range(1, images.items + 1)]
    total = math.fsum(raw)
    return [weight / total for weight in raw]


def expected_hit_ratio(images: Images, scans: int, *, warmup_scans: int = 0) -> float:
    """Expected exact-hit share of scans ``warmup_scans .. scans-1`` of one stream.

    An upper bound in a real run: an identical repeat whose earlier job is still running is a
    miss. Scan ``n`` hits with probability ``r * id * sum_k p_k * (1 - (1 - p_k) ** n)``.
    """
    if not 0 <= warmup_scans < scans:
        raise ValueError(f"need 0 <= warmup_scans < scans, got {warmup_scans} and {scans}")
    count = scans - warmup_scans
    seen = 0.0
    for weight in item_weights(images):
        miss = 1.0 - weight
        # mean over n in [warmup_scans, scans) of miss**n, a geometric series
        never = (miss**warmup_scans - miss**scans) / (weight * count) if weight > 0 else 1.0
        seen += weight * (1.0 - never)
    return images.repeat_probability * images.variants.identical * seen


def steady_hit_ratio(images: Images) -> float:
    """The exact-hit ratio once every item has been photographed."""
    return images.repeat_probability * images.variants.identical


@dataclass(frozen=True)
class PhotoPlan:
    """One scan's photo: render it with :meth:`render`; the truth is ``item``."""

    item: CatalogItem
    seed: int
    variant: Variant
    variant_seed: int
    size: tuple[int, int]
    repeat: bool  # a re-take of an earlier photo of the item

    @property
    def same_bytes(self) -> bool:
        """An identical re-take: these bytes were uploaded before (an exact cache hit)."""
        return self.repeat and self.variant == "identical"

    def render(self) -> bytes:
        return catalog.render(
            self.item,
            seed=self.seed,
            size=self.size,
            variant=self.variant,
            variant_seed=self.variant_seed,
        )


class WorkloadSampler:
    """Draws :class:`PhotoPlan` s following the model above; deterministic per (seed, stream)."""

    def __init__(self, images: Images, *, seed: int = 0, stream: int = 0) -> None:
        self.images = images
        self._rng = random.Random(f"wastecoach-workload:{seed}:{stream}")
        self._items = catalog.ITEMS[: images.items]
        self._weights = item_weights(images)
        shares = images.variants.shares()
        self._variants: list[Variant] = [v for v in catalog.VARIANTS if shares[v] > 0]
        self._variant_weights = [shares[v] for v in self._variants]
        self._photos: dict[str, list[int]] = {}
        self._next_seed = stream * _STREAM_STRIDE

    def _fresh_seed(self) -> int:
        self._next_seed += 1
        return self._next_seed

    def next(self) -> PhotoPlan:
        rng = self._rng
        item = rng.choices(self._items, self._weights)[0]
        earlier = self._photos.setdefault(item.key, [])
        if earlier and rng.random() < self.images.repeat_probability:
            variant = rng.choices(self._variants, self._variant_weights)[0]
            return PhotoPlan(
                item, rng.choice(earlier), variant, self._fresh_seed(), self.images.size, True
            )
        seed = self._fresh_seed()
        earlier.append(seed)
        return PhotoPlan(item, seed, "identical", seed, self.images.size, False)
