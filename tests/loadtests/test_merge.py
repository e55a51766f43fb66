"""Merging per-process files: every row once, events in intended-start order, totals summed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from loadtests import merge
from loadtests.records import (
    CHECK_COLUMNS,
    EVENT_COLUMNS,
    REQUEST_COLUMNS,
    FlowRecord,
    ProcessRecorder,
    UserCheck,
)


def fill(parts: Path, process: int, starts: list[float]) -> None:
    recorder = ProcessRecorder(parts, process)
    for n, start in enumerate(starts):
        record = FlowRecord(
            process, n, start, start + 0.001, "newspaper", "paper", "new", False, "poll"
        )
        record.status, record.accepted = "done", True
        record.processing_ms, record.end_to_end_ms = 100.0 + n, 150.5 + n
        recorder.flow_started()
        recorder.flow(record)
        recorder.request(start, "/api/v1/waste/analyze", "POST", 201, 12.25, ok=True)
    recorder.user_check(UserCheck(process, 0, 20.0, scans_held=len(starts), history_items=4))
    recorder.close()
    summary = {"process": process, "flows_finished": len(starts), "cpu_seconds": 1.5}
    (parts / f"process-{process}.json").write_text(json.dumps(summary))


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as source:
        return list(csv.DictReader(source))


def test_merge_run_writes_every_row_once(tmp_path: Path) -> None:
    parts, out = tmp_path / "locust", tmp_path / "run"
    fill(parts, 0, [10.0, 12.0, 14.0])
    fill(parts, 1, [11.0, 13.0])
    fill(parts, 10, [9.0])  # process numbers sort as numbers, not text
    load = merge.merge_run(parts, out, {"scenario": "x"})

    events = read(out / "events.csv")
    assert list(events[0]) == list(EVENT_COLUMNS)
    assert [float(e["scheduled_at"]) for e in events] == [9.0, 10.0, 11.0, 12.0, 13.0, 14.0]
    requests = read(out / "requests.csv")
    assert list(requests[0]) == list(REQUEST_COLUMNS)
    assert [r["process"] for r in requests] == ["0", "0", "0", "1", "1", "10"]

    assert load["scenario"] == "x"
    checks = read(out / "checks.csv")
    assert list(checks[0]) == list(CHECK_COLUMNS)
    assert [(c["process"], c["scans_held"]) for c in checks] == [
        ("0", "3"),
        ("1", "2"),
        ("10", "1"),
    ]
    assert load["files"] == {"events": 6, "requests": 6, "checks": 3}
    assert load["totals"]["flows_finished"] == 6
    assert load["totals"]["cpu_seconds"] == 4.5
    processing = json.loads((out / "histograms.json").read_text())["metrics"]["processing_ms"]
    assert processing["count"] == 6
    assert processing["p50"] == 100  # 100, 100, 100, 101, 101, 102: rank 3
    assert load["histograms"]["processing_ms"]["max"] == 102
