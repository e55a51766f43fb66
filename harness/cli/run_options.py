"""The command line's run options (``run``, ``capacity``, ``kind``), every part checked before
anything starts: a bad one is one line and exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from harness.cli.common import err
from harness.stack.servers import mode_from
from reference.common.settings import Settings

if TYPE_CHECKING:
    from harness.run.runner import RunOptions


def parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            err.print(f"error: {what} {pair!r} must look like KEY=VALUE")
            raise typer.Exit(2)
        out[key.strip()] = value
    return out


def settings_overrides(pairs: list[str]) -> dict[str, object]:
    """``--set cache_enabled=false``: validated against the settings model before anything runs."""
    from pydantic import ValidationError

    values = parse_pairs(pairs, "--set")
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        err.print(
            f"error: --set {', '.join(unknown)}: not a setting (see reference/common/settings.py)"
        )
        raise typer.Exit(2)
    try:
        checked = Settings(**{"environment": "development", **values})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(f"error: --set {first['loc'][0]}: {first['msg']}")
        raise typer.Exit(2) from None
    return {key: getattr(checked, key) for key in values}


def run_options(
    scenario: str,
    *,
    target: str | None,
    reports: Path,
    processes: int | None,
    users: int | None = None,
    upload_rewrite: list[str],
    set_: list[str],
    worker_arg: list[str],
    fault: list[str] = [],  # noqa: B006 - never mutated
    drain: float,
    inconclusive_ok: bool = False,
    servers: str = "auto",
    gateway_processes: int | None = None,
    master_bind: str | None = None,
    expect_workers: int | None = None,
    expect_workers_timeout: float = 120.0,
    ui: bool = False,
    load_target: str | None = None,
) -> RunOptions:
    """The command line's run options, every part checked (a bad one: one line, exit 2)."""
    from harness.run.faults import FAULTS
    from harness.run.runner import RunOptions

    path = scenario_path(scenario)
    unknown = [name for name in fault if name not in FAULTS]
    if unknown:
        err.print(f"error: unknown fault {unknown[0]!r}; choose from {', '.join(FAULTS)}")
        raise typer.Exit(2)
    if fault and target:
        err.print("error: faults are injected into a local stack; drop --target or --fault")
        raise typer.Exit(2)
    if load_target and not target:
        err.print("error: --load-target goes with --target URL (a local stack has one address)")
        raise typer.Exit(2)
    worker_args: dict[str, tuple[str, ...]] = {}
    for pair in worker_arg:
        name, value = next(iter(parse_pairs([pair], "--worker-arg").items()))
        worker_args[name] = (*worker_args.get(name, ()), value)
    return RunOptions(
        scenario_path=path,
        target=target,
        reports_dir=reports,
        processes=processes,
        users=users,
        upload_rewrites=tuple(upload_rewrite),
        servers=mode_from(servers),
        stack_settings=settings_overrides(set_),
        worker_args=worker_args,
        faults=tuple(fault),
        drain_seconds=drain,
        inconclusive_ok=inconclusive_ok,
        gateway_processes=gateway_processes,
        master_bind=master_bind,
        expect_workers=expect_workers,
        expect_workers_timeout=expect_workers_timeout,
        ui=ui,
        load_target=load_target,
    )


def scenario_path(scenario: str) -> Path:
    """The file of a scenario name or path, checked (a bad one: the field named, exit 2)."""
    from harness.scenario import ScenarioError, find_scenario, load_scenario

    try:
        path = find_scenario(scenario)
        load_scenario(path)
    except (ScenarioError, FileNotFoundError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return path
