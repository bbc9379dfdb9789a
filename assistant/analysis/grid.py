"""Two-threshold sweep over a ``--both-tiers`` run: every (vision threshold, LLM threshold) pair.

A request takes the premium answer when its score is ``>= llm threshold`` and, when it needs the
screen, the premium screen reading when its vision score is ``>= vision threshold`` (the two
decisions of ``assistant.pipeline.orchestrator``). Since migration 9 a ``--both-tiers`` run
records all four combinations of a screen question (two of the others), so any pair's cost,
quality and p95 latency is read from those outcomes; no model is called here.

The one-threshold sweep (:mod:`assistant.analysis.sweep`) is this grid's diagonal for a run with
one decision (the vision score is the answer's score): the tests check that they agree. Figures
are as in the one-threshold sweep: cost adds the run's calls outside any request (transcription),
mean quality is over the requests whose answer at that pair has a known quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.core.errors import LedgerError
from assistant.core.money import format_usd

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger

GRID_THRESHOLDS: tuple[float, ...] = tuple(round(i / 20, 2) for i in range(21))  # every 0.05
# (vision tier, llm tier) -> the wide table's column suffix
COMBINATIONS: dict[tuple[bool, bool], str] = {
    (False, False): "cheap",
    (True, True): "premium",
    (False, True): "vcheap_lpremium",
    (True, False): "vpremium_lcheap",
}
_LABELS = {
    "cheap": "cheap",
    "premium": "premium",
    "vcheap_lpremium": "cheap-vision/premium-llm",
    "vpremium_lcheap": "premium-vision/cheap-llm",
}
FOUR_HINT = (
    "replay with --both-tiers (since ledger migration 9 it records the four combinations of "
    "vision and answer tiers of every question that needs the screen)"
)


@dataclass(frozen=True, slots=True)
class GridPoint:
    vision_threshold: float
    llm_threshold: float
    vision_premium_share: (
        float | None
    )  # of the requests that need the screen (None: there are none)
    llm_premium_share: float
    mean_quality: float | None  # over ``labelled`` requests
    labelled: int
    total_cost_usd: float  # requests at this pair plus transcription
    cost_per_media_hour_usd: float | None
    p95_latency_ms: float


@dataclass(frozen=True, slots=True)
class GridResult:
    run_id: str
    requests: int
    screen_requests: int
    media_duration_s: float | None
    points: tuple[GridPoint, ...]
    premium_quality: float | None  # both decisions premium everywhere
    cheap_quality: float | None

    def pareto(self, *, distinct: bool = False) -> list[GridPoint]:
        """Pairs no other pair beats on both cost (lower) and quality (higher), cheapest first.
        Many pairs route every request alike; ``distinct`` keeps one pair (the highest
        thresholds) per cost and quality."""
        scored = [p for p in self.points if p.mean_quality is not None]
        cost = np.array([p.total_cost_usd for p in scored])
        quality = np.array([p.mean_quality or 0.0 for p in scored])
        front = []
        for i, p in enumerate(scored):
            better = (cost <= cost[i]) & (quality >= quality[i])
            strictly = (cost < cost[i]) | (quality > quality[i])
            if not (better & strictly).any():
                front.append(p)
        front.sort(key=lambda p: (p.total_cost_usd, -p.llm_threshold, -p.vision_threshold))
        if not distinct:
            return front
        seen: set[tuple[float, float | None]] = set()
        kept = []
        for p in front:
            if (p.total_cost_usd, p.mean_quality) not in seen:
                seen.add((p.total_cost_usd, p.mean_quality))
                kept.append(p)
        return kept

    def recommend(self, target_share_of_premium_quality: float = 0.95) -> GridPoint | None:
        """The cheapest pair whose mean quality reaches ``target`` x all-premium quality (ties:
        fewer premium answers, then fewer premium readings, then the higher thresholds)."""
        if self.premium_quality is None:
            return None
        goal = target_share_of_premium_quality * self.premium_quality
        meeting = [
            p for p in self.points if p.mean_quality is not None and p.mean_quality >= goal - 1e-12
        ]
        if not meeting:
            return None
        return min(meeting, key=_cheapest)

    def within_budget(self, usd_per_media_hour: float) -> GridPoint | None:
        """The best-quality pair whose cost per media hour is within the budget (ties: the
        cheaper, then fewer premium decisions, then the higher thresholds); None when none is."""
        return best_under_budget(self.points, usd_per_media_hour)

    def to_dict(self, target_share_of_premium_quality: float = 0.95) -> dict[str, Any]:
        best = self.recommend(target_share_of_premium_quality)
        return {
            "run_id": self.run_id,
            "requests": self.requests,
            "screen_requests": self.screen_requests,
            "media_duration_s": self.media_duration_s,
            "premium_quality": self.premium_quality,
            "cheap_quality": self.cheap_quality,
            "target_share_of_premium_quality": target_share_of_premium_quality,
            "recommended": None if best is None else asdict(best),
            "pareto": [[p.vision_threshold, p.llm_threshold] for p in self.pareto()],
            "pareto_distinct": [
                [p.vision_threshold, p.llm_threshold] for p in self.pareto(distinct=True)
            ],
            "points": [asdict(p) for p in self.points],
        }


def _cheapest(p: Any) -> tuple[float, ...]:
    """Cheaper first, then fewer premium decisions, then higher thresholds (a grid point, or a
    one-threshold :class:`~assistant.analysis.sweep.SweepPoint`)."""
    llm_share = getattr(p, "llm_premium_share", None)
    llm_t = getattr(p, "llm_threshold", None)
    return (
        p.total_cost_usd,
        p.premium_share if llm_share is None else llm_share,
        getattr(p, "vision_premium_share", None) or 0.0,
        -(p.threshold if llm_t is None else llm_t),
        -getattr(p, "vision_threshold", 0.0),
    )


def best_under_budget(points: Sequence[Any], usd_per_media_hour: float) -> Any | None:
    """Of ``points`` (anything with ``cost_per_media_hour_usd``, ``mean_quality``, the premium
    shares and thresholds), the best quality within ``usd_per_media_hour``; None when none is."""
    if usd_per_media_hour < 0:
        raise ValueError(f"a budget must be >= 0 USD per media hour, got {usd_per_media_hour}")
    if points and all(p.cost_per_media_hour_usd is None for p in points):
        raise LedgerError(
            "the run has no media duration, so its cost per media hour is unknown: "
            "a budget in USD per media hour cannot be checked against it"
        )
    within = [
        p
        for p in points
        if p.mean_quality is not None
        and p.cost_per_media_hour_usd is not None
        and p.cost_per_media_hour_usd <= usd_per_media_hour * (1 + 1e-12)
    ]
    if not within:
        return None
    return min(within, key=lambda p: (-(p.mean_quality or 0.0), *_cheapest(p)))


def grid_arrays(ledger: Ledger, run_id: str) -> dict[str, np.ndarray]:
    """The run's outcomes per request (``tier_outcomes_wide``) as float arrays, checked: every
    request has its two plain outcomes, and every screen request its two mixed ones."""
    from assistant.ledger.queries import tier_outcomes_wide

    table = tier_outcomes_wide(ledger, run_id)
    data = {
        name: table.column(name).to_numpy().astype(float, copy=False) for name in table.column_names
    }
    if data["score"].size == 0:
        raise LedgerError(f"run {run_id} has no tier outcomes; {FOUR_HINT}")
    screen = data["needs_screen"] > 0
    for name in COMBINATIONS.values():
        needed = np.ones_like(screen) if name in ("cheap", "premium") else screen
        if (data[f"n_{name}"][needed] != 1).any() or data["n_other"].any():
            raise LedgerError(
                f"run {run_id} lacks the {_LABELS[name]} outcome of some requests "
                f"(or has it twice): {FOUR_HINT}"
            )
    return data


def grid_from_arrays(
    data: dict[str, np.ndarray],
    *,
    run_id: str = "",
    shared_cost_usd: float = 0.0,
    media_duration_s: float | None = None,
    vision_thresholds: Sequence[float] = GRID_THRESHOLDS,
    llm_thresholds: Sequence[float] = GRID_THRESHOLDS,
) -> GridResult:
    """Every pair's figures from per-request arrays (:func:`grid_arrays`'s shape). Per LLM
    threshold, all vision thresholds at once: a (vision thresholds x requests) choice of outcome."""
    score = data["score"]
    n = score.size
    screen = data["needs_screen"] > 0
    v_score = np.where(screen, np.nan_to_num(data["vision_score"], nan=-np.inf), -np.inf)
    values: dict[str, dict[str, np.ndarray]] = {}
    for metric in ("cost", "quality", "latency"):
        got = {name: data[f"{metric}_{name}"] for name in COMBINATIONS.values()}
        # without a screen the vision tier changes nothing: the mixed outcomes are the plain ones
        got["vcheap_lpremium"] = np.where(screen, got["vcheap_lpremium"], got["premium"])
        got["vpremium_lcheap"] = np.where(screen, got["vpremium_lcheap"], got["cheap"])
        values[metric] = got
    tv = np.asarray(vision_thresholds, dtype=float)
    vision_premium = v_score[None, :] >= tv[:, None]  # (T_v, n)
    screens = int(screen.sum())
    v_share = vision_premium[:, screen].mean(axis=1) if screens else None
    points = []
    for tl in llm_thresholds:
        llm_premium = np.broadcast_to(score >= tl, vision_premium.shape)

        def pick(metric: str, llm_premium: np.ndarray = llm_premium) -> np.ndarray:
            got = values[metric]
            return np.where(
                vision_premium,
                np.where(llm_premium, got["premium"], got["vpremium_lcheap"]),
                np.where(llm_premium, got["vcheap_lpremium"], got["cheap"]),
            )

        cost = pick("cost").sum(axis=1) + shared_cost_usd
        quality = pick("quality")
        known = ~np.isnan(quality)
        labelled = known.sum(axis=1)
        q_sum = np.where(known, quality, 0.0).sum(axis=1)
        p95 = np.percentile(pick("latency"), 95, axis=1)
        share = float((score >= tl).mean())
        for j, t in enumerate(tv):
            total = float(cost[j])
            points.append(
                GridPoint(
                    vision_threshold=float(t),
                    llm_threshold=float(tl),
                    vision_premium_share=None if v_share is None else float(v_share[j]),
                    llm_premium_share=share,
                    mean_quality=float(q_sum[j] / labelled[j]) if labelled[j] else None,
                    labelled=int(labelled[j]),
                    total_cost_usd=total,
                    cost_per_media_hour_usd=total / media_duration_s * 3600
                    if media_duration_s
                    else None,
                    p95_latency_ms=float(p95[j]),
                )
            )

    def mean(values: np.ndarray) -> float | None:
        values = values[~np.isnan(values)]
        return float(values.mean()) if values.size else None

    return GridResult(
        run_id=run_id,
        requests=n,
        screen_requests=screens,
        media_duration_s=media_duration_s,
        points=tuple(points),
        premium_quality=mean(values["quality"]["premium"]),
        cheap_quality=mean(values["quality"]["cheap"]),
    )


def grid_sweep(
    ledger: Ledger,
    run_id: str,
    *,
    vision_thresholds: Sequence[float] = GRID_THRESHOLDS,
    llm_thresholds: Sequence[float] = GRID_THRESHOLDS,
) -> GridResult:
    """Every (vision, LLM) threshold pair's figures for ``run_id``; LedgerError when it lacks
    the four combinations (a one-decision ``--both-tiers`` run from before migration 9)."""
    from assistant.ledger.queries import run_media_duration_s, run_shared_cost_usd

    duration = run_media_duration_s(ledger, run_id)
    data = grid_arrays(ledger, run_id)
    return grid_from_arrays(
        data,
        run_id=run_id,
        shared_cost_usd=run_shared_cost_usd(ledger, run_id),
        media_duration_s=duration,
        vision_thresholds=vision_thresholds,
        llm_thresholds=llm_thresholds,
    )


def has_four_combinations(ledger: Ledger, run_id: str) -> bool:
    """Whether ``run_id`` holds every combination the grid needs (and a screen question)."""
    try:
        data = grid_arrays(ledger, run_id)
    except LedgerError:
        return False
    return bool((data["needs_screen"] > 0).any())


def format_grid(result: GridResult, *, target: float = 0.95, budget: float | None = None) -> str:
    """The Pareto pairs, the recommendation and (with ``budget``) the best pair within it."""

    def q(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    def row(p: GridPoint) -> str:
        per_hour = (
            "n/a" if p.cost_per_media_hour_usd is None else f"{p.cost_per_media_hour_usd:.4f}"
        )
        v_share = "n/a" if p.vision_premium_share is None else f"{p.vision_premium_share:.0%}"
        return (
            f"{p.vision_threshold:>6.2f}  {p.llm_threshold:>6.2f}  {v_share:>8}  "
            f"{p.llm_premium_share:>7.0%}  {q(p.mean_quality):>7}  {p.total_cost_usd:>10.6f}  "
            f"{per_hour:>9}  {p.p95_latency_ms:>8.0f}"
        )

    header = (
        f"{'vision':>6}  {'llm':>6}  {'vision %':>8}  {'llm %':>7}  {'quality':>7}  "
        f"{'cost USD':>10}  {'USD/hour':>9}  {'p95 ms':>8}"
    )
    lines = [
        f"run {result.run_id}: {result.requests} requests, {result.screen_requests} need the "
        f"screen; {len(result.points)} threshold pairs; all-premium quality "
        f"{q(result.premium_quality)}, all-cheap {q(result.cheap_quality)}",
        "pareto pairs (one per distinct cost and quality, the highest thresholds):",
        header,
        *(row(p) for p in result.pareto(distinct=True)),
    ]
    best = result.recommend(target)
    lines.append(
        f"recommended for {target:.0%} of all-premium quality:"
        + (" none reaches it" if best is None else "\n" + header + "\n" + row(best))
    )
    if budget is not None:
        within = result.within_budget(budget)
        lines.append(
            f"best within {format_usd(budget)} per media hour:"
            + (" no pair is that cheap" if within is None else "\n" + header + "\n" + row(within))
        )
    return "\n".join(lines)


# --- A/B of two threshold pairs --------------------------------------------------------------


def pair_choice(
    data: dict[str, np.ndarray], vision_threshold: float, llm_threshold: float
) -> dict[str, np.ndarray]:
    """Each request's cost, quality and latency under one pair (the outcome it would take)."""
    screen = data["needs_screen"] > 0
    v_score = np.where(screen, np.nan_to_num(data["vision_score"], nan=-np.inf), -np.inf)
    vision = v_score >= vision_threshold
    llm = data["score"] >= llm_threshold
    out = {}
    for metric in ("cost", "quality", "latency"):
        cheap, premium = data[f"{metric}_cheap"], data[f"{metric}_premium"]
        cp = np.where(screen, data[f"{metric}_vcheap_lpremium"], premium)
        pc = np.where(screen, data[f"{metric}_vpremium_lcheap"], cheap)
        out[metric] = np.where(vision, np.where(llm, premium, pc), np.where(llm, cp, cheap))
    return out


def compare_pairs(
    ledger: Ledger,
    run_id: str,
    pair_a: tuple[float, float],
    pair_b: tuple[float, float],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> Any:  # ab.ABResult
    """Two (vision threshold, LLM threshold) pairs counterfactually on one ``--both-tiers`` run,
    paired by request (B − A with bootstrap intervals, as :func:`ab.compare_thresholds`)."""
    from assistant.analysis.ab import Sample, _processed_s, bootstrap_ab
    from assistant.ledger.queries import run_shared_cost_usd, run_summary

    summary = run_summary(ledger, run_id)
    data = grid_arrays(ledger, run_id)
    duration = _processed_s(ledger, run_id) or summary.media_duration_s
    shared = run_shared_cost_usd(ledger, run_id)
    keys = tuple(str(i) for i in range(data["score"].size))

    def arm(pair: tuple[float, float]) -> Sample:
        chosen = pair_choice(data, *pair)
        return Sample(
            label=f"vision {pair[0]:.2f} · LLM {pair[1]:.2f}",
            keys=keys,
            cost_usd=chosen["cost"],
            quality=chosen["quality"],
            latency_ms=chosen["latency"],
            shared_cost_usd=shared,
            media_hours=duration / 3600 if duration else None,
        )

    return bootstrap_ab(
        arm(pair_a),
        arm(pair_b),
        paired=True,
        resamples=resamples,
        seed=seed,
        pairing=f"paired by request ({len(keys)} requests of run {run_id}, every combination "
        "of tiers recorded)",
    )
