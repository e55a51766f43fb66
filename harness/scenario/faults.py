"""``[[faults]]``: infrastructure faults on the load's timeline (Chaos Toolkit's method, in TOML).

Each fault has a ``kind``, starts ``at`` seconds into the load and lasts ``duration`` seconds
(both scaled by ``load.time_scale``, like every other time of the load), and names its
``target`` where the kind needs one:

| kind | target | what happens for the window |
|---|---|---|
| ``worker-kill`` | ``ai``, ``batch``, ``api`` (and ``replica``) | SIGKILL, restarted at the end |
| ``broker-restart`` / ``redis-restart`` / ``postgres-restart`` | implied | server down, then up |
| ``model-outage`` | implied (the OpenAI mock) | 5xx answers (``behaviour = "error"``) or hangs |
| ``rate-limit-storm`` | implied (the OpenAI mock) | 429 with ``Retry-After`` |
| ``latency`` | ``postgres``, ``redis``, ``rabbitmq`` | ``delay`` added on the proxied connection |
| ``reset`` | ``postgres``, ``redis``, ``rabbitmq`` | connections reset (TCP RST), new ones too |
"""

from __future__ import annotations

from typing import Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.gates.model import FieldIssue
from harness.scenario.durations import Seconds
from reference.common import topology

FaultKind = Literal[
    "worker-kill",
    "broker-restart",
    "redis-restart",
    "postgres-restart",
    "model-outage",
    "rate-limit-storm",
    "latency",
    "reset",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
ServerName = Literal["postgres", "redis", "rabbitmq"]
SERVERS: tuple[str, ...] = get_args(ServerName)
#: The server each restart fault restarts.
RESTARTS: dict[str, ServerName] = {
    "broker-restart": "rabbitmq",
    "redis-restart": "redis",
    "postgres-restart": "postgres",
}
PROXIED = ("latency", "reset")
MODEL = ("model-outage", "rate-limit-storm")


class Fault(BaseModel):
    """One ``[[faults]]`` entry; see the module's table for each kind's target."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: FaultKind
    at: Seconds = Field(ge=0)
    duration: Seconds = Field(gt=0)
    target: str | None = None
    # worker-kill: which process of the worker's replicas (1 = the first).
    replica: int = Field(1, ge=1)
    # model-outage: 5xx answers, or requests held past the client's time-out.
    behaviour: Literal["error", "hang"] = "error"
    # rate-limit-storm: the Retry-After the mock sends (real seconds, not scaled).
    retry_after: float = Field(1.0, ge=0)
    # latency: added to every chunk the server sends back (real seconds, not scaled).
    delay: Seconds | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _target_fits(self) -> Self:
        if self.kind == "worker-kill":
            names = [w.name for w in topology.WORKERS]
            if self.target not in names:
                raise FieldIssue(
                    ("target",), f"worker-kill needs a worker: one of {', '.join(names)}"
                )
            spec = topology.worker(self.target)
            if self.replica > spec.replicas:
                raise FieldIssue(
                    ("replica",),
                    f"the {spec.name} worker runs {spec.replicas} replicas; choose 1-"
                    f"{spec.replicas}",
                )
        elif self.kind in PROXIED:
            if self.target not in SERVERS:
                raise FieldIssue(
                    ("target",), f"{self.kind} needs a server: one of {', '.join(SERVERS)}"
                )
        elif self.target is not None and self.target != self.server:
            raise FieldIssue(
                ("target",), f"{self.kind} acts on {self.server}; leave target out or say so"
            )
        if self.kind == "latency" and self.delay is None:
            raise FieldIssue(("delay",), 'latency needs a delay, e.g. delay = "200ms"')
        if self.kind != "latency" and self.delay is not None:
            raise FieldIssue(("delay",), 'only for kind = "latency"')
        if self.kind != "worker-kill" and self.replica != 1:
            raise FieldIssue(("replica",), 'only for kind = "worker-kill"')
        return self

    @property
    def server(self) -> str:
        """What the fault acts on; two faults on the same one must not overlap."""
        if self.kind == "worker-kill":
            return f"worker-{self.target}-{self.replica}"
        if self.kind in RESTARTS:
            return RESTARTS[self.kind]
        if self.kind in MODEL:
            return "openai"
        assert self.target is not None
        return self.target

    @property
    def end(self) -> float:
        return self.at + self.duration

    @property
    def label(self) -> str:
        """``broker-restart`` or ``worker-kill ai`` (a target named when the kind needs one)."""
        return self.kind if self.target is None else f"{self.kind} {self.target}"


def check_timeline(faults: tuple[Fault, ...], run_seconds: float) -> None:
    """Every fault ends within the run, and faults on one server do not overlap."""
    for index, fault in enumerate(faults):
        if fault.end > run_seconds:
            raise FieldIssue(
                ("faults", index, "duration"),
                f"the fault ends at {fault.end:g} s, after the stages' total of {run_seconds:g} s",
            )
        for other_index, other in enumerate(faults[:index]):
            if other.server == fault.server and fault.at < other.end and other.at < fault.end:
                raise FieldIssue(
                    ("faults", index, "at"),
                    f"overlaps faults[{other_index}] on {fault.server} "
                    f"({other.at:g}-{other.end:g} s)",
                )


def owned_servers(faults: tuple[Fault, ...]) -> set[str]:
    """The servers the run must own: those a fault restarts or proxies."""
    owned = {RESTARTS[f.kind] for f in faults if f.kind in RESTARTS}
    return owned | {f.target for f in faults if f.kind in PROXIED and f.target}


def proxied_servers(faults: tuple[Fault, ...]) -> set[str]:
    """The servers a TCP proxy goes in front of (a latency or reset fault needs it)."""
    return {f.target for f in faults if f.kind in PROXIED and f.target}


__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultKind",
    "check_timeline",
    "owned_servers",
    "proxied_servers",
]
