"""report.generate's work: the statistics of a span of days as JSON, CSV and a small HTML page
in S3 under ``reports/<first>_<last>/``. Re-running the same span replaces the files."""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from reference.analytics import daily, days
from reference.common import storage
from reference.common.settings import Settings

COLUMNS = (
    "jobs_total",
    "jobs_done",
    "jobs_failed",
    "jobs_open",
    "cache_hits",
    "cache_misses",
    "cache_hit_ratio",
    "processing_p50_ms",
    "processing_p95_ms",
)


@dataclass(frozen=True)
class Report:
    first: date
    last: date
    generated_at: datetime
    days: list[daily.Stats]
    total: daily.Stats

    @property
    def prefix(self) -> str:
        return f"reports/{self.first.isoformat()}_{self.last.isoformat()}"

    def as_json(self) -> bytes:
        body = {
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "timezone": days.TIMEZONE_NAME,
            "generated_at": self.generated_at.isoformat(),
            "total": self.total.as_dict(),
            "days": [d.as_dict() for d in self.days],
        }
        return json.dumps(body, ensure_ascii=False, indent=2).encode()

    def table(self) -> list[list[object]]:
        """One row per day and a last ``total`` row: the label, then ``COLUMNS``."""
        rows: list[list[object]] = []
        for stats in (*self.days, self.total):
            label = stats.first.isoformat() if stats.first == stats.last else "total"
            data = stats.as_dict()
            rows.append([label, *("" if data[c] is None else data[c] for c in COLUMNS)])
        return rows

    def as_csv(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("day", *COLUMNS))
        writer.writerows(self.table())
        return out.getvalue().encode()

    def as_html(self) -> bytes:
        def cells(tag: str, values: list[object]) -> str:
            return "".join(f"<{tag}>{html.escape(str(v))}</{tag}>" for v in values)

        rows = [f"<tr>{cells('td', row)}</tr>" for row in self.table()]
        categories = "".join(
            f"<li>{html.escape(name)}: {count}</li>"
            for name, count in self.total.by_category.items()
        )
        failures = "".join(
            f"<li>{html.escape(code)}: {count}</li>"
            for code, count in self.total.failures_by_code.items()
        )
        title = f"AI Waste Coach report {self.first} to {self.last} ({days.TIMEZONE_NAME})"
        page = (
            "<!doctype html><html lang='en'><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
            f"<p>Generated {self.generated_at.isoformat()}</p>"
            f"<table><thead><tr>{cells('th', ['day', *COLUMNS])}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            f"<h2>Done jobs by category</h2><ul>{categories}</ul>"
            f"<h2>Failures by code</h2><ul>{failures}</ul></html>"
        )
        return page.encode()


def build(session: Session, first: date, last: date) -> Report:
    """The report of the days ``first`` to ``last`` (read-only; exact percentiles overall)."""
    per_day = [daily.compute(session, day) for day in days.span(first, last)]
    return Report(first, last, datetime.now(UTC), per_day, daily.compute(session, first, last))


def reports_bucket(settings: Settings) -> str:
    return settings.s3_reports_bucket or settings.s3_bucket


def upload(settings: Settings, report: Report) -> dict[str, str]:
    """Write the three files; the JSON last, so its presence means the report is complete."""
    client = storage.s3_client(settings)
    bucket = reports_bucket(settings)
    files = {
        "csv": (report.as_csv(), "text/csv; charset=utf-8"),
        "html": (report.as_html(), "text/html; charset=utf-8"),
        "json": (report.as_json(), "application/json"),
    }
    keys: dict[str, str] = {}
    for kind, (body, content_type) in files.items():
        key = f"{report.prefix}/report.{kind}"
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        keys[kind] = key
    return keys
