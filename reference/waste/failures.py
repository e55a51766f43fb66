"""Why a job failed, as its answer tells the client: one fixed message per failure code.

The worker stores its detailed reason (the model's or S3's own error text included) with the job
for operators; clients only ever see the code and the message here, so no upstream text or
exception detail reaches them.
"""

from __future__ import annotations

FAILURES: dict[str, str] = {
    "image_missing": "the photo is gone from storage; start a new analysis",
    "image_changed": "the photo changed after upload-complete checked it; start a new analysis",
    "image_too_large": "the stored photo is larger than uploads may be; start a new analysis",
    "job_not_found": "the job no longer exists",
    "too_many_deliveries": "the analysis kept failing; start a new analysis",
    "model_rate_limited": "the model is busy; try again later",
    "model_unreachable": "the model did not answer; try again later",
    "model_timeout": "the model did not answer in time; try again later",
    "model_unavailable": "the model is not available; try again later",
    "model_rejected": "the model refused this photo",
    "invalid_model_answer": "the model's answer was not usable; try again",
    "upload_abandoned": "the photo was never uploaded and confirmed; start a new analysis",
}
FALLBACK = "the analysis failed"


def public_message(code: str | None) -> str:
    """The message a client sees for a job that failed with ``code``."""
    return FAILURES.get(code or "", FALLBACK)
