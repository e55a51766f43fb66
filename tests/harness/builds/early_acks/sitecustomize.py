"""Faulty build: the workers acknowledge a task's message when they receive it, not when it has
finished (Celery's default, ``task_acks_late = False``): a worker killed mid-job loses it."""

from types import ModuleType

from patch_on_import import after_import


def _patch(app_module: ModuleType) -> None:
    app_module.app.conf.task_acks_late = False
    app_module.app.conf.task_reject_on_worker_lost = False


after_import("reference.workers.app", _patch)
