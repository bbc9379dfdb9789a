"""``python -m assistant sweep|calibrate|runs``: read the ledger's runs back (a threshold sweep or
the two-threshold grid, thresholds calibrated to a budget or a premium share, the list)."""

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
        "--grid",
        action="store_true",
        help="sweep (vision threshold, LLM threshold) pairs every 0.05: the Pareto pairs and the "
        "recommended one (needs a --both-tiers run with the four combinations)",
    )
    sweep.add_argument(
        "--budget-usd-per-hour",
        type=float,
        metavar="USD",
        help="with --grid: also the best-quality pair within this cost per media hour",
    )

    calibrate = sub.add_parser(
        "calibrate",
        help="thresholds for a budget in USD per media hour (or a premium share), from a run",
    )
    calibrate.add_argument(
        "--run", required=True, help="a --both-tiers run (exact) or one logged with exploration"
    )
    calibrate.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")
    calibrate.add_argument(
        "--budget-usd-per-hour",
        type=float,
        metavar="USD",
        help="the tenant's budget per meeting (media) hour: the best-quality pair within it",
    )
    calibrate.add_argument(
        "--premium-share",
        type=float,
        metavar="SHARE",
        help="instead: the thresholds that send this share of each decision to premium",
    )
    calibrate.add_argument(
        "--from",
        dest="method",
        choices=("auto", "exact", "ipw"),
        default="auto",
        help="exact: the run's both-tier outcomes; ipw: its explored traffic; auto: exact when "
        "it has tier outcomes (default)",
    )
    calibrate.add_argument("--tenant", help="the tenant the budget is for (default: the run's)")
    calibrate.add_argument("--json", action="store_true", help="print JSON")

    sweep.add_argument(
        "--scenario",
        help="sweep the run's projected costs under this price scenario (e.g. seed, budget) "
        "instead of the measured ones; quality stays as measured",
    )

    runs = sub.add_parser("runs", help="list the runs in the ledger")
    runs.add_argument("--ledger", default=default_ledger(), help="DuckDB ledger file")


def run(args: argparse.Namespace) -> int:
    if args.command == "calibrate":
        return _calibrate(args)
    return _sweep(args) if args.command == "sweep" else _runs(args)


def _sweep(args: argparse.Namespace) -> int:
    from assistant.analysis.sweep import format_sweep, sweep
    from assistant.core.errors import ConfigError
    from assistant.ledger import Ledger

    if not 0.0 < args.target <= 1.0:
        raise ConfigError(f"--target must be in (0, 1], not {args.target}")
    if args.budget_usd_per_hour is not None and not args.grid:
        raise ConfigError("--budget-usd-per-hour goes with --grid (or use `calibrate`)")
    if args.grid:
        from assistant.analysis.grid import format_grid, grid_sweep

        _check_budget(args.budget_usd_per_hour)
        with Ledger(Path(args.ledger), read_only=True, wait_s=5.0) as ledger:
            grid = grid_sweep(ledger, args.run)
        if args.json:
            print(json.dumps(grid.to_dict(args.target), indent=2))
        else:
            print(format_grid(grid, target=args.target, budget=args.budget_usd_per_hour))
        return 0
    with Ledger(Path(args.ledger), read_only=True, wait_s=5.0) as ledger:
        result = sweep(ledger, args.run, scenario=getattr(args, "scenario", None))
    if args.json:
        print(json.dumps(result.to_dict(args.target), indent=2))
    else:
        print(format_sweep(result, target=args.target))
    return 0


def _check_budget(budget: float | None) -> None:
    from assistant.core.errors import ConfigError

    if budget is not None and not (budget >= 0 and budget < float("inf")):
        raise ConfigError(f"--budget-usd-per-hour must be a number >= 0, not {budget}")


def _calibrate(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from assistant.analysis.budget import calibrate_budget, premium_share_thresholds
    from assistant.core.errors import ConfigError
    from assistant.ledger import Ledger
    from assistant.ledger.queries import run_requests

    if (args.budget_usd_per_hour is None) == (args.premium_share is None):
        raise ConfigError(
            "give --budget-usd-per-hour USD (the best pair within a budget) or --premium-share "
            "SHARE (thresholds for a share of premium requests), one of the two"
        )
    _check_budget(args.budget_usd_per_hour)
    with Ledger(Path(args.ledger), read_only=True, wait_s=5.0) as ledger:
        if args.premium_share is not None:
            if not 0.0 <= args.premium_share <= 1.0:
                raise ConfigError(f"--premium-share must be in [0, 1], not {args.premium_share}")
            requests = run_requests(ledger, args.run)
            if requests.empty:
                raise ConfigError(f"run {args.run} has no requests in {args.ledger}")
            vision, llm = premium_share_thresholds(requests, args.premium_share)
            if args.json:
                print(json.dumps({"vision_threshold": vision, "threshold": llm}))
            else:
                print(
                    f"{args.premium_share:.0%} premium on run {args.run}'s "
                    f"{len(requests)} requests:\n[routing]\nthreshold = {llm:g}\n"
                    f"vision_threshold = {vision:g}"
                )
            return 0
        choice = calibrate_budget(
            ledger, args.run, args.budget_usd_per_hour, method=args.method, tenant=args.tenant
        )
    if args.json:
        print(json.dumps(asdict(choice) | {"toml": choice.toml()}, indent=2))
    else:
        print(choice.sentence)
        if choice.toml():
            print(choice.toml())
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
