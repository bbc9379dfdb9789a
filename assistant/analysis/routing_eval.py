"""Routing benchmark on per-prompt results: quality curves, APGR, CPT and the random baseline.

The data are RouteLLM's (lm-sys/RouteLLM, Apache-2.0): for every prompt, the quality of a weak and of
a strong model's answer. A router's score ranks the prompts; routing the top share ``p`` to the strong
model gives the *quality curve* over ``p`` in [0, 1] (ties are broken in expectation: tied prompts
share the strong model's gain equally, so the curve never depends on item order). From the curve:

* ``APGR`` (average performance gap recovered): (area under the curve − weak mean) / (strong mean −
  weak mean). Random routing is 0.5 in expectation; a perfect router is above 1.
* ``CPT(x)`` (call-performance threshold): the smallest share of strong calls that recovers ``x`` of
  the weak→strong gap.

The random baseline is measured, not assumed: ``random_baseline`` draws random scores ``draws`` times
with a seed and reports the mean and standard deviation of each metric.

:func:`external_benchmark` runs every router on each suite, beside random routing and the oracle
(the curves and table the Routing lab draws).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from assistant.core.errors import DatasetError
from assistant.core.paths import ROUTELLM_DIR

if TYPE_CHECKING:
    import pandas as pd

FloatArray = npt.NDArray[np.float64]

REQUIRED_COLUMNS = ("item_id", "prompt", "weak_score", "strong_score")
_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class RoutingSuite:
    """One benchmark suite: a prompt per item and both models' quality on it (in [0, 1])."""

    name: str
    path: str
    item_ids: tuple[str, ...]
    prompts: tuple[str, ...]
    turns: tuple[int, ...]
    weak: FloatArray
    strong: FloatArray

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def groups(self) -> tuple[str, ...]:
        """Items that share a conversation (``mtbench-82-1`` and ``mtbench-82-2``) share a group,
        so cross-validation never trains on one turn and tests on the other."""
        out = []
        for item_id, turn in zip(self.item_ids, self.turns, strict=True):
            suffix = f"-{turn}"
            out.append(item_id[: -len(suffix)] if item_id.endswith(suffix) else item_id)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Metrics:
    apgr: float
    cpt50: float
    cpt80: float


@dataclass(frozen=True, slots=True)
class RandomBaseline:
    """Mean and standard deviation of the metrics over ``draws`` random routers."""

    mean: Metrics
    sd: Metrics
    draws: int


def load_suite(path: str | Path) -> RoutingSuite:
    """Read a per-prompt CSV (RouteLLM's columns). Errors name the file, the line and the fix."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(
            p, "no such file", "Pass a CSV such as datasets/routellm/routellm_gsm8k.csv"
        )
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            for column in REQUIRED_COLUMNS:
                if column not in columns:
                    raise DatasetError(
                        p,
                        f"missing column {column!r} (found: {', '.join(columns) or 'none'})",
                        f"The CSV needs the columns {', '.join(REQUIRED_COLUMNS)}",
                        line=1,
                    )
            ids: list[str] = []
            prompts: list[str] = []
            turns: list[int] = []
            weak: list[float] = []
            strong: list[float] = []
            names: set[str] = set()
            for row in reader:
                line = reader.line_num
                ids.append(row["item_id"] or f"line-{line}")
                prompts.append(row["prompt"] or "")
                weak.append(_number(p, line, row, "weak_score"))
                strong.append(_number(p, line, row, "strong_score"))
                turn = (row.get("turn") or "1").strip()
                try:
                    turns.append(int(turn))
                except ValueError:
                    raise DatasetError(
                        p, f"turn {turn!r} is not an integer", "Fix the row", line=line
                    ) from None
                if row.get("suite"):
                    names.add(row["suite"])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(p, f"not a readable UTF-8 CSV ({exc})", "Save it as UTF-8 CSV") from exc
    if not prompts:
        raise DatasetError(p, "no rows", "The CSV holds a header only; add one row per prompt")
    name = names.pop() if len(names) == 1 else p.stem
    return RoutingSuite(
        name=name,
        path=str(p),
        item_ids=tuple(ids),
        prompts=tuple(prompts),
        turns=tuple(turns),
        weak=np.asarray(weak, dtype=np.float64),
        strong=np.asarray(strong, dtype=np.float64),
    )


def _number(path: Path, line: int, row: dict[str, str], column: str) -> float:
    raw = (row.get(column) or "").strip()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DatasetError(
            path, f"{column} {raw!r} is not a number", "Scores must be numbers in [0, 1]", line=line
        )
    return value


# -- metrics ----------------------------------------------------------------------------------
def _arrays(
    scores: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    s = np.asarray(scores, dtype=np.float64)
    w = np.asarray(weak, dtype=np.float64)
    g = np.asarray(strong, dtype=np.float64)
    if not (s.shape == w.shape == g.shape) or s.ndim != 1 or len(s) == 0:
        raise ValueError(
            f"scores, weak and strong must be 1-d and of one non-zero length, got {s.shape}, {w.shape}, {g.shape}"
        )
    return s, w, g


def quality_curve(
    scores: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
) -> FloatArray:
    """Mean quality when the ``k`` highest-scored items go to the strong model, for ``k = 0..n``.

    Entry ``k`` is the value at share ``k / n``. Items with equal scores are interchangeable: a share
    that cuts through a tie takes the tie's mean gain per item (the expectation over tie orders).
    """
    s, w, g = _arrays(scores, weak, strong)
    order = np.argsort(-s, kind="stable")
    sorted_scores = s[order]
    gain = (g - w)[order]
    _, inverse, counts = np.unique(sorted_scores, return_inverse=True, return_counts=True)
    group_mean = np.bincount(inverse, weights=gain) / counts
    gains = np.concatenate(([0.0], np.cumsum(group_mean[inverse])))
    return np.asarray((w.sum() + gains) / len(s), dtype=np.float64)


def _gap(weak: FloatArray, strong: FloatArray) -> tuple[float, float]:
    weak_mean, strong_mean = float(weak.mean()), float(strong.mean())
    if strong_mean - weak_mean <= _EPS:
        raise ValueError(
            f"the strong model is not better on average ({strong_mean:.4f} vs {weak_mean:.4f}): "
            "APGR and CPT are undefined"
        )
    return weak_mean, strong_mean - weak_mean


def pgr_curve(
    scores: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
) -> FloatArray:
    """The quality curve as the share of the weak→strong gap recovered (0 at p=0, 1 at p=1)."""
    _, w, g = _arrays(scores, weak, strong)
    weak_mean, gap = _gap(w, g)
    return (quality_curve(scores, w, g) - weak_mean) / gap


def apgr(
    scores: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
) -> float:
    """Area under the gap-recovered curve over p in [0, 1] (trapezoids at p = k / n)."""
    pgr = pgr_curve(scores, weak, strong)
    return float((pgr[:-1] + pgr[1:]).sum() / (2 * (len(pgr) - 1)))


def cpt(
    scores: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
    x: float,
) -> float:
    """The smallest share ``k / n`` of strong calls whose quality recovers ``x`` of the gap."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x}")
    pgr = pgr_curve(scores, weak, strong)
    k = int(np.argmax(pgr >= x - 1e-9))  # p = 1 always recovers the whole gap
    return k / (len(pgr) - 1)


def evaluate(
    scores: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
) -> Metrics:
    return Metrics(
        apgr=apgr(scores, weak, strong),
        cpt50=cpt(scores, weak, strong, 0.5),
        cpt80=cpt(scores, weak, strong, 0.8),
    )


def random_baseline(
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
    *,
    draws: int = 200,
    seed: int = 0,
) -> RandomBaseline:
    """The metrics of ``draws`` routers with uniformly random scores (seeded): mean and sd."""
    if draws < 2:
        raise ValueError(f"draws must be at least 2, got {draws}")
    w = np.asarray(weak, dtype=np.float64)
    g = np.asarray(strong, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = np.array(
        [
            [m.apgr, m.cpt50, m.cpt80]
            for m in (evaluate(rng.random(len(w)), w, g) for _ in range(draws))
        ]
    )
    mean, sd = rows.mean(axis=0), rows.std(axis=0, ddof=1)
    return RandomBaseline(Metrics(*map(float, mean)), Metrics(*map(float, sd)), draws)


# -- the scorers measured (named in routing.registry) ------------------------------------------
def bench_scores(
    name: str, suite: RoutingSuite, *, folds: int = 5, seed: int = 0, **design: Any
) -> FloatArray:
    """The scores scorer ``name`` gives the suite's prompts: as they are for a fixed scorer,
    held out by k-fold CV (grouped by conversation) for a fitted one; ``design`` is the
    benchmark's hyperparameter grid (e.g. the text router's ``alphas`` and ``length_weights``),
    of which each scorer reads its own."""
    from assistant.routing.registry import benchmark_scorers, design_for, make_scorer, scorer_spec
    from assistant.routing.scorer import ScoreContext

    if name not in benchmark_scorers():
        raise ValueError(f"unknown scorer {name!r}; available: {', '.join(benchmark_scorers())}")
    spec = scorer_spec(name)
    if spec.cross_val is not None:
        return spec.cross_val(
            suite.prompts,
            suite.weak,
            suite.strong,
            groups=suite.groups,
            folds=folds,
            seed=seed,
            **design_for(name, design),
        )
    scorer = make_scorer(name)
    return np.array([scorer.score(p, ScoreContext()).value for p in suite.prompts])


# --- every router on every suite, for the Routing lab ------------------------------------------

BENCH_GRID = 101  # points of each curve drawn (premium share 0, 0.01, ..., 1)


@dataclass(frozen=True, slots=True)
class BenchmarkView:
    """Curves (``suite``, ``router``, ``premium_share``, ``quality``) and one row per suite and
    router (APGR, CPT50, CPT80; random as mean ± sd of seeded draws; the oracle's ceiling)."""

    curves: pd.DataFrame
    table: pd.DataFrame
    suites: tuple[str, ...]


def benchmark_csvs(directory: str | Path = ROUTELLM_DIR) -> list[Path]:
    """The per-prompt CSVs of a directory (RouteLLM's, by default)."""
    return sorted(Path(directory).glob("*.csv"))


def external_benchmark(
    paths: Sequence[str | Path],
    *,
    routers: Sequence[str] | None = None,
    draws: int = 200,
    folds: int = 5,
    seed: int = 0,
    grid: int = BENCH_GRID,
) -> BenchmarkView:
    """Every router's quality against premium share on each suite, beside random and the oracle.

    Random routing's expected curve is the straight line from the weak to the strong mean; its
    APGR is measured over ``draws`` seeded random routers (mean ± sd). The oracle routes by the
    true gain (strong − weak), the best any router can do. ``routers`` defaults to the
    registry's benchmark scorers; fitted scorers' scores are held out (k-fold, grouped by
    conversation).
    """
    import pandas as pd

    from assistant.routing.registry import ORACLE, RANDOM, benchmark_scorers

    if routers is None:
        routers = benchmark_scorers()

    if not paths:
        raise ValueError("no benchmark CSV to run")
    curves: list[pd.DataFrame] = []
    table: list[dict[str, Any]] = []
    names: list[str] = []
    shares = np.linspace(0.0, 1.0, grid)
    for path in paths:
        suite = load_suite(path)
        names.append(suite.name)
        n = len(suite)
        ks = np.rint(shares * n).astype(int)
        scored: dict[str, FloatArray] = {
            name: bench_scores(name, suite, folds=folds, seed=seed) for name in routers
        }
        scored[ORACLE] = suite.strong - suite.weak
        base = random_baseline(suite.weak, suite.strong, draws=draws, seed=seed)
        weak_mean, strong_mean = float(suite.weak.mean()), float(suite.strong.mean())
        for name, scores in scored.items():
            curve = quality_curve(scores, suite.weak, suite.strong)
            curves.append(
                pd.DataFrame(
                    {
                        "suite": suite.name,
                        "router": name,
                        "premium_share": ks / n,
                        "quality": curve[ks],
                    }
                )
            )
            m = evaluate(scores, suite.weak, suite.strong)
            table.append(
                {
                    "suite": suite.name,
                    "router": name,
                    "apgr": m.apgr,
                    "apgr_sd": None,
                    "cpt50": m.cpt50,
                    "cpt80": m.cpt80,
                    "items": n,
                    "weak_mean": weak_mean,
                    "strong_mean": strong_mean,
                }
            )
        curves.append(
            pd.DataFrame(
                {
                    "suite": suite.name,
                    "router": RANDOM,
                    "premium_share": ks / n,
                    "quality": weak_mean + (ks / n) * (strong_mean - weak_mean),
                }
            )
        )
        table.append(
            {
                "suite": suite.name,
                "router": RANDOM,
                "apgr": base.mean.apgr,
                "apgr_sd": base.sd.apgr,
                "cpt50": base.mean.cpt50,
                "cpt80": base.mean.cpt80,
                "items": n,
                "weak_mean": weak_mean,
                "strong_mean": strong_mean,
            }
        )
    frame = pd.DataFrame(table)
    order = {name: i for i, name in enumerate([*routers, RANDOM, ORACLE])}
    frame = frame.sort_values(
        ["suite", "router"], key=lambda c: c.map(order) if c.name == "router" else c
    ).reset_index(drop=True)
    return BenchmarkView(
        curves=pd.concat(curves, ignore_index=True), table=frame, suites=tuple(names)
    )
