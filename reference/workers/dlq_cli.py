"""``python -m reference.workers dlq list|show|requeue|purge|reconcile|depth``.

Errors are one line on stderr (``error: ...``) with exit code 1; bad usage exits with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from reference.common.settings import get_settings
from reference.workers.dlq import DeadLetter, DeadLetterQueue, DlqError, matching


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="python -m reference.workers dlq", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

    listing = sub.add_parser("list", help="the messages: id, task, origin, reason, count, args")
    listing.add_argument("--task", help="only this task name")
    listing.add_argument("--limit", type=int, default=1000, help="read at most N (default 1000)")
    listing.add_argument("--json", action="store_true", help="one JSON document")

    show = sub.add_parser("show", help="one message in full (headers, properties)")
    show.add_argument("id")

    for name, helptext in (
        ("requeue", "republish to the original exchange and routing key"),
        ("purge", "delete for good"),
    ):
        command = sub.add_parser(name, help=helptext)
        command.add_argument("ids", nargs="*", metavar="ID")
        command.add_argument("--task", help="every message of this task name")
        command.add_argument("--all", action="store_true", help="every message")

    sub.add_parser("reconcile", help="fail the jobs of dead q.ai messages that never finished")
    sub.add_parser("depth", help="how many messages wait in q.dlq")
    return root


def _row(letter: DeadLetter) -> str:
    args = json.dumps(letter.args, ensure_ascii=False) if letter.args is not None else "-"
    first = letter.first_death.isoformat(timespec="seconds") if letter.first_death else "-"
    origin = f"{letter.queue or '-'}/{letter.routing_key or '-'}"
    return "  ".join(
        [
            str(letter.id),
            str(letter.task),
            origin,
            str(letter.reason),
            str(letter.count),
            first,
            args[:80],
        ]
    )


def _selection(options: argparse.Namespace) -> Any:
    chosen = sum(bool(x) for x in (options.ids, options.task, options.all))
    if chosen != 1:
        raise DlqError(f"{options.command}: give message ids, or --task NAME, or --all (one)")
    if options.all:
        return None if options.command == "purge" else matching()
    return matching(ids=options.ids or None, task=options.task)


def run(argv: list[str]) -> int:
    options = parser().parse_args(argv)
    queue = DeadLetterQueue(get_settings())
    out = sys.stdout
    if options.command == "list":
        letters = queue.list(matching(task=options.task), limit=options.limit)
        if options.json:
            json.dump([x.summary() for x in letters], out, ensure_ascii=False, indent=2)
            out.write("\n")
        else:
            out.write("id  task  queue/routing_key  reason  count  first_death  args\n")
            out.writelines(f"{_row(x)}\n" for x in letters)
            out.write(f"{len(letters)} message(s)\n")
    elif options.command == "show":
        json.dump(queue.show(options.id).detail(), out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif options.command == "requeue":
        done = queue.requeue(_selection(options))
        if options.ids and len(done) < len(set(options.ids)):
            missing = sorted(set(options.ids) - {x.id for x in done})
            out.write(f"requeued {len(done)}\n")
            raise DlqError(f"not in the DLQ: {', '.join(missing)}")
        out.write(f"requeued {len(done)}: {' '.join(str(x.id) for x in done)}\n")
    elif options.command == "purge":
        out.write(f"purged {queue.purge(_selection(options))}\n")
    elif options.command == "reconcile":
        result = queue.reconcile()
        out.write(
            f"examined {result.examined} q.ai message(s): failed {result.failed} job(s), "
            f"{result.already_terminal} already finished, {result.unknown} without a known job\n"
        )
    else:
        out.write(f"{queue.depth()}\n")
    return 0


def main(argv: list[str]) -> int:
    """Run a command; any failure becomes one line on stderr."""
    try:
        return run(argv)
    except DlqError as exc:
        sys.stderr.write(f"error: {exc}\n")
    except Exception as exc:
        detail = " ".join(str(exc).split()) or "no detail"
        sys.stderr.write(f"error: {type(exc).__name__}: {detail} (broker {_safe_broker()})\n")
    return 1


def _safe_broker() -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(get_settings().broker_url)
    return f"{parts.hostname}:{parts.port or 5672}{parts.path or '/'}"
