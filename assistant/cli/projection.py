"""``python -m assistant project|compare-seed``: what a run's traffic would cost on cloud models.

``project`` prices a recorded run's stored inputs under named price scenarios (apart from its
measured costs); ``compare-seed`` replays one dataset under the seed design, the workbench's
default, all-cheap and all-premium, and prints projected cost per meeting-hour by stage, premium
share and measured quality side by side, with the goal's verdict.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assistant.cli import terminal
from assistant.core.money import format_usd
from assistant.core.paths import default_ledger


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    project = sub.add_parser(
        "project", help="price a recorded run's traffic under cloud price scenarios"
    )
    project.add_argument("--run", required=True, help="id of a recorded run")
    project.add_argument(
        "--scenario",
        action="append",
        help="price scenario (repeat for several; default: every known one), e.g. seed, budget",
    )
    project.add_argument("--scenarios", metavar="FILE", help="TOML file with more scenarios")
    project.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")

    compare = sub.add_parser(
        "compare-seed",
        help="replay a dataset as the seed design, the default, all-cheap and all-premium, "
        "and compare projected cost per meeting-hour and measured quality",
    )
    compare.add_argument("dataset", nargs="?", default="datasets/demo", help="dataset folder")
    compare.add_argument(
        "--ledger",
        default="seed-compare.duckdb",
        help="ledger for the four runs (default: %(default)s)",
    )
    compare.add_argument(
        "--scenario",
        action="append",
        help="price scenarios to compare under (default: seed and budget)",
    )
    compare.add_argument(
        "--stt",
        default="recorded",
        help="transcription for the replays (default: recorded, the ground truth: fast; the "
        "billed audio is the voice gate's either way)",
    )
    compare.add_argument("--run-prefix", help="run ids are PREFIX-seed, PREFIX-default, ...")
    compare.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    return _project(args) if args.command == "project" else _compare(args)


def _project(args: argparse.Namespace) -> int:
    from assistant.analysis.projection import projected_run
    from assistant.ledger import Ledger
    from assistant.pricing.projection import load_scenarios, pick_scenarios
    from assistant.sessions.projection import project_run

    names = args.scenario or sorted(load_scenarios(args.scenarios))
    scenarios = pick_scenarios(names, args.scenarios)
    with Ledger(Path(args.ledger), wait_s=5.0) as ledger:
        written = project_run(ledger, args.run, scenarios)
        for scenario in scenarios:
            p = projected_run(ledger, args.run, scenario.name)
            stages = ", ".join(f"{s} {format_usd(p.stage_cost_usd[s])}" for s in ("stt", "vision", "llm"))
            per_hour = p.per_hour()
            hour = format_usd(per_hour)
            print(
                f"run {args.run} under {scenario.name}: {written[scenario.name]} rows; "
                f"projected {format_usd(p.total_cost_usd)} ({stages}); {hour} per media hour; "
                f"{p.exact_share:.0%} of input tokens counted by a vendor tokenizer"
            )
    return 0


def _compare(args: argparse.Namespace) -> int:
    from assistant.analysis.seed_compare import compare_seed, format_comparison

    bars: dict[str, object] = {}

    def progress(name: str, media_s: float, duration_s: float) -> None:
        if args.quiet:
            return
        if name not in bars:
            for other in list(bars):
                terminal.close(bars.pop(other))
            bars[name] = terminal.bar(duration_s, name, quiet=False)
        bar = bars[name]
        if callable(bar):
            bar(media_s)

    try:
        result = compare_seed(
            args.dataset,
            ledger_path=args.ledger,
            scenarios=args.scenario or ("seed", "budget"),
            stt=args.stt,
            run_prefix=args.run_prefix,
            say=(lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr)),
            progress=progress,
        )
    finally:
        for bar in bars.values():
            terminal.close(bar)
    print(format_comparison(result))
    return 0
