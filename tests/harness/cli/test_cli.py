"""The ``wastecoach`` command line: bad input is refused with one line and exit code 2, and the
report and compare commands read run folders back (the run itself:
tests/harness/run/test_run.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.report.rundata import EVENTS, SERIES, SUMMARY, write_events
from tests.harness.report.factories import events, series, summary

runner = CliRunner()


def _run_folder(root: Path, name: str, verdicts: list[str], **event_args: object) -> Path:
    folder = root / name
    folder.mkdir()
    data = summary(verdicts)
    data["exit_code"] = 1 if "fail" in verdicts else 0
    (folder / SUMMARY).write_text(json.dumps(data))
    write_events(folder / EVENTS, events(400, seed=len(name), **event_args))  # type: ignore[arg-type]
    series().write_csv(folder / SERIES)
    return folder


def test_an_unknown_scenario_is_refused_with_exit_code_2() -> None:
    result = runner.invoke(app, ["run", "no-such-scenario"])
    assert result.exit_code == 2
    assert "no scenario of that name" in result.output
    assert "smoke" in result.output  # the known ones are listed


def test_a_malformed_scenario_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\ndescription = "x"\n[load]\nwarmup = "1s"\n'
        '[[load.stages]]\nduration = "10s"\nusers = -3\n'
        '[[gates]]\nmetric = "processing_time"\nthresholds = ["p(95) <"]\n'
    )
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "users" in result.output


def test_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "smoke", "--set", "cache_enabeld=false"])
    assert result.exit_code == 2
    assert "cache_enabeld" in result.output and "not a setting" in result.output


def test_a_setting_with_a_bad_value_is_refused() -> None:
    result = runner.invoke(app, ["run", "smoke", "--set", "cache_enabled=perhaps"])
    assert result.exit_code == 2
    assert "cache_enabled" in result.output


def test_an_unknown_fault_is_refused() -> None:
    result = runner.invoke(app, ["run", "smoke", "--fault", "meteor"])
    assert result.exit_code == 2
    assert "drop-jobs" in result.output


def test_faults_against_a_target_are_refused() -> None:
    result = runner.invoke(
        app, ["run", "smoke", "--fault", "drop-jobs", "--target", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2
    assert "local stack" in result.output


@pytest.mark.parametrize("levels", ["3,x", "3,0", "-5"])
def test_bench_refuses_overhead_levels_that_are_not_user_counts(levels: str) -> None:
    # Refused before any server or stack is started.
    result = runner.invoke(app, ["bench", "--overhead-users", levels])
    assert result.exit_code == 2
    assert "user counts of 1 or more" in result.output


def test_report_shows_the_gates_and_exits_with_the_runs_code(tmp_path: Path) -> None:
    folder = _run_folder(tmp_path, "failed-run", ["pass", "fail"])
    result = runner.invoke(app, ["report", str(folder), "--html"])
    assert result.exit_code == 1
    assert "gate 1" in result.output and "fail" in result.output
    assert (folder / "report.html").stat().st_size > 0


def test_report_on_a_folder_that_is_not_a_run_is_exit_code_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "is it a run folder" in result.output


def test_compare_exits_1_on_a_regression_and_0_without(tmp_path: Path) -> None:
    base = _run_folder(tmp_path, "base", ["pass"])
    same = _run_folder(tmp_path, "same-ish", ["pass"])
    slower = _run_folder(tmp_path, "slower", ["pass"], scale=1.4)
    assert runner.invoke(app, ["compare", str(base), str(same)]).exit_code == 0
    result = runner.invoke(app, ["compare", str(base), str(slower)])
    assert result.exit_code == 1
    findings = json.loads((slower / "compare.json").read_text())["findings"]
    assert any(f["regression"] for f in findings)


def test_the_run_writes_the_scenario_it_applied_with_users_overridden(tmp_path: Path) -> None:
    from harness.run.runner import RunOptions, _effective_scenario
    from harness.scenario import find_scenario, load_scenario

    peak = load_scenario(find_scenario("peak"))
    path, applied = _effective_scenario(
        peak, RunOptions(scenario_path=find_scenario("peak"), users=120), tmp_path
    )
    assert load_scenario(path) == applied  # what the load generator reads is what was applied
    assert [stage.users for stage in applied.load.stages] == [120, 120]
    assert applied.gates == peak.gates and applied.images == peak.images


def test_kind_without_the_kind_binary_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no kind, docker or kubectl on the path
    result = runner.invoke(app, ["kind", "smoke"])
    assert result.exit_code == 2
    assert "kind is not installed" in result.output


def _closed_port() -> int:
    from harness.stack.processes import free_port

    return free_port()  # nothing listens on it once the probe socket is closed


UNREACHABLE = {
    "PostgreSQL": ("WASTECOACH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:{port}/x"),
    "Redis": ("WASTECOACH_REDIS_URL", "redis://127.0.0.1:{port}/0"),
    "RabbitMQ at": ("WASTECOACH_BROKER_URL", "amqp://guest:guest@127.0.0.1:{port}//"),
    "management API": ("WASTECOACH_BROKER_MANAGEMENT_URL", "http://127.0.0.1:{port}"),
}


@pytest.mark.integration
@pytest.mark.parametrize("server", list(UNREACHABLE))
def test_run_with_a_server_unreachable_is_one_line_and_exit_code_2(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable, url = UNREACHABLE[server]
    monkeypatch.setenv(variable, url.format(port=_closed_port()))
    result = runner.invoke(
        app, ["run", "smoke", "--servers", "running", "--reports", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) <= 3, result.output
    error = lines[-1]
    assert error.startswith("harness error: ") and server in error, error
    assert variable in error  # what to set
    assert str(tmp_path) in error  # where the run's files are
    assert "Traceback" not in result.output


@pytest.mark.integration
def test_debug_shows_the_traceback_of_a_harness_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASTECOACH_REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    result = runner.invoke(
        app, ["--debug", "run", "smoke", "--servers", "running", "--reports", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "harness error: --servers running: Redis at" in result.output
    assert "Traceback (most recent call last)" in result.output
    assert "RunServers" in result.output or "servers.py" in result.output  # where it was raised


def test_an_unexpected_exception_is_one_line_and_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.run.runner

    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(harness.run.runner, "run", broken)
    result = runner.invoke(app, ["run", "smoke", "--reports", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "harness error: unexpected ZeroDivisionError: division by zero (rerun with --debug "
        "for the traceback)"
    ]


@pytest.mark.parametrize(
    "option", ["--prometheus=http://127.0.0.1:9090", "--flood-broker=amqp://x"]
)
def test_target_only_options_without_a_target_are_refused(option: str) -> None:
    result = runner.invoke(app, ["run", "smoke", option])
    assert result.exit_code == 2
    assert "--target" in result.output
    assert len(result.output.strip().splitlines()) == 1  # one line, no traceback


def test_an_unknown_servers_mode_is_refused_with_one_line() -> None:
    result = runner.invoke(app, ["run", "smoke", "--servers", "docker"])
    assert result.exit_code == 2
    assert "--servers 'docker'" in result.output and "ephemeral" in result.output


def test_the_servers_variable_is_read_like_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASTECOACH_SERVERS", "nowhere")
    result = runner.invoke(app, ["up"])
    assert result.exit_code == 2
    assert "'nowhere'" in result.output


LOAD_OPTIONS = [
    "--processes", "0", "--master-bind", "10.0.0.5:5557", "--expect-workers", "3",
    "--expect-workers-timeout", "300", "--ui",
    "--target", "http://127.0.0.1:30080", "--load-target", "http://gateway.default.svc.cluster.local",
]  # fmt: skip
CAPACITY_RANGE = ["--low", "10", "--high", "20"]


@pytest.mark.parametrize("command", [["run", "smoke"], ["capacity", "smoke", *CAPACITY_RANGE]])
def test_run_and_capacity_give_the_runs_the_distributed_load_options(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.errors import HarnessError
    from harness.run import runner as run_module
    from harness.run.runner import RunOptions

    seen: list[RunOptions] = []

    def fake_run(options: RunOptions, progress: object = None) -> None:
        seen.append(options)
        raise HarnessError("stand-in for the run")

    monkeypatch.setattr(run_module, "run", fake_run)
    result = runner.invoke(app, [*command, *LOAD_OPTIONS, "--reports", str(tmp_path)])
    assert result.exit_code == 2 and "stand-in for the run" in result.output
    (options,) = seen
    assert (options.processes, options.master_bind, options.expect_workers) == (
        0,
        "10.0.0.5:5557",
        3,
    )
    assert (options.expect_workers_timeout, options.ui) == (300.0, True)
    assert options.load_target == "http://gateway.default.svc.cluster.local"


@pytest.mark.parametrize("command", [["run", "smoke"], ["capacity", "smoke", *CAPACITY_RANGE]])
def test_a_load_target_without_a_target_is_refused(command: list[str], tmp_path: Path) -> None:
    result = runner.invoke(
        app, [*command, "--load-target", "http://gateway", "--reports", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--load-target goes with --target URL" in result.output
    assert not any(tmp_path.iterdir())
