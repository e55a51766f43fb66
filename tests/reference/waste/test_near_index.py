"""The near-duplicate index on the real Redis: properties of the lookup (hypothesis), expiry,
and photos that cannot be hashed."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from harness.cache_sweep import delete_prefix
from harness.mocks import catalog
from harness.sandbox import ServerUrls
from reference.waste.near_index import NearIndex, bands
from reference.waste.photo_hash import Unhashable, distance, perceptual_hash

pytestmark = pytest.mark.integration

TTL = 3600
NOW = 1_800_000_000.0
hashes = st.integers(min_value=0, max_value=2**64 - 1)
radii = st.integers(min_value=0, max_value=16)


@pytest.fixture(scope="module")
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(ServerUrls.from_environment().redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    prefix = f"wctest-near-{uuid.uuid4().hex[:8]}:"
    yield prefix
    delete_prefix(client, prefix)


def _index(client: redis.Redis, prefix: str, radius: int) -> NearIndex:
    # A prefix per example: hypothesis runs many examples inside one test.
    return NearIndex(
        client,
        prefix=f"{prefix}{uuid.uuid4().hex[:6]}:",
        mode="analyze",
        radius=radius,
        ttl_seconds=TTL,
    )


def _flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def test_bands_cover_the_hash_once_and_refuse_a_radius_out_of_range() -> None:
    for radius in range(65):
        cut = bands(radius)
        assert sum(width for _, width in cut) == 64
        assert [shift for shift, _ in cut] == sorted({shift for shift, _ in cut})
    for bad in (-1, 65):
        with pytest.raises(ValueError, match="radius must be from 0 to 64"):
            bands(bad)


_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(phash=hashes, radius=radii)
def test_a_photo_always_finds_itself(
    client: redis.Redis, prefix: str, phash: int, radius: int
) -> None:
    index = _index(client, prefix, radius)
    index.add(phash, "a" * 64, now=NOW)
    found = index.lookup(phash, now=NOW + 1)
    assert found is not None
    assert (found.digest, found.distance) == ("a" * 64, 0)


@_SETTINGS
@given(
    phash=hashes,
    radius=radii,
    flips=st.lists(st.integers(0, 63), unique=True, max_size=24),
    others=st.lists(hashes, max_size=5),
)
def test_a_match_is_within_the_radius_and_one_within_it_is_found(
    client: redis.Redis, prefix: str, phash: int, radius: int, flips: list[int], others: list[int]
) -> None:
    index = _index(client, prefix, radius)
    stored = _flip(phash, flips)
    for number, other in enumerate([stored, *others]):
        index.add(other, f"{number:064x}", now=NOW)
    found = index.lookup(phash, now=NOW + 1)
    if found is not None:
        assert found.distance == distance(phash, found.phash) <= radius
    if len(flips) <= radius:  # the pigeonhole: a hash within the radius shares a band
        assert found is not None
        assert found.distance <= len(flips)


@_SETTINGS
@given(phash=hashes, radius=radii)
def test_expiry_removes_every_band_entry(
    client: redis.Redis, prefix: str, phash: int, radius: int
) -> None:
    index = _index(client, prefix, radius)
    index.add(phash, "b" * 64, now=NOW)
    later = NOW + TTL + 1
    assert index.lookup(phash, now=later) is None
    assert index.purge(now=later) == len(index.band_keys(phash))
    member = phash.to_bytes(8, "big")
    assert all(client.zscore(key, member) is None for key in index.band_keys(phash))


def test_a_write_trims_expired_members_of_the_sets_it_touches(
    client: redis.Redis, prefix: str
) -> None:
    index = _index(client, prefix, 4)
    index.add(0x1234, "c" * 64, now=NOW)
    index.add(0x1234 ^ 1, "d" * 64, now=NOW + TTL + 1)  # shares most bands
    shared = set(index.band_keys(0x1234)) & set(index.band_keys(0x1234 ^ 1))
    assert shared
    assert all(client.zscore(key, (0x1234).to_bytes(8, "big")) is None for key in shared)


def _png(frames: int, size: tuple[int, int] = (16, 16)) -> bytes:
    out = io.BytesIO()
    images = [Image.new("RGB", size, (i * 40, 0, 0)) for i in range(frames)]
    images[0].save(
        out, format="PNG" if frames == 1 else "GIF", save_all=frames > 1, append_images=images[1:]
    )
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xd8\xff" + b"\x00" * 64, "undecodable"),
        (b"not an image", "undecodable"),
        (_png(3), "animated"),
    ],
)
def test_a_photo_that_cannot_be_hashed_says_why(data: bytes, reason: str) -> None:
    with pytest.raises(Unhashable) as caught:
        perceptual_hash(data)
    assert caught.value.reason == reason


def test_a_huge_image_is_refused_before_its_pixels_are_decoded() -> None:
    out = io.BytesIO()
    Image.new("1", (9000, 8000)).save(out, format="PNG")  # 72 MP, a few kB compressed
    with pytest.raises(Unhashable) as caught:
        perceptual_hash(out.getvalue())
    assert caught.value.reason == "too_large"


def test_exif_orientation_is_applied_before_hashing() -> None:
    upright = catalog.render(catalog.ITEMS[0], seed=1)
    found = [
        catalog.render(catalog.ITEMS[0], seed=1, variant="rephotographed", variant_seed=seed)
        for seed in range(40)
    ]
    sideways = [
        data for data in found if Image.open(io.BytesIO(data)).getexif().get(0x0112, 1) != 1
    ]
    assert sideways, "no re-photograph of 40 was stored with an EXIF orientation"
    assert min(distance(perceptual_hash(upright), perceptual_hash(d)) for d in sideways) <= 16
