"""Tables of the analytics: one row of statistics per Korean day, and their running totals.

They live in the ``waste`` schema beside the jobs they summarise (migration 0004).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reference.common.db import Base
from reference.waste.models import Job


class DailyStats(Base):
    """The jobs created on one Korean day (analytics.daily; re-running replaces the row)."""

    __tablename__ = "daily_stats"
    __table_args__ = ({"schema": "waste"},)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    jobs_total: Mapped[int] = mapped_column(Integer)
    jobs_done: Mapped[int] = mapped_column(Integer)
    jobs_failed: Mapped[int] = mapped_column(Integer)
    # Created that day and not finished when the day was computed (awaiting upload, queued ...).
    jobs_open: Mapped[int] = mapped_column(Integer)
    cache_hits: Mapped[int] = mapped_column(Integer)
    cache_misses: Mapped[int] = mapped_column(Integer)
    cache_hit_ratio: Mapped[float | None] = mapped_column(Float)
    # Processing time of done jobs: queued (upload complete) to finished, in milliseconds.
    processing_p50_ms: Mapped[float | None] = mapped_column(Float)
    processing_p95_ms: Mapped[float | None] = mapped_column(Float)
    by_category: Mapped[dict[str, int]] = mapped_column(JSONB)
    failures_by_code: Mapped[dict[str, int]] = mapped_column(JSONB)
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class StatsTotals(Base):
    """Daily statistics rolled up (stats.aggregate): scope ``all`` and one per month
    (``month:2026-11``). Percentiles do not add up, so only the worst daily p95 is kept."""

    __tablename__ = "stats_totals"
    __table_args__ = ({"schema": "waste"},)

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer)
    jobs_total: Mapped[int] = mapped_column(Integer)
    jobs_done: Mapped[int] = mapped_column(Integer)
    jobs_failed: Mapped[int] = mapped_column(Integer)
    cache_hits: Mapped[int] = mapped_column(Integer)
    cache_misses: Mapped[int] = mapped_column(Integer)
    cache_hit_ratio: Mapped[float | None] = mapped_column(Float)
    worst_daily_p95_ms: Mapped[float | None] = mapped_column(Float)
    by_category: Mapped[dict[str, int]] = mapped_column(JSONB)
    failures_by_code: Mapped[dict[str, int]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# analytics.daily selects a day of jobs by creation time; the index is created by migration
# 0004 and declared here, beside its only user, so the metadata matches the database.
Index("ix_jobs_created_at", Job.created_at)
