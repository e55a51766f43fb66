"""Faulty build: the scan history silently leaves out every third finished scan (by job id, so
the same scans are missing on every page and every read), as a regressed join or filter would;
the statistics still count them."""

from types import ModuleType

from patch_on_import import after_import


def _patch(service: ModuleType) -> None:
    history = service.history

    def history_without_some(*args: object, **kwargs: object) -> object:
        page = history(*args, **kwargs)
        page.items = [
            item for item in page.items if item.finished_at is None or item.job_id.int % 3 != 0
        ]
        return page

    service.history = history_without_some


after_import("reference.users.service", _patch)
