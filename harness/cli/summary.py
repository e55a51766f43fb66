"""A run's summary as tables on the console: headline numbers, gates, faults, the verdict
(``run``, ``capacity``, ``kind`` and ``report`` show it)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from harness.cli.common import console


def print_summary(summary: dict[str, object], run_dir: Path) -> None:
    headline = summary.get("headline") or {}
    assert isinstance(headline, dict)
    servers = summary.get("servers") or {}
    assert isinstance(servers, dict)
    used = ", ".join(f"{kind} {mode}" for kind, mode in servers.items())
    title = f"{summary.get('run_id')} ({summary.get('target')}" + (f"; {used})" if used else ")")
    numbers = Table(title=title, show_header=False)
    for key, value in headline.items():
        numbers.add_row(str(key), str(value))
    console.print(numbers)
    gates = Table(title="gates")
    for column in ("verdict", "gate", "threshold", "observed", "samples"):
        gates.add_column(column)
    colours = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
    rows = summary.get("gates") or []
    assert isinstance(rows, list)
    for row in rows:
        verdict = str(row.get("verdict"))
        gates.add_row(
            f"[{colours.get(verdict, 'white')}]{verdict}[/]",
            str(row.get("name")),
            str(row.get("threshold")),
            str(row.get("observed_text")),
            str(row.get("samples", "")),
        )
    console.print(gates)
    _print_faults(summary)
    for note in summary.get("notes") or []:  # type: ignore[union-attr]
        console.print(f"[yellow]note:[/yellow] {note}")
    verdict = str(summary.get("verdict"))
    shown = f"[{colours.get(verdict, 'white')}]{verdict}[/]"
    console.print(f"verdict: {shown}   report: {run_dir / 'report.html'}")


def _print_faults(summary: dict[str, object]) -> None:
    outcomes = summary.get("fault_outcomes") or []
    assert isinstance(outcomes, list)
    if not outcomes:
        return
    table = Table(title="faults")
    for column in ("fault", "p95 before / during / after ms", "recovery s", "lost", "failed",
                   "answered twice"):  # fmt: skip
        table.add_column(column)

    def p95(phase: dict[str, object] | None) -> str:
        value = phase.get("p95_ms") if phase else None
        return "-" if value is None else f"{value:.0f}"

    for o in outcomes:
        recovered = o.get("recovery_seconds")
        table.add_row(
            str(o.get("label")),
            f"{p95(o.get('before'))} / {p95(o.get('during'))} / {p95(o.get('after'))}",
            "never" if recovered is None else f"{recovered:.1f}",
            str(o.get("lost")),
            str(o.get("failed")),
            str(o.get("answered_twice")),
        )
    console.print(table)
