"""analytics.daily's work: the statistics of the jobs created in a span of Korean days.

A job belongs to the day it was created (Asia/Seoul). Processing time is the API's own
definition (``timings.processing_ms``): from upload-complete (queued) to finished.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from reference.analytics import days
from reference.analytics.models import DailyStats
from reference.waste.models import Analysis, Job, JobStatus


@dataclass(frozen=True)
class Stats:
    """Statistics of the jobs created from ``first`` to ``last`` (Korean days, inclusive)."""

    first: date
    last: date
    jobs_total: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    jobs_open: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    processing_p50_ms: float | None = None
    processing_p95_ms: float | None = None
    by_category: dict[str, int] = field(default_factory=dict)
    failures_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def cache_hit_ratio(self) -> float | None:
        looked_up = self.cache_hits + self.cache_misses
        return round(self.cache_hits / looked_up, 4) if looked_up else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["first"], data["last"] = self.first.isoformat(), self.last.isoformat()
        data["cache_hit_ratio"] = self.cache_hit_ratio
        return data


def compute(session: Session, first: date, last: date | None = None) -> Stats:
    """Read-only: the statistics of the jobs created on the days ``first`` to ``last``."""
    last = last or first
    days.check_range(first, last)
    start, end = days.bounds(first, last)
    created: ColumnElement[bool] = and_(Job.created_at >= start, Job.created_at < end)
    done = and_(created, Job.status == JobStatus.DONE.value)

    by_status: dict[str, int] = dict(
        session.execute(select(Job.status, func.count()).where(created).group_by(Job.status))
        .tuples()
        .all()
    )
    processing_ms = func.extract("epoch", Job.finished_at - Job.queued_at) * 1000
    hits, misses, p50, p95 = session.execute(
        select(
            func.count().filter(Job.cache_hit.is_(True)),
            func.count().filter(Job.cache_hit.is_(False)),
            func.percentile_cont(0.5).within_group(processing_ms),
            func.percentile_cont(0.95).within_group(processing_ms),
        ).where(done)
    ).one()
    by_category = dict(
        session.execute(
            select(Analysis.category, func.count())
            .select_from(Job)
            .join(Analysis, Analysis.id == Job.analysis_id)
            .where(done)
            .group_by(Analysis.category)
        )
        .tuples()
        .all()
    )
    code = func.coalesce(Job.error_code, "unknown")
    failures = dict(
        session.execute(
            select(code, func.count())
            .where(created, Job.status == JobStatus.FAILED.value)
            .group_by(code)
        )
        .tuples()
        .all()
    )
    total = sum(by_status.values())
    n_done = by_status.get(JobStatus.DONE.value, 0)
    n_failed = by_status.get(JobStatus.FAILED.value, 0)
    return Stats(
        first=first,
        last=last,
        jobs_total=total,
        jobs_done=n_done,
        jobs_failed=n_failed,
        jobs_open=total - n_done - n_failed,
        cache_hits=hits,
        cache_misses=misses,
        processing_p50_ms=_ms(p50),
        processing_p95_ms=_ms(p95),
        by_category=dict(sorted(by_category.items())),
        failures_by_code=dict(sorted(failures.items())),
    )


def _ms(value: object) -> float | None:
    return None if value is None else round(float(value), 1)  # type: ignore[arg-type]


def store(session: Session, stats: Stats) -> None:
    """Write one day's row, replacing any earlier computation of the same day."""
    if stats.first != stats.last:
        raise ValueError("daily_stats holds single days")
    row = {
        "day": stats.first,
        "jobs_total": stats.jobs_total,
        "jobs_done": stats.jobs_done,
        "jobs_failed": stats.jobs_failed,
        "jobs_open": stats.jobs_open,
        "cache_hits": stats.cache_hits,
        "cache_misses": stats.cache_misses,
        "cache_hit_ratio": stats.cache_hit_ratio,
        "processing_p50_ms": stats.processing_p50_ms,
        "processing_p95_ms": stats.processing_p95_ms,
        "by_category": stats.by_category,
        "failures_by_code": stats.failures_by_code,
        "computed_at": func.now(),
    }
    statement = insert(DailyStats).values(row)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[DailyStats.day],
            set_={k: statement.excluded[k] for k in row if k != "day"},
        )
    )


def run_day(session: Session, day: date) -> Stats:
    """Compute and store one day (what analytics.daily does)."""
    stats = compute(session, day)
    store(session, stats)
    return stats
