"""Faulty build: every finished job is run a second time 3 s later, as a redelivery that
ignored the job's end would (the message given back while the first delivery was finishing):
the job is claimed again and a second answer is stored after the user already had the first."""

from types import ModuleType

from patch_on_import import after_import

AGAIN_AFTER = 3.0


def _patch(analysis: ModuleType) -> None:
    import threading

    run = analysis.run

    def run_again(settings, job_id):  # type: ignore[no-untyped-def]
        from reference.common.db import session_scope

        with session_scope(settings.database_url) as session:
            job = session.get(analysis.Job, job_id)
            if job is not None and job.status == "done":
                job.status = "processing"  # claimed by the second delivery
        run(settings, job_id)

    def run_twice(settings, job_id, **kwargs):  # type: ignore[no-untyped-def]
        outcome = run(settings, job_id, **kwargs)
        if outcome.status == "done":
            threading.Timer(AGAIN_AFTER, run_again, args=(settings, job_id)).start()
        return outcome

    analysis.run = run_twice


after_import("reference.waste.analysis", _patch)
