"""stats.aggregate's work: fill in missing recent days, then roll daily_stats into totals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from reference.analytics import daily, days
from reference.analytics.models import DailyStats, StatsTotals

ALL = "all"


def month_scope(day: date) -> str:
    return f"month:{day:%Y-%m}"


@dataclass(frozen=True)
class Rollup:
    backfilled: list[str]
    scopes: list[str]
    days: int


def backfill(session: Session, through: date, window: int) -> list[date]:
    """Compute the days of the last ``window`` days (to ``through``) that have no row yet."""
    if window <= 0:
        return []
    first = through - timedelta(days=window - 1)
    present = set(
        session.scalars(
            select(DailyStats.day).where(DailyStats.day >= first, DailyStats.day <= through)
        )
    )
    missing = [day for day in days.span(first, through) if day not in present]
    for day in missing:
        daily.run_day(session, day)
    return missing


def _totals(scope: str, rows: list[DailyStats]) -> StatsTotals:
    categories: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for row in rows:
        categories.update(row.by_category)
        failures.update(row.failures_by_code)
    hits = sum(r.cache_hits for r in rows)
    misses = sum(r.cache_misses for r in rows)
    p95s = [r.processing_p95_ms for r in rows if r.processing_p95_ms is not None]
    return StatsTotals(
        scope=scope,
        first_day=min(r.day for r in rows),
        last_day=max(r.day for r in rows),
        days=len(rows),
        jobs_total=sum(r.jobs_total for r in rows),
        jobs_done=sum(r.jobs_done for r in rows),
        jobs_failed=sum(r.jobs_failed for r in rows),
        cache_hits=hits,
        cache_misses=misses,
        cache_hit_ratio=round(hits / (hits + misses), 4) if hits + misses else None,
        worst_daily_p95_ms=max(p95s) if p95s else None,
        by_category=dict(sorted(categories.items())),
        failures_by_code=dict(sorted(failures.items())),
    )


def _groups(rows: Iterable[DailyStats]) -> dict[str, list[DailyStats]]:
    groups: dict[str, list[DailyStats]] = {}
    for row in rows:
        groups.setdefault(ALL, []).append(row)
        groups.setdefault(month_scope(row.day), []).append(row)
    return groups


def roll_up(session: Session, through: date, backfill_days: int) -> Rollup:
    """Rebuild every total from daily_stats (so re-running, or recomputing a day, is safe)."""
    # One roll-up at a time: a second one waits here rather than interleaving its rewrite.
    session.connection().exec_driver_sql(
        "LOCK TABLE waste.stats_totals IN SHARE ROW EXCLUSIVE MODE"
    )
    filled = backfill(session, through, backfill_days)
    groups = _groups(session.scalars(select(DailyStats).order_by(DailyStats.day)))
    session.execute(delete(StatsTotals))
    for scope, rows in groups.items():
        session.add(_totals(scope, rows))
    session.flush()
    return Rollup(
        backfilled=[d.isoformat() for d in filled],
        scopes=sorted(groups),
        days=len(groups.get(ALL, [])),
    )
