"""The near-duplicate index: photos' fingerprints in Redis, found again within a Hamming radius
of their pHash and a colour distance of their thumbnail.

Multi-index hashing over hash bands (pigeonhole): the 64-bit pHash is cut into ``m`` bands; two
hashes at most ``radius`` bits apart differ in at most ``radius // m`` bits (the probe) on at
least one band. Each band value is a sorted set ``<prefix>near:<mode>:pc.<m>:<band>:<value>`` of
the entries that have it, scored by their expiry time; an entry is filed under its ``m`` band
values, and a lookup reads every band value within the probe of its own (one ZUNION), checks
the candidates' true distances locally and reads the pointers of those within the radius. Few
wide bands probed a bit or two keep a lookup at a million entries to a few hundred sets of a
member or so each, where ``radius + 1`` narrow bands would read thousands of members from each
(:func:`layout`).

An entry (a set member, :data:`MEMBER_BYTES`) is the whole fingerprint and the first bytes of
the photo's exact digest (a pointer key holds the rest), so two photos with the same pHash are
two entries and each is verified on its own. ``<m>`` is the band count: a radius with another
cut builds its own index and never reads one cut differently; ``pc`` names the member format
(pHash and colour), so sets of another format are never read either.

A candidate is a match when its pHash is at most ``radius`` bits away *and* its colour thumbnail
at most ``colour_distance`` away (``reference.waste.photo_hash``): the pHash alone cannot tell
two look-alikes of one scene apart.

Expiry (the cache's TTL): a member's score is its expiry, so a lookup reads live members only and
every write trims expired ones from the sets it touches; each set also expires as a whole a TTL
after its last write, and :meth:`NearIndex.purge` trims every band of the mode (the hourly
``cleanup.cache``). The pointer has the same TTL; the answer itself stays under its exact key.
"""

from __future__ import annotations

import itertools
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

# A member names its photo by the first bytes of its digest; the pointer key
# ``<prefix>near:<mode>:id:<those bytes>`` holds the whole digest.
_ID_BYTES = 8
# At most Redis's zset-max-listpack-value (64 by default): a set of such members stays a compact
# listpack; one longer member makes the set a skiplist, about 1 kB each (3 kB an entry).
MEMBER_BYTES = 8 + COLOUR_BYTES + _ID_BYTES
_FORMAT = "pc"


def layout(radius: int) -> tuple[tuple[tuple[int, int], ...], int]:
    """The bands (``(shift, width)`` each, near-equal) and the probe (bits) for a radius: up to
    radius 2 ``radius + 1`` bands probed exactly; beyond, ``radius // 3 + 1`` bands (at least 3,
    of about 21 bits) probed ``radius // bands`` (1 or 2) bits."""
    if not 0 <= radius <= HASH_BITS:
        raise ValueError(f"radius must be from 0 to {HASH_BITS}, got {radius}")
    count = radius + 1 if radius <= 2 else max(3, radius // 3 + 1)
    base, extra = divmod(HASH_BITS, count)
    out, shift = [], 0
    for index in range(count):
        width = base + (1 if index < extra else 0)
        out.append((shift, width))
        shift += width
    return tuple(out), radius // count


def _masks(width: int, probe: int) -> list[int]:
    """Every value of ``width`` bits with at most ``probe`` bits set (0 first)."""
    return [
        sum(1 << bit for bit in bits)
        for flipped in range(probe + 1)
        for bits in itertools.combinations(range(width), flipped)
    ]


def member(fingerprint: Fingerprint, digest: str) -> bytes:
    """The set member of an entry: pHash (8 bytes, big-endian), colour thumbnail, the first
    :data:`_ID_BYTES` of the digest."""
    raw = bytes.fromhex(digest)
    if len(raw) != 32:
        raise ValueError(f"digest must be a hex SHA-256, got {digest!r}")
    return fingerprint.phash.to_bytes(8, "big") + fingerprint.colour + raw[:_ID_BYTES]


def _entry(raw: bytes) -> tuple[Fingerprint, str]:
    """The fingerprint and digest id (hex) of a set member."""
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
        self._bands, self._probe = layout(radius)
        self._masks = [_masks(width, self._probe) for _, width in self._bands]
        self._pointers = f"{prefix}near:{mode}:id:"
        self._root = f"{prefix}near:{mode}:{_FORMAT}."
        self._layout = f"{self._root}{len(self._bands)}:"

    def band_keys(self, phash: int) -> list[str]:
        """The sorted sets a hash is filed under."""
        return [
            f"{self._layout}{i}:{(phash >> shift) & ((1 << width) - 1):x}"
            for i, (shift, width) in enumerate(self._bands)
        ]

    def probe_keys(self, phash: int) -> list[str]:
        """The sorted sets a lookup of a hash reads: each band's value within the probe."""
        return [
            f"{self._layout}{i}:{((phash >> shift) & ((1 << width) - 1)) ^ mask:x}"
            for i, ((shift, width), masks) in enumerate(zip(self._bands, self._masks, strict=True))
            for mask in masks
        ]

    def pointer_key(self, digest: str) -> str:
        """The key that gives the whole digest of an entry's id (its first bytes)."""
        return f"{self._pointers}{digest[: 2 * _ID_BYTES]}"

    def add(self, fingerprint: Fingerprint, digest: str, *, now: float | None = None) -> None:
        """File the photo (``digest``: its exact digest) for the TTL."""
        now = time.time() if now is None else now
        expires = now + self.ttl_seconds
        entry = member(fingerprint, digest)
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.pointer_key(digest), digest, ex=self.ttl_seconds)
        for key in self.band_keys(fingerprint.phash):
            pipe.zadd(key, {entry: expires})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, self.ttl_seconds)
        pipe.execute()

    def candidates(self, fingerprint: Fingerprint, *, now: float | None = None) -> list[NearMatch]:
        """Every live entry whose pHash is within the radius, whatever its colour; nearest
        first (pHash bits, then colour distance, then digest)."""
        now = time.time() if now is None else now
        # One command for every set probed (hundreds at radius 6-8): the union of their members
        # with their expiry (an entry is in one set of each band, every copy with its expiry).
        members = self.client.zunion(
            self.probe_keys(fingerprint.phash), aggregate="MAX", withscores=True
        )
        near: list[tuple[int, Fingerprint, str]] = []
        for raw, expires in members:
            if expires <= now:
                continue
            # The pHash first (the first 8 bytes): most members are beyond the radius.
            gap = distance(fingerprint.phash, int.from_bytes(raw[:8], "big"))
            if gap <= self.radius:
                near.append((gap, *_entry(raw)))
        if not near:
            return []
        # The whole digests; an entry whose pointer has expired is no candidate.
        digests = self.client.mget([self.pointer_key(ident) for _, _, ident in near])
        found = [
            NearMatch(digest.decode(), gap, colour_distance(fingerprint.colour, o.colour), o)
            for (gap, o, _), digest in zip(near, digests, strict=True)
            if digest is not None
        ]
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
