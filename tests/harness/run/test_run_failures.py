"""How the runner ends when its own cleanup fails (no stack needed): the failure is returned
as one ``CleanupError``, never raised over the verdict, and a run that had its verdict records
exit code 2 in its summary (what ``wastecoach report`` exits with), the verdict kept."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app
from harness.errors import CleanupError
from harness.gates.evaluate import Evaluation
from harness.report.rundata import SUMMARY
from harness.run.runner import RunResult, _clean_up, _record_harness_failure


class _Stack:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def stop(self) -> None:
        raise self.error


def test_a_cleanup_failure_is_returned_as_one_line() -> None:
    named = CleanupError("sandbox cleanup could not remove Redis keys wc_x:*")
    none = contextlib.ExitStack
    assert _clean_up(none(), _Stack(named), none()) is named  # type: ignore[arg-type]
    other = _clean_up(none(), _Stack(OSError("disk\nfull")), none())  # type: ignore[arg-type]
    assert isinstance(other, CleanupError)
    assert str(other) == "cleanup failed: OSError: disk"
    assert _clean_up(none(), None, none()) is None
    # the servers the run started are stopped even when taking the stack down failed
    stopped: list[str] = []
    servers = contextlib.ExitStack()
    servers.callback(stopped.append, "servers")
    assert _clean_up(none(), _Stack(named), servers) is named  # type: ignore[arg-type]
    assert stopped == ["servers"]


def test_a_run_whose_cleanup_failed_keeps_its_verdict_and_exits_2(tmp_path: Path) -> None:
    summary = {"run_id": "r", "verdict": "pass", "exit_code": 0, "gates": [], "headline": {}}
    (tmp_path / SUMMARY).write_text(json.dumps(summary))
    result = RunResult(tmp_path, Evaluation(()), summary, 0)
    _record_harness_failure(result, CleanupError("could not stop worker-ai (pid 1: OSError)"))
    written = json.loads((tmp_path / SUMMARY).read_text())
    assert result.exit_code == 2 and written["exit_code"] == 2
    assert written["verdict"] == "pass"
    assert written["harness_error"] == "could not stop worker-ai (pid 1: OSError)"
    assert CliRunner().invoke(app, ["report", str(tmp_path)]).exit_code == 2
