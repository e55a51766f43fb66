"""Path and query parameters as the OpenAPI document describes them, checked by the services
with their own error codes (so a generated client or a fuzzer sees what is accepted, and a
client gets ``invalid_job_id`` rather than a generic validation error)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from reference.common.errors import ApiError

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# A job's id, in paths: a UUID (checked by waste.service.parse_job_id, 422 invalid_job_id).
JobIdPath = Annotated[
    str,
    Path(
        description="The job's id (a UUID), as analyze answered it.",
        json_schema_extra={"format": "uuid", "pattern": UUID_PATTERN},
    ),
]


def bounded(description: str, low: float, high: float) -> Any:
    """A numeric query parameter documented with its range and checked by the service."""
    return Query(description=description, json_schema_extra={"minimum": low, "maximum": high})


def check_limit(limit: int, high: int) -> None:
    """``limit`` from 1 to ``high``: 422 ``invalid_limit`` otherwise (every route alike)."""
    if not 1 <= limit <= high:
        raise ApiError(
            422,
            "invalid_limit",
            f"limit must be a number from 1 to {high}, got {limit!r}",
            field="limit",
            min=1,
            max=high,
            value=str(limit),
        )
