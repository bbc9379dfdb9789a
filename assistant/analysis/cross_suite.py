"""The cross-suite protocol: fit on some suites, report on a suite left out.

In-suite figures (k-fold CV inside one suite) flatter a router: the test folds share the suite's
style, topics and quirks with the training folds. Here a router is fitted on the *training suites
only* and scored on a *test suite* it never saw, as a new user's data would be:

* fixed scorers (``length``, ``heuristic``) fit nothing. A scorer whose weights were chosen with
  some suites in view (its registry entry's ``tuned_on``: the heuristic's hand weights) is
  in-sample on those suites, and the report marks it.
* fitted scorers (``learned``: logistic over the heuristic's features; ``text``: TF-IDF ridge, with
  its own inner CV for its hyperparameters) are fitted on the training rows only.

The scorers and which are fitted come from ``routing.registry``.
* random routing: mean ± sd of seeded draws on the test suite.

Leaks are guarded, not assumed away: a suite cannot be on both sides (same name or same file), and
a training row whose prompt text also occurs in the test suite is dropped (and counted) before any
fit. :func:`leave_one_suite_out` runs the protocol with each given suite held out in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.analysis.routing_eval import (
    FloatArray,
    RoutingSuite,
    bench_scores,
    evaluate,
    random_baseline,
)


@dataclass(frozen=True, slots=True)
class TrainingRows:
    """The rows a router may be fitted on: every training suite's, less test-prompt duplicates."""

    prompts: tuple[str, ...]
    weak: FloatArray
    strong: FloatArray
    groups: tuple[str, ...]
    suites: tuple[str, ...]
    dropped: int  # training rows whose prompt text is also a test prompt


def _same(a: RoutingSuite, b: RoutingSuite) -> bool:
    return a.name == b.name or Path(a.path).resolve() == Path(b.path).resolve()


def _key(prompt: str) -> str:
    return " ".join(prompt.lower().split())


def training_rows(train: Sequence[RoutingSuite], test: RoutingSuite) -> TrainingRows:
    """Pool the training suites' rows for a fit that will be scored on ``test``.

    ValueError when ``test`` is also a training suite or no training row is left. Groups are
    prefixed with their suite, so two suites' ids never merge."""
    if not train:
        raise ValueError(f"no training suite for {test.name}: give at least one other suite")
    for suite in train:
        if _same(suite, test):
            raise ValueError(
                f"suite {test.name!r} ({test.path}) is both a training and the test suite: "
                "a held-out figure needs a suite left out of training"
            )
    seen = {_key(p) for p in test.prompts}
    prompts: list[str] = []
    weak: list[float] = []
    strong: list[float] = []
    groups: list[str] = []
    dropped = 0
    for suite in train:
        for prompt, w, s, g in zip(
            suite.prompts, suite.weak.tolist(), suite.strong.tolist(), suite.groups, strict=True
        ):
            if _key(prompt) in seen:
                dropped += 1
                continue
            prompts.append(prompt)
            weak.append(w)
            strong.append(s)
            groups.append(f"{suite.name}/{g}")
    if len(prompts) < 2:
        raise ValueError(f"fewer than two training rows left for {test.name}")
    return TrainingRows(
        prompts=tuple(prompts),
        weak=np.asarray(weak, dtype=np.float64),
        strong=np.asarray(strong, dtype=np.float64),
        groups=tuple(groups),
        suites=tuple(s.name for s in train),
        dropped=dropped,
    )


def fitted_scores(
    name: str, rows: TrainingRows, test: RoutingSuite, *, seed: int = 0, **design: Any
) -> FloatArray:
    """Scores of ``test``'s prompts by the fitted scorer ``name`` trained on ``rows`` alone
    (``design``: the benchmark's hyperparameter grid, of which each scorer reads its own)."""
    from assistant.routing.registry import design_for, fitted_scorers, scorer_spec

    fit = scorer_spec(name).fit if name in fitted_scorers() else None
    if fit is None:
        raise ValueError(f"{name!r} is not a fitted router; fitted: {', '.join(fitted_scorers())}")
    predict = fit(
        rows.prompts,
        rows.weak,
        rows.strong,
        groups=rows.groups,
        seed=seed,
        trained_on=rows.suites,
        **design_for(name, design),
    )
    return np.asarray(predict(test.prompts), dtype=np.float64)


def _metrics(m: Any) -> dict[str, Any]:
    return {"apgr": round(m.apgr, 4), "cpt50": round(m.cpt50, 4), "cpt80": round(m.cpt80, 4)}


def cross_suite(
    train: Sequence[RoutingSuite],
    test: RoutingSuite,
    *,
    routers: Sequence[str] | None = None,
    draws: int = 200,
    seed: int = 0,
    **design: Any,
) -> dict[str, Any]:
    """Every router on ``test`` with the fitted ones trained on ``train`` only (a report entry);
    ``routers`` defaults to the registry's benchmark scorers."""
    from assistant.routing.registry import RANDOM, benchmark_scorers, scorer_spec

    rows = training_rows(train, test)
    out: dict[str, Any] = {}
    for name in benchmark_scorers() if routers is None else routers:
        spec = scorer_spec(name)
        if spec.fitted:
            scores = fitted_scores(name, rows, test, seed=seed, **design)
            entry = _metrics(evaluate(scores, test.weak, test.strong))
            entry["trained_on"] = list(rows.suites)
        else:
            entry = _metrics(evaluate(bench_scores(name, test), test.weak, test.strong))
            if spec.tuned_on:
                entry["tuned_on"] = list(spec.tuned_on)
                entry["in_sample"] = test.name in spec.tuned_on
        out[name] = entry
    base = random_baseline(test.weak, test.strong, draws=draws, seed=seed)
    out[RANDOM] = {"mean": _metrics(base.mean), "sd": _metrics(base.sd), "draws": base.draws}
    return {
        "suite": test.name,
        "path": test.path,
        "items": len(test),
        "weak_mean": round(float(test.weak.mean()), 4),
        "strong_mean": round(float(test.strong.mean()), 4),
        "trained_on": list(rows.suites),
        "training_rows": len(rows.prompts),
        "dropped_duplicates": rows.dropped,
        "routers": out,
        "targets": targets(out),
    }


def targets(routers: dict[str, Any]) -> dict[str, Any]:
    """The issue's bar for the target scorer (the text router) on a held-out suite: beat the
    baseline (length) by 0.02 APGR and random's mean by 2 sd."""
    from assistant.routing.registry import BASELINE_SCORER, RANDOM, TARGET_SCORER

    if TARGET_SCORER not in routers:
        return {}
    text = routers[TARGET_SCORER]["apgr"]
    random_bar = routers[RANDOM]["mean"]["apgr"] + 2 * routers[RANDOM]["sd"]["apgr"]
    out: dict[str, Any] = {"random_mean_plus_2sd": round(random_bar, 4)}
    out["beats_random_2sd"] = text >= random_bar
    if BASELINE_SCORER in routers:
        out["minus_length"] = round(text - routers[BASELINE_SCORER]["apgr"], 4)
        out["beats_length_by_0.02"] = text - routers[BASELINE_SCORER]["apgr"] >= 0.02
    return out


def leave_one_suite_out(
    suites: Sequence[RoutingSuite],
    *,
    routers: Sequence[str] | None = None,
    draws: int = 200,
    seed: int = 0,
    **design: Any,
) -> list[dict[str, Any]]:
    """:func:`cross_suite` with each suite held out in turn, fitted on all the others."""
    if len(suites) < 2:
        raise ValueError("leave-one-suite-out needs at least two suites")
    return [
        cross_suite(
            [s for s in suites if s is not test],
            test,
            routers=routers,
            draws=draws,
            seed=seed,
            **design,
        )
        for test in suites
    ]


def cross_suite_table(report: Sequence[dict[str, Any]]) -> Any:
    """One row per held-out suite and router (a pandas DataFrame, for the Routing lab): APGR (and
    its sd for random), CPT50, CPT80, what the fitted routers were trained on, and whether the
    figure is in-sample."""
    import pandas as pd

    rows = []
    for entry in report:
        for name, m in entry["routers"].items():
            random = "sd" in m and "mean" in m  # the random baseline: mean ± sd of draws
            metrics = m["mean"] if random else m
            rows.append(
                {
                    "suite": entry["suite"],
                    "router": name,
                    "apgr": metrics["apgr"],
                    "apgr_sd": m["sd"]["apgr"] if random else None,
                    "cpt50": metrics["cpt50"],
                    "cpt80": metrics["cpt80"],
                    "trained_on": ", ".join(m.get("trained_on", [])),
                    "in_sample": bool(m.get("in_sample", False)),
                    "items": entry["items"],
                }
            )
    return pd.DataFrame(rows)
