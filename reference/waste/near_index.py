"""The near-duplicate index: photos' fingerprints in Redis, found again within a Hamming radius
of their pHash and a colour distance of their thumbnail.

Multi-index hashing over hash bands (pigeonhole): the 64-bit pHash is cut into ``radius + 1``
bands; two hashes at most ``radius`` bits apart agree exactly on at least one band. Each band
value is a sorted set ``<prefix>near:<mode>:pc.<layout>:<band>:<value>`` of the entries that
have it, scored by their expiry time, so a lookup reads ``radius + 1`` sets (one round trip) and
checks the candidates' true distances locally. An entry (a set member) is the whole fingerprint
and the photo's exact digest (:data:`MEMBER_BYTES`), so two photos with the same pHash are two
entries and each is verified on its own. ``<layout>`` is the band count: another radius builds
its own index and never reads one cut differently; ``pc`` names the member format (pHash and
colour), so sets of another format are never read either.

A candidate is a match when its pHash is at most ``radius`` bits away *and* its colour thumbnail
at most ``colour_distance`` away (``reference.waste.photo_hash``): the pHash alone cannot tell
two look-alikes of one scene apart.

Expiry (the cache's TTL): a member's score is its expiry, so a lookup reads live members only and
every write trims expired ones from the sets it touches; each set also expires as a whole a TTL
after its last write, and :meth:`NearIndex.purge` trims every band of the mode (the hourly
``cleanup.cache``). The answer itself stays under its exact key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from reference.waste.photo_hash import (
    COLOUR_BYTES,
    HASH_BITS,
    Fingerprint,
    colour_distance,
    distance,
)

# The most members a lookup reads from one band; a pathological pile-up of one band value
# cannot make a lookup unbounded (the nearest of those read is still exact for them).
MAX_CANDIDATES = 20_000
_DIGEST_BYTES = 32  # a SHA-256
MEMBER_BYTES = 8 + COLOUR_BYTES + _DIGEST_BYTES
_FORMAT = "pc"


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


def member(fingerprint: Fingerprint, digest: str) -> bytes:
    """The set member of an entry: pHash (8 bytes, big-endian), colour thumbnail, digest."""
    raw = bytes.fromhex(digest)
    if len(raw) != _DIGEST_BYTES:
        raise ValueError(f"digest must be a hex SHA-256, got {digest!r}")
    return fingerprint.phash.to_bytes(8, "big") + fingerprint.colour + raw


def _entry(raw: bytes) -> tuple[Fingerprint, str]:
    """The fingerprint and digest of a set member."""
    colour_end = 8 + COLOUR_BYTES
    return Fingerprint(int.from_bytes(raw[:8], "big"), raw[8:colour_end]), raw[colour_end:].hex()


@dataclass(frozen=True, slots=True)
class NearMatch:
    digest: str
    distance: int  # pHash bits
    colour_distance: float
    fingerprint: Fingerprint


class NearIndex:
    """The index of one mode (analyze, classify) under a deployment's key prefix."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str,
        mode: str,
        radius: int,
        colour_distance: float,
        ttl_seconds: int,
    ) -> None:
        self.client = client
        self.radius = radius
        self.colour_distance = colour_distance
        self.ttl_seconds = ttl_seconds
        self._bands = bands(radius)
        self._root = f"{prefix}near:{mode}:{_FORMAT}."
        self._layout = f"{self._root}{len(self._bands)}:"

    def band_keys(self, phash: int) -> list[str]:
        """The sorted sets a hash is filed under."""
        return [
            f"{self._layout}{i}:{(phash >> shift) & ((1 << width) - 1):x}"
            for i, (shift, width) in enumerate(self._bands)
        ]

    def add(self, fingerprint: Fingerprint, digest: str, *, now: float | None = None) -> None:
        """File the photo (``digest``: its exact digest) for the TTL."""
        now = time.time() if now is None else now
        expires = now + self.ttl_seconds
        entry = member(fingerprint, digest)
        pipe = self.client.pipeline(transaction=False)
        for key in self.band_keys(fingerprint.phash):
            pipe.zadd(key, {entry: expires})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, self.ttl_seconds)
        pipe.execute()

    def candidates(self, fingerprint: Fingerprint, *, now: float | None = None) -> list[NearMatch]:
        """Every live entry whose pHash is within the radius, whatever its colour; nearest
        first (pHash bits, then colour distance, then digest)."""
        now = time.time() if now is None else now
        pipe = self.client.pipeline(transaction=False)
        for key in self.band_keys(fingerprint.phash):
            pipe.zrangebyscore(key, f"({now}", "+inf", start=0, num=MAX_CANDIDATES)
        seen: set[bytes] = set()
        found: list[NearMatch] = []
        for members in pipe.execute():
            for raw in members:
                if raw in seen:
                    continue
                seen.add(raw)
                # The pHash first (the first 8 bytes): most members are beyond the radius.
                gap = distance(fingerprint.phash, int.from_bytes(raw[:8], "big"))
                if gap <= self.radius:
                    other, digest = _entry(raw)
                    colour = colour_distance(fingerprint.colour, other.colour)
                    found.append(NearMatch(digest, gap, colour, other))
        return sorted(found, key=lambda m: (m.distance, m.colour_distance, m.digest))

    def matches(self, fingerprint: Fingerprint, *, now: float | None = None) -> list[NearMatch]:
        """The candidates whose colour is within ``colour_distance`` too, nearest first."""
        return [
            match
            for match in self.candidates(fingerprint, now=now)
            if match.colour_distance <= self.colour_distance
        ]

    def purge(self, *, now: float | None = None, batch: int = 500) -> int:
        """Trim expired members from every band set of this mode; how many were removed."""
        now = time.time() if now is None else now
        removed = 0
        pipe = self.client.pipeline(transaction=False)
        pending = 0
        for key in self.client.scan_iter(match=f"{self._root}*", count=batch):
            pipe.zremrangebyscore(key, "-inf", now)
            pending += 1
            if pending >= batch:
                removed += sum(pipe.execute())
                pending = 0
        if pending:
            removed += sum(pipe.execute())
        return removed
