"""Request and response bodies of the users API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from reference.users.regions import RegionCode
from reference.waste.categories import Category
from reference.waste.models import JobStatus, Mode

Nickname = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]


class ProfileOut(BaseModel):
    user_id: uuid.UUID
    nickname: str
    region: str | None = Field(description="A region code (see PATCH), or null.")
    region_label: str | None
    notifications_opt_in: bool
    created_at: datetime
    updated_at: datetime


class ProfileUpdate(BaseModel):
    """Fields to change; the ones left out stay as they are. ``region: null`` clears it."""

    model_config = ConfigDict(extra="forbid")
    # Left out means unchanged; null is refused for these two (so the schema has no null).
    nickname: Nickname | SkipJsonSchema[None] = None
    region: RegionCode | None = None
    notifications_opt_in: StrictBool | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("nickname", "notifications_opt_in"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be null")
        return data


class HistoryItem(BaseModel):
    job_id: uuid.UUID
    status: JobStatus
    mode: Mode
    created_at: datetime
    finished_at: datetime | None
    cache_hit: bool | None
    item: str | None
    category: Category | None
    category_label: str | None
    error_code: str | None
    result_url: str


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page.")


class CategoryCount(BaseModel):
    category: Category
    label: str
    count: int


class StatsOut(BaseModel):
    total_scans: int
    done: int
    failed: int
    in_progress: int = Field(description="awaiting upload, queued or processing")
    cache_hits: int
    cache_hit_ratio: float | None = Field(
        description="cache hits / finished analyses that looked at the cache; null before any"
    )
    by_category: list[CategoryCount] = Field(description="finished scans, most frequent first")
    first_scan_at: datetime | None
    last_scan_at: datetime | None
