"""Free and occupied TCP ports on the loopback interface."""

from __future__ import annotations

import socket

from harness.providers.base import ProviderError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now.

    The kernel picks it; another process may still take it before our server binds, which is
    why ephemeral servers retry on a fresh port when their bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could bind ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too, so a port in TIME_WAIT counts as free, as it is for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(port: int, what: str) -> None:
    """Raise :class:`ProviderError` if ``port`` on 127.0.0.1 is taken."""
    if not 0 < port < 65536:
        raise ProviderError(f"{what}: port {port} is not a TCP port; use 1-65535 or leave it unset")
    if not port_is_free(port):
        raise ProviderError(
            f"{what}: port {port} on {LOOPBACK} is already in use; stop what listens there "
            f"(see `ss -ltnp 'sport = :{port}'`) or leave the port unset to get a free one"
        )
