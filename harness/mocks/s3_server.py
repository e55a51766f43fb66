"""S3 for tests and local stacks: moto's server as a real HTTP endpoint on 127.0.0.1.

:class:`MotoS3` runs ``python -m moto.server`` in a subprocess, the way testcontainers runs a
container: ``start()/stop()``, a context manager, ``url()``, ``client()``, a readiness wait by
polling with a timeout, and the server's log attached to the error when start-up fails. A
subprocess rather than moto's in-process threaded server: the services and workers under test
reach it over HTTP from their own processes, and its state dies with it.

moto accepts pre-signed URLs but does **not** verify their signatures (nor expiry, nor the
signed headers): a PUT to any URL of the bucket succeeds. Nor does it enforce a pre-signed POST's
policy, the app's way to upload: the server here is moto's app behind
:class:`harness.mocks.s3_post_policy.PostPolicy`, which enforces what AWS does for a POST (its
signature, expiry, ``content-length-range``, ``eq``/``starts-with`` fields; that module lists
what it does not emulate). The service still checks what was uploaded (size, type) itself.

``python -m harness.mocks.s3_server --port 5000 --bucket wastecoach-images`` serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from types import FrameType
from typing import IO, Any, Self

import boto3
import httpx
from botocore.config import Config

from harness.providers.readiness import process_alive, tail_text, wait_ready
from harness.stack.processes import listening_socket, port_of
from reference.common.settings import Settings

REGION = "ap-northeast-2"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # moto accepts any key; these are the dummies its docs use


class MotoS3:
    """moto's S3 served on ``host:port`` (a port the kernel picks when ``port`` is 0) by a
    subprocess, or on a listening socket ``sock`` handed over (the local stack's)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        startup_timeout: float = 30.0,
        sock: socket.socket | None = None,
    ) -> None:
        self.host = host
        self.port = port_of(sock) if sock is not None else port
        self._requested_port = port
        self._sock = sock
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Self:
        """Start the server and wait until it answers S3 requests.

        Raises :class:`~harness.providers.base.ProviderError` (a ``RuntimeError``) with the tail
        of moto's log if it exits or is not ready within ``startup_timeout``.
        """
        if self._process is not None:
            return self
        # The socket is bound here and moto serves on it (``--fd``): the port is never free
        # for another process to take while moto imports.
        sock, self._sock = self._sock, None
        if sock is None:
            try:
                sock = listening_socket(self.host, self._requested_port)
            except OSError as exc:
                raise RuntimeError(f"moto S3 cannot serve {self.url()}: {exc}") from None
        self.port = port_of(sock)
        # Open until stop(): the log outlives this method, so no `with` block here.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        command = [
            sys.executable,
            "-m",
            "harness.mocks.s3_post_policy",
            *("--host", self.host, "--port", str(self.port), "--secret-key", SECRET_KEY),
            *("--fd", str(sock.fileno())),
        ]
        with sock:  # moto has its own copy; ours closes, so a stopped server refuses
            self._process = subprocess.Popen(
                command,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                pass_fds=(sock.fileno(),),
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None
        url = f"{self.url()}/"

        def lists_buckets() -> None:
            # ListBuckets: proves the S3 backend answers, not just that a port is open.
            # trust_env=False: loopback traffic must never be sent through a proxy.
            httpx.get(url, timeout=1.0, trust_env=False).raise_for_status()

        wait_ready(
            [process_alive(self._process, "moto server"), lists_buckets],
            timeout=self.startup_timeout,
            what=f"moto S3 on {self.url()}",
            logs=lambda: tail_text(self.logs()),
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and drop its state."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self) -> str:
        """The endpoint URL, e.g. ``http://127.0.0.1:5000``."""
        return f"http://{self.host}:{self.port}"

    def logs(self) -> str:
        """What the server has written so far (stdout and stderr)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def client(self, **kwargs: Any) -> Any:
        """A boto3 S3 client for this server (path-style, SigV4, the dummy keys)."""
        return boto3.client(
            "s3",
            endpoint_url=self.url(),
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            # Path-style: virtual-host names like bucket.127.0.0.1 do not resolve.
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            **kwargs,
        )

    def create_bucket(self, name: str) -> None:
        """Create ``name`` in :data:`REGION` (an existing bucket of ours is fine)."""
        s3 = self.client()
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})

    def reset(self) -> None:
        """Drop every bucket and object, as a fresh server would have none."""
        reset = httpx.post(f"{self.url()}/moto-api/reset", timeout=10.0, trust_env=False)
        reset.raise_for_status()


def main(argv: list[str] | None = None) -> None:
    """Serve moto's S3 with one bucket until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.mocks.s3_server", description="Serve moto's S3 on 127.0.0.1."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    parser.add_argument(
        "--bucket",
        default=Settings.model_fields["s3_bucket"].default,
        help="bucket to create (default: the services' default bucket)",
    )
    args = parser.parse_args(argv)
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sock = None if args.fd is None else socket.socket(fileno=args.fd)
        with MotoS3(args.host, args.port, sock=sock) as s3:
            s3.create_bucket(args.bucket)
            print(f"moto S3 on {s3.url()} with bucket {args.bucket!r}", flush=True)
            stopped.wait()
    except RuntimeError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
