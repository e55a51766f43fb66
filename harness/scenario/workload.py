"""What ``[images]`` means, as code: the photo stream each Locust process draws from, and the
cache hits to expect.

The photos are :class:`harness.app.corpus.PhotoStream` s (see that module for the model: Zipf
popularity over the first ``items`` catalog items; with ``repeat_probability`` a re-take of an
earlier photo of the item, varied as ``variants`` says). The reference cache answers identical
repeats by the bytes' SHA-256 (exact hits, modelled here) and other repeats within its radius by
perceptual hash (near hits: measured by ``wastecoach cache-sweep``, not modelled). A new photo
always misses; an identical repeat hits once the earlier job has finished. Hence the expected
exact-hit ratio is
``repeat_probability * identical`` once every item has been seen, and lower while the cache is
cold; :func:`expected_hit_ratio` gives it for a number of scans.
"""

from __future__ import annotations

from harness.app.corpus import PhotoStream, zipf_weights
from harness.scenario.model import Images


def item_weights(images: Images) -> list[float]:
    """Popularity of the first ``images.items`` catalog items (sums to 1)."""
    return list(zipf_weights(images.items, images.zipf))


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


def photo_stream(images: Images, seed: int, *, process: int = 0, processes: int = 1) -> PhotoStream:
    """The photos process ``process`` of ``processes`` uploads under this ``[images]``."""
    return PhotoStream(
        images.items,
        images.zipf,
        images.repeat_probability,
        images.variants.shares(),
        images.size,
        seed,
        process=process,
        processes=processes,
    )
