"""Thresholds calibrated to a budget in USD per meeting (media) hour, for a tenant's run.

Two sources, as for any threshold judged offline:

* **exact**, from a ``--both-tiers`` run: every pair's cost per media hour and quality are read
  from its outcomes (:mod:`assistant.analysis.grid`; the one-threshold sweep for a run recorded
  before migration 9), and the best quality within the budget is chosen;
* **ipw**, from a run logged with exploration (``[routing] explore_share``): each pair's quality
  and cost per request are estimated by self-normalised inverse propensity weighting. A request
  matches a pair when both its logged tiers are the ones the pair picks; its weight is one over
  the probability of that pair of tiers (the product of the two decisions' propensities when
  they were drawn apart, the one propensity when one decision decided both).

Beside it, :func:`premium_share_thresholds` gives the thresholds that send a target share of
requests to premium (``calibrate_threshold`` on each decision's scores). Nothing here calls a
model; the live agent holds a tenant to a budget with ``[routing] budget_usd_per_hour``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.analysis.grid import (
    GRID_THRESHOLDS,
    GridPoint,
    best_under_budget,
    grid_sweep,
    has_four_combinations,
)
from assistant.core.errors import LedgerError
from assistant.core.money import format_usd

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger


@dataclass(frozen=True, slots=True)
class BudgetChoice:
    """The thresholds chosen for a budget, how they were judged, and why, in one sentence."""

    run_id: str
    tenant: str | None
    budget_usd_per_hour: float
    method: str  # "exact" (both-tier outcomes, two thresholds), "exact-one" (one), "ipw"
    vision_threshold: float | None
    llm_threshold: float | None
    mean_quality: float | None
    cost_per_media_hour_usd: float | None
    cheapest_usd_per_hour: float | None  # the cheapest pair's cost: what the budget must reach
    candidates: int
    sentence: str

    def toml(self) -> str:
        """The ``[routing]`` lines that apply the choice (and the budget, for this tenant)."""
        if self.llm_threshold is None:
            return ""
        lines = ["[routing]", f"threshold = {self.llm_threshold:g}"]
        if self.vision_threshold is not None and self.vision_threshold != self.llm_threshold:
            lines.append(f"vision_threshold = {self.vision_threshold:g}")
        if self.tenant:
            lines += [
                "[routing.tenant_budget_usd_per_hour]",
                f"{self.tenant} = {self.budget_usd_per_hour:g}",
            ]
        else:
            lines.append(f"budget_usd_per_hour = {self.budget_usd_per_hour:g}")
        return "\n".join(lines)


def _choice(
    run_id: str,
    tenant: str | None,
    budget: float,
    method: str,
    points: Sequence[Any],
    how: str,
) -> BudgetChoice:
    best = best_under_budget(points, budget)
    costs = [p.cost_per_media_hour_usd for p in points if p.cost_per_media_hour_usd is not None]
    cheapest = min(costs) if costs else None
    if best is None:
        sentence = (
            f"No threshold pair of run {run_id} stays within {format_usd(budget)} per media hour "
            f"({how}); the cheapest costs "
            + format_usd(cheapest)
            + " per media hour (transcription included): raise the budget or cheapen the tiers."
        )
        return BudgetChoice(
            run_id, tenant, budget, method, None, None, None, None, cheapest, len(points), sentence
        )
    llm_t = getattr(best, "llm_threshold", None)
    llm_t = best.threshold if llm_t is None else llm_t
    vision_t = getattr(best, "vision_threshold", llm_t)
    sentence = (
        f"Within {format_usd(budget)} per media hour, run {run_id} ({how}) is best served by vision "
        f"threshold {vision_t:.2f} and LLM threshold {llm_t:.2f}: mean quality "
        f"{best.mean_quality:.3f} at {format_usd(best.cost_per_media_hour_usd)} per media hour."
    )
    return BudgetChoice(
        run_id,
        tenant,
        budget,
        method,
        float(vision_t),
        float(llm_t),
        best.mean_quality,
        best.cost_per_media_hour_usd,
        cheapest,
        len(points),
        sentence,
    )


def calibrate_budget_exact(
    ledger: Ledger,
    run_id: str,
    budget_usd_per_hour: float,
    *,
    tenant: str | None = None,
    thresholds: Sequence[float] = GRID_THRESHOLDS,
) -> BudgetChoice:
    """The best-quality threshold pair within the budget, from a ``--both-tiers`` run's
    outcomes: the two-threshold grid when the run has the four combinations, else the
    one-threshold sweep (both decisions at one threshold)."""
    if has_four_combinations(ledger, run_id):
        grid = grid_sweep(ledger, run_id, vision_thresholds=thresholds, llm_thresholds=thresholds)
        how = f"exact, {len(grid.points)} threshold pairs of its both-tier outcomes"
        return _choice(run_id, tenant, budget_usd_per_hour, "exact", grid.points, how)
    from assistant.analysis.sweep import sweep

    result = sweep(ledger, run_id, thresholds=thresholds)
    how = f"exact, {len(result.points)} thresholds of its both-tier outcomes, one decision"
    return _choice(run_id, tenant, budget_usd_per_hour, "exact-one", result.points, how)


def ipw_grid(
    requests: pd.DataFrame,
    *,
    split: bool,
    shared_cost_usd: float = 0.0,
    media_duration_s: float | None = None,
    thresholds: Sequence[float] = GRID_THRESHOLDS,
) -> list[GridPoint]:
    """IPW estimates of every pair from logged requests (``run_requests``): ``labelled`` is
    the number of matching rows; pairs no row matches have no quality. ``split``: the run's
    two decisions were drawn apart (its config set ``vision_threshold`` or ``vision_scorer``)."""
    rows = requests[requests["quality"].notna() & requests["tier"].isin(["cheap", "premium"])]
    score = rows["score"].to_numpy(dtype=float)
    screen = rows["needs_screen"].to_numpy(dtype=bool)
    prem = (rows["tier"] == "premium").to_numpy()
    propensity = rows["propensity"].to_numpy(dtype=float)
    v_tier = rows["vision_tier"].where(rows["vision_tier"].notna(), rows["tier"])
    v_prem = (v_tier == "premium").to_numpy()
    v_score = rows["vision_score"].where(rows["vision_score"].notna(), rows["score"])
    v_score_a = v_score.to_numpy(dtype=float)
    v_prop = rows["vision_propensity"].where(rows["vision_propensity"].notna(), 1.0)
    joint = propensity * np.where(screen & split, v_prop.to_numpy(dtype=float), 1.0)
    quality = rows["quality"].to_numpy(dtype=float)
    cost = rows["total_cost_usd"].to_numpy(dtype=float)
    n_requests = len(requests)
    hours = media_duration_s / 3600 if media_duration_s else None
    points = []
    for tl in thresholds:
        llm_match = (score >= tl) == prem
        for tv in thresholds:
            match = llm_match & (~screen | ((v_score_a >= tv) == v_prem))
            w = np.where(match, 1.0 / joint, 0.0)
            total = float(w.sum())
            q = float((w * quality).sum() / total) if total else None
            c = float((w * cost).sum() / total) if total else None
            run_cost = None if c is None else shared_cost_usd + n_requests * c
            points.append(
                GridPoint(
                    vision_threshold=float(tv),
                    llm_threshold=float(tl),
                    vision_premium_share=float((v_score_a[screen] >= tv).mean())
                    if screen.any()
                    else None,
                    llm_premium_share=float((score >= tl).mean()) if len(score) else 0.0,
                    mean_quality=q,
                    labelled=int(match.sum()),
                    total_cost_usd=run_cost if run_cost is not None else float("inf"),
                    cost_per_media_hour_usd=None
                    if run_cost is None or not hours
                    else run_cost / hours,
                    p95_latency_ms=float("nan"),
                )
            )
    return points


def calibrate_budget_ipw(
    ledger: Ledger,
    run_id: str,
    budget_usd_per_hour: float,
    *,
    tenant: str | None = None,
    thresholds: Sequence[float] = GRID_THRESHOLDS,
) -> BudgetChoice:
    """The best estimated threshold pair within the budget, from a run's explored traffic."""
    from assistant.analysis.ab import _processed_s
    from assistant.ledger.queries import (
        run_requests,
        run_routing_split,
        run_shared_cost_usd,
        run_summary,
    )

    requests = run_requests(ledger, run_id)
    if requests.empty:
        raise LedgerError(f"run {run_id} has no requests to calibrate on")
    if not (requests["propensity"] < 1.0 - 1e-12).any():
        raise LedgerError(
            f"run {run_id} has no explored requests (every propensity is 1), so other "
            "thresholds cannot be estimated from it: log traffic with [routing] explore_share "
            "= 0.3, or calibrate on a --both-tiers run"
        )
    summary = run_summary(ledger, run_id)
    points = ipw_grid(
        requests,
        split=run_routing_split(ledger, run_id),
        shared_cost_usd=run_shared_cost_usd(ledger, run_id),
        media_duration_s=_processed_s(ledger, run_id) or summary.media_duration_s,
        thresholds=thresholds,
    )
    explored = int(requests["explored"].sum())
    how = f"IPW estimates from {len(requests)} logged requests, {explored} explored"
    return _choice(run_id, tenant, budget_usd_per_hour, "ipw", points, how)


def calibrate_budget(
    ledger: Ledger,
    run_id: str,
    budget_usd_per_hour: float,
    *,
    method: str = "auto",
    tenant: str | None = None,
    thresholds: Sequence[float] = GRID_THRESHOLDS,
) -> BudgetChoice:
    """``exact`` from a ``--both-tiers`` run, ``ipw`` from explored traffic; ``auto``: exact
    when the run has tier outcomes. The tenant defaults to the run's."""
    from assistant.ledger.queries import run_summary, runs_with_tier_outcomes

    if method not in ("auto", "exact", "ipw"):
        raise ValueError(f"method must be auto, exact or ipw, not {method!r}")
    tenant = tenant or run_summary(ledger, run_id).tenant
    if method == "auto":
        method = "exact" if run_id in runs_with_tier_outcomes(ledger) else "ipw"
    if method == "exact":
        return calibrate_budget_exact(
            ledger, run_id, budget_usd_per_hour, tenant=tenant, thresholds=thresholds
        )
    return calibrate_budget_ipw(
        ledger, run_id, budget_usd_per_hour, tenant=tenant, thresholds=thresholds
    )


def premium_share_thresholds(requests: pd.DataFrame, target_share: float) -> tuple[float, float]:
    """(vision threshold, LLM threshold) that send ``target_share`` of each decision's requests
    to premium (the vision one over the requests that need the screen)."""
    from assistant.routing import calibrate_threshold

    llm = calibrate_threshold(requests["score"].astype(float).tolist(), target_share)
    screen = requests[requests["needs_screen"].astype(bool)]
    if screen.empty:
        return llm, llm
    scores = screen["vision_score"].where(screen["vision_score"].notna(), screen["score"])
    return calibrate_threshold(scores.astype(float).tolist(), target_share), llm
