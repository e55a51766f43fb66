"""The status benchmark loads the gateway and the bare app in turns (ABBA), each as long."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.bench.status import TURN_SECONDS, Target, Throughput, alternate


@dataclass(frozen=True)
class Recorded(Target):
    log: list[tuple[int, float]] = field(default_factory=list)

    def hammer(self, seconds: float, connections: int) -> Throughput:
        self.log.append((self.port, seconds))
        return Throughput(requests=100, failures=1, seconds=seconds, cpu_seconds=0.5)


def test_turns_alternate_abba_and_add_up() -> None:
    log: list[tuple[int, float]] = []
    first, second = Recorded(1, "/a", {}, [], log), Recorded(2, "/b", {}, [], log)
    a, b = alternate(first, second, 4 * TURN_SECONDS, connections=8)
    assert [port for port, _ in log] == [1, 2, 2, 1, 1, 2, 2, 1]
    assert {seconds for _, seconds in log} == {TURN_SECONDS}
    assert (a.requests, a.failures, a.seconds, a.cpu_seconds) == (400, 4, 4 * TURN_SECONDS, 2.0)
    assert b.per_second == a.per_second


def test_a_short_run_is_one_turn_each() -> None:
    log: list[tuple[int, float]] = []
    a, b = alternate(Recorded(1, "/a", {}, [], log), Recorded(2, "/b", {}, [], log), 1.0, 8)
    assert log == [(1, 1.0), (2, 1.0)]
    assert a.requests == b.requests == 100
