"""Whether a scenario produces the data a gate's metric is made of.

The metric registry names what each metric's observations come from
(:attr:`harness.gates.measurements.MetricSpec.needs`); this module says which settings of ``[mix]``
supply each of those, so a gate that could only ever be inconclusive is refused with the
scenario file, naming the setting to change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.gates.measurements import METRICS

if TYPE_CHECKING:
    from harness.scenario.model import Mix

# Per data source: what it is, whether the mix supplies it, and what to set if not.
_SOURCES: dict[str, tuple[str, Callable[[Mix], bool], str]] = {
    "scans": ("scans", lambda mix: mix.scan > 0, "give mix.scan a weight above 0"),
    "poller": (
        "polled scans",
        lambda mix: mix.follow == "poll" or mix.follow_both > 0,
        'set mix.follow = "poll", or mix.follow_both above 0 so some scans are also polled',
    ),
    "both_ways": (
        "scans followed both ways",
        lambda mix: mix.follow_both > 0,
        "set mix.follow_both above 0 (the share of scans also followed the other way)",
    ),
    "abusers": (
        "abusive users",
        lambda mix: mix.abusive > 0,
        "set mix.abusive above 0 (the share of users that hammer the analyze endpoint)",
    ),
}


def unmet(metric: str, mix: Mix) -> str | None:
    """Why ``mix`` cannot give ``metric`` any data, or None when it can."""
    for source in sorted(METRICS[metric].needs):
        what, supplied, remedy = _SOURCES[source]
        if not supplied(mix):
            return f"{metric} is measured on {what} and this scenario has none; {remedy}"
    return None
