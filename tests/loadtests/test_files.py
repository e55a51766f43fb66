"""The master's files from its workers' rows: the merged result is what one process recording
the same flows would have written, so every percentile is exact across workers."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.gates.evaluate import percentile
from harness.report.rundata import read_events, read_requests
from loadtests.files import RunFiles
from loadtests.records import FlowRecord, ProcessRecorder


def flows(process: int, count: int, rng: random.Random) -> list[FlowRecord]:
    out = []
    for n in range(count):
        at = 1_700_000_000 + rng.uniform(0, 60)
        record = FlowRecord(process, n % 3, at, at + 0.01, f"i{n}", "paper", "new", False, "poll")
        record.status, record.accepted = "done", True
        record.processing_ms = rng.lognormvariate(6, 0.8)
        record.end_to_end_ms = record.processing_ms + rng.uniform(0, 50)
        out.append(record)
    return out


def record_all(recorder: ProcessRecorder, records: list[FlowRecord]) -> None:
    for record in records:
        recorder.flow(record)
        recorder.request(record.started_at, "/api/v1/waste/analyze", "POST", 201, 12.345, True)


def test_the_merged_files_equal_a_single_process_on_the_same_records(tmp_path: Path) -> None:
    rng = random.Random(7)
    parts = [flows(0, 300, rng), flows(1, 200, rng)]
    # two workers, their batches arriving interleaved
    files = RunFiles(tmp_path / "merged")
    workers = [ProcessRecorder(0), ProcessRecorder(1)]
    for chunk in range(0, 300, 40):
        for recorder, records in zip(workers, parts, strict=True):
            record_all(recorder, records[chunk : chunk + 40])
            files.add(recorder.take())
    files.close()
    # one process that recorded the very same flows (each as written: same values, same order)
    single = ProcessRecorder(0)
    alone = RunFiles(tmp_path / "single")
    for records in parts:
        for record in records:
            record.written = False
        record_all(single, records)
    alone.add(single.take())
    alone.close()
    merged = read_events(tmp_path / "merged" / "events.csv")
    one = read_events(tmp_path / "single" / "events.csv")
    assert len(merged) == len(one) == 500 and files.counts["events"] == 500
    for metric in ("processing_ms", "end_to_end_ms"):
        a = [e[metric] for e in merged]
        b = [e[metric] for e in one]
        assert sorted(a) == sorted(b)
        for pct in (50, 90, 95, 99, 99.9):
            assert percentile(a, pct) == percentile(b, pct)
    at = [e["scheduled_at"] for e in merged]
    assert at == sorted(at)
    assert len(read_requests(tmp_path / "merged" / "requests.csv")) == 500


def test_a_row_of_the_wrong_width_is_refused(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    with pytest.raises(ValueError, match="a requests row has 2 cells"):
        files.add({"requests": [[1, 2]]})
    files.close()
