"""``python -m assistant sweep|runs``: read the ledger's runs back (a threshold sweep, the list)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.core.paths import default_ledger


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = sub.add_parser(
        "sweep", help="every threshold's cost, quality and latency from a --both-tiers run"
    )
    sweep.add_argument("--run", required=True, help="id of a run replayed with --both-tiers")
    sweep.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")
    sweep.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sweep.add_argument(
        "--target",
        type=float,
        default=0.95,
        help="share of all-premium quality the recommendation must reach (default 0.95)",
    )

    sweep.add_argument(
        "--scenario",
        help="sweep the run's projected costs under this price scenario (e.g. seed, budget) "
        "instead of the measured ones; quality stays as measured",
    )

    runs = sub.add_parser("runs", help="list the runs in the ledger")
    runs.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")


def run(args: argparse.Namespace) -> int:
    return _sweep(args) if args.command == "sweep" else _runs(args)


def _sweep(args: argparse.Namespace) -> int:
    from assistant.analysis.sweep import format_sweep, sweep
    from assistant.core.errors import ConfigError
    from assistant.ledger import Ledger

    if not 0.0 < args.target <= 1.0:
        raise ConfigError(f"--target must be in (0, 1], not {args.target}")
    with Ledger(Path(args.ledger), read_only=True, wait_s=5.0) as ledger:
        result = sweep(ledger, args.run, scenario=getattr(args, "scenario", None))
    if args.json:
        print(json.dumps(result.to_dict(args.target), indent=2))
    else:
        print(format_sweep(result, target=args.target))
    return 0


def _runs(args: argparse.Namespace) -> int:
    from assistant.ledger import Ledger
    from assistant.ledger.queries import list_runs

    with Ledger(Path(args.ledger), read_only=True, wait_s=5.0) as ledger:
        frame = list_runs(ledger)
    if frame.empty:
        print(f"no runs in {args.ledger} yet: python -m assistant replay datasets/demo")
        return 0
    columns = [
        "run_id",
        "status",
        "dataset_name",
        "threshold",
        "requests",
        "premium_share",
        "total_cost_usd",
        "cost_per_media_hour_usd",
        "p95_latency_ms",
        "mean_quality",
    ]
    import pandas as pd

    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.max_colwidth", 48
    ):
        print(frame[[c for c in columns if c in frame.columns]].to_string(index=False))
    return 0
