"""Faulty build: a cache hit costs about 1 s more (a slow cache read, as a regressed
deserialisation would), while misses cost what they did."""

from types import ModuleType

from patch_on_import import after_import

EXTRA_SECONDS = 1.0


def _patch(results: ModuleType) -> None:
    import time

    from_cache_payload = results.from_cache_payload

    def slow_from_cache_payload(*args: object, **kwargs: object) -> object:
        time.sleep(EXTRA_SECONDS)
        return from_cache_payload(*args, **kwargs)

    results.from_cache_payload = slow_from_cache_payload


after_import("reference.waste.results", _patch)
