"""Command line for the routing benchmark: ``python -m assistant routing-bench CSV [CSV ...]``.

``add_commands(subparsers)`` adds the parser; ``run(args)`` runs it and returns the exit code. For
every CSV (RouteLLM's per-prompt columns) it prints one row per router — APGR, CPT(50%), CPT(80%) —
and the random router as mean ± sd over ``--draws`` seeded draws, measured in the same run. The
``learned`` row is held-out: k-fold cross-validation, grouped by conversation. Errors propagate as
``WorkbenchError`` (``DatasetError`` names the file, line and missing column), which the main CLI
prints as one line. Without the main CLI: ``python -m assistant.cli.routing_bench CSV``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from assistant.core.errors import ConfigError, DatasetError, WorkbenchError

COMMAND = "routing-bench"
ROUTER_CHOICES = ("length", "heuristic", "learned", "random")


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = subparsers.add_parser(
        COMMAND,
        help="measure routers on per-prompt weak/strong results (RouteLLM's APGR and CPT)",
        description="Rank each CSV's prompts by every router's score and report APGR, CPT(50%%) "
        "and CPT(80%%); the random router is the mean ± sd of --draws seeded draws.",
    )
    _arguments(bench)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "csv", nargs="+", help="per-prompt CSV, e.g. datasets/routellm/routellm_gsm8k.csv"
    )
    parser.add_argument(
        "--router",
        choices=ROUTER_CHOICES,
        action="append",
        help="router to measure (repeatable; default: all). The random baseline is always shown.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--draws", type=int, default=200, help="random-router draws (default %(default)s)"
    )
    parser.add_argument("--folds", type=int, default=5, help="CV folds for learned (default 5)")
    parser.add_argument(
        "--cv-repeats",
        type=int,
        default=5,
        help="learned: repeat the k-fold split with this many seeds and report the mean ± sd "
        "(default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for draws and folds (default 0)")
    parser.add_argument(
        "--save-weights",
        metavar="FILE",
        help="also train the learned router on all rows of the CSVs and save its weights as JSON",
    )


def run(args: argparse.Namespace) -> int:
    from assistant.analysis.benchmark import bench_scores, evaluate, load_suite, random_baseline

    for option, value, least in (
        ("--draws", args.draws, 2),
        ("--folds", args.folds, 2),
        ("--cv-repeats", args.cv_repeats, 1),
    ):
        if value < least:
            raise ConfigError(f"{option} must be at least {least}, got {value}")
    names = [n for n in ROUTER_CHOICES if n in (args.router or ROUTER_CHOICES) and n != "random"]
    suites = [load_suite(path) for path in args.csv]
    report: list[dict[str, Any]] = []
    for suite in suites:
        routers: dict[str, Any] = {}
        try:
            for name in names:
                if name == "learned":
                    routers[name] = _learned(
                        suite, folds=args.folds, seed=args.seed, repeats=args.cv_repeats
                    )
                    continue
                scores = bench_scores(name, suite, folds=args.folds, seed=args.seed)
                routers[name] = _metrics(evaluate(scores, suite.weak, suite.strong))
            base = random_baseline(suite.weak, suite.strong, draws=args.draws, seed=args.seed)
        except ValueError as exc:  # e.g. the strong model is not better: no gap to recover
            raise DatasetError(suite.path, str(exc), "Check the CSV and the options") from exc
        routers["random"] = {
            "mean": _metrics(base.mean),
            "sd": _metrics(base.sd),
            "draws": base.draws,
        }
        report.append(
            {
                "suite": suite.name,
                "path": suite.path,
                "items": len(suite),
                "weak_mean": round(float(suite.weak.mean()), 4),
                "strong_mean": round(float(suite.strong.mean()), 4),
                "routers": routers,
            }
        )
    saved = _save_weights(args.save_weights, suites) if args.save_weights else None
    if args.json:
        out: dict[str, Any] = {"suites": report}
        if saved:
            out["saved_weights"] = saved
        print(json.dumps(out, indent=2))
    else:
        print(format_report(report))
        if saved:
            print(
                f"learned-router weights (trained on all {saved['rows']} rows) saved to {saved['path']}"
            )
    return 0


def _learned(suite: Any, *, folds: int, seed: int, repeats: int) -> dict[str, Any]:
    """Held-out metrics of the learned router: mean (and sd) over ``repeats`` k-fold splits."""
    from assistant.analysis.benchmark import bench_scores, evaluate

    rows = [
        evaluate(
            bench_scores("learned", suite, folds=folds, seed=seed + r), suite.weak, suite.strong
        )
        for r in range(max(repeats, 1))
    ]
    out: dict[str, Any] = {
        key: round(sum(getattr(m, key) for m in rows) / len(rows), 4)
        for key in ("apgr", "cpt50", "cpt80")
    }
    if len(rows) > 1:
        out["sd"] = {
            key: round(statistics.stdev(getattr(m, key) for m in rows), 4)
            for key in ("apgr", "cpt50", "cpt80")
        }
    out["held_out"] = f"{folds}-fold CV" + (
        f", mean of {len(rows)} splits" if len(rows) > 1 else ""
    )
    return out


def _metrics(m: Any) -> dict[str, float]:
    return {"apgr": round(m.apgr, 4), "cpt50": round(m.cpt50, 4), "cpt80": round(m.cpt80, 4)}


def _save_weights(path: str, suites: Sequence[Any]) -> dict[str, Any]:
    from assistant.routing.learned import suite_features, train_logistic

    features: list[dict[str, float]] = []
    outcomes: list[tuple[float, float]] = []
    for suite in suites:
        features += suite_features(suite.prompts)
        outcomes += list(zip(suite.weak.tolist(), suite.strong.tolist(), strict=True))
    model = train_logistic(features, outcomes)
    try:
        model.save(path)
    except OSError as exc:
        raise WorkbenchError(f"{path}: cannot write the weights ({exc.strerror})") from exc
    return {"path": path, "rows": len(features)}


def format_report(report: Sequence[dict[str, Any]]) -> str:
    lines: list[str] = []
    for entry in report:
        lines.append(
            f"{entry['suite']}: {entry['items']} prompts, weak mean {entry['weak_mean']:.3f}, "
            f"strong mean {entry['strong_mean']:.3f} ({entry['path']})"
        )
        lines.append(f"  {'router':<12}{'APGR':>16}{'CPT50':>18}{'CPT80':>18}")
        for name, m in entry["routers"].items():
            if name == "random":
                mean, sd = m["mean"], m["sd"]
                cells = [
                    f"{mean['apgr']:.3f} ± {sd['apgr']:.3f}",
                    f"{mean['cpt50']:.1%} ± {sd['cpt50']:.1%}",
                    f"{mean['cpt80']:.1%} ± {sd['cpt80']:.1%}",
                ]
                label = f"random ×{m['draws']}"
            elif "sd" in m:
                sd = m["sd"]
                cells = [
                    f"{m['apgr']:.3f} ± {sd['apgr']:.3f}",
                    f"{m['cpt50']:.1%} ± {sd['cpt50']:.1%}",
                    f"{m['cpt80']:.1%} ± {sd['cpt80']:.1%}",
                ]
                label = f"{name}*"
            else:
                cells = [f"{m['apgr']:.3f}", f"{m['cpt50']:.1%}", f"{m['cpt80']:.1%}"]
                label = f"{name}*" if "held_out" in m else name
            lines.append(f"  {label:<12}{cells[0]:>16}{cells[1]:>18}{cells[2]:>18}")
        if any("held_out" in m for m in entry["routers"].values()):
            held = next(m["held_out"] for m in entry["routers"].values() if "held_out" in m)
            lines.append(f"  * held-out scores ({held}, grouped by conversation)")
        lines.append("")
    lines.append(
        "APGR: area under the quality curve, as the share of the weak→strong gap (random 0.5). "
        "CPTx: smallest share of strong calls recovering x of the gap."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m assistant {COMMAND}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    _arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except WorkbenchError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
