"""The ``[images]`` workload model: the sampler follows it, and the expected hit ratio is what a
simulated exact-key cache sees."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.mocks import catalog
from harness.scenario import Images, Variants, expected_hit_ratio, photo_stream
from harness.scenario.workload import item_weights, steady_hit_ratio


def images(**fields: object) -> Images:
    return Images.model_validate(fields)


def simulated_hit_ratio(model: Images, scans: int, warmup: int, seed: int) -> float:
    """What a cache keyed on exact bytes would hit: an identical re-take of a photo uploaded
    before."""
    photos = photo_stream(model, seed)
    uploaded: set[int] = set()
    hits = 0
    for index in range(scans):
        spec = photos.next_spec()
        hit = spec.variant == "identical" and spec.photo_id in uploaded
        assert hit == (spec.is_repeat and spec.variant == "identical")
        uploaded.add(spec.photo_id)
        hits += hit and index >= warmup
    return hits / (scans - warmup)


def test_zipf_weights() -> None:
    assert item_weights(images(items=4, zipf=0)) == [0.25] * 4
    weights = item_weights(images(items=3, zipf=1))
    assert weights == pytest.approx([6 / 11, 3 / 11, 2 / 11])
    assert math.fsum(item_weights(images(items=44, zipf=3.3))) == pytest.approx(1.0)


def test_the_stream_follows_the_declaration() -> None:
    model = images(items=3, zipf=1.0, repeat_probability=0.5, size=[160, 120])
    stream = photo_stream(model, seed=4, process=1, processes=2)
    assert [item.key for item in stream.items] == [item.key for item in catalog.ITEMS[:3]]
    assert stream.weights == pytest.approx((6 / 11, 3 / 11, 2 / 11))
    assert (stream.repeat_probability, stream.size, stream.seed) == (0.5, (160, 120), 4)
    assert (stream.process, stream.processes) == (1, 2)


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
    st.integers(min_value=1, max_value=44),
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
