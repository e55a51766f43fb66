"""The ``[images]`` workload model: the sampler follows it, and the expected hit ratio is what a
simulated exact-key cache sees."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.mocks import catalog
from harness.scenario import Images, Variants, WorkloadSampler, expected_hit_ratio
from harness.scenario.workload import item_weights, steady_hit_ratio


def images(**fields: object) -> Images:
    return Images.model_validate(fields)


def simulated_hit_ratio(model: Images, scans: int, warmup: int, seed: int) -> float:
    """What a cache keyed on exact bytes would hit: a plan hits when the same
    (item, seed, variant) photo was uploaded before and the variant is identical."""
    sampler = WorkloadSampler(model, seed=seed)
    uploaded: set[tuple[str, int]] = set()
    hits = 0
    for index in range(scans):
        plan = sampler.next()
        key = (plan.item.key, plan.seed)
        hit = plan.variant == "identical" and key in uploaded
        assert hit == plan.same_bytes
        if plan.variant == "identical":
            uploaded.add(key)
        hits += hit and index >= warmup
    return hits / (scans - warmup)


def test_zipf_weights() -> None:
    assert item_weights(images(items=4, zipf=0)) == [0.25] * 4
    weights = item_weights(images(items=3, zipf=1))
    assert weights == pytest.approx([6 / 11, 3 / 11, 2 / 11])
    assert math.fsum(item_weights(images(items=41, zipf=3.3))) == pytest.approx(1.0)


def test_sampler_is_deterministic_and_streams_do_not_share_photos() -> None:
    model = images(items=5, repeat_probability=0.5)
    first = [WorkloadSampler(model, seed=7).next() for _ in range(3)]
    again = [WorkloadSampler(model, seed=7).next() for _ in range(3)]
    assert first == again
    one, two = WorkloadSampler(model, seed=7, stream=0), WorkloadSampler(model, seed=7, stream=1)
    seeds_one = {one.next().seed for _ in range(200)}
    seeds_two = {two.next().seed for _ in range(200)}
    assert not seeds_one & seeds_two


def test_first_photo_of_an_item_is_new_and_repeats_reuse_an_earlier_one() -> None:
    sampler = WorkloadSampler(images(items=1, repeat_probability=1.0))
    first, second = sampler.next(), sampler.next()
    assert not first.repeat and first.variant == "identical" and not first.same_bytes
    assert second.repeat and second.seed == first.seed and second.same_bytes
    assert second.render() == first.render()  # an identical re-take is the very same bytes


def test_near_duplicates_are_other_bytes_of_the_same_item() -> None:
    model = images(items=1, repeat_probability=1.0, variants={"cropped": 1.0}, size=[160, 120])
    sampler = WorkloadSampler(model)
    first, retake = sampler.next(), sampler.next()
    assert retake.variant == "cropped" and not retake.same_bytes
    photo, near = first.render(), retake.render()
    assert photo != near
    assert catalog.identify(near) == catalog.identify(photo) == first.item


def test_variant_mix_and_popularity_follow_the_declaration() -> None:
    model = images(
        items=3,
        zipf=1.0,
        repeat_probability=1.0,
        variants={"identical": 0.5, "reencoded": 0.25, "resized": 0.25},
    )
    sampler = WorkloadSampler(model, seed=3)
    plans = [sampler.next() for _ in range(20_000)]
    retakes = Counter(plan.variant for plan in plans if plan.repeat)
    total = sum(retakes.values())
    assert retakes["identical"] / total == pytest.approx(0.5, abs=0.02)
    assert retakes["resized"] / total == pytest.approx(0.25, abs=0.02)
    assert retakes["cropped"] == 0
    items = Counter(plan.item.key for plan in plans)
    assert items[catalog.ITEMS[0].key] / len(plans) == pytest.approx(6 / 11, abs=0.02)


def test_expected_hit_ratio_edges() -> None:
    model = images(items=1, repeat_probability=1.0)
    assert expected_hit_ratio(model, 10) == pytest.approx(0.9)  # only the first scan misses
    assert expected_hit_ratio(model, 10, warmup_scans=1) == pytest.approx(1.0)
    assert steady_hit_ratio(
        images(repeat_probability=0.8, variants=Variants(identical=0.5, cropped=0.5))
    ) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="warmup_scans < scans"):
        expected_hit_ratio(model, 10, warmup_scans=10)


@settings(deadline=None, max_examples=25)
@given(
    st.integers(min_value=1, max_value=41),
    st.floats(min_value=0, max_value=2),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=0, max_value=2**32),
)
def test_expected_hit_ratio_matches_a_simulated_cache(
    items: int, zipf: float, repeat: float, identical: float, seed: int
) -> None:
    model = images(
        items=items,
        zipf=zipf,
        repeat_probability=repeat,
        variants={"identical": identical, "reencoded": 1 - identical},
    )
    scans, warmup = 4000, 500
    expected = expected_hit_ratio(model, scans, warmup_scans=warmup)
    observed = simulated_hit_ratio(model, scans, warmup, seed)
    # five standard deviations of a binomial share over the measured scans, plus a little
    spread = 5 * math.sqrt(max(expected * (1 - expected), 0.01) / (scans - warmup)) + 0.01
    assert abs(observed - expected) <= spread
