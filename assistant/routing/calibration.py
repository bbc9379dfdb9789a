"""Thresholds from targets, and thresholds judged from logged traffic.

* ``calibrate_threshold(scores, target_share)``: the threshold ``t`` such that the share of
  ``score >= t`` is as close as the scores allow to ``target_share`` (RouteLLM calibrates its
  threshold from a target share of strong calls the same way).
* ``ipw_estimate(rows, threshold)``: the mean quality (and cost) a threshold *would* have had, from
  requests logged under another policy, by inverse propensity weighting. It needs every tier to
  have had a chance on every request: route with ``Exploring`` so a share of requests is random.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.routing.routers import CHEAP, PREMIUM


def premium_share(scores: Sequence[float], threshold: float) -> float:
    """The share of ``scores`` at or above ``threshold`` (routed to premium)."""
    if not scores:
        raise ValueError("no scores")
    return sum(s >= threshold for s in scores) / len(scores)


def calibrate_threshold(scores: Sequence[float], target_share: float) -> float:
    """The threshold whose premium share on ``scores`` is nearest ``target_share``.

    Tied scores cannot be split, so the share reached is the nearest achievable one (ties between
    two achievable shares go to the smaller, cheaper one). The threshold returned sits halfway
    between the last score routed to premium and the next lower score, so new scores near the edge
    are not decided by rounding; for a share of 0 it is just above the highest score.
    """
    if not 0.0 <= target_share <= 1.0:
        raise ValueError(f"target_share must be in [0, 1], got {target_share}")
    if not scores:
        raise ValueError("no scores to calibrate on")
    values = sorted({float(s) for s in scores}, reverse=True)
    n = len(scores)
    counts: dict[float, int] = {}
    for s in scores:
        counts[float(s)] = counts.get(float(s), 0) + 1
    best_k, best_share, at_or_above = -1, 0.0, 0  # k = -1: nothing routed to premium
    for k, value in enumerate(values):
        at_or_above += counts[value]
        share = at_or_above / n
        if abs(share - target_share) < abs(best_share - target_share) - 1e-12:
            best_k, best_share = k, share
    if best_k == -1:
        return math.nextafter(values[0], math.inf)
    if best_k == len(values) - 1:
        return values[-1]
    return (values[best_k] + values[best_k + 1]) / 2


@dataclass(frozen=True, slots=True)
class LoggedRoute:
    """One logged request: its score, the tier it took with that tier's propensity, the outcome."""

    score: float
    tier: str
    propensity: float
    quality: float | None
    cost_usd: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LoggedRoute:
        """From a ledger row (``score``, ``tier``, ``propensity``, ``quality``, ``total_cost_usd``)."""
        cost = row.get("cost_usd", row.get("total_cost_usd"))
        quality = row.get("quality")
        return cls(
            score=float(row["score"]),
            tier=str(row["tier"]),
            propensity=float(row["propensity"]),
            quality=None if quality is None else float(quality),
            cost_usd=None if cost is None else float(cost),
        )


@dataclass(frozen=True, slots=True)
class IPWEstimate:
    """What a threshold policy would have scored on the logged requests.

    ``quality`` and ``cost_usd`` are per-request means; ``matched`` counts the rows where the logged
    tier is the one the policy picks (only those carry weight); ``effective_n`` is Kish's effective
    sample size of the weights (small: the estimate is noisy).
    """

    threshold: float
    quality: float
    cost_usd: float | None
    premium_share: float
    rows: int
    matched: int
    effective_n: float


def ipw_estimate(
    rows: Iterable[LoggedRoute | Mapping[str, Any]],
    threshold: float,
    *,
    self_normalized: bool = True,
) -> IPWEstimate:
    """Off-policy estimate of the threshold policy ``score >= threshold → premium``.

    Each logged row whose tier matches the policy's choice weighs ``1 / propensity``; rows without
    a quality are skipped. ``self_normalized`` divides by the sum of weights (less variance, small
    bias) instead of the number of rows (unbiased when propensities are right).
    """
    logged = [r if isinstance(r, LoggedRoute) else LoggedRoute.from_row(r) for r in rows]
    logged = [r for r in logged if r.quality is not None]
    if not logged:
        raise ValueError("no logged rows with a quality to estimate from")
    total_w = total_w2 = quality = cost = 0.0
    has_cost = all(r.cost_usd is not None for r in logged)
    matched = 0
    for r in logged:
        if r.tier not in (CHEAP, PREMIUM):
            raise ValueError(f"unknown tier {r.tier!r}")
        if not 0.0 < r.propensity <= 1.0:
            raise ValueError(f"propensity must be in (0, 1], got {r.propensity}")
        policy_tier = PREMIUM if r.score >= threshold else CHEAP
        if policy_tier != r.tier:
            continue
        w = 1.0 / r.propensity
        matched += 1
        total_w += w
        total_w2 += w * w
        quality += w * (r.quality or 0.0)
        cost += w * (r.cost_usd or 0.0)
    if matched == 0:
        raise ValueError(
            f"no logged request took the tier a threshold of {threshold} picks: "
            "log traffic with exploration (Exploring) to evaluate other thresholds"
        )
    denominator = total_w if self_normalized else float(len(logged))
    return IPWEstimate(
        threshold=threshold,
        quality=quality / denominator,
        cost_usd=cost / denominator if has_cost else None,
        premium_share=premium_share([r.score for r in logged], threshold),
        rows=len(logged),
        matched=matched,
        effective_n=total_w**2 / total_w2 if total_w2 else 0.0,
    )
