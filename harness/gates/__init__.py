"""Release gates: threshold expressions, the gate model, and their evaluation on samples.

See :mod:`harness.gates.expressions` for the grammar, :mod:`harness.gates.evaluate` for the
verdict rules and exit codes, and :mod:`harness.gates.measurements` for the data gates judge.
"""

from harness.gates.evaluate import (
    EXIT_FAIL,
    EXIT_HARNESS_ERROR,
    EXIT_PASS,
    Evaluation,
    GateResult,
    ThresholdResult,
    Verdict,
    aggregate,
    combine,
    evaluate,
    evaluate_gate,
    exit_code,
    percentile,
)
from harness.gates.expressions import Threshold, ThresholdSyntaxError, parse_threshold
from harness.gates.model import FieldIssue, Gate

__all__ = [
    "EXIT_FAIL",
    "EXIT_HARNESS_ERROR",
    "EXIT_PASS",
    "Evaluation",
    "FieldIssue",
    "Gate",
    "GateResult",
    "Threshold",
    "ThresholdResult",
    "ThresholdSyntaxError",
    "Verdict",
    "aggregate",
    "combine",
    "evaluate",
    "evaluate_gate",
    "exit_code",
    "parse_threshold",
    "percentile",
]
