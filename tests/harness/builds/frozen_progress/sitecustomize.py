"""Faulty build: the live progress never shows the AI worker's stages (downloading, cache
lookup, classifying, saving): a poller sees queued until the job is done, as a regressed
progress writer would; the result itself is right."""

from types import ModuleType

from patch_on_import import after_import


def _patch(progress: ModuleType) -> None:
    store = progress.ProgressStore
    set_stage = store.set_stage

    def set_stage_unless_working(
        self: object, job_id: object, status: object, stage: str, *args: object, **kwargs: object
    ) -> object:
        if stage in ("awaiting_upload", "queued"):
            return set_stage(self, job_id, status, stage, *args, **kwargs)
        return None  # the AI worker ignores what set_stage returns

    store.set_stage = set_stage_unless_working


after_import("reference.waste.progress", _patch)
