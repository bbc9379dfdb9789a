"""A simulated fleet whose both-tier outcomes are known: the check that live-traffic estimates
(:func:`~assistant.analysis.offpolicy.live_estimate`) land near the truth.

Synthetic traffic, labelled as such: each turn has a complexity score, maybe an image (then the
vision decision routes it, with its own score and threshold, as ``RoutedLLM`` does), and what
either tier would have cost and scored. Costs follow token counts at GPT-4o-mini / GPT-4o list
prices; the cheap tier's quality falls with the score, the premium tier's stays high. The fleet
is routed by the workbench's routers with exploration, exactly as logged traffic is, so the
estimate of another policy can be set beside that policy's true mean over every turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from assistant.routing import CHEAP, PREMIUM
from assistant.routing.registry import make_router

if TYPE_CHECKING:
    import pandas as pd

CHEAP_USD_PER_MTOK = (0.15, 0.60)  # input, output: gpt-4o-mini's list prices
PREMIUM_USD_PER_MTOK = (2.50, 10.00)  # gpt-4o's


@dataclass(frozen=True, slots=True)
class Fleet:
    """``logged``: one row per turn as the ledger holds it (score, tier, propensity, explored,
    vision_*, total_cost_usd, quality of the tier taken); ``outcomes``: per turn, both tiers'
    cost and quality and the scores (the truth no live run has)."""

    logged: pd.DataFrame
    outcomes: pd.DataFrame


def simulate_fleet(
    turns: int,
    *,
    threshold: float,
    vision_threshold: float,
    explore_share: float,
    image_share: float = 0.2,
    seed: int = 0,
) -> Fleet:
    import pandas as pd

    rng = np.random.default_rng(seed)
    score = rng.beta(2.0, 2.5, turns)
    has_image = rng.random(turns) < image_share
    vision_score = np.where(has_image, rng.beta(2.0, 2.0, turns), np.nan)
    input_tokens = rng.lognormal(7.0, 0.6, turns) * np.where(has_image, 2.0, 1.0)
    output_tokens = rng.lognormal(4.5, 0.5, turns) * (0.5 + score)

    def cost(rates: tuple[float, float]) -> np.ndarray:
        return (input_tokens * rates[0] + output_tokens * rates[1]) / 1e6

    hardness = np.where(has_image, np.nan_to_num(vision_score), score)
    outcomes = pd.DataFrame(
        {
            "score": score,
            "vision_score": vision_score,
            "cost_cheap": cost(CHEAP_USD_PER_MTOK),
            "cost_premium": cost(PREMIUM_USD_PER_MTOK),
            "quality_cheap": np.clip(0.95 - 0.7 * hardness + rng.normal(0, 0.05, turns), 0, 1),
            "quality_premium": np.clip(0.92 - 0.1 * hardness + rng.normal(0, 0.05, turns), 0, 1),
        }
    )
    router = make_router("threshold", threshold=threshold, seed=seed, explore_share=explore_share)
    vision_router = make_router(
        "threshold", threshold=vision_threshold, seed=seed + 1000, explore_share=explore_share
    )
    rows = []
    for i in range(turns):
        image = bool(has_image[i])
        route = (vision_router if image else router).route(
            float(vision_score[i] if image else score[i])
        )
        premium = route.tier == PREMIUM
        rows.append(
            {
                "request_id": f"sim-{i}",
                "score": float(vision_score[i] if image else score[i]),
                "tier": route.tier,
                "propensity": route.propensity,
                "explored": route.explored,
                "threshold": vision_threshold if image else threshold,
                "vision_score": float(vision_score[i]) if image else None,
                "vision_tier": route.tier if image else None,
                "vision_propensity": route.propensity if image else None,
                "total_cost_usd": float(
                    outcomes.at[i, "cost_premium" if premium else "cost_cheap"]
                ),
                "quality": float(outcomes.at[i, "quality_premium" if premium else "quality_cheap"]),
            }
        )
    return Fleet(pd.DataFrame(rows), outcomes)


def fleet_truth(fleet: Fleet, threshold: float, vision_threshold: float) -> tuple[float, float]:
    """The policy's true mean cost per turn and quality over every turn of the fleet."""
    o = fleet.outcomes
    image = o["vision_score"].notna().to_numpy()
    choice = np.where(
        image, o["vision_score"].fillna(0).to_numpy() >= vision_threshold, o["score"] >= threshold
    )
    cost = np.where(choice, o["cost_premium"], o["cost_cheap"])
    quality = np.where(choice, o["quality_premium"], o["quality_cheap"])
    return float(cost.mean()), float(quality.mean())


def fleet_check(
    fleet: Fleet,
    pairs: list[tuple[float, float]],
    *,
    resamples: int = 400,
    seed: int = 0,
) -> pd.DataFrame:
    """Per (threshold, vision threshold): the estimate from the logged traffic, its interval,
    the truth, and the relative errors of cost and quality."""
    import pandas as pd

    from assistant.analysis.offpolicy import live_estimate

    thresholds = sorted({t for t, _ in pairs})
    visions = sorted({v for _, v in pairs})
    estimate = live_estimate(
        fleet.logged,
        run_id="simulated-fleet",
        thresholds=thresholds,
        vision_thresholds=visions,
        resamples=resamples,
        seed=seed,
    )
    if estimate.points is None:
        raise ValueError(estimate.message or "no estimate")
    points = estimate.points.set_index(["threshold", "vision_threshold"])
    rows = []
    for t, v in pairs:
        p = points.loc[(float(t), float(v))]
        true_cost, true_quality = fleet_truth(fleet, t, v)
        rows.append(
            {
                "threshold": t,
                "vision_threshold": v,
                "cost_usd": p["cost_usd"],
                "cost_low": p["cost_low"],
                "cost_high": p["cost_high"],
                "true_cost_usd": true_cost,
                "cost_error": abs(p["cost_usd"] - true_cost) / true_cost,
                "quality": p["quality"],
                "quality_low": p["quality_low"],
                "quality_high": p["quality_high"],
                "true_quality": true_quality,
                "quality_error": abs(p["quality"] - true_quality) / true_quality,
                "effective_n": p["effective_n"],
            }
        )
    return pd.DataFrame(rows)


__all__ = ["CHEAP", "Fleet", "fleet_check", "fleet_truth", "simulate_fleet"]
