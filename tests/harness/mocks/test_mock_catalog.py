from __future__ import annotations

import io
import itertools
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from harness.mocks import catalog
from reference.waste.categories import Category
from tests.harness.mocks.helpers import solid_jpeg

items = st.sampled_from(catalog.ITEMS)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
variants = st.sampled_from(catalog.VARIANTS)


def test_catalog_spans_every_category_with_unique_items() -> None:
    per_category = Counter(item.category for item in catalog.ITEMS)
    assert set(per_category) == set(Category)
    assert 35 <= len(catalog.ITEMS) <= 50
    for field in ("key", "name_ko", "name_en", "colour"):
        values = [getattr(item, field) for item in catalog.ITEMS]
        assert len(set(values)) == len(values), f"duplicate {field}"


def test_every_item_has_korean_disposal_steps() -> None:
    for item in catalog.ITEMS:
        assert item.steps, item.key
        assert all(any("가" <= ch <= "힣" for ch in step) for step in item.steps), item.key


def test_signature_colours_are_far_apart() -> None:
    closest = min(
        catalog.colour_distance(a.colour, b.colour)
        for a, b in itertools.combinations(catalog.ITEMS, 2)
    )
    # A photo within MATCH_DISTANCE of one signature can never be as close to another.
    assert closest >= 70
    assert closest > 2 * catalog.MATCH_DISTANCE


def test_get_finds_items_and_names_the_known_keys() -> None:
    assert catalog.get("milk_carton").category is Category.PAPER_PACK
    with pytest.raises(KeyError, match="milk_carton"):
        catalog.get("no_such_item")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item=items, seed=seeds, variant=variants, variant_seed=st.none() | seeds)
def test_identify_recognises_every_variant(
    item: catalog.CatalogItem, seed: int, variant: catalog.Variant, variant_seed: int | None
) -> None:
    photo = catalog.render(item, seed=seed, variant=variant, variant_seed=variant_seed)
    assert catalog.identify(photo) is item
    # With room to spare, so a slightly different encoder would not tip it over (a second
    # photo's exposure and white balance move it further than a re-save does).
    dominant = catalog.dominant_colour(photo)
    room = 0.75 if variant == "rephotographed" else 0.5
    assert catalog.colour_distance(dominant, item.colour) < catalog.MATCH_DISTANCE * room


@settings(max_examples=30, deadline=None)
@given(item=items, seed=seeds)
def test_clutter_covers_well_under_half_the_photo(item: catalog.CatalogItem, seed: int) -> None:
    with Image.open(io.BytesIO(catalog.render(item, seed=seed))) as img:
        raw = img.convert("RGB").resize((160, 120)).tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    background = sum(catalog.colour_distance(p, item.colour) < 40 for p in pixels)
    assert background / len(pixels) > 0.6


@settings(max_examples=25, deadline=None)
@given(item=items, seed=seeds)
def test_identical_photos_are_byte_identical_and_variants_are_not(
    item: catalog.CatalogItem, seed: int
) -> None:
    photo = catalog.render(item, seed=seed)
    assert catalog.render(item, seed=seed) == photo
    assert catalog.render(item, seed=seed + 1) != photo
    for variant in ("reencoded", "resized", "cropped"):
        assert catalog.render(item, seed=seed, variant=variant) != photo


@settings(max_examples=25, deadline=None)
@given(item=items, seed=seeds)
def test_variants_change_size_within_their_bounds(item: catalog.CatalogItem, seed: int) -> None:
    width, height = 640, 480

    def size(variant: catalog.Variant) -> tuple[int, int]:
        with Image.open(io.BytesIO(catalog.render(item, seed=seed, variant=variant))) as img:
            return img.size

    assert size("identical") == size("reencoded") == (width, height)
    resized = size("resized")
    assert 0.5 * width - 1 <= resized[0] <= 0.8 * width + 1
    assert 0.5 * height - 1 <= resized[1] <= 0.8 * height + 1
    cropped = size("cropped")
    assert 0.8 * width <= cropped[0] <= width
    assert 0.8 * height <= cropped[1] <= height


def test_a_colour_between_signatures_is_not_identified() -> None:
    # (60, 60, 60) is the centre of a grid cell: about 62 from every signature colour.
    off_grid = (60, 60, 60)
    assert catalog.nearest(off_grid)[1] > catalog.MATCH_DISTANCE
    assert catalog.identify(solid_jpeg(off_grid)) is None


def test_a_plain_photo_of_a_signature_colour_is_identified() -> None:
    item = catalog.get("cardboard_box")
    assert catalog.identify(solid_jpeg(item.colour)) is item


def test_identify_refuses_bytes_that_are_not_an_image() -> None:
    with pytest.raises(ValueError, match="not a decodable image"):
        catalog.identify(b"definitely not a jpeg")


def test_render_rejects_an_unknown_variant() -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        catalog.render(catalog.ITEMS[0], variant="sepia")  # type: ignore[arg-type]
