"""Off-policy estimates from live traffic: what other thresholds would have cost and scored, from a
run logged with exploration (``[routing] explore_share``), by inverse propensity weighting
(:func:`assistant.routing.calibration.ipw_estimate`), with seeded bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from assistant.analysis.ab import SEED, FloatArray, IntArray, _finite, _processed_s

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger

EXPLORE_HINT = (
    "To estimate other thresholds from live traffic, log some requests with a random tier: put "
    "`[routing]` `explore_share = 0.3` in a TOML file and replay with it, e.g. "
    "`python -m assistant replay datasets/demo --stt recorded --config explore.toml`."
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


# --- from live traffic, both decisions: cost without labels, quality where labelled ----------


@dataclass(frozen=True, slots=True)
class LiveEstimate:
    """Other policies' cost (every request) and quality (labelled requests only) estimated from
    a run's logged decisions, e.g. a ``RoutedLLM`` run: ``points`` holds one row per (threshold,
    vision threshold) with ``cost_usd`` (mean per request) and its 95% interval, the
    ``premium_share`` the policy would route, ``quality`` and its interval (None without
    labels), ``matched`` rows and Kish's ``effective_n``. ``message`` says why there are none."""

    run_id: str
    rows: int
    explored: int
    labelled: int
    logged_cost_usd: float | None  # mean per request as logged
    points: pd.DataFrame | None
    message: str | None
    resamples: int


@dataclass(frozen=True, slots=True)
class _Logged:
    score: FloatArray
    premium: npt.NDArray[np.bool_]
    propensity: FloatArray
    vision_score: FloatArray  # NaN: the request had no vision decision
    vision_premium: npt.NDArray[np.bool_]
    vision_propensity: FloatArray
    one_decision: npt.NDArray[np.bool_]  # the vision decision *was* the turn's decision
    cost: FloatArray
    quality: FloatArray  # NaN: not labelled


def _logged(requests: pd.DataFrame) -> _Logged:
    def col(name: str, default: float = np.nan) -> FloatArray:
        if name not in requests:
            return np.full(len(requests), default)
        return requests[name].astype("float64").fillna(default).to_numpy(dtype=np.float64)

    premium = (requests["tier"] == "premium").to_numpy()
    vision_tier = requests.get("vision_tier", None)
    vision_premium = (
        (vision_tier == "premium").fillna(False).to_numpy(dtype=bool)
        if vision_tier is not None
        else np.zeros(len(requests), dtype=bool)
    )
    score, propensity = col("score"), col("propensity", 1.0)
    vision_score, vision_propensity = col("vision_score"), col("vision_propensity", 1.0)
    # one decision (RoutedLLM's image turns, a pipeline without a split): same score, tier, draw
    one = (
        ~np.isnan(vision_score)
        & np.isclose(vision_score, score)
        & (vision_premium == premium)
        & np.isclose(vision_propensity, propensity)
    )
    return _Logged(
        score,
        premium,
        propensity,
        vision_score,
        vision_premium,
        vision_propensity,
        one,
        col("total_cost_usd", 0.0),
        col("quality"),
    )


def _policy_weights(
    logged: _Logged, threshold: float, vision_threshold: float
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Per request: its IPW weight under the policy (0 where a logged tier is not the policy's)
    and the tier the policy gives the answer (True: premium)."""
    has_vision = ~np.isnan(logged.vision_score)
    with np.errstate(invalid="ignore"):
        vision_choice = logged.vision_score >= vision_threshold
    choice = np.where(has_vision & logged.one_decision, vision_choice, logged.score >= threshold)
    match = choice == logged.premium
    weight = 1.0 / logged.propensity
    two = has_vision & ~logged.one_decision
    match = match & np.where(two, vision_choice == logged.vision_premium, True)
    weight = np.where(two, weight / logged.vision_propensity, weight)
    return np.where(match, weight, 0.0), choice


def _snips(weight: FloatArray, values: FloatArray, idx: IntArray) -> FloatArray:
    """Self-normalised IPW means of ``values`` (NaN rows skipped) per resample row of ``idx``."""
    ok = ~np.isnan(values)
    w = np.where(ok, weight, 0.0)[idx]
    v = np.where(ok, values, 0.0)[idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = (w * v).sum(axis=1) / w.sum(axis=1)
    return out


def live_estimate(
    requests: pd.DataFrame,
    *,
    run_id: str = "",
    thresholds: Sequence[float] | None = None,
    vision_thresholds: Sequence[float] | None = None,
    resamples: int = 1000,
    seed: int = SEED,
) -> LiveEstimate:
    """Estimates for every (threshold, vision threshold) pair (``vision_thresholds`` None: the
    same as the threshold) from a run's requests (``run_requests``): each request whose logged
    tiers are the ones the policy picks weighs ``1 / propensity`` (times the vision decision's
    propensity when it was a decision of its own); intervals: ``resamples`` seeded bootstrap
    resamples of the requests."""
    import pandas as pd

    grid = [round(i / 20, 2) for i in range(21)] if thresholds is None else list(thresholds)
    pairs = (
        [(t, t) for t in grid]
        if vision_thresholds is None
        else [(t, v) for t in grid for v in vision_thresholds]
    )
    rows = requests[requests["tier"].isin(["cheap", "premium"])] if len(requests) else requests
    explored = int(rows["explored"].sum()) if "explored" in rows and len(rows) else 0
    labelled = int(rows["quality"].notna().sum()) if "quality" in rows and len(rows) else 0
    logged_cost = float(rows["total_cost_usd"].mean()) if len(rows) else None

    def result(points: pd.DataFrame | None, message: str | None) -> LiveEstimate:
        return LiveEstimate(
            run_id, len(rows), explored, labelled, logged_cost, points, message, resamples
        )

    if rows.empty:
        return result(None, f"Run {run_id} has no routed requests.")
    if not (rows["propensity"] < 1.0 - 1e-12).any():
        return result(
            None,
            f"Run {run_id} has no explored requests: every tier was chosen with propensity 1, "
            f"so other thresholds cannot be estimated from it. Route with explore_share > 0 "
            f"(RoutedLLM(explore_share=0.1), or {EXPLORE_HINT[0].lower()}{EXPLORE_HINT[1:]})",
        )
    logged = _logged(rows)
    n = len(rows)
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    whole = np.arange(n)[None, :]
    table = []
    for t, v in pairs:
        weight, choice = _policy_weights(logged, float(t), float(v))
        matched = int((weight > 0).sum())
        eff = float(weight.sum() ** 2 / (weight**2).sum()) if matched else 0.0
        cost = float(_snips(weight, logged.cost, whole)[0]) if matched else None
        quality = _snips(weight, logged.quality, whole)[0] if labelled else np.nan
        cost_draws = _snips(weight, logged.cost, idx)
        quality_draws = _snips(weight, logged.quality, idx) if labelled else np.full(1, np.nan)
        c_ok, q_ok = cost_draws[np.isfinite(cost_draws)], quality_draws[np.isfinite(quality_draws)]
        c_lo, c_hi = (
            np.percentile(c_ok, [2.5, 97.5]) if c_ok.size >= resamples // 2 else (None,) * 2
        )
        q_lo, q_hi = (
            np.percentile(q_ok, [2.5, 97.5]) if q_ok.size >= resamples // 2 else (None,) * 2
        )
        table.append(
            {
                "threshold": float(t),
                "vision_threshold": float(v),
                "premium_share": float(choice.mean()),
                "cost_usd": cost,
                "cost_low": None if c_lo is None else float(c_lo),
                "cost_high": None if c_hi is None else float(c_hi),
                "quality": float(quality) if np.isfinite(quality) else None,
                "quality_low": None if q_lo is None else float(q_lo),
                "quality_high": None if q_hi is None else float(q_hi),
                "matched": matched,
                "effective_n": eff,
            }
        )
    return result(pd.DataFrame(table), None)


def run_live_estimate(
    ledger: Ledger,
    run_id: str,
    *,
    thresholds: Sequence[float] | None = None,
    vision_thresholds: Sequence[float] | None = None,
    resamples: int = 1000,
    seed: int = SEED,
) -> LiveEstimate:
    """:func:`live_estimate` for one run of the ledger (a ``RoutedLLM`` run, or any run logged
    with exploration)."""
    from assistant.ledger.queries import run_requests

    return live_estimate(
        run_requests(ledger, run_id),
        run_id=run_id,
        thresholds=thresholds,
        vision_thresholds=vision_thresholds,
        resamples=resamples,
        seed=seed,
    )
