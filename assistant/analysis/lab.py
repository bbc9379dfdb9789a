"""Routing lab analyses beyond the sweep: A/B with bootstrap intervals, IPW from explored traffic,
and the external benchmark. No Streamlit here: the page lays these out, the tests call them.

* **A/B** (:func:`compare_runs`, :func:`compare_thresholds`): cost per media hour, mean quality and
  p95 latency of two samples of requests, and seeded bootstrap 95% intervals on the differences
  B − A. Two runs that replay the same questions are resampled *by question* (paired), otherwise
  each run's requests are resampled on their own. Two thresholds on one ``--both-tiers`` run are
  always paired by request (each request's outcome under either threshold is in ``tier_outcomes``).
  Every comparison ends with a plain statement of whether the sample is large enough.
* **From live traffic** (:func:`ipw_curve`): what other thresholds would have cost and scored, from a
  run logged with exploration (``[routing] explore_share``), by inverse propensity weighting
  (:func:`assistant.routing.calibration.ipw_estimate`), with bootstrap intervals.
* **External benchmark** (:func:`external_benchmark`): every router's quality against premium share
  on RouteLLM's per-prompt results, beside random routing and the oracle, with APGR.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from assistant.core.errors import LedgerError
from assistant.core.paths import ROUTELLM_DIR

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

RESAMPLES = 2000
SEED = 0
Z95 = 1.96
EXPLORE_HINT = (
    "To estimate other thresholds from live traffic, log some requests with a random tier: put "
    "`[routing]` `explore_share = 0.3` in a TOML file and replay with it, e.g. "
    "`python -m assistant replay datasets/demo --stt recorded --config explore.toml`."
)
AB_HINT = (
    "An A/B needs two runs with requests: replay the demo twice with different thresholds, e.g. "
    "`python -m assistant replay datasets/demo --stt recorded --threshold 0.3` and "
    "`... --threshold 0.6`."
)

# --- samples ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """The requests of one arm: per-request cost, quality (NaN without a reference), latency.

    Cost per media hour is ``(shared_cost_usd + n_requests x mean request cost) / media hours``:
    resampling requests changes the mean, the run's transcription (``shared_cost_usd``) and its
    request count stay fixed. Without a media duration, the cost figure is the mean cost per
    request.
    """

    label: str
    keys: tuple[str, ...]  # question (or request) ids, to pair two samples
    cost_usd: FloatArray
    quality: FloatArray
    latency_ms: FloatArray
    shared_cost_usd: float = 0.0
    n_requests: int | None = None  # the run's count (default: len(keys))
    media_hours: float | None = None

    def __post_init__(self) -> None:
        n = len(self.keys)
        if not (len(self.cost_usd) == len(self.quality) == len(self.latency_ms) == n):
            raise ValueError("a sample's keys, costs, qualities and latencies differ in length")

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, rows: Sequence[int] | IntArray) -> Sample:
        """The same run's figures over a subset of its requests (for pairing)."""
        idx = np.asarray(rows, dtype=np.intp)
        return Sample(
            label=self.label,
            keys=tuple(self.keys[i] for i in idx),
            cost_usd=self.cost_usd[idx],
            quality=self.quality[idx],
            latency_ms=self.latency_ms[idx],
            shared_cost_usd=self.shared_cost_usd,
            n_requests=self.total_requests,
            media_hours=self.media_hours,
        )

    @property
    def total_requests(self) -> int:
        return len(self.keys) if self.n_requests is None else self.n_requests


def _floats(values: Any) -> FloatArray:
    return np.asarray(
        [math.nan if v is None or v != v else float(v) for v in values], dtype=np.float64
    )


def sample_from_requests(
    requests: pd.DataFrame,
    *,
    label: str,
    shared_cost_usd: float = 0.0,
    media_duration_s: float | None = None,
) -> Sample:
    """A run's requests (``run_requests``) as a :class:`Sample`, keyed by question id."""
    keys = [
        str(q) if q is not None and q == q else f"request:{r}"
        for q, r in zip(requests["question_id"], requests["request_id"], strict=True)
    ]
    return Sample(
        label=label,
        keys=tuple(keys),
        cost_usd=_floats(requests["total_cost_usd"]),
        quality=_floats(requests["quality"]),
        latency_ms=_floats(requests["total_latency_ms"]),
        shared_cost_usd=float(shared_cost_usd),
        media_hours=media_duration_s / 3600 if media_duration_s else None,
    )


# --- metrics over resampled index matrices ---------------------------------------------------


def _cost(sample: Sample, idx: IntArray) -> FloatArray:
    mean = sample.cost_usd[idx].mean(axis=1)
    if sample.media_hours:
        return np.asarray(
            (sample.shared_cost_usd + sample.total_requests * mean) / sample.media_hours
        )
    return np.asarray(mean)


def _quality(sample: Sample, idx: IntArray) -> FloatArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without any reference
        return np.asarray(np.nanmean(sample.quality[idx], axis=1))


def _p95(sample: Sample, idx: IntArray) -> FloatArray:
    return np.asarray(np.percentile(sample.latency_ms[idx], 95, axis=1))


METRICS: tuple[tuple[str, str], ...] = (
    ("cost_per_media_hour_usd", "cost per media hour (USD)"),
    ("mean_quality", "mean quality"),
    ("p95_latency_ms", "p95 latency (ms)"),
)
_FUNCTIONS = {"cost_per_media_hour_usd": _cost, "mean_quality": _quality, "p95_latency_ms": _p95}
_LOWER_IS_BETTER = {"cost_per_media_hour_usd": True, "mean_quality": False, "p95_latency_ms": True}


@dataclass(frozen=True, slots=True)
class MetricDiff:
    """One metric of an A/B: each arm's value, B − A with its bootstrap 95% interval and sd,
    whether the interval excludes 0, roughly how many requests per arm would make an effect of
    the observed size show, and that in one sentence."""

    metric: str
    title: str
    a: float | None
    b: float | None
    diff: float | None
    low: float | None
    high: float | None
    sd: float | None
    excludes_zero: bool
    needed_n: int | None
    verdict: str


@dataclass(frozen=True, slots=True)
class ABResult:
    a_label: str
    b_label: str
    paired: bool
    pairing: str  # how the requests were resampled, in words
    n_a: int
    n_b: int
    resamples: int
    metrics: tuple[MetricDiff, ...]
    statement: str  # is the sample large enough, in plain words

    def table(self) -> pd.DataFrame:
        """One row per metric: ``metric``, ``title``, ``a``, ``b``, ``diff`` (B − A), ``low`` and
        ``high`` (95% interval), ``sd``, ``excludes_zero``, ``needed_n``, ``verdict``."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "metric": m.metric,
                    "title": m.title,
                    "a": m.a,
                    "b": m.b,
                    "diff": m.diff,
                    "low": m.low,
                    "high": m.high,
                    "sd": m.sd,
                    "excludes_zero": m.excludes_zero,
                    "needed_n": m.needed_n,
                    "verdict": m.verdict,
                }
                for m in self.metrics
            ]
        )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def needed_requests(*, n: int, sd: float, effect: float, z: float = Z95) -> int | None:
    """Requests per arm for an interval of half-width ``z x sd x sqrt(n / N)`` to just exclude 0
    at an effect of ``effect``; None when there is no effect to detect."""
    if not effect or not math.isfinite(effect) or not math.isfinite(sd) or n < 1:
        return None
    return max(1, math.ceil(n * (z * sd / abs(effect)) ** 2))


def _verdict(
    metric: str,
    diff: float | None,
    low: float | None,
    high: float | None,
    needed: int | None,
    n: int,
    unit: str,
) -> tuple[bool, str]:
    if diff is None or low is None or high is None:
        return False, "no data for this metric in one of the arms"
    excludes = low > 0 or high < 0
    if excludes:
        better = (diff < 0) == _LOWER_IS_BETTER[metric]
        return True, (
            f"B is {'better' if better else 'worse'}: the interval excludes 0, "
            f"so {n} {unit} are enough to tell"
        )
    if needed is None:
        return False, "no difference observed; the sample cannot tell the arms apart"
    return False, (
        f"not enough to tell: the interval includes 0; an effect this size needs about "
        f"{needed} {unit} per arm (now {n})"
    )


def bootstrap_ab(
    a: Sample,
    b: Sample,
    *,
    paired: bool,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    pairing: str | None = None,
    unit: str | None = None,
) -> ABResult:
    """B − A for every metric with percentile bootstrap 95% intervals (seeded).

    ``paired``: ``a`` and ``b`` are aligned row by row (the same question in each) and one index
    matrix resamples both; otherwise each arm is resampled on its own.
    """
    if len(a) == 0 or len(b) == 0:
        raise ValueError("both arms need at least one request")
    if resamples < 10:
        raise ValueError(f"resamples must be at least 10, got {resamples}")
    if paired and len(a) != len(b):
        raise ValueError("paired samples must be aligned (same length)")
    rng = np.random.default_rng(seed)
    idx_a = rng.integers(0, len(a), size=(resamples, len(a)))
    idx_b = idx_a if paired else rng.integers(0, len(b), size=(resamples, len(b)))
    whole_a = np.arange(len(a))[None, :]
    whole_b = np.arange(len(b))[None, :]
    per_hour = bool(a.media_hours and b.media_hours)
    n = min(len(a), len(b))
    unit = unit or "requests"
    out = []
    for metric, title in METRICS:
        if metric == "cost_per_media_hour_usd" and not per_hour:
            title = "cost per request (USD)"
            fa, fb = replace(a, media_hours=None), replace(b, media_hours=None)
        else:
            fa, fb = a, b
        f = _FUNCTIONS[metric]
        va = _finite(float(f(fa, whole_a)[0]))
        vb = _finite(float(f(fb, whole_b)[0]))
        diff = None if va is None or vb is None else vb - va
        draws = f(fb, idx_b) - f(fa, idx_a)
        draws = draws[np.isfinite(draws)]
        if diff is None or draws.size < resamples // 2:
            low = high = sd = None
        else:
            low, high = (float(x) for x in np.percentile(draws, [2.5, 97.5]))
            sd = float(draws.std(ddof=1))
        needed = None if sd is None or diff is None else needed_requests(n=n, sd=sd, effect=diff)
        excludes, verdict = _verdict(metric, diff, low, high, needed, n, unit)
        out.append(
            MetricDiff(metric, title, va, vb, diff, low, high, sd, excludes, needed, verdict)
        )
    return ABResult(
        a_label=a.label,
        b_label=b.label,
        paired=paired,
        pairing=pairing
        or (f"paired by question ({n} pairs)" if paired else "unpaired: each arm resampled alone"),
        n_a=len(a),
        n_b=len(b),
        resamples=resamples,
        metrics=tuple(out),
        statement=_statement(out, n=n, unit=unit, resamples=resamples),
    )


def _statement(metrics: Sequence[MetricDiff], *, n: int, unit: str, resamples: int) -> str:
    shown = [m for m in metrics if m.excludes_zero]
    unclear = [m for m in metrics if not m.excludes_zero and m.needed_n is not None]
    parts = []
    if shown:
        parts.append(
            "The sample is large enough for "
            + _join([_short(m.title) for m in shown])
            + ": the 95% interval of B − A excludes 0."
        )
    if unclear:
        parts.append(
            "It is not large enough for "
            + _join([f"{_short(m.title)} (about {m.needed_n} {unit} per arm)" for m in unclear])
            + f": the interval includes 0; the figure in brackets is roughly how many {unit} a "
            f"difference of the size observed would need (now {n})."
        )
    if not shown and not unclear:
        parts.append("No difference was observed in any metric.")
    if n < 30:
        parts.append(
            f"With {n} {unit}, bootstrap intervals (the p95 above all) are rough; prefer 30 or more."
        )
    parts.append(f"{resamples} seeded bootstrap resamples.")
    return " ".join(parts)


def _short(title: str) -> str:
    return title.split(" (")[0]


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def pair_samples(a: Sample, b: Sample) -> tuple[Sample, Sample] | None:
    """``a`` and ``b`` reduced to the questions both asked, aligned, or None if they share none
    (or a question appears twice in one run, so it cannot be matched)."""
    if len(set(a.keys)) != len(a.keys) or len(set(b.keys)) != len(b.keys):
        return None
    where_b = {k: i for i, k in enumerate(b.keys)}
    common = [(i, where_b[k]) for i, k in enumerate(a.keys) if k in where_b]
    if len(common) < 2:
        return None
    return a.take([i for i, _ in common]), b.take([j for _, j in common])


def compare_samples(
    a: Sample, b: Sample, *, resamples: int = RESAMPLES, seed: int = SEED
) -> ABResult:
    """Paired on matching question ids when the runs share questions, unpaired otherwise."""
    pairs = pair_samples(a, b)
    if pairs is None:
        return bootstrap_ab(
            a,
            b,
            paired=False,
            resamples=resamples,
            seed=seed,
            pairing="unpaired: the runs share no questions, each run resampled on its own",
        )
    pa, pb = pairs
    left_out = len(a) + len(b) - 2 * len(pa)
    pairing = f"paired by question id ({len(pa)} questions in both runs)"
    if left_out:
        pairing += f"; {left_out} requests asked in one run only are left out"
    return bootstrap_ab(
        pa, pb, paired=True, resamples=resamples, seed=seed, pairing=pairing, unit="questions"
    )


def run_sample(ledger: Ledger, run_id: str, *, label: str | None = None) -> Sample:
    """A run's requests as a :class:`Sample`; LedgerError for an unknown run or one without
    requests."""
    from assistant.ledger.queries import run_requests, run_shared_cost_usd, run_summary

    summary = run_summary(ledger, run_id)
    requests = run_requests(ledger, run_id)
    if requests.empty:
        raise LedgerError(f"run {run_id} has no requests to compare")
    duration = _processed_s(ledger, run_id) or summary.media_duration_s
    return sample_from_requests(
        requests,
        label=label or run_id,
        shared_cost_usd=run_shared_cost_usd(ledger, run_id),
        media_duration_s=duration,
    )


def _processed_s(ledger: Ledger, run_id: str) -> float | None:
    """The media an interrupted run got through (ledger migration 4), as the summary uses it."""
    sql = "SELECT media_processed_s FROM runs WHERE run_id = ?"
    rows = ledger.cursor().execute(sql, [run_id]).fetchall()
    value = rows[0][0] if rows else None
    return float(value) if value else None


def compare_runs(
    ledger: Ledger, run_a: str, run_b: str, *, resamples: int = RESAMPLES, seed: int = SEED
) -> ABResult:
    """A/B of two runs (B − A), paired by question when both replay the same questions."""
    if run_a == run_b:
        raise LedgerError("pick two different runs to compare")
    return compare_samples(
        run_sample(ledger, run_a), run_sample(ledger, run_b), resamples=resamples, seed=seed
    )


def threshold_samples(
    outcomes: pd.DataFrame,
    threshold_a: float,
    threshold_b: float,
    *,
    shared_cost_usd: float = 0.0,
    media_duration_s: float | None = None,
) -> tuple[Sample, Sample]:
    """Two thresholds on one ``--both-tiers`` run (``run_tier_outcomes``), aligned by request:
    at threshold ``t`` a request takes its premium outcome when its score is ``>= t``."""
    wide = outcomes.pivot(
        index="request_id", columns="tier", values=["cost_usd", "quality", "latency_ms"]
    )
    if {"cheap", "premium"} - set(outcomes["tier"]) or wide["cost_usd"].isna().to_numpy().any():
        raise LedgerError("the run lacks one tier's outcome for some of its requests")
    score = outcomes.groupby("request_id")["score"].first().reindex(wide.index)
    score_v = score.to_numpy(dtype=float)
    keys = tuple(str(k) for k in wide.index)

    def arm(t: float) -> Sample:
        premium = score_v >= t

        def pick(name: str) -> FloatArray:
            cheap = wide[(name, "cheap")].to_numpy(dtype=float, na_value=np.nan)
            prem = wide[(name, "premium")].to_numpy(dtype=float, na_value=np.nan)
            return np.asarray(np.where(premium, prem, cheap), dtype=np.float64)

        return Sample(
            label=f"threshold {t:.2f} ({premium.mean():.0%} premium)",
            keys=keys,
            cost_usd=pick("cost_usd"),
            quality=pick("quality"),
            latency_ms=pick("latency_ms"),
            shared_cost_usd=shared_cost_usd,
            media_hours=media_duration_s / 3600 if media_duration_s else None,
        )

    return arm(threshold_a), arm(threshold_b)


def compare_thresholds(
    ledger: Ledger,
    run_id: str,
    threshold_a: float,
    threshold_b: float,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> ABResult:
    """Two router configurations (thresholds) counterfactually on one ``--both-tiers`` run,
    paired by request."""
    from assistant.ledger.queries import run_shared_cost_usd, run_summary, run_tier_outcomes

    summary = run_summary(ledger, run_id)
    outcomes = run_tier_outcomes(ledger, run_id)
    if outcomes.empty:
        raise LedgerError(
            f"run {run_id} has no tier outcomes; replay with --both-tiers first "
            "(python -m assistant replay datasets/demo --stt recorded --both-tiers)"
        )
    a, b = threshold_samples(
        outcomes,
        threshold_a,
        threshold_b,
        shared_cost_usd=run_shared_cost_usd(ledger, run_id),
        media_duration_s=_processed_s(ledger, run_id) or summary.media_duration_s,
    )
    return bootstrap_ab(
        a,
        b,
        paired=True,
        resamples=resamples,
        seed=seed,
        pairing=f"paired by request ({len(a)} requests of run {run_id}, both tiers recorded)",
    )


# --- from live traffic: inverse propensity weighting -----------------------------------------


@dataclass(frozen=True, slots=True)
class IPWCurve:
    """Estimates for thresholds from one run's logged traffic (``points``: one row per threshold
    with quality, cost per request and per media hour, premium share, matched rows, effective n and
    95% intervals), or ``message`` saying why there are none and what to do."""

    run_id: str
    rows: int
    explored: int
    logged_threshold: float | None
    logged_quality: float | None
    logged_cost_per_media_hour_usd: float | None
    points: pd.DataFrame | None
    message: str | None
    resamples: int


def _ipw_arrays(
    score: FloatArray,
    premium: npt.NDArray[np.bool_],
    propensity: FloatArray,
    values: FloatArray,
    thresholds: FloatArray,
    idx: IntArray,
) -> FloatArray:
    """Self-normalised IPW means of ``values`` for every (resample, threshold): shape (R, T)."""
    s, p, w, v = score[idx], premium[idx], 1.0 / propensity[idx], values[idx]
    out = np.empty((idx.shape[0], len(thresholds)))
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, t in enumerate(thresholds):
            match = (s >= t) == p
            weight = np.where(match, w, 0.0)
            out[:, j] = (weight * v).sum(axis=1) / weight.sum(axis=1)
    return out


def ipw_curve(
    requests: pd.DataFrame,
    *,
    run_id: str = "",
    thresholds: Sequence[float] | None = None,
    shared_cost_usd: float = 0.0,
    media_duration_s: float | None = None,
    resamples: int = 1000,
    seed: int = SEED,
) -> IPWCurve:
    """What each threshold would have scored on a run's logged requests (``run_requests``).

    Point estimates come from :func:`~assistant.routing.calibration.ipw_estimate` (self-normalised);
    the intervals from resampling the requests ``resamples`` times. Without any request routed at
    random (propensity 1 everywhere) there is nothing to estimate from: ``message`` says how to get
    explored traffic.
    """
    import pandas as pd

    from assistant.routing.calibration import ipw_estimate

    grid = np.asarray(
        thresholds if thresholds is not None else [round(i / 20, 2) for i in range(21)],
        dtype=np.float64,
    )
    rows = requests[requests["quality"].notna() & requests["tier"].isin(["cheap", "premium"])]
    explored = int(requests["explored"].sum()) if "explored" in requests else 0
    logged_t = _single(requests["threshold"]) if "threshold" in requests else None
    logged_q = _finite(float(rows["quality"].mean())) if len(rows) else None
    hours = media_duration_s / 3600 if media_duration_s else None
    n_requests = len(requests)

    def per_hour(mean_cost: float | None) -> float | None:
        if mean_cost is None or not hours:
            return None
        return (shared_cost_usd + n_requests * mean_cost) / hours

    logged_cost = per_hour(float(requests["total_cost_usd"].mean())) if n_requests else None

    def empty(message: str) -> IPWCurve:
        return IPWCurve(
            run_id,
            len(requests),
            explored,
            logged_t,
            logged_q,
            logged_cost,
            None,
            message,
            resamples,
        )

    if requests.empty:
        return empty(f"Run {run_id} has no requests.")
    if rows.empty:
        return empty(f"Run {run_id} has no requests with a quality reference to estimate from.")
    if not (rows["propensity"] < 1.0 - 1e-12).any():
        return empty(
            f"Run {run_id} has no explored requests: every tier was chosen with propensity 1, so "
            f"other thresholds cannot be estimated from it. {EXPLORE_HINT}"
        )
    records = rows[["score", "tier", "propensity", "quality", "total_cost_usd"]].to_dict("records")
    score = rows["score"].to_numpy(dtype=float)
    premium = (rows["tier"] == "premium").to_numpy()
    propensity = rows["propensity"].to_numpy(dtype=float)
    quality = rows["quality"].to_numpy(dtype=float)
    cost = rows["total_cost_usd"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(rows), size=(resamples, len(rows)))
    q_draws = _ipw_arrays(score, premium, propensity, quality, grid, idx)
    c_draws = _ipw_arrays(score, premium, propensity, cost, grid, idx)
    table = []
    for j, t in enumerate(grid):
        try:
            est = ipw_estimate(records, float(t))
        except ValueError:
            est = None
        q_ok = q_draws[:, j][np.isfinite(q_draws[:, j])]
        c_ok = c_draws[:, j][np.isfinite(c_draws[:, j])]
        enough = est is not None and q_ok.size >= resamples // 2
        q_lo, q_hi = (
            (float(x) for x in np.percentile(q_ok, [2.5, 97.5])) if enough else (None, None)
        )
        c_lo, c_hi = (
            (float(x) for x in np.percentile(c_ok, [2.5, 97.5])) if enough else (None, None)
        )
        table.append(
            {
                "threshold": float(t),
                "premium_share": float((score >= t).mean()),
                "quality": None if est is None else est.quality,
                "quality_low": q_lo,
                "quality_high": q_hi,
                "cost_usd": None if est is None else est.cost_usd,
                "cost_per_media_hour_usd": None if est is None else per_hour(est.cost_usd),
                "cost_per_media_hour_low": per_hour(c_lo),
                "cost_per_media_hour_high": per_hour(c_hi),
                "matched": 0 if est is None else est.matched,
                "effective_n": 0.0 if est is None else est.effective_n,
            }
        )
    return IPWCurve(
        run_id,
        len(requests),
        explored,
        logged_t,
        logged_q,
        logged_cost,
        pd.DataFrame(table),
        None,
        resamples,
    )


def _single(values: Any) -> float | None:
    distinct = {float(v) for v in values if v is not None and v == v}
    return distinct.pop() if len(distinct) == 1 else None


def run_ipw_curve(
    ledger: Ledger,
    run_id: str,
    *,
    reference_run: str | None = None,
    resamples: int = 1000,
    seed: int = SEED,
) -> IPWCurve:
    """:func:`ipw_curve` for one run of the ledger. With ``reference_run`` (a ``--both-tiers``
    run of the same questions), the points also hold the true figures of each threshold
    (``true_quality``, ``true_cost_per_media_hour_usd``) from its sweep, to judge the estimates."""
    from assistant.ledger.queries import run_requests, run_shared_cost_usd, run_summary

    summary = run_summary(ledger, run_id)
    curve = ipw_curve(
        run_requests(ledger, run_id),
        run_id=run_id,
        shared_cost_usd=run_shared_cost_usd(ledger, run_id),
        media_duration_s=_processed_s(ledger, run_id) or summary.media_duration_s,
        resamples=resamples,
        seed=seed,
    )
    if reference_run is None or curve.points is None:
        return curve
    from assistant.analysis.sweep import sweep

    truth = sweep(ledger, reference_run, thresholds=tuple(curve.points["threshold"]))
    points = curve.points.copy()
    points["true_quality"] = [p.mean_quality for p in truth.points]
    points["true_cost_per_media_hour_usd"] = [p.cost_per_media_hour_usd for p in truth.points]
    return replace(curve, points=points)


def ipw_sentence(curve: IPWCurve) -> str:
    """How much to trust a curve, in one sentence."""
    if curve.points is None:
        return curve.message or ""
    eff = curve.points["effective_n"]
    eff = eff[eff > 0]
    spread = f"{eff.min():.0f}-{eff.max():.0f}" if len(eff) else "0"
    logged = (
        f" at threshold {curve.logged_threshold:.2f}" if curve.logged_threshold is not None else ""
    )
    return (
        f"Estimated from {curve.rows} requests of run {curve.run_id} logged{logged}, "
        f"{curve.explored} of them routed at random. Each threshold's estimate rests on an "
        f"effective {spread} requests: "
        + (
            "expect wide intervals; log more explored traffic to narrow them."
            if len(eff) == 0 or eff.min() < 30
            else "intervals are usable."
        )
        + f" Intervals: {curve.resamples} seeded bootstrap resamples of the requests."
    )


def explored_counts(ledger: Ledger) -> dict[str, int]:
    """Explored requests per run (0 for runs without any)."""
    rows = (
        ledger.cursor()
        .execute("SELECT run_id, count(*) FILTER (WHERE explored) FROM requests GROUP BY run_id")
        .fetchall()
    )
    return {str(r): int(n) for r, n in rows}


# --- external benchmark ----------------------------------------------------------------------

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
    routers: Sequence[str] = ("length", "heuristic", "learned"),
    draws: int = 200,
    folds: int = 5,
    seed: int = SEED,
    grid: int = BENCH_GRID,
) -> BenchmarkView:
    """Every router's quality against premium share on each suite, beside random and the oracle.

    Random routing's expected curve is the straight line from the weak to the strong mean; its
    APGR is measured over ``draws`` seeded random routers (mean ± sd). The oracle routes by the
    true gain (strong − weak), the best any router can do. ``learned`` scores are held out
    (k-fold, grouped by conversation).
    """
    import pandas as pd

    from assistant.analysis.benchmark import (
        bench_scores,
        evaluate,
        load_suite,
        quality_curve,
        random_baseline,
    )

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
        scored["oracle"] = suite.strong - suite.weak
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
                    "router": "random",
                    "premium_share": ks / n,
                    "quality": weak_mean + (ks / n) * (strong_mean - weak_mean),
                }
            )
        )
        table.append(
            {
                "suite": suite.name,
                "router": "random",
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
    order = {name: i for i, name in enumerate([*routers, "random", "oracle"])}
    frame = frame.sort_values(
        ["suite", "router"], key=lambda c: c.map(order) if c.name == "router" else c
    ).reset_index(drop=True)
    return BenchmarkView(
        curves=pd.concat(curves, ignore_index=True), table=frame, suites=tuple(names)
    )


# --- page reads: open the ledger through workbench.reading, return a LedgerView ---------------


def read_ab_runs(ledger_path: str | Path, tenant: str | None = None) -> Any:
    """Runs with requests (newest first) for the A/B and live-traffic views, with ``explored``
    (requests routed at random) per run; a LedgerView."""
    from assistant.views.workbench import LedgerView, read_runs, reading

    view = read_runs(ledger_path, tenant)
    if view.data is None:
        return view
    runs = view.data[view.data["requests"] > 0].reset_index(drop=True)
    if runs.empty:
        return LedgerView(None, AB_HINT)
    try:
        with reading(ledger_path) as ledger:
            explored = explored_counts(ledger)
    except LedgerError as exc:
        return LedgerView(None, str(exc))
    runs["explored"] = [explored.get(r, 0) for r in runs["run_id"]]
    return LedgerView(runs)


def read_compare_runs(ledger_path: str | Path, run_a: str, run_b: str) -> Any:
    """:func:`compare_runs` as a LedgerView (the message says what went wrong)."""
    from assistant.views.workbench import LedgerView, reading

    try:
        with reading(ledger_path) as ledger:
            return LedgerView(compare_runs(ledger, run_a, run_b))
    except (LedgerError, ValueError) as exc:
        return LedgerView(None, str(exc))


def read_compare_thresholds(
    ledger_path: str | Path, run_id: str, threshold_a: float, threshold_b: float
) -> Any:
    """:func:`compare_thresholds` as a LedgerView."""
    from assistant.views.workbench import LedgerView, reading

    try:
        with reading(ledger_path) as ledger:
            return LedgerView(compare_thresholds(ledger, run_id, threshold_a, threshold_b))
    except (LedgerError, ValueError) as exc:
        return LedgerView(None, str(exc))


def read_ipw_curve(ledger_path: str | Path, run_id: str, reference_run: str | None = None) -> Any:
    """:func:`run_ipw_curve` as a LedgerView (data: the IPWCurve, whose message may explain
    why it has no points)."""
    from assistant.views.workbench import LedgerView, reading

    try:
        with reading(ledger_path) as ledger:
            return LedgerView(run_ipw_curve(ledger, run_id, reference_run=reference_run))
    except (LedgerError, ValueError) as exc:
        return LedgerView(None, str(exc))


def read_benchmark(paths: Sequence[str | Path] | None = None) -> Any:
    """:func:`external_benchmark` on ``paths`` (default: every CSV in datasets/routellm) as a
    LedgerView; the message says where to put CSVs when there are none."""
    from assistant.core.errors import WorkbenchError
    from assistant.views.workbench import LedgerView

    files = list(paths) if paths is not None else benchmark_csvs()
    if not files:
        return LedgerView(
            None,
            f"No per-prompt benchmark CSV in {ROUTELLM_DIR}: put RouteLLM's results there "
            "(columns item_id, prompt, weak_score, strong_score; see datasets/routellm/README.md).",
        )
    try:
        return LedgerView(external_benchmark(files))
    except (WorkbenchError, ValueError) as exc:
        return LedgerView(None, str(exc))
