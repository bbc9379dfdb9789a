"""Read side of the Routing lab's two-decision views: the (vision, LLM) threshold grid of a
``--both-tiers`` run, the best pair within a budget, and the A/B of two pairs, as
:class:`~assistant.views.result.View`s. No Streamlit import; the analyses load when first asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.core.errors import LedgerError
from assistant.core.money import format_usd
from assistant.views.result import ErrorKind, View, ledger_error, read_ledger, reading


def read_grid(
    ledger_path: str | Path, run_id: str, target: float = 0.95, budget: float | None = None
) -> View[Any]:
    """One run's two-threshold grid, ready to draw; ``EMPTY`` (with what to do) for a run
    without the four combinations of tiers.

    ``data`` holds ``points`` (one row per pair: ``vision_threshold``, ``llm_threshold``, the
    premium shares, ``mean_quality``, ``labelled``, ``cost_usd`` (per media hour when known, else
    the run's total), ``p95_latency_ms``, ``front`` ('Pareto' / 'dominated'), ``recommended``,
    ``within_budget``, ``distinct``: one Pareto pair per cost and quality), ``cost_title``, ``recommended`` and ``best_in_budget`` (dicts or None),
    ``sentence``, ``budget_sentence`` and ``screen_requests``."""
    import pandas as pd

    from assistant.analysis.grid import grid_sweep, has_four_combinations

    try:
        with reading(ledger_path) as ledger:
            if not has_four_combinations(ledger, run_id):
                return View.fail(
                    ErrorKind.EMPTY,
                    f"Run {run_id} has no outcomes with vision and answer on different tiers "
                    "(a one-decision --both-tiers run, or no question needs the screen). Replay "
                    "with --both-tiers to sweep both thresholds: `python -m assistant replay "
                    "datasets/demo --stt recorded --both-tiers`.",
                )
            grid = grid_sweep(ledger, run_id)
    except LedgerError as exc:
        return ledger_error(exc)
    best = grid.recommend(target)
    front = {(p.vision_threshold, p.llm_threshold) for p in grid.pareto()}
    distinct = {(p.vision_threshold, p.llm_threshold) for p in grid.pareto(distinct=True)}
    in_budget = None if budget is None else grid.within_budget(budget)
    points = pd.DataFrame(
        [
            {
                "vision_threshold": p.vision_threshold,
                "llm_threshold": p.llm_threshold,
                "vision_premium_share": p.vision_premium_share,
                "llm_premium_share": p.llm_premium_share,
                "mean_quality": p.mean_quality,
                "labelled": p.labelled,
                "total_cost_usd": p.total_cost_usd,
                "cost_per_media_hour_usd": p.cost_per_media_hour_usd,
                "p95_latency_ms": p.p95_latency_ms,
                "front": "Pareto"
                if (p.vision_threshold, p.llm_threshold) in front
                else "dominated",
                "distinct": (p.vision_threshold, p.llm_threshold) in distinct,
                "recommended": p is best,
                "within_budget": None
                if budget is None or p.cost_per_media_hour_usd is None
                else p.cost_per_media_hour_usd <= budget,
                "best_in_budget": p is in_budget,
            }
            for p in grid.points
        ]
    )
    per_hour = points["cost_per_media_hour_usd"].notna().all()
    points["cost_usd"] = points["cost_per_media_hour_usd" if per_hour else "total_cost_usd"]

    def pick(flag: str) -> dict[str, Any] | None:
        chosen = points[points[flag]]
        return None if chosen.empty else chosen.iloc[0].to_dict()

    if best is None:
        sentence = f"No threshold pair reaches {target:.0%} of all-premium quality."
    else:
        sentence = (
            f"Cheapest pair reaching {target:.0%} of all-premium quality: vision "
            f"{best.vision_threshold:.2f}, LLM {best.llm_threshold:.2f} (quality "
            f"{best.mean_quality:.3f})."
        )
    budget_sentence = ""
    if budget is not None:
        budget_sentence = (
            f"No pair stays within {format_usd(budget)} per media hour."
            if in_budget is None
            else f"Best within {format_usd(budget)} per media hour: vision "
            f"{in_budget.vision_threshold:.2f}, LLM {in_budget.llm_threshold:.2f} (quality "
            f"{in_budget.mean_quality:.3f} at {format_usd(in_budget.cost_per_media_hour_usd)})."
        )
    return View(
        {
            "points": points,
            "cost_title": "cost per media hour (USD)" if per_hour else "run cost (USD)",
            "recommended": pick("recommended"),
            "best_in_budget": pick("best_in_budget"),
            "sentence": sentence,
            "budget_sentence": budget_sentence,
            "screen_requests": grid.screen_requests,
            "requests": grid.requests,
        }
    )


def read_compare_pairs(
    ledger_path: str | Path,
    run_id: str,
    pair_a: tuple[float, float],
    pair_b: tuple[float, float],
) -> View[Any]:
    """:func:`~assistant.analysis.grid.compare_pairs` on one ``--both-tiers`` run."""
    from assistant.analysis.grid import compare_pairs

    return read_ledger(
        ledger_path,
        lambda ledger: compare_pairs(ledger, run_id, pair_a, pair_b),
        catch=(ValueError,),
    )
