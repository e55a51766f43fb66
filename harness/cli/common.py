"""What every command shares: the Typer app, the consoles, ``--debug`` and :func:`command`, the
wrapper that turns any harness failure into one line and exit code 2."""

from __future__ import annotations

import contextlib
import functools
import signal
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console

from harness.errors import as_harness_error

HELP = """\
``wastecoach``: run a scenario and gate on it, read and compare reports, bring the reference
stack up, run the demo flow, benchmark it.

Exit codes: 0 success (every gate passed), 1 the system under test misbehaved (a gate failed or
could not decide, a wrong or missing answer), 2 the harness itself could not run (a bad
scenario, a server or target unreachable, the stack failed to start or a process of it died, the
load generator died, cleanup failed). A harness failure is one line on stderr; ``--debug`` adds
the logs' tails and the traceback.
"""

app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)
console = Console()
err = Console(stderr=True)

REPORTS = Path("reports")
_debug = False  # --debug: tracebacks and log tails with a harness failure


@app.callback()
def _main_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="WASTECOACH_DEBUG", help="show the traceback of a harness failure"
        ),
    ] = False,
) -> None:
    global _debug
    _debug = debug


def _report_failure(exc: BaseException) -> None:
    """One line on stderr (what failed, what to do, the logs); the long story with --debug."""
    failure = as_harness_error(exc)
    err.print("[red]harness error:[/red] ", end="")
    err.print(failure.line(), markup=False, highlight=False, soft_wrap=True)
    if _debug:
        if failure.detail:
            err.print(failure.detail, markup=False, highlight=False, soft_wrap=True)
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)


def command(*args: object, **kwargs: object) -> Callable[[Callable[..., None]], object]:
    """``app.command`` whose harness failures, of any kind and in any phase, end as one line
    and exit code 2 (Ctrl-C and SIGTERM too: the stack was taken down, no verdict)."""

    def register(function: Callable[..., None]) -> object:
        @functools.wraps(function)
        def guarded(*a: object, **kw: object) -> None:
            try:
                function(*a, **kw)
            except (typer.Exit, typer.Abort, click.ClickException):
                raise  # exit codes and usage errors typer already reports
            except KeyboardInterrupt:
                err.print("[red]interrupted:[/red] what was running was taken down; no verdict")
                raise typer.Exit(2) from None
            except Exception as exc:
                _report_failure(exc)
                raise typer.Exit(2) from None

        return app.command(*args, **kwargs)(guarded)  # type: ignore[arg-type]

    return register


def progress(line: str) -> None:
    if not line.startswith("{"):  # JSON lines are for machines; people get the rest
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM takes the stack down as Ctrl-C does (exit 2, see :func:`command`)."""

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
