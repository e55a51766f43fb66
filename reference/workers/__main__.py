"""Run a worker of the topology by name: ``python -m reference.workers run ai``.

The pool, concurrency, prefetch and queues come from ``reference.common.topology.WORKERS``, so
local stacks, tests and Kubernetes manifests start the same worker. gevent must patch the
process before anything imports sockets, hence the imports inside ``main``.
"""

from __future__ import annotations

import os
import sys


def _usage() -> str:
    return (
        "usage: python -m reference.workers run {ai|batch|api} [extra celery args] | beat "
        "[extra celery args] | dlq {list|show|requeue|purge|reconcile|depth} ..."
    )


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("run", "beat", "dlq"):
        raise SystemExit(_usage())
    if args[0] == "dlq":
        from reference.workers.dlq_cli import main as dlq_main

        raise SystemExit(dlq_main(args[1:]))
    if args[0] == "run":
        if len(args) < 2:
            raise SystemExit(_usage())
        from reference.common.topology import worker

        try:
            spec = worker(args[1])
        except KeyError as exc:
            raise SystemExit(f"error: {exc.args[0]}") from None
        celery_args = [
            "worker",
            f"--hostname={spec.name}@%h",
            f"--queues={','.join(spec.queues)}",
            f"--pool={spec.pool}",
            f"--concurrency={spec.concurrency}",
            f"--prefetch-multiplier={spec.prefetch_multiplier}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            *args[2:],
        ]
        if spec.pool == "gevent":
            from gevent import monkey

            monkey.patch_all()
            # httpcore (under the openai SDK) imports trio when it is installed, and trio fails
            # on gevent's patched `select` (no epoll). trio cannot run in a gevent pool anyway.
            sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    else:
        celery_args = ["beat", "--loglevel=INFO", *args[1:]]

    from reference.common.settings import get_settings

    settings = get_settings()
    port, port_file = settings.worker_metrics_port, settings.worker_metrics_port_file
    metrics = bool(port or port_file)
    if metrics and args[0] == "run" and spec.pool == "prefork":
        # Prefork children count their tasks in their own memory, out of the listener's
        # reach: prometheus_client's multiprocess mode shares them through files. It must be
        # chosen before prometheus_client is first imported (the children inherit it).
        import atexit
        import shutil
        import tempfile

        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            directory = tempfile.mkdtemp(prefix=f"wastecoach-{spec.name}-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
            parent = os.getpid()
            # Children inherit atexit handlers: only the worker's main process removes it.
            atexit.register(
                lambda: os.getpid() == parent and shutil.rmtree(directory, ignore_errors=True)
            )

    from reference.workers.app import app

    if metrics:
        from prometheus_client import REGISTRY, CollectorRegistry

        from reference.common.telemetry import serve_metrics

        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        # Liveness probes hit this listener, never `celery inspect ping`, which needs the pool
        # to be idle and killed workers busy on slow model calls in production.
        serve_metrics(port, registry=registry, port_file=port_file)
        if args[0] == "run":
            from reference.workers.metrics import install_sampler

            install_sampler()  # queue depths and the DLQ gauge, once the worker is ready
    app.start(celery_args)


if __name__ == "__main__":
    main()
