"""Calendar days as the business counts them: Korean days (Asia/Seoul, UTC+9, no DST)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TIMEZONE_NAME = "Asia/Seoul"
TIMEZONE = ZoneInfo(TIMEZONE_NAME)
# A report or backfill never spans more than this, so one request cannot scan years of jobs.
MAX_RANGE_DAYS = 366


def today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(TIMEZONE).date()


def yesterday(now: datetime | None = None) -> date:
    return today(now) - timedelta(days=1)


def bounds(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) covering the Korean days ``first`` to ``last`` inclusive."""
    last = last or first
    start = datetime.combine(first, time.min, TIMEZONE)
    end = datetime.combine(last + timedelta(days=1), time.min, TIMEZONE)
    return start.astimezone(UTC), end.astimezone(UTC)


def parse(value: str | date) -> date:
    """A day from ``YYYY-MM-DD`` (what task arguments carry, JSON having no date type)."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"not a day (YYYY-MM-DD): {value!r}") from None


def check_range(first: date, last: date) -> int:
    """The number of days from ``first`` to ``last`` inclusive; refuses reversed or over-long
    ranges with a ``ValueError`` that says why."""
    if last < first:
        raise ValueError(f"range ends ({last}) before it starts ({first})")
    count = (last - first).days + 1
    if count > MAX_RANGE_DAYS:
        raise ValueError(f"range of {count} days is longer than {MAX_RANGE_DAYS}")
    return count


def span(first: date, last: date) -> Iterator[date]:
    """Every day from ``first`` to ``last`` inclusive (see ``check_range``)."""
    for offset in range(check_range(first, last)):
        yield first + timedelta(days=offset)
