"""What the fakes' command lines share: a JSON config file with flags on top, validated by the
fake's own pydantic model (the flags are named after the model's fields)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def add_config_argument(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    parser.add_argument(
        "--config", type=Path, help=f"JSON file with a {model.__name__}; flags override it"
    )


def config_from_args(args: argparse.Namespace, model: type[M], what: str) -> M:
    """The config file (if any) with the flags given on top; ``ValueError`` explains a bad one."""
    data: dict[str, Any] = {}
    path: Path | None = getattr(args, "config", None)
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read config file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"config file {path} must hold a JSON object")
    flags = vars(args)
    data |= {name: flags[name] for name in model.model_fields if flags.get(name) is not None}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"invalid {what} config:\n{exc}") from None


def serve(
    parser: argparse.ArgumentParser,
    model: type[M],
    what: str,
    create_app: Callable[[M], Any],
    argv: list[str] | None = None,
) -> None:
    """Parse the command line, build the config (a bad one is a usage error), serve until
    interrupted: the ``main`` of every fake. ``--fd N`` serves on a listening socket the parent
    made and passed down (a local stack's: harness.stack.processes.listening_socket) instead of
    binding ``--host``/``--port``."""
    import socket

    import uvicorn

    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args, model, what)
    except ValueError as exc:
        parser.error(str(exc))
    app = create_app(config)
    if args.fd is None:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        return
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level))
    server.run(sockets=[socket.socket(fileno=args.fd)])
