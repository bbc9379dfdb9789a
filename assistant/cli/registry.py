"""The ``python -m assistant`` parser and dispatch: every command group registers its own commands.

A group is a module of ``assistant.cli`` with ``add_commands(subparsers)``, which adds its
subcommands, and ``run(args)``, which runs the one chosen and returns the exit code. Groups never
import one another; :data:`GROUPS` (the one list of them) sets the order of ``--help``.
:data:`RENAMED` keeps old command names working: each runs its new command after one line on
stderr saying so, and is left out of ``--help``.

Errors the user can fix are printed as one line (what and how to fix) with exit code 2; there is no
traceback unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType

from assistant.cli import (
    bench,
    eval_perception,
    eval_routing,
    importer,
    judge,
    kb,
    labels,
    ledger,
    otel,
    projection,
    publish,
    replay,
    rooms,
    runs,
)
from assistant.core.errors import WorkbenchError

GROUPS: tuple[ModuleType, ...] = (
    replay,  # replay
    eval_perception,  # eval-sampling, eval-stt
    rooms,  # token, rooms
    publish,  # publish
    kb,  # kb
    judge,  # judge
    eval_routing,  # eval-routing
    bench,  # bench (speed)
    runs,  # sweep, runs
    importer,  # import, questions
    labels,  # labels
    otel,  # export-otel, otel-receive
    projection,  # project, compare-seed
    ledger,  # ledger copy, ledger compact, ledger convert
)

# old name -> new name: ``bench`` is the speed benchmarks; evaluations of quality are ``eval-*``
RENAMED: dict[str, str] = {
    "sample-bench": "eval-sampling",
    "stt-bench": "eval-stt",
    "routing-bench": "eval-routing",
}


def parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """The parser of every command, and which group's ``run`` each command name goes to."""
    top = argparse.ArgumentParser(
        prog="python -m assistant",
        description="Meeting-assistant routing workbench: replay sessions into the DuckDB ledger.",
    )
    top.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = top.add_subparsers(dest="command", required=True)
    dispatch: dict[str, Callable[[argparse.Namespace], int]] = {}
    for group in GROUPS:
        before = set(sub.choices)
        group.add_commands(sub)
        for command in set(sub.choices) - before:
            dispatch[command] = group.run
    sub.metavar = "{" + ",".join(sub.choices) + "}"  # argparse's own list, without the old names
    for old, new in RENAMED.items():  # parsed as the new command, not listed in --help
        sub._name_parser_map[old] = sub._name_parser_map[new]
        dispatch[old] = dispatch[new]
    return top, dispatch


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill` ends a replay like Ctrl-C: flushed, marked interrupted


def main(argv: Sequence[str] | None = None) -> int:
    top, dispatch = parser()
    args = top.parse_args(argv)
    if args.command in RENAMED:
        new = RENAMED[args.command]
        print(f"deprecated: `{args.command}` is now `{new}`; the old name still works", file=sys.stderr)
        args.command = new
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return dispatch[args.command](args)
    except WorkbenchError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: the run is marked 'interrupted'; flushed rows are kept", file=sys.stderr
        )
        return 130
