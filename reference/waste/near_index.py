"""The near-duplicate index: perceptual hashes in Redis, found again within a Hamming radius.

Multi-index hashing over hash bands (pigeonhole): the 64-bit hash is cut into ``radius + 1``
bands; two hashes at most ``radius`` bits apart agree exactly on at least one band. Each band
value is a sorted set ``<prefix>near:<mode>:<layout>:<band>:<value>`` of the hashes that have it,
scored by their expiry time, so a lookup reads ``radius + 1`` sets (one round trip) and checks the
candidates' true distance. ``<layout>`` is the band count: another radius builds its own index
and never reads one cut differently.

Expiry (the cache's TTL): a member's score is its expiry, so a lookup reads live members only and
every write trims expired ones from the sets it touches; each set also expires as a whole a TTL
after its last write, and :meth:`NearIndex.purge` trims every band of the mode (the hourly
``cleanup.cache``). The pointer ``<prefix>near:<mode>:hash:<hash>`` -> exact digest has the same
TTL; the answer itself stays under its exact key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from reference.waste.photo_hash import HASH_BITS, distance

# The most candidates a lookup verifies; a pathological pile-up of one band value cannot make
# a lookup unbounded (the nearest of those read is still exact for them).
MAX_CANDIDATES = 20_000


def bands(radius: int) -> tuple[tuple[int, int], ...]:
    """``(shift, width)`` of each band for a radius: ``min(radius + 1, 64)`` near-equal bands."""
    if not 0 <= radius <= HASH_BITS:
        raise ValueError(f"radius must be from 0 to {HASH_BITS}, got {radius}")
    count = min(radius + 1, HASH_BITS)
    base, extra = divmod(HASH_BITS, count)
    out, shift = [], 0
    for index in range(count):
        width = base + (1 if index < extra else 0)
        out.append((shift, width))
        shift += width
    return tuple(out)


@dataclass(frozen=True, slots=True)
class NearMatch:
    digest: str
    distance: int
    phash: int


class NearIndex:
    """The index of one mode (analyze, classify) under a deployment's key prefix."""

    def __init__(
        self, client: redis.Redis, *, prefix: str, mode: str, radius: int, ttl_seconds: int
    ) -> None:
        self.client = client
        self.radius = radius
        self.ttl_seconds = ttl_seconds
        self._bands = bands(radius)
        self._root = f"{prefix}near:{mode}:"
        self._layout = f"{self._root}{len(self._bands)}:"

    def band_keys(self, phash: int) -> list[str]:
        """The sorted sets a hash is filed under."""
        return [
            f"{self._layout}{i}:{(phash >> shift) & ((1 << width) - 1):x}"
            for i, (shift, width) in enumerate(self._bands)
        ]

    def pointer_key(self, phash: int) -> str:
        return f"{self._root}hash:{phash:016x}"

    def add(self, phash: int, digest: str, *, now: float | None = None) -> None:
        """File ``phash`` (of the photo whose exact digest is ``digest``) for the TTL."""
        now = time.time() if now is None else now
        expires = now + self.ttl_seconds
        member = phash.to_bytes(8, "big")
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.pointer_key(phash), digest, ex=self.ttl_seconds)
        for key in self.band_keys(phash):
            pipe.zadd(key, {member: expires})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, self.ttl_seconds)
        pipe.execute()

    def lookup(self, phash: int, *, now: float | None = None) -> NearMatch | None:
        """The nearest live hash within the radius whose pointer is still there, or None."""
        now = time.time() if now is None else now
        pipe = self.client.pipeline(transaction=False)
        for key in self.band_keys(phash):
            pipe.zrangebyscore(key, f"({now}", "+inf", start=0, num=MAX_CANDIDATES)
        found: dict[int, int] = {}
        for members in pipe.execute():
            for member in members:
                other = int.from_bytes(member, "big")
                if other not in found:
                    gap = distance(phash, other)
                    if gap <= self.radius:
                        found[other] = gap
        for other, gap in sorted(found.items(), key=lambda kv: (kv[1], kv[0])):
            digest = self.client.get(self.pointer_key(other))
            if digest is not None:
                return NearMatch(digest.decode(), gap, other)
        return None

    def purge(self, *, now: float | None = None, batch: int = 500) -> int:
        """Trim expired members from every band set of this mode; how many were removed."""
        now = time.time() if now is None else now
        removed = 0
        pipe = self.client.pipeline(transaction=False)
        pending = 0
        for key in self.client.scan_iter(match=f"{self._root}*:*:*", count=batch):
            if b":hash:" in key:
                continue
            pipe.zremrangebyscore(key, "-inf", now)
            pending += 1
            if pending >= batch:
                removed += sum(pipe.execute())
                pending = 0
        if pending:
            removed += sum(pipe.execute())
        return removed
