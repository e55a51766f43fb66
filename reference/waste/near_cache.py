"""The classification cache: the exact digest first, then a near duplicate by perceptual hash.

:func:`lookup` says how a photo is answered (:class:`CacheAnswer`: ``exact``, or ``near`` with
its Hamming distance); :func:`store` files a model's answer under both keys. A photo that cannot
be hashed (undecodable, animated, too large) is looked up and stored by its exact digest only,
so it can never be a near hit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from reference.common.cache import Keys, get_redis
from reference.common.settings import Settings
from reference.waste.near_index import NearIndex
from reference.waste.photo_hash import Unhashable, perceptual_hash
from reference.waste.results import from_cache_payload
from reference.waste.schemas import ResultBody

log = logging.getLogger(__name__)

Match = Literal["exact", "near"]


@dataclass(frozen=True, slots=True)
class CacheAnswer:
    body: ResultBody
    match: Match
    distance: int  # 0 for an exact hit


class Photo:
    """What the cache keys a photo on: its exact digest and, when it has one, its pHash
    (computed on first use: an exact hit never decodes the photo)."""

    def __init__(self, digest: str, data: bytes = b"", *, near: bool = True) -> None:
        self.digest = digest
        self._data = data
        self._near = near
        self._phash: int | None = None
        self._hashed = False

    @property
    def phash(self) -> int | None:
        if not self._hashed:
            self._hashed = True
            if self._near:
                try:
                    self._phash = perceptual_hash(self._data)
                except Unhashable as exc:
                    log.info("photo %s has no perceptual hash (%s)", self.digest[:12], exc)
            self._data = b""
        return self._phash

    @classmethod
    def hashed(cls, digest: str, phash: int | None) -> Photo:
        """A photo whose pHash is already known (the sweep computes it once for every radius)."""
        photo = cls(digest, near=phash is not None)
        photo._phash, photo._hashed = phash, True
        return photo


def index(settings: Settings, mode: str) -> NearIndex:
    return NearIndex(
        get_redis(settings.redis_url),
        prefix=settings.redis_prefix,
        mode=mode,
        radius=settings.cache_near_radius,
        ttl_seconds=settings.cache_ttl_seconds,
    )


def keyed(settings: Settings, digest: str, data: bytes) -> Photo:
    """The photo's keys; no pHash when near matching is off or the photo cannot be hashed."""
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
    """The cached answer for the photo: exact first, then the nearest within the radius."""
    if not settings.cache_enabled:
        return None
    exact = _entry(settings, mode, photo.digest)
    if exact is not None:
        return CacheAnswer(exact, "exact", 0)
    if photo.phash is None:
        return None
    near = index(settings, mode).lookup(photo.phash)
    if near is None:
        return None
    body = _entry(settings, mode, near.digest)
    return None if body is None else CacheAnswer(body, "near", near.distance)


def store(settings: Settings, mode: str, photo: Photo, payload: bytes) -> None:
    """File a model's answer under the exact digest and, with a pHash, in the near index."""
    if not settings.cache_enabled:
        return
    key = Keys(settings.redis_prefix).classification(mode, photo.digest)
    get_redis(settings.redis_url).set(key, payload, ex=settings.cache_ttl_seconds)
    if photo.phash is not None:
        index(settings, mode).add(photo.phash, photo.digest)
