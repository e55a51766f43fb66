"""The load generator's CPU benchmark as the harness runs it (a child process: it imports
locust); against a live stack it runs in ``wastecoach bench``."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.bench import loadgen
from harness.errors import HarnessError


@pytest.mark.slow
def test_a_stack_that_does_not_answer_is_a_harness_failure_naming_the_log(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(HarnessError) as failed:
        loadgen.measure(f"http://127.0.0.1:{port}", tmp_path, seconds=1, users=2)
    assert "benchmark failed" in failed.value.message
    assert failed.value.logs == tmp_path / "logs" / "loadgen-bench.log"
    assert "warm-up scans did not all finish" in failed.value.logs.read_text()
