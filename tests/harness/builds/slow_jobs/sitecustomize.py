"""Faulty build: the AI worker spends about 1 s more on every job (a slow download path, as a
regressed S3 client configuration would), hits and misses alike."""

from types import ModuleType

from patch_on_import import after_import

EXTRA_SECONDS = 1.0


def _patch(storage: ModuleType) -> None:
    import time

    download = storage.download

    def slow_download(*args: object, **kwargs: object) -> object:
        time.sleep(EXTRA_SECONDS)  # gevent-patched in the AI worker: it yields, as real I/O would
        return download(*args, **kwargs)

    storage.download = slow_download


after_import("reference.common.storage", _patch)
