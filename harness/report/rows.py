"""The typed rows of a run's CSV files: the one schema the load generator writes
(:mod:`loadtests.records`) and the harness reads back (:mod:`harness.report.rundata`).

A column is ``text`` (kept as written), ``number`` (a float; empty is None) or ``boolean``
(``true``/``false``; empty is None). :meth:`RowSchema.cells` gives the cells a row is written
as, :meth:`RowSchema.parse` the values read back: ``parse(cells(x)) == x`` for every row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["text", "number", "boolean"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "text"


def csv_cell(value: object) -> object:
    """A value as the run's CSV files write it: empty for None, true/false for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def parse_number(value: str) -> float | None:
    if value in ("", "None", "nan"):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def parse_boolean(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return None


PARSERS = {"number": parse_number, "boolean": parse_boolean}


def parse_cell(kind: Kind, text: str) -> Any:
    parser = PARSERS.get(kind)
    return text if parser is None else parser(text)


@dataclass(frozen=True)
class RowSchema:
    """The columns of one CSV file, in order."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def named(self, kind: Kind) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.kind == kind)

    def cells(self, values: Mapping[str, Any]) -> list[object]:
        """The row as written (every column, in order; a missing value is empty)."""
        return [csv_cell(values.get(column.name)) for column in self.columns]

    def parse(
        self, raw: Mapping[str, str | None], extra: tuple[Column, ...] = ()
    ) -> dict[str, Any]:
        """A row read back: every cell of ``raw``, the schema's (and ``extra``) columns typed."""
        row: dict[str, Any] = dict(raw)
        for column in (*self.columns, *extra):
            if column.name in row:
                row[column.name] = parse_cell(column.kind, row[column.name] or "")
        return row


def _columns(text: str, number: str = "", boolean: str = "") -> tuple[Column, ...]:
    kinds: dict[str, Kind] = {**dict.fromkeys(number.split(), "number")}
    kinds.update(dict.fromkeys(boolean.split(), "boolean"))
    return tuple(Column(name, kinds.get(name, "text")) for name in text.split())


# One row per scan flow, written when it ends. The last six say what the user saw of the job
# (loadtests.progress): the other way it was also followed, the poller's stages, and the checks
# on them (empty where a check does not apply).
EVENTS = RowSchema(
    _columns(
        "process user scheduled_at started_at job_id accepted status error_stage error_code "
        "http_status cache_hit cache_match cache_distance item_key expected_category got_category "
        "variant is_repeat "
        "processing_ms end_to_end_ms server_processing_ms server_queue_wait_ms model_ms follow "
        "server_download_ms server_cache_lookup_ms server_store_ms second_follow "
        "progress_stages progress_backwards progress_frozen status_result_mismatch "
        "follow_mismatch",
        number="scheduled_at started_at http_status cache_distance processing_ms end_to_end_ms "
        "server_processing_ms server_queue_wait_ms model_ms server_download_ms "
        "server_cache_lookup_ms server_store_ms",
        boolean="accepted cache_hit is_repeat progress_backwards progress_frozen "
        "status_result_mismatch follow_mismatch",
    )
)
# One row per HTTP request; the last two say who made it: the process's user number, and "app"
# (an honest user) or "abuser" (mix.abusive: loadtests.abuse).
REQUESTS = RowSchema(
    _columns("ts process name method status ms ok error user actor", number="ts ms", boolean="ok")
)
# One row per user when it stops: its history and statistics against the scans it saw end
# (loadtests.history_check).
CHECKS = RowSchema(
    _columns(
        "process user checked_at scans_held history_items history_missing history_wrong "
        "stats_mismatch error",
        number="checked_at history_items",
    )
)
