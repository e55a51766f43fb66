"""The concurrency figures every fake keeps: counted since the last reset, never negative."""

from __future__ import annotations

from harness.mocks.openai_mock import MockOpenAI


def test_a_request_held_across_a_reset_is_not_counted_after_it() -> None:
    fake = MockOpenAI()
    with fake.in_flight():
        with fake.in_flight():
            assert fake.stats()["in_flight"] == 2
        fake.reset()
        assert (fake.stats()["in_flight"], fake.stats()["max_in_flight"]) == (0, 0)
        with fake.in_flight():
            assert fake.stats()["max_in_flight"] == 1
    assert (fake.stats()["in_flight"], fake.stats()["max_in_flight"]) == (0, 1)
