"""The photos of a scenario's image workload: a deterministic stream that knows the answer.

A :class:`PhotoStream` models how users photograph waste. Each draw picks an item by a Zipf
popularity over the first ``items`` catalog items (rank 1 is the first catalog item, weight
``1 / rank ** zipf_s``; ``zipf_s = 0`` is uniform). With ``repeat_probability`` the draw is a
*repeat*: one of that item's earlier photos photographed again as one of the variants
(``identical`` gives the very same bytes, ``reencoded``/``resized``/``cropped`` a near
duplicate); otherwise it is a *new* photo of the item. Every photo carries the catalog's true
item and category, so the run can check every answer served, from the cache or not.

Photo ids and several processes
-------------------------------
Photos live in one deterministic id space shared by every stream built with the same ``seed``:
the ``k``-th photo of catalog item ``c`` has ``photo_id = k * len(catalog.ITEMS) + c`` and its
bytes are a pure function of ``(seed, photo_id)``, so any process can re-render any photo.
Process ``i`` of ``n`` takes the new photos ``k = r * n + i`` (its round ``r`` of that item):
the processes' new photos never collide, while the popularity is the same everywhere (the item
choices use a per-process random generator, the ranking does not).

Repeats cross processes: a repeat of item ``c`` picks uniformly among this process's own
earlier photos of ``c`` (rounds ``0 .. m-1``) and, with ``cross_process`` on, the other
processes' photos of ``c`` one round behind (rounds ``0 .. m-2``), which they have almost surely
taken by then since every process draws from the same popularity at about the same pace. So a
photo taken by user A in one process can be re-photographed by user B in another. "Almost": if
the other process has not uploaded that photo yet, the repeat is the first upload of those bytes
and misses the cache, and the later original hits it instead; totals are unchanged unless both
are in flight at once.

Expected cache hits
-------------------
The reference cache keys on the SHA-256 of the bytes, so exact-duplicate hits come only from
``identical`` repeats (plus rare chance collisions of near duplicates, e.g. two re-encodings at
the same JPEG quality, which :attr:`PhotoStream.exact_repeats` counts within one process). The
first draw of an item in a process cannot be a repeat, so over ``n`` draws the expected share of
identical repeats is exactly ``p * s_id * (1 - E[distinct items drawn] / n)`` with
``E[distinct] = sum_c 1 - (1 - w_c) ** n``, tending to ``p * s_id``; see
:func:`expected_identical_ratio`. What the server reports can be lower still: a repeat whose
original is still being analysed, or was analysed before the cache was cleared, misses.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from PIL import Image

from harness.mocks import catalog

PhotoVariant = Literal["new", "identical", "reencoded", "resized", "cropped", "rephotographed"]
CATALOG_SIZE = len(catalog.ITEMS)
_INDEX = {item.key: index for index, item in enumerate(catalog.ITEMS)}
# Base photos kept rendered for identical repeats (a few MB at 640x480).
_RENDER_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class PhotoSpec:
    """What a draw photographs, before any pixel is rendered."""

    item_key: str
    photo_id: int
    variant: PhotoVariant
    # Picks the near duplicate's parameters (quality, scale, crop); None for new and identical.
    variant_seed: int | None
    is_repeat: bool

    @property
    def item(self) -> catalog.CatalogItem:
        return catalog.get(self.item_key)


@dataclass(frozen=True)
class Photo:
    """A rendered photo and the truth about it."""

    data: bytes
    item_key: str
    category: str
    variant: PhotoVariant
    photo_id: int
    is_repeat: bool

    @cached_property
    def sha256(self) -> str:
        """The digest the reference cache keys on."""
        return hashlib.sha256(self.data).hexdigest()


def photo_id(item_key: str, number: int) -> int:
    """The shared id of the ``number``-th photo (over all processes) of an item."""
    return number * CATALOG_SIZE + _INDEX[item_key]


def split_photo_id(pid: int) -> tuple[str, int]:
    """``(item_key, number)`` of a photo id."""
    number, index = divmod(pid, CATALOG_SIZE)
    return catalog.ITEMS[index].key, number


def photo_seed(seed: int, pid: int) -> int:
    """The render seed of a photo: a pure function of the stream seed and the photo id."""
    digest = hashlib.blake2b(f"{seed}:{pid}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def render_seed(seed: int, pid: int) -> int:
    """The render seed of a photo: its scene's. The k-th photo of a look-alike item (one of a
    catalog family) is taken in the same scene as the k-th photo of the family's first item,
    so the two differ only where the items do: the hard negatives of a near-duplicate cache."""
    item_key, number = split_photo_id(pid)
    return photo_seed(seed, photo_id(catalog.get(item_key).scene, number))


def zipf_weights(items: int, zipf_s: float) -> tuple[float, ...]:
    """Normalised popularity of ranks 1..items: ``1 / rank ** zipf_s``."""
    if not 1 <= items <= CATALOG_SIZE:
        raise ValueError(f"items must be between 1 and {CATALOG_SIZE} (the catalog), got {items}")
    if zipf_s < 0 or not math.isfinite(zipf_s):
        raise ValueError(f"zipf_s must be a finite number >= 0, got {zipf_s}")
    raw = [1.0 / rank**zipf_s for rank in range(1, items + 1)]
    total = math.fsum(raw)
    return tuple(w / total for w in raw)


def expected_distinct(weights: Sequence[float], draws: int) -> float:
    """Expected number of distinct items among ``draws`` independent draws."""
    return math.fsum(1.0 - (1.0 - w) ** draws for w in weights)


def expected_identical_ratio(
    weights: Sequence[float], repeat_probability: float, identical_share: float, draws: int | None
) -> float:
    """Expected share of identical repeats among ``draws`` photos of one stream (None: the
    limit). The first draw of each item is always new, hence the finite-sample correction."""
    limit = repeat_probability * identical_share
    if draws is None:
        return limit
    if draws <= 0:
        raise ValueError("draws must be positive")
    return limit * (1.0 - expected_distinct(weights, draws) / draws)


def _normalised_shares(shares: Mapping[str, float]) -> dict[str, float]:
    unknown = set(shares) - set(catalog.VARIANTS)
    if unknown:
        raise ValueError(
            f"unknown variant(s) {', '.join(sorted(unknown))}; known: {', '.join(catalog.VARIANTS)}"
        )
    if any(v < 0 or not math.isfinite(v) for v in shares.values()):
        raise ValueError(f"variant shares must be finite and >= 0, got {dict(shares)}")
    total = math.fsum(shares.values())
    if total <= 0:
        raise ValueError("variant shares must not all be zero")
    return {v: shares.get(v, 0.0) / total for v in catalog.VARIANTS}


class PhotoStream:
    """A deterministic stream of photos for one process of a load run (see the module doc).

    ``items``: how many distinct items (the first N of the catalog); ``variant_shares``: how a
    repeat varies (normalised); ``size``: the photo size in pixels; ``seed``: the run's seed,
    the same for every process; ``process``/``processes``: this stream's share of the id space.
    Not thread-safe; under gevent one stream is shared by a process's users (no yield inside).
    """

    def __init__(
        self,
        items: int,
        zipf_s: float,
        repeat_probability: float,
        variant_shares: Mapping[str, float],
        size: tuple[int, int] = (640, 480),
        seed: int = 0,
        *,
        process: int = 0,
        processes: int = 1,
        cross_process: bool = True,
    ) -> None:
        if not 0.0 <= repeat_probability <= 1.0:
            raise ValueError(f"repeat_probability must be in [0, 1], got {repeat_probability}")
        if processes < 1 or not 0 <= process < processes:
            raise ValueError(f"process must be in [0, {processes}), got {process}")
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"size must be (width, height) of at least 8 px, got {size}")
        self.weights = zipf_weights(items, zipf_s)
        self.items = catalog.ITEMS[:items]
        self.repeat_probability = repeat_probability
        self.variant_shares = _normalised_shares(variant_shares)
        self.size = (int(size[0]), int(size[1]))
        self.seed = seed
        self.process = process
        self.processes = processes
        self.cross_process = cross_process
        self._rng = random.Random(f"photostream:{seed}:{process}")
        self._cumulative = _cumulative(self.weights)
        self._variant_names = tuple(self.variant_shares)
        self._variant_cumulative = _cumulative(tuple(self.variant_shares.values()))
        self._rounds: dict[str, int] = {}  # own new photos taken, per item
        self._seen: set[bytes] = set()
        self._rendered: OrderedDict[int, bytes] = OrderedDict()
        # Drawn and rendered by prepare(), not yet taken.
        self._ahead: deque[tuple[PhotoSpec, bytes]] = deque()
        self.prepared = 0  # photos prepare() rendered: the first this many draws
        self.draws = 0
        self.repeats = 0
        self.identical_repeats = 0
        # Photos whose bytes this stream already produced (identical repeats and collisions).
        self.exact_repeats = 0

    # -- the analytic expectation ------------------------------------------------------------
    def expected_identical_ratio(self, draws: int | None = None) -> float:
        """Expected share of identical repeats over ``draws`` (None: the limit)."""
        return expected_identical_ratio(
            self.weights, self.repeat_probability, self.variant_shares["identical"], draws
        )

    # -- drawing -----------------------------------------------------------------------------
    def next_spec(self) -> PhotoSpec:
        """The next draw, without rendering (cheap; for planning and statistics)."""
        spec = self._ahead.popleft()[0] if self._ahead else self._draw()
        self._count(spec)
        return spec

    def _count(self, spec: PhotoSpec) -> None:
        """Count a draw as taken (at the draw, not when it was rendered ahead)."""
        self.draws += 1
        if spec.is_repeat:
            self.repeats += 1
            if spec.variant == "identical":
                self.identical_repeats += 1

    def _draw(self) -> PhotoSpec:
        rng = self._rng
        item = self.items[_pick(self._cumulative, rng.random())]
        rounds = self._rounds.get(item.key, 0)
        # The repeat decision is drawn every time so the random sequence does not depend on
        # whether an item has been seen before.
        wants_repeat = rng.random() < self.repeat_probability
        variant = self._variant_names[_pick(self._variant_cumulative, rng.random())]
        variant_seed = rng.getrandbits(32)
        if wants_repeat and rounds > 0:
            number = self._earlier_photo(rounds, rng)
            return PhotoSpec(
                item.key,
                photo_id(item.key, number),
                variant,
                None if variant == "identical" else variant_seed,
                True,
            )
        self._rounds[item.key] = rounds + 1
        number = rounds * self.processes + self.process
        return PhotoSpec(item.key, photo_id(item.key, number), "new", None, False)

    def _earlier_photo(self, rounds: int, rng: random.Random) -> int:
        others = self.processes - 1 if self.cross_process else 0
        pick = rng.randrange(rounds + others * (rounds - 1))
        if pick < rounds:
            return pick * self.processes + self.process
        other, round_ = divmod(pick - rounds, rounds - 1)
        process = other if other < self.process else other + 1
        return round_ * self.processes + process

    def render(self, spec: PhotoSpec) -> Photo:
        """The photo of a draw; the bytes depend only on the spec and the stream's seed/size."""
        if spec.variant in ("new", "identical"):
            return self._taken(spec, self._base(spec.photo_id, spec.item))
        return self._taken(spec, self._copy(spec))

    def _taken(self, spec: PhotoSpec, data: bytes) -> Photo:
        digest = hashlib.sha256(data).digest()
        if digest in self._seen:
            self.exact_repeats += 1
        self._seen.add(digest)
        item = spec.item
        return Photo(
            data, item.key, item.category.value, spec.variant, spec.photo_id, spec.is_repeat
        )

    def _copy(self, spec: PhotoSpec, base: Image.Image | None = None) -> bytes:
        """A near duplicate's bytes (``base``: its photo's, when rendered already)."""
        return catalog.render(
            spec.item,
            seed=render_seed(self.seed, spec.photo_id),
            size=self.size,
            variant=spec.variant,  # never "new" here
            variant_seed=spec.variant_seed,
            base=base,
        )

    def _base(self, pid: int, item: catalog.CatalogItem, base: Image.Image | None = None) -> bytes:
        cached = self._rendered.get(pid)
        if cached is not None:
            self._rendered.move_to_end(pid)
            return cached
        data = catalog.render(item, seed=render_seed(self.seed, pid), size=self.size, base=base)
        self._rendered[pid] = data
        if len(self._rendered) > _RENDER_CACHE_SIZE:
            self._rendered.popitem(last=False)
        return data

    def next(self) -> Photo:
        """Draw and render the next photo (rendered already when :meth:`prepare` got to it)."""
        if self._ahead:
            spec, data = self._ahead.popleft()
            self._count(spec)
            return self._taken(spec, data)
        return self.render(self.next_spec())

    # -- rendering ahead -----------------------------------------------------------------------
    def prepare(self, count: int, *, between: Callable[[int], None] | None = None) -> None:
        """Render the next ``count`` photos now, so :meth:`next` only hands them out.

        The stream is the same as without (the same draws in the same order, the same bytes,
        the counters moving as photos are taken, not as they are rendered); photos past the
        prepared ones are rendered on demand (``draws - prepared`` of them). The draws
        are planned first and rendered by photo, so each photo's base is rendered once for
        all its copies and only one base is held at a time. ``between(done)`` runs after each
        photo (a worker yields to its other greenlets and reports progress there).
        """
        if self.draws or self.prepared:
            raise ValueError("prepare() renders a stream's first photos: call it once, first")
        specs = [self._draw() for _ in range(count)]
        out = [b""] * count
        by_photo: dict[int, list[int]] = {}
        for index, spec in enumerate(specs):
            by_photo.setdefault(spec.photo_id, []).append(index)
        done = 0
        for pid, indices in by_photo.items():
            item = specs[indices[0]].item
            base: Image.Image | None = None
            for index in indices:
                spec = specs[index]
                if spec.variant in ("new", "identical") and pid in self._rendered:
                    out[index] = self._base(pid, item)
                else:
                    if base is None:
                        base = catalog.base_photo(item, render_seed(self.seed, pid), self.size)
                    plain = spec.variant in ("new", "identical")
                    out[index] = self._base(pid, item, base) if plain else self._copy(spec, base)
                done += 1
                if between is not None:
                    between(done)
        self._ahead.extend(zip(specs, out, strict=True))
        self.prepared += count

    def __iter__(self) -> Iterator[Photo]:
        return self

    def __next__(self) -> Photo:
        return self.next()


def _cumulative(weights: Sequence[float]) -> tuple[float, ...]:
    out: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        out.append(total)
    return tuple(out)


def _pick(cumulative: Sequence[float], u: float) -> int:
    """Index of the first cumulative weight above ``u * total`` (the last one on rounding)."""
    return min(bisect.bisect_right(cumulative, u * cumulative[-1]), len(cumulative) - 1)
