"""The GitHub Actions workflow (.github/workflows/ci.yml), checked offline: valid against the
published workflow schema (SchemaStore's, as check-jsonschema vendors it), the commands it runs
are the README's, the servers it starts are the ones the README needs, and a failing gate fails
the job while its reports are still uploaded."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def workflow() -> dict[Any, Any]:
    return yaml.load(WORKFLOW.read_text(), Loader=yaml.BaseLoader)  # "on" stays a string key


def steps() -> list[dict[str, Any]]:
    return workflow()["jobs"]["gate"]["steps"]


def nox_commands(text: str) -> set[str]:
    return {" ".join(m.split()) for m in re.findall(r"nox -s [a-z]+(?: -- [^\n`#|&]+)?", text)}


def test_the_workflow_is_valid_against_the_published_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    vendored = resources.files("check_jsonschema") / "builtin_schemas" / "vendor"
    schema = json.loads((vendored / "github-workflows.json").read_text())
    document = yaml.safe_load(WORKFLOW.read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as true
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not problems, problems


def test_it_runs_the_readme_commands_lint_tests_and_the_smoke_gate() -> None:
    readme = (ROOT / "README.md").read_text()
    run = [step["run"] for step in steps() if "run" in step]
    commands = [command for text in run for command in nox_commands(text)]
    sessions = [command.split()[2] for command in commands]
    assert sessions == ["lint", "tests", "scenario"]
    readme_commands = nox_commands(readme)
    for command in commands:  # what follows -- goes to the tool (pytest's JUnit file, here)
        assert readme_commands & {command, command.split(" -- ")[0]}, command
    assert "nox -s scenario -- smoke" in commands and "nox -s scenario -- smoke" in readme
    assert "pip install nox uv" in " ".join(run)  # the README's install line
    # .ci/run, the other CI entry point, runs the same sessions.
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "nox -s lint tests" in ci_run and "nox -s scenario -- smoke" in ci_run


def test_the_servers_are_started_as_services_on_the_standard_ports() -> None:
    services = workflow()["jobs"]["gate"]["services"]
    ports = {name: service["ports"] for name, service in services.items()}
    assert ports["postgres"] == ["5432:5432"]
    assert ports["redis"] == ["6379:6379"]
    assert set(ports["rabbitmq"]) == {"5672:5672", "15672:15672"}
    assert "management" in services["rabbitmq"]["image"]  # vhost per run, queue statistics
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.10")  # DESIGN: 3.10 (priority)


def test_a_failing_gate_fails_the_job_and_the_reports_are_uploaded() -> None:
    gate = next(step for step in steps() if "scenario -- smoke" in step.get("run", ""))
    assert "continue-on-error" not in gate
    assert "|| true" not in gate["run"] and "set +e" not in gate["run"]
    upload = next(step for step in steps() if step.get("uses", "").startswith("actions/upload"))
    assert upload["if"] == "always()"
    paths = upload["with"]["path"]
    for wanted in ("junit.xml", "report.html", "pytest.xml"):
        assert wanted in paths, wanted
    tests = next(step for step in steps() if "nox -s tests" in step.get("run", ""))
    assert "--junitxml=reports/pytest.xml" in tests["run"]
