"""The classification cache: the exact digest first, then a near duplicate by fingerprint.

:func:`lookup` says how a photo is answered (:class:`CacheAnswer`: ``exact``, or ``near`` with
its pHash's Hamming distance); a near candidate is served only when its colour thumbnail agrees
too (``cache_near_colour_distance``, :mod:`reference.waste.near_index`). :func:`store` files a
model's answer under both keys. A photo that cannot be fingerprinted (undecodable, animated, too
large) is looked up and stored by its exact digest only, so it can never be a near hit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from reference.common.cache import Keys, get_redis
from reference.common.settings import Settings
from reference.waste.near_index import NearIndex
from reference.waste.photo_hash import Fingerprint, Unhashable, fingerprint
from reference.waste.results import from_cache_payload
from reference.waste.schemas import ResultBody

log = logging.getLogger(__name__)

Match = Literal["exact", "near"]


@dataclass(frozen=True, slots=True)
class CacheAnswer:
    body: ResultBody
    match: Match
    distance: int  # 0 for an exact hit
    digest: str  # the exact digest of the photo answered from (the photo's own when exact)


# The most accepted near candidates whose answers are read before the lookup gives up (an
# entry's answer can have expired or been dropped before its band members).
MAX_ANSWERS = 4


class Photo:
    """What the cache keys a photo on: its exact digest and, when it has one, its fingerprint
    (computed on first use: an exact hit never decodes the photo)."""

    def __init__(self, digest: str, data: bytes = b"", *, near: bool = True) -> None:
        self.digest = digest
        self._data = data
        self._near = near
        self._fingerprint: Fingerprint | None = None
        self._hashed = False

    @property
    def fingerprint(self) -> Fingerprint | None:
        if not self._hashed:
            self._hashed = True
            if self._near:
                try:
                    self._fingerprint = fingerprint(self._data)
                except Unhashable as exc:
                    log.info("photo %s has no fingerprint (%s)", self.digest[:12], exc)
            self._data = b""
        return self._fingerprint

    @classmethod
    def hashed(cls, digest: str, known: Fingerprint | None) -> Photo:
        """A photo whose fingerprint is already known (the sweep computes it once)."""
        photo = cls(digest, near=known is not None)
        photo._fingerprint, photo._hashed = known, True
        return photo


def index(settings: Settings, mode: str) -> NearIndex:
    return NearIndex(
        get_redis(settings.redis_url),
        prefix=settings.redis_prefix,
        mode=mode,
        radius=settings.cache_near_radius,
        colour_distance=settings.cache_near_colour_distance,
        ttl_seconds=settings.cache_ttl_seconds,
    )


def keyed(settings: Settings, digest: str, data: bytes) -> Photo:
    """The photo's keys; no fingerprint when near matching is off or the photo has none."""
    return Photo(digest, data, near=settings.cache_near_enabled)


def _entry(settings: Settings, mode: str, digest: str) -> ResultBody | None:
    client = get_redis(settings.redis_url)
    key = Keys(settings.redis_prefix).classification(mode, digest)
    raw = client.get(key)
    if not raw:
        return None
    try:
        return from_cache_payload(raw)
    except (ValueError, ValidationError):  # json.JSONDecodeError is a ValueError
        log.warning("corrupt cache entry %s dropped", key)
        client.delete(key)
        return None


def lookup(settings: Settings, mode: str, photo: Photo) -> CacheAnswer | None:
    """The cached answer for the photo: exact first, then the nearest verified candidate."""
    if not settings.cache_enabled:
        return None
    exact = _entry(settings, mode, photo.digest)
    if exact is not None:
        return CacheAnswer(exact, "exact", 0, photo.digest)
    if photo.fingerprint is None:
        return None
    for near in index(settings, mode).matches(photo.fingerprint)[:MAX_ANSWERS]:
        body = _entry(settings, mode, near.digest)
        if body is not None:
            return CacheAnswer(body, "near", near.distance, near.digest)
    return None


def store(settings: Settings, mode: str, photo: Photo, payload: bytes) -> None:
    """File a model's answer under the exact digest and, with a fingerprint, in the near index."""
    if not settings.cache_enabled:
        return
    key = Keys(settings.redis_prefix).classification(mode, photo.digest)
    get_redis(settings.redis_url).set(key, payload, ex=settings.cache_ttl_seconds)
    if photo.fingerprint is not None:
        index(settings, mode).add(photo.fingerprint, photo.digest)
