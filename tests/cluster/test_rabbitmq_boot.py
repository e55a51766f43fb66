"""A real RabbitMQ node boots from the generated definitions and the kind overlay's users, and
the code's declarations agree with what it created (no PRECONDITION_FAILED)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection

from cluster import generate
from harness.stack.waits import wait_for
from reference.common import topology
from tests.cluster import manifests

pytestmark = [pytest.mark.cluster, pytest.mark.integration, pytest.mark.slow]

SERVER_SCRIPTS = ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/sbin/rabbitmq-server")


def rabbitmq_server() -> Path | None:
    for candidate in (os.environ.get("WASTECOACH_RABBITMQ_SERVER"), *SERVER_SCRIPTS):
        if candidate and Path(candidate).exists():
            # Debian's /usr/sbin script switches user and logs to /var/log; the real one runs
            # the node as we are.
            resolved = Path(candidate).resolve()
            return resolved.with_name("rabbitmq-server")
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kind_users_json() -> str:
    if manifests.kubectl() is None:
        pytest.skip("kubectl is not installed: it renders the kind overlay's users Secret")
    for obj in manifests.render("kind"):
        if obj["kind"] == "Secret" and obj["metadata"]["name"].startswith("rabbitmq-credentials"):
            return base64.b64decode(obj["data"]["users.json"]).decode()
    raise AssertionError("the kind overlay has no rabbitmq-credentials Secret")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[str]:
    """A throw-away node on free loopback ports, loading definitions as the cluster does."""
    server = rabbitmq_server()
    if server is None or shutil.which("erl") is None:
        pytest.skip("RabbitMQ is not installed here (apt-get install rabbitmq-server)")
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    (definitions / "10-topology.json").write_text(generate.DEFINITIONS.read_text())
    (definitions / "20-users.json").write_text(kind_users_json())
    for name in ("mnesia", "log"):
        (tmp_path / name).mkdir()
    (tmp_path / "rabbitmq.conf").write_text(
        f"load_definitions = {definitions}\nlog.console = true\nlog.file = false\n"
    )
    (tmp_path / "enabled_plugins").write_text("[].\n")
    (tmp_path / "rabbitmq-env.conf").write_text("")
    cookie = tmp_path / ".erlang.cookie"
    cookie.write_text(secrets.token_hex(16))
    cookie.chmod(0o400)
    amqp, dist = free_port(), free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RABBITMQ_NODENAME": f"wc-defs-{secrets.token_hex(4)}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_CONF_ENV_FILE": str(tmp_path / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(tmp_path / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(tmp_path / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(tmp_path / "mnesia"),
        "RABBITMQ_LOG_BASE": str(tmp_path / "log"),
        "RABBITMQ_PID_FILE": str(tmp_path / "rabbitmq.pid"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    log = (tmp_path / "node.log").open("w")
    process = subprocess.Popen(
        [str(server)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for(
            lambda: "Server startup complete" in (tmp_path / "node.log").read_text(),
            timeout=90,
            interval=0.25,
            describe="the RabbitMQ node to boot from the definitions",
            abort=lambda: (
                f"it exited:\n{(tmp_path / 'node.log').read_text()[-3000:]}"
                if process.poll() is not None
                else None
            ),
        )
        yield f"127.0.0.1:{amqp}"
    finally:
        # The node's whole process group (the script and the Erlang VM it starts), ours alone.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def test_code_declarations_agree_with_the_definitions_the_cluster_loads(node: str) -> None:
    (user,) = json.loads(kind_users_json())["users"]
    with Connection(f"amqp://{user['name']}:{user['password']}@{node}//") as conn:
        # Declaring an existing queue with other arguments fails with PRECONDITION_FAILED.
        topology.declare(conn)
        depths = {
            name: (messages, consumers) for name, messages, consumers in topology.iter_depths(conn)
        }
    assert depths == {spec.name: (0, 0) for spec in topology.QUEUES}
    # A node that imports definitions at boot creates no guest user.
    with (
        pytest.raises(AccessRefused),
        Connection(f"amqp://guest:guest@{node}//") as conn,
    ):
        conn.ensure_connection(max_retries=1)
