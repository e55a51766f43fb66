"""``report`` and ``compare``: run folders read back, shown, and judged against each other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness.cli.common import command, console, err
from harness.cli.summary import print_summary
from harness.report.rundata import RunData


def _load_run(run_dir: Path) -> RunData:
    try:
        return RunData.load(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None


@command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run folder, e.g. reports/smoke-20261126T...")],
    html: Annotated[bool, typer.Option(help="write report.html again from the raw files")] = False,
) -> None:
    """Show a run's gate table and headline numbers (exit code: the run's)."""
    run_data = _load_run(run_dir)
    if html:
        from harness.report.html import write_html

        console.print(f"written {write_html(run_data)}")
    print_summary(run_data.summary, run_dir)
    raise typer.Exit(int(run_data.summary.get("exit_code", 2)))


@command()
def compare(
    baseline: Annotated[Path, typer.Argument(help="the earlier run's folder")],
    candidate: Annotated[Path, typer.Argument(help="the run to judge against it")],
    max_p95_regression: Annotated[
        float, typer.Option(min=0, help="allowed relative p95 increase (0.10 = 10 %)")
    ] = 0.10,
    alpha: Annotated[float, typer.Option(min=0, max=1, help="significance level")] = 0.01,
) -> None:
    """Compare two runs: exit 1 when the candidate regressed (relative criterion and test)."""
    from harness.report.compare import Criteria, as_dicts
    from harness.report.compare import compare as compare_runs

    findings = compare_runs(
        _load_run(baseline),
        _load_run(candidate),
        Criteria(max_p95_regression=max_p95_regression, alpha=alpha),
    )
    table = Table(title=f"{baseline.name} → {candidate.name}")
    for column in ("metric", "regression", "change"):
        table.add_column(column)
    for finding in findings:
        table.add_row(finding.metric, "[red]yes[/]" if finding.regression else "no", finding.note)
    console.print(table)
    (candidate / "compare.json").write_text(
        json.dumps({"baseline": str(baseline), "findings": as_dicts(findings)}, indent=2)
    )
    if any(f.regression for f in findings):
        raise typer.Exit(1)
