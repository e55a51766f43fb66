"""The one row schema of events.csv, requests.csv and checks.csv: what the load generator
writes reads back as the very values (a hypothesis round trip through a real CSV file)."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.report.rows import CHECKS, EVENTS, REQUESTS, RowSchema
from harness.report.rundata import read_checks, read_events, read_requests

text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=20
)
VALUES = {
    "text": text,
    "number": st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64),
    "boolean": st.none() | st.booleans(),
}


def rows_of(schema: RowSchema) -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries({c.name: VALUES[c.kind] for c in schema.columns})
    return st.lists(row, max_size=5)


def through_csv(schema: RowSchema, rows: list[dict[str, Any]], tmp: Any) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(schema.names)
    writer.writerows(schema.cells(row) for row in rows)
    tmp.write_text(buffer.getvalue(), encoding="utf-8", newline="")


@given(rows=rows_of(EVENTS))
def test_events_round_trip(rows: list[dict[str, Any]], tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("rows") / "events.csv"
    through_csv(EVENTS, rows, path)
    assert read_events(path) == rows


@given(rows=rows_of(REQUESTS))
def test_requests_round_trip(rows: list[dict[str, Any]], tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("rows") / "requests.csv"
    through_csv(REQUESTS, rows, path)
    assert read_requests(path) == rows


@given(rows=rows_of(CHECKS))
def test_checks_round_trip(rows: list[dict[str, Any]], tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("rows") / "checks.csv"
    through_csv(CHECKS, rows, path)
    assert read_checks(path) == rows


def test_the_writer_and_the_reader_share_the_schema() -> None:
    from loadtests.records import CHECK_COLUMNS, EVENT_COLUMNS, REQUEST_COLUMNS, FlowRecord

    assert (
        EVENTS.names,
        REQUESTS.names,
        CHECKS.names,
    ) == (EVENT_COLUMNS, REQUEST_COLUMNS, CHECK_COLUMNS)
    record = FlowRecord(0, 1, 2.5, 2.75, "item", "paper", "new", False, "poll")
    record.processing_ms, record.accepted, record.cache_hit = 12.5, True, None
    (parsed,) = [EVENTS.parse(dict(zip(EVENTS.names, map(str, record.row()), strict=True)))]
    assert parsed["processing_ms"] == 12.5 and parsed["accepted"] is True
    assert parsed["cache_hit"] is None and parsed["scheduled_at"] == 2.5
