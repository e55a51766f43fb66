"""A worker has its handlers before it is connected: the harness's master sends a worker its
plan as soon as it has Locust's ``client_ready``, and a handler registered after
``create_worker_runner()`` returned misses a plan sent right behind the ack (Locust drops it as
an unknown message type, and the worker waits for a plan it was sent). Both sides run in a child
process: importing locust gevent-patches the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A Locust master that sends wc:plan in the same moment as its ack, and our worker runner.
SCRIPT = """
import gevent
import locust  # noqa: F401
from locust.env import Environment
from harness.stack.processes import free_port
from loadtests.worker import _WorkerRunner

port = free_port()
master_env = Environment()
master = master_env.create_master_runner("127.0.0.1", port)
master_env.events.worker_connect.add_listener(
    lambda client_id, **_: master.send_message("wc:plan", {"n": 1}, client_id=client_id)
)
got = []
_WorkerRunner(Environment(), "127.0.0.1", port, {"wc:plan": lambda msg, **_: got.append(msg.data)})
for _ in range(100):
    if got:
        break
    gevent.sleep(0.1)
print(got)
master.quit()
"""


def test_a_plan_sent_right_behind_the_ack_reaches_the_workers_handler() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[{'n': 1}]", (done.stdout, done.stderr)
    assert "Unknown message type" not in done.stderr
