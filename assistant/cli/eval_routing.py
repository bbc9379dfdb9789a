"""Command line for the routing evaluation: ``python -m assistant eval-routing CSV [CSV ...]``
(formerly ``routing-bench``, which still works: ``cli.registry.RENAMED``).

``add_commands(subparsers)`` adds the parser; ``run(args)`` runs it and returns the exit code. Two
protocols, each router beside random routing (mean ± sd over ``--draws`` seeded draws) measured in
the same run:

* **in-suite**: every CSV on its own; ``learned`` and ``text`` are held out by k-fold CV inside the
  suite, grouped by conversation (mean ± sd over ``--cv-repeats`` splits).
* **cross-suite**: fit on some suites, report on a suite left out: ``--train A,B --test C`` (suite
  names or CSV paths), or leave-one-suite-out over all given CSVs (``--loso``). ``heuristic`` is
  marked in-sample on the suites its hand weights were chosen on.

With two or more CSVs and no option both protocols are printed. ``--save-weights FILE`` trains the
text router on all rows (of the ``--train`` suites, if given) for ``$WORKBENCH_TEXT_WEIGHTS``.
Errors propagate as ``WorkbenchError``, which the main CLI prints as one line. Without the main
CLI: ``python -m assistant.cli.eval_routing CSV``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.core.errors import ConfigError, DatasetError, WorkbenchError

COMMAND = "eval-routing"
PROTOCOLS = ("in-suite", "cross-suite", "both")


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = subparsers.add_parser(
        COMMAND,
        help="measure routers on per-prompt weak/strong results (RouteLLM's APGR and CPT), "
        "in-suite and on held-out suites",
        description="Rank each CSV's prompts by every router's score and report APGR, CPT(50%%) "
        "and CPT(80%%), in-suite (k-fold CV for fitted routers) and cross-suite (fitted on "
        "other suites only); the random router is the mean ± sd of --draws seeded draws.",
    )
    _arguments(bench)


def _arguments(parser: argparse.ArgumentParser) -> None:
    from assistant.routing.registry import benchmark_routers

    parser.add_argument(
        "csv", nargs="*", help="per-prompt CSV, e.g. datasets/routellm/routellm_gsm8k.csv"
    )
    parser.add_argument(
        "--router",
        choices=benchmark_routers(),
        action="append",
        help="router to measure (repeatable; default: all). The random baseline is always shown.",
    )
    parser.add_argument(
        "--train", metavar="A,B", help="cross-suite: fit on these suites (names or CSV paths)"
    )
    parser.add_argument(
        "--test", metavar="C", help="cross-suite: report on these suites (names or CSV paths)"
    )
    parser.add_argument(
        "--loso",
        action="store_true",
        help="cross-suite only: leave each given CSV out in turn, fitting on the others",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        help="what to print (default: both with two or more suites, in-suite with one; "
        "cross-suite with --train/--test or --loso)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--draws", type=int, default=200, help="random-router draws (default %(default)s)"
    )
    parser.add_argument("--folds", type=int, default=5, help="in-suite CV folds (default 5)")
    parser.add_argument(
        "--cv-repeats",
        type=int,
        default=3,
        help="in-suite learned/text: repeat the k-fold split with this many seeds and report the "
        "mean ± sd (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for draws and folds (default 0)")
    parser.add_argument(
        "--text-alpha",
        metavar="A[,B...]",
        help="text router: ridge penalties to choose from by inner CV on the training rows "
        "(default 3; with several, chosen by inner CV)",
    )
    parser.add_argument(
        "--text-length-weight",
        metavar="W[,V...]",
        help="text router: weights of the log-length column to choose from (0: no length; default 1)",
    )
    parser.add_argument(
        "--save-weights",
        metavar="FILE",
        help="also train the text router on all rows of the CSVs (the --train suites, if given) "
        'and save it as JSON, for WORKBENCH_TEXT_WEIGHTS with [routing] scorer = "text"',
    )
    parser.add_argument(
        "--save-learned-weights",
        metavar="FILE",
        help="the same for the logistic learned router (WORKBENCH_LEARNED_WEIGHTS)",
    )


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def resolve_suites(tokens: Sequence[str], loaded: Sequence[Any]) -> list[Any]:
    """Suites named by ``tokens``: a CSV path, or the name (or file stem) of a given CSV, or of a
    CSV in datasets/routellm (``gsm8k`` → ``routellm_gsm8k.csv``)."""
    from assistant.analysis.routing_eval import benchmark_csvs, load_suite

    out = []
    for token in tokens:
        if Path(token).is_file():
            path = Path(token).resolve()
            out.append(next((s for s in loaded if Path(s.path).resolve() == path), None))
            out[-1] = out[-1] or load_suite(token)
            continue
        match = [s for s in loaded if token in (s.name, Path(s.path).stem)]
        if not match:
            shipped = [
                p for p in benchmark_csvs() if token in (p.stem, p.stem.removeprefix("routellm_"))
            ]
            match = [load_suite(p) for p in shipped[:1]]
        if not match:
            shipped_names = {p.stem.removeprefix("routellm_") for p in benchmark_csvs()}
            known = sorted({s.name for s in loaded} | shipped_names)
            raise DatasetError(
                token,
                "is neither a CSV file nor the name of a given suite",
                f"Pass a path or one of: {', '.join(known) or 'none'}",
            )
        out.append(match[0])
    return out


def _floats(option: str, value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in _split(value))
    except ValueError:
        raise ConfigError(f"{option} takes numbers separated by commas, got {value!r}") from None
    if not out or any(v < 0 for v in out):
        raise ConfigError(f"{option} needs one or more numbers >= 0, got {value!r}")
    return out


def text_design(args: argparse.Namespace) -> dict[str, tuple[float, ...]]:
    """The text router's hyperparameter grid from --text-alpha / --text-length-weight."""
    design = {}
    alphas = _floats("--text-alpha", getattr(args, "text_alpha", None))
    weights = _floats("--text-length-weight", getattr(args, "text_length_weight", None))
    if alphas:
        if any(a <= 0 for a in alphas):
            raise ConfigError("--text-alpha values must be > 0")
        design["alphas"] = alphas
    if weights:
        design["length_weights"] = weights
    return design


def run(args: argparse.Namespace) -> int:
    from assistant.analysis.routing_eval import load_suite

    for option, value, least in (
        ("--draws", args.draws, 2),
        ("--folds", args.folds, 2),
        ("--cv-repeats", args.cv_repeats, 1),
    ):
        if value < least:
            raise ConfigError(f"{option} must be at least {least}, got {value}")
    if bool(args.train) != bool(args.test):
        raise ConfigError("--train and --test go together: e.g. --train gsm8k --test mtbench")
    if args.loso and args.train:
        raise ConfigError("--loso holds out each given CSV in turn; drop --train/--test")
    from assistant.routing.registry import RANDOM, benchmark_routers

    choices = benchmark_routers()
    names = [n for n in choices if n in (args.router or choices) and n != RANDOM]
    design = text_design(args)
    loaded = [load_suite(path) for path in args.csv]
    train = resolve_suites(_split(args.train), loaded)
    test = resolve_suites(_split(args.test), [*loaded, *train])
    involved = loaded or [*train, *test]
    if not involved:
        raise ConfigError("give at least one CSV, e.g. datasets/routellm/routellm_gsm8k.csv")
    protocol = args.protocol or (
        "cross-suite" if (args.train or args.loso) else "both" if len(loaded) >= 2 else "in-suite"
    )
    out: dict[str, Any] = {}
    if protocol in ("in-suite", "both"):
        out["suites"] = [_in_suite(s, names, args, design) for s in involved]
    if protocol in ("cross-suite", "both"):
        out["cross_suite"] = _cross(loaded, train, test, names, args, design)
    if args.save_weights:
        out["saved_weights"] = _save_text(
            args.save_weights, train or loaded, seed=args.seed, design=design
        )
    if args.save_learned_weights:
        out["saved_learned_weights"] = _save_learned(args.save_learned_weights, train or loaded)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if "suites" in out:
        print("In-suite: every suite on its own (fitted routers held out by k-fold CV)\n")
        print(format_report(out["suites"]))
    if "cross_suite" in out:
        print(("\n" if "suites" in out else "") + "Cross-suite: fitted on other suites only\n")
        print(format_cross(out["cross_suite"]))
    for key, what in (("saved_weights", "text"), ("saved_learned_weights", "learned")):
        if key in out:
            saved = out[key]
            print(
                f"{what}-router weights (trained on all {saved['rows']} rows of "
                f"{', '.join(saved['suites'])}) saved to {saved['path']}"
            )
    return 0


def _cross(
    loaded: Sequence[Any],
    train: Sequence[Any],
    test: Sequence[Any],
    names: Sequence[str],
    args: argparse.Namespace,
    design: dict[str, Any],
) -> list[dict[str, Any]]:
    from assistant.analysis.cross_suite import cross_suite, leave_one_suite_out

    try:
        if train:
            return [
                cross_suite(train, t, routers=names, draws=args.draws, seed=args.seed, **design)
                for t in test
            ]
        if len(loaded) < 2:
            raise ConfigError("the cross-suite protocol needs two or more CSVs (or --train/--test)")
        return leave_one_suite_out(
            loaded, routers=names, draws=args.draws, seed=args.seed, **design
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _in_suite(
    suite: Any, names: Sequence[str], args: argparse.Namespace, design: dict[str, Any]
) -> dict[str, Any]:
    from assistant.analysis.routing_eval import bench_scores, evaluate, random_baseline
    from assistant.routing.registry import RANDOM, scorer_spec

    routers: dict[str, Any] = {}
    try:
        for name in names:
            spec = scorer_spec(name)
            if spec.fitted:
                routers[name] = _held_out(
                    name,
                    suite,
                    folds=args.folds,
                    seed=args.seed,
                    repeats=args.cv_repeats,
                    design=design,
                )
                continue
            scores = bench_scores(name, suite, folds=args.folds, seed=args.seed)
            routers[name] = _metrics(evaluate(scores, suite.weak, suite.strong))
            if spec.tuned_on:
                routers[name]["in_sample"] = suite.name in spec.tuned_on
        base = random_baseline(suite.weak, suite.strong, draws=args.draws, seed=args.seed)
    except ValueError as exc:  # e.g. the strong model is not better: no gap to recover
        raise DatasetError(suite.path, str(exc), "Check the CSV and the options") from exc
    routers[RANDOM] = {"mean": _metrics(base.mean), "sd": _metrics(base.sd), "draws": base.draws}
    return {
        "suite": suite.name,
        "path": suite.path,
        "items": len(suite),
        "weak_mean": round(float(suite.weak.mean()), 4),
        "strong_mean": round(float(suite.strong.mean()), 4),
        "routers": routers,
    }


def _held_out(
    name: str, suite: Any, *, folds: int, seed: int, repeats: int, design: dict[str, Any]
) -> dict[str, Any]:
    """Held-out metrics of a fitted router: mean (and sd) over ``repeats`` k-fold splits."""
    from assistant.analysis.routing_eval import bench_scores, evaluate

    rows = [
        evaluate(
            bench_scores(name, suite, folds=folds, seed=seed + r, **design),
            suite.weak,
            suite.strong,
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


def _metrics(m: Any) -> dict[str, Any]:
    return {"apgr": round(m.apgr, 4), "cpt50": round(m.cpt50, 4), "cpt80": round(m.cpt80, 4)}


def _pool(suites: Sequence[Any]) -> tuple[list[str], list[float], list[float], list[str]]:
    prompts: list[str] = []
    weak: list[float] = []
    strong: list[float] = []
    groups: list[str] = []
    for suite in suites:
        prompts += suite.prompts
        weak += suite.weak.tolist()
        strong += suite.strong.tolist()
        groups += [f"{suite.name}/{g}" for g in suite.groups]
    return prompts, weak, strong, groups


def _write(model: Any, path: str) -> None:
    try:
        model.save(path)
    except OSError as exc:
        raise WorkbenchError(f"{path}: cannot write the weights ({exc.strerror})") from exc


def _save_text(
    path: str, suites: Sequence[Any], *, seed: int, design: dict[str, Any]
) -> dict[str, Any]:
    from assistant.routing.text import train_text

    prompts, weak, strong, groups = _pool(suites)
    model = train_text(
        prompts,
        weak,
        strong,
        groups=groups,
        seed=seed,
        trained_on=[s.name for s in suites],
        **design,
    )
    _write(model, path)
    return {
        "path": path,
        "rows": len(prompts),
        "suites": [s.name for s in suites],
        "alpha": model.alpha,
        "length_weight": model.length_weight,
    }


def _save_learned(path: str, suites: Sequence[Any]) -> dict[str, Any]:
    from assistant.routing.learned import suite_features, train_logistic

    prompts, weak, strong, _ = _pool(suites)
    model = train_logistic(suite_features(prompts), list(zip(weak, strong, strict=True)))
    _write(model, path)
    return {"path": path, "rows": len(prompts), "suites": [s.name for s in suites]}


def _cells(m: dict[str, Any]) -> list[str]:
    if "sd" in m and "mean" not in m:
        sd = m["sd"]
        return [
            f"{m['apgr']:.3f} ± {sd['apgr']:.3f}",
            f"{m['cpt50']:.1%} ± {sd['cpt50']:.1%}",
            f"{m['cpt80']:.1%} ± {sd['cpt80']:.1%}",
        ]
    return [f"{m['apgr']:.3f}", f"{m['cpt50']:.1%}", f"{m['cpt80']:.1%}"]


def _router_lines(routers: dict[str, Any]) -> list[str]:
    lines = [f"  {'router':<12}{'APGR':>16}{'CPT50':>18}{'CPT80':>18}"]
    for name, m in routers.items():
        if "mean" in m:  # the random baseline: mean ± sd of seeded draws
            mean, sd = m["mean"], m["sd"]
            cells = [
                f"{mean['apgr']:.3f} ± {sd['apgr']:.3f}",
                f"{mean['cpt50']:.1%} ± {sd['cpt50']:.1%}",
                f"{mean['cpt80']:.1%} ± {sd['cpt80']:.1%}",
            ]
            label = f"{name} ×{m['draws']}"
        else:
            cells = _cells(m)
            label = name + ("*" if "held_out" in m else "") + ("†" if m.get("in_sample") else "")
        lines.append(f"  {label:<12}{cells[0]:>16}{cells[1]:>18}{cells[2]:>18}")
    return lines


_TUNED = "  † in-sample: the heuristic's hand weights were chosen with gsm8k and mtbench in view"
_LEGEND = (
    "APGR: area under the quality curve, as the share of the weak→strong gap (random 0.5). "
    "CPTx: smallest share of strong calls recovering x of the gap."
)


def format_report(report: Sequence[dict[str, Any]]) -> str:
    lines: list[str] = []
    for entry in report:
        lines.append(
            f"{entry['suite']}: {entry['items']} prompts, weak mean {entry['weak_mean']:.3f}, "
            f"strong mean {entry['strong_mean']:.3f} ({entry['path']})"
        )
        lines += _router_lines(entry["routers"])
        if any("held_out" in m for m in entry["routers"].values()):
            held = next(m["held_out"] for m in entry["routers"].values() if "held_out" in m)
            lines.append(f"  * held-out scores ({held}, grouped by conversation)")
        if any(m.get("in_sample") for m in entry["routers"].values()):
            lines.append(_TUNED)
        lines.append("")
    lines.append(_LEGEND)
    return "\n".join(lines)


def format_cross(report: Sequence[dict[str, Any]]) -> str:
    from assistant.routing.registry import BASELINE_SCORER, TARGET_SCORER, fitted_scorers

    lines: list[str] = []
    fitted = " and ".join(fitted_scorers())
    for entry in report:
        dropped = entry["dropped_duplicates"]
        lines.append(
            f"{entry['suite']} held out: {entry['items']} prompts, weak mean "
            f"{entry['weak_mean']:.3f}, strong mean {entry['strong_mean']:.3f}; {fitted} "
            f"fitted on {', '.join(entry['trained_on'])} ({entry['training_rows']} rows"
            + (f", {dropped} duplicates of test prompts dropped" if dropped else "")
            + ")"
        )
        lines += _router_lines(entry["routers"])
        if any(m.get("in_sample") for m in entry["routers"].values()):
            lines.append(_TUNED)
        t = entry.get("targets") or {}
        if t:
            verdict = [
                f"{TARGET_SCORER} − {BASELINE_SCORER} {t['minus_length']:+.3f} (target ≥ +0.02: "
                f"{'met' if t['beats_length_by_0.02'] else 'not met'})"
                if "minus_length" in t
                else "",
                f"random mean + 2 sd {t['random_mean_plus_2sd']:.3f} "
                f"({'beaten' if t['beats_random_2sd'] else 'not beaten'})",
            ]
            lines.append("  " + "; ".join(v for v in verdict if v))
        lines.append("")
    lines.append(_LEGEND)
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
