"""An ephemeral RabbitMQ node: its own name, ports, data, config and Erlang cookie.

The node must not meet the system's broker: it gets a unique node name, its own AMQP and
distribution ports, its own mnesia/log directories, a private ``rabbitmq-env.conf`` (the
system one sets ``NODENAME``), only the management plugin, on a port of its own (the harness
creates vhosts and reads queue statistics through it), and ``HOME`` in the temporary directory
so Erlang keeps its cookie there. Only ``epmd``, the host-wide Erlang port mapper, is shared;
if none runs, Erlang starts one and leaves it running, as the system's own broker would.
"""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path

from harness.providers.base import ProviderError
from harness.providers.binaries import find_executable, parse_version, require_version
from harness.providers.ephemeral.base import EphemeralServer
from harness.providers.ports import LOOPBACK

SERVER_VAR = "WASTECOACH_RABBITMQ_SERVER"
SEARCH_DIRS = ("/usr/lib/rabbitmq/bin", "/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")
INSTALL_HINT = "install RabbitMQ 3.9 or newer (apt-get install rabbitmq-server)"

# Only the broker's own settings here; listeners and paths come from RABBITMQ_* variables.
# A directory named for its version: "rabbitmq_server-3.10.8" (Debian), "3.12.0" (Homebrew).
_VERSIONED_DIR = re.compile(r"(?:^|[-_])(\d+\.\d+(?:\.\d+)?)$")

CONFIG = """\
# Written by the wastecoach harness for a throw-away node.
loopback_users.guest = true
log.console = true
log.console.level = info
log.file = false
"""


class EphemeralRabbitMQ(EphemeralServer):
    """A private RabbitMQ node on 127.0.0.1 with the default ``guest`` user, deleted on stop."""

    # The management plugin makes a boot take longer; on a busy machine well over a minute.
    default_startup_timeout = 120.0
    # A clean stop checkpoints message stores; give it time before SIGKILL.
    stop_timeout = 30.0
    extra_ports = 2  # Erlang distribution (RABBITMQ_DIST_PORT), then the management API

    def __init__(self, *, port: int | None = None, startup_timeout: float | None = None) -> None:
        super().__init__("rabbitmq", port=port, startup_timeout=startup_timeout)
        self.node_name = f"wastecoach-{secrets.token_hex(4)}@localhost"
        self._server: Path | None = None

    def _locate(self) -> None:
        found = find_executable(
            "rabbitmq-server",
            override_var=SERVER_VAR,
            extra_dirs=SEARCH_DIRS,
            spec=self.spec,
            hint=INSTALL_HINT,
        )
        server = real_server_script(found)
        version = rabbitmq_version(server)
        if version is None:
            raise ProviderError(
                f"cannot tell the RabbitMQ version of {server}; {INSTALL_HINT}, or set "
                f"{SERVER_VAR} to the rabbitmq-server script of a versioned installation"
            )
        require_version(version, server, self.spec, f"{INSTALL_HINT}, or set {SERVER_VAR}")
        if shutil.which("erl") is None:
            raise ProviderError(
                "Erlang (erl) is not on PATH, and RabbitMQ needs it; install erlang "
                "(apt-get install erlang-base) or add its bin directory to PATH"
            )
        self._server = server

    def _prepare(self, workdir: Path, ports: list[int]) -> None:
        for name in ("mnesia", "log", "conf.d"):
            (workdir / name).mkdir()
        management = f"management.tcp.ip = {LOOPBACK}\nmanagement.tcp.port = {ports[2]}\n"
        (workdir / "rabbitmq.conf").write_text(CONFIG + management)
        (workdir / "rabbitmq-env.conf").write_text("")
        (workdir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        # Erlang insists the cookie be readable by its owner only.
        cookie = workdir / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)

    def _environment(self, workdir: Path, ports: list[int]) -> dict[str, str]:
        return {
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
            "RABBITMQ_NODE_PORT": str(ports[0]),
            "RABBITMQ_DIST_PORT": str(ports[1]),
            "RABBITMQ_CONF_ENV_FILE": str(workdir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq.conf"),
            "RABBITMQ_CONFIG_FILES": str(workdir / "conf.d"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(workdir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(workdir / "log"),
            "RABBITMQ_PID_FILE": str(workdir / "rabbitmq.pid"),
            "RABBITMQ_LOGS": "-",
            # Distribution on loopback only, like the AMQP listener.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": LOOPBACK,
        }

    def _command(self, workdir: Path, ports: list[int]) -> list[str]:
        assert self._server is not None
        return [str(self._server)]

    def _url_for(self, ports: list[int]) -> str:
        return self.spec.url(LOOPBACK, ports[0])

    def management_url(self) -> str:
        """The management API's base URL (``http://127.0.0.1:PORT``) while the node runs."""
        if len(self.ports) < 3:
            raise ProviderError("ephemeral RabbitMQ is not started; call start() first")
        return f"http://{LOOPBACK}:{self.ports[2]}"

    def _inherited_environment(self) -> dict[str, str]:
        # Inherited RABBITMQ_* variables (a developer's shell, a CI image) would override ours
        # or add to them; NOTIFY_SOCKET would make the script skip its SIGTERM handler.
        return {
            key: value
            for key, value in super()._inherited_environment().items()
            if not key.startswith("RABBITMQ_") and key != "NOTIFY_SOCKET"
        }


def real_server_script(path: Path) -> Path:
    """The real ``rabbitmq-server`` script behind a distribution's wrapper.

    Debian's ``/usr/sbin/rabbitmq-server`` is a wrapper that switches to the ``rabbitmq`` user
    and sends output to /var/log; the script beside its target runs the node as we are.
    """
    resolved = path.resolve()
    if resolved.name != "rabbitmq-server":
        sibling = resolved.with_name("rabbitmq-server")
        if sibling.is_file():
            return sibling.resolve()
    return resolved


def rabbitmq_version(script: Path) -> tuple[int, ...] | None:
    """The version in an installation's path (``rabbitmq_server-3.10.8``, ``Cellar/.../3.12``).

    Reading it from the layout avoids booting an Erlang VM (``rabbitmqctl version``) for it.
    """
    for part in reversed(script.parts):
        match = _VERSIONED_DIR.search(part)
        if match:
            return parse_version(match.group(1))
    for plugin in (script.parent.parent / "plugins").glob("rabbit-*"):
        return parse_version(plugin.name)
    return None
