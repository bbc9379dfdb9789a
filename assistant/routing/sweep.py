"""Threshold sweep over a ``--both-tiers`` run: any threshold's cost, quality and latency, offline.

A ``replay --both-tiers`` run records what each tier did for every request (``tier_outcomes``).
At threshold ``t`` a request goes premium when its score is ``>= t`` (as the threshold router does),
so its cost, quality and latency are those of that tier's outcome; no model is called here.

Cost per media hour adds the run's calls outside any request (transcription), which are the same
at every threshold. Mean quality skips requests without a reference (as the run summary does).
Outcomes served from the answer cache cost nothing, so sweep the run that paid for the answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.errors import LedgerError
from assistant.routing import CHEAP, PREMIUM

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(i / 100, 2) for i in range(101))


@dataclass(frozen=True, slots=True)
class SweepPoint:
    threshold: float
    premium_share: float
    mean_quality: float | None
    total_cost_usd: float  # requests at this threshold plus transcription
    cost_per_media_hour_usd: float | None
    p95_latency_ms: float


@dataclass(frozen=True, slots=True)
class SweepResult:
    run_id: str
    requests: int
    media_duration_s: float | None
    points: tuple[SweepPoint, ...]
    premium_quality: float | None  # every request premium
    cheap_quality: float | None  # every request cheap

    def pareto(self) -> list[SweepPoint]:
        """Points no other point beats on both cost (lower) and quality (higher), cheapest first."""
        scored = [p for p in self.points if p.mean_quality is not None]
        front = [
            p
            for p in scored
            if not any(
                o.total_cost_usd <= p.total_cost_usd
                and (o.mean_quality or 0.0) >= (p.mean_quality or 0.0)
                and (
                    o.total_cost_usd < p.total_cost_usd
                    or (o.mean_quality or 0.0) > (p.mean_quality or 0.0)
                )
                for o in scored
            )
        ]
        return sorted(front, key=lambda p: (p.total_cost_usd, -p.threshold))

    def recommend(self, target_share_of_premium_quality: float = 0.95) -> SweepPoint | None:
        """The cheapest threshold whose mean quality reaches ``target`` x all-premium quality
        (ties: fewer premium requests, then the higher threshold); None without quality."""
        if self.premium_quality is None:
            return None
        goal = target_share_of_premium_quality * self.premium_quality
        meeting = [
            p for p in self.points if p.mean_quality is not None and p.mean_quality >= goal - 1e-12
        ]
        if not meeting:
            return None
        return min(meeting, key=lambda p: (p.total_cost_usd, p.premium_share, -p.threshold))

    def to_dict(self, target_share_of_premium_quality: float = 0.95) -> dict[str, Any]:
        best = self.recommend(target_share_of_premium_quality)
        return {
            "run_id": self.run_id,
            "requests": self.requests,
            "media_duration_s": self.media_duration_s,
            "premium_quality": self.premium_quality,
            "cheap_quality": self.cheap_quality,
            "target_share_of_premium_quality": target_share_of_premium_quality,
            "recommended": None if best is None else asdict(best),
            "pareto_thresholds": [p.threshold for p in self.pareto()],
            "points": [asdict(p) for p in self.points],
        }


def _mean(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else None


def sweep(
    ledger: Ledger, run_id: str, *, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> SweepResult:
    """Every threshold's figures for ``run_id``; LedgerError if it has no tier outcomes."""
    from assistant.ledger.queries import run_shared_cost_usd, run_summary, run_tier_outcomes

    summary = run_summary(ledger, run_id)  # LedgerError for an unknown run
    frame = run_tier_outcomes(ledger, run_id)
    if frame.empty:
        raise LedgerError(
            f"run {run_id} has no tier outcomes; replay with --both-tiers first "
            "(python -m assistant replay DATASET --both-tiers)"
        )
    wide = frame.pivot(
        index="request_id", columns="tier", values=["cost_usd", "quality", "latency_ms"]
    )
    if set(frame["tier"]) != {CHEAP, PREMIUM} or wide["cost_usd"].isna().to_numpy().any():
        raise LedgerError(f"run {run_id} lacks one tier's outcome for some of its requests")
    score = frame.groupby("request_id")["score"].first().reindex(wide.index).to_numpy(dtype=float)

    def column(name: str, tier: str) -> np.ndarray:
        return wide[(name, tier)].to_numpy(dtype=float, na_value=np.nan)

    cost = {t: column("cost_usd", t) for t in (CHEAP, PREMIUM)}
    quality = {t: column("quality", t) for t in (CHEAP, PREMIUM)}
    latency = {t: column("latency_ms", t) for t in (CHEAP, PREMIUM)}
    shared = run_shared_cost_usd(ledger, run_id)
    duration = summary.media_duration_s

    points = []
    for t in thresholds:
        premium = score >= t
        total = float(np.where(premium, cost[PREMIUM], cost[CHEAP]).sum()) + shared
        points.append(
            SweepPoint(
                threshold=float(t),
                premium_share=float(premium.mean()),
                mean_quality=_mean(np.where(premium, quality[PREMIUM], quality[CHEAP])),
                total_cost_usd=total,
                cost_per_media_hour_usd=total / duration * 3600 if duration else None,
                p95_latency_ms=float(
                    np.percentile(np.where(premium, latency[PREMIUM], latency[CHEAP]), 95)
                ),
            )
        )
    return SweepResult(
        run_id=run_id,
        requests=len(wide),
        media_duration_s=duration,
        points=tuple(points),
        premium_quality=_mean(quality[PREMIUM]),
        cheap_quality=_mean(quality[CHEAP]),
    )


def format_sweep(result: SweepResult, *, target: float = 0.95, step: float = 0.05) -> str:
    """A compact table (every ``step`` plus the recommendation), the Pareto set, one sentence."""
    best = result.recommend(target)
    front = result.pareto()
    front_ids = {id(p) for p in front}
    rows = [
        p
        for p in result.points
        if abs(p.threshold / step - round(p.threshold / step)) < 1e-9 or p is best
    ]

    def q(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"run {result.run_id}: {result.requests} requests; all-premium quality "
        f"{q(result.premium_quality)}, all-cheap {q(result.cheap_quality)}",
        f"{'threshold':>9}  {'premium':>7}  {'quality':>7}  {'cost USD':>10}  "
        f"{'USD/hour':>9}  {'p95 ms':>8}",
    ]
    for p in rows:
        per_hour = (
            "n/a" if p.cost_per_media_hour_usd is None else f"{p.cost_per_media_hour_usd:.4f}"
        )
        mark = (" pareto" if id(p) in front_ids else "") + (" <- recommended" if p is best else "")
        lines.append(
            f"{p.threshold:>9.2f}  {p.premium_share:>7.0%}  {q(p.mean_quality):>7}  "
            f"{p.total_cost_usd:>10.6f}  {per_hour:>9}  {p.p95_latency_ms:>8.0f}{mark}"
        )
    lines.append("pareto thresholds: " + (_ranges([p.threshold for p in front]) or "none"))
    if best is None:
        lines.append(
            f"no threshold reaches {target:.0%} of all-premium quality "
            "(or the run has no quality references)"
        )
    else:
        lines.append(
            f"recommended: threshold {best.threshold:.2f} is the cheapest reaching {target:.0%} of "
            f"all-premium quality ({q(best.mean_quality)} vs {q(result.premium_quality)}), "
            f"{best.premium_share:.0%} premium, ${best.total_cost_usd:.6f} "
            f"(p95 {best.p95_latency_ms:.0f} ms)"
        )
    return "\n".join(lines)


def _ranges(values: list[float]) -> str:
    """[0.1, 0.11, 0.12, 0.5] -> "0.10-0.12, 0.50" (consecutive 0.01 steps joined)."""
    runs: list[list[float]] = []
    for v in sorted(values):
        if runs and abs(v - runs[-1][-1] - 0.01) < 1e-9:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(f"{r[0]:.2f}" if len(r) == 1 else f"{r[0]:.2f}-{r[-1]:.2f}" for r in runs)
