"""``python -m assistant bench [--quick] [--json PATH] [--only SECTION,...]``: every speed claim
of the workbench, each measured beside a baseline in the same run (``assistant.benchmarks``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.benchmarks.sections import SECTIONS


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser(
        "bench", help="every speed figure beside its baseline (sampler, replay, ledger, live)"
    )
    bench.add_argument("--quick", action="store_true", help="small sizes: a smoke run for CI")
    bench.add_argument("--json", metavar="PATH", help="also write every figure and the machine")
    bench.add_argument(
        "--only",
        metavar="SECTIONS",
        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})",
    )


def run(args: argparse.Namespace) -> int:
    from assistant.benchmarks.harness import format_bench
    from assistant.benchmarks.sections import run_bench
    from assistant.core.errors import ConfigError

    sections = SECTIONS
    if args.only:
        sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
        unknown = [s for s in sections if s not in SECTIONS]
        if unknown:
            raise ConfigError(f"unknown bench section {unknown[0]!r}; known: {', '.join(SECTIONS)}")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = run_bench(quick=args.quick, sections=sections, say=say)
    print(format_bench(result))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return 0
