"""Threshold sweep over a ``--both-tiers`` run: any threshold's cost, quality and latency, offline.

A ``replay --both-tiers`` run records what each tier did for every request (``tier_outcomes``).
At threshold ``t`` a request goes premium when its score is ``>= t`` (as the threshold router does),
so its cost, quality and latency are those of that tier's outcome; no model is called here.

Cost per media hour adds the run's calls outside any request (transcription), which are the same
at every threshold. Mean quality is over the labelled requests only (those whose effective quality
is known: a reference, key facts or a grade, see ``assistant.ledger.queries.labels``); each point
says how many that is, never counting an unknown quality as 0.
Outcomes served from the answer cache cost nothing, so sweep the run that paid for the answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.core.errors import LedgerError
from assistant.core.money import format_usd
from assistant.routing import CHEAP, PREMIUM

if TYPE_CHECKING:
    from assistant.ledger.store import Ledger

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(i / 100, 2) for i in range(101))


@dataclass(frozen=True, slots=True)
class SweepPoint:
    threshold: float
    premium_share: float
    mean_quality: float | None  # over ``labelled`` requests
    labelled: int  # requests whose answer at this threshold has a known quality
    total_cost_usd: float  # requests at this threshold plus transcription
    cost_per_media_hour_usd: float | None
    p95_latency_ms: float
    abstained: int = 0  # requests whose answer at this threshold declined (not counted as ok)


@dataclass(frozen=True, slots=True)
class SweepResult:
    run_id: str
    requests: int
    media_duration_s: float | None
    points: tuple[SweepPoint, ...]
    premium_quality: float | None  # every request premium
    cheap_quality: float | None  # every request cheap
    premium_labelled: int = 0  # requests whose premium answer has a known quality
    cheap_labelled: int = 0

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
            "premium_labelled": self.premium_labelled,
            "cheap_labelled": self.cheap_labelled,
            "target_share_of_premium_quality": target_share_of_premium_quality,
            "recommended": None if best is None else asdict(best),
            "pareto_thresholds": [p.threshold for p in self.pareto()],
            "points": [asdict(p) for p in self.points],
        }


def _mean(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else None


def _outcomes(
    ledger: Ledger, run_id: str, scenario: str | None = None
) -> dict[str, np.ndarray]:
    """Score and each tier's cost, quality and latency per request (NULL quality as NaN); with
    ``scenario``, each tier's projected cost under that price scenario."""
    from assistant.ledger.queries import tier_outcomes_wide

    table = tier_outcomes_wide(ledger, run_id, scenario=scenario)
    return {
        name: table.column(name).to_numpy().astype(float, copy=False)
        for name in table.column_names
    }


def _lerp(a: float, b: float, gamma: float) -> float:
    """Linear interpolation between two order statistics, exactly as ``np.percentile`` does."""
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


class _SplitPercentile:
    """The ``q``-th percentile of the latencies in force when requests ``[0, k)`` (in score
    order) take their cheap latency and the rest their premium one, for ascending ``k``.

    Every latency goes into one of ~4,096 value bins (edges from a sample of all of them); a
    histogram of the latencies in force is updated with the requests that change tier, locates
    the bin of each order statistic, and only that bin's latencies are sorted. Exact, equal to
    ``np.percentile`` of the mixed latencies; each step costs the requests that moved plus one
    bin, not a pass over a million values.
    """

    BINS = 4096  # < 2**16: the bins sort by radix

    def __init__(self, cheap: np.ndarray, premium: np.ndarray, q: float) -> None:
        n = cheap.size
        self.n, self.q, self.k = n, q, 0
        self.values = np.concatenate([cheap, premium])
        sample = np.sort(self.values[:: max(1, self.values.size // (16 * self.BINS))])
        edges = np.unique(sample[np.linspace(0, sample.size - 1, self.BINS + 1).astype(int)])
        self.bins = np.searchsorted(edges[1:-1], self.values, side="right").astype(np.uint16)
        self.nbins = max(1, edges.size - 1)
        self.by_bin = np.argsort(self.bins, kind="stable")
        self.starts = np.searchsorted(self.bins[self.by_bin], np.arange(self.nbins + 1))
        self.hist = np.bincount(self.bins[n:], minlength=self.nbins)  # k = 0: all premium
        self.unknown = bool(np.isnan(self.values).any())  # as np.percentile: NaN in, NaN out

    def at(self, k: int) -> float:
        n = self.n
        if self.unknown:
            return float("nan")
        if k > self.k:  # requests self.k .. k-1 move from premium to cheap
            self.hist -= np.bincount(self.bins[n + self.k : n + k], minlength=self.nbins)
            self.hist += np.bincount(self.bins[self.k : k], minlength=self.nbins)
            self.k = k
        cumulative = np.cumsum(self.hist)
        index = self.q / 100 * (n - 1)
        lo = int(np.floor(index))
        low = self._kth(lo, cumulative)
        high = self._kth(min(lo + 1, n - 1), cumulative)
        return _lerp(low, high, index - lo)

    def _kth(self, rank: int, cumulative: np.ndarray) -> float:
        """The ``rank``-th smallest (0-based) latency in force."""
        b = int(np.searchsorted(cumulative, rank, side="right"))
        below = int(cumulative[b - 1]) if b > 0 else 0
        members = self.by_bin[self.starts[b] : self.starts[b + 1]]
        request = np.where(members < self.n, members, members - self.n)
        in_force = np.where(members < self.n, request < self.k, request >= self.k)
        return float(np.sort(self.values[members[in_force]])[rank - below])


def sweep(
    ledger: Ledger,
    run_id: str,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    scenario: str | None = None,
) -> SweepResult:
    """Every threshold's figures for ``run_id``; LedgerError if it has no tier outcomes.

    DuckDB pivots the two tiers' outcomes (one row per request); requests are sorted by score
    once, so a threshold splits them at one index: its cost and quality are prefix sums, and its
    p95 latency an update of a histogram by the requests that changed tier (``_SplitPercentile``).
    A 101-threshold sweep over a million requests is one query and a few passes over the arrays.

    ``scenario`` (a price scenario the run was projected under) sweeps projected costs instead
    of measured ones (transcription included); quality and latency stay as measured.
    """
    from assistant.ledger.queries import run_media_duration_s, run_shared_cost_usd

    duration = run_media_duration_s(ledger, run_id)
    data = _outcomes(ledger, run_id, scenario)
    n = data["score"].size
    if n == 0:
        raise LedgerError(
            f"run {run_id} has no tier outcomes; replay with --both-tiers first "
            "(python -m assistant replay DATASET --both-tiers)"
        )
    if (
        data["n_other"].any()
        or (data["n_cheap"] == 0).any()
        or (data["n_premium"] == 0).any()
        or np.isnan(data["cost_cheap"]).any()
        or np.isnan(data["cost_premium"]).any()
    ):
        raise LedgerError(f"run {run_id} lacks one tier's outcome for some of its requests")
    if (data["n_cheap"] > 1).any() or (data["n_premium"] > 1).any():
        raise LedgerError(f"run {run_id} has more than one outcome of a tier for some requests")

    order = np.argsort(data["score"])  # ties fall on the same side of every threshold
    score = data["score"][order]
    cost = {t: data[f"cost_{t}"][order] for t in (CHEAP, PREMIUM)}
    quality = {t: data[f"quality_{t}"][order] for t in (CHEAP, PREMIUM)}
    latency = {t: data[f"latency_{t}"][order] for t in (CHEAP, PREMIUM)}

    def prefix(values: np.ndarray) -> np.ndarray:  # prefix[k] = sum of values[:k]
        return np.concatenate(([0.0], np.cumsum(values)))

    cheap_cost, premium_cost = prefix(cost[CHEAP]), prefix(cost[PREMIUM])
    known = {t: ~np.isnan(quality[t]) for t in (CHEAP, PREMIUM)}
    cheap_q = prefix(np.where(known[CHEAP], quality[CHEAP], 0.0))
    premium_q = prefix(np.where(known[PREMIUM], quality[PREMIUM], 0.0))
    cheap_qn, premium_qn = prefix(known[CHEAP]), prefix(known[PREMIUM])
    declined = {
        t: np.nan_to_num(data.get(f"abstained_{t}", np.zeros(n))[order]) for t in (CHEAP, PREMIUM)
    }
    cheap_ab, premium_ab = prefix(declined[CHEAP]), prefix(declined[PREMIUM])
    shared = _shared_cost_usd(ledger, run_id, scenario) if scenario else run_shared_cost_usd(
        ledger, run_id
    )

    # at threshold t the requests before index k (score < t) are cheap, the rest premium
    ks = np.searchsorted(score, np.asarray(thresholds, dtype=float), side="left")
    points: list[SweepPoint | None] = [None] * len(ks)
    p95 = _SplitPercentile(latency[CHEAP], latency[PREMIUM], 95)
    for i in np.argsort(ks, kind="stable"):  # ascending k: requests only ever move to cheap
        k = int(ks[i])
        total = float(cheap_cost[k] + premium_cost[n] - premium_cost[k]) + shared
        rated = cheap_qn[k] + premium_qn[n] - premium_qn[k]
        points[i] = SweepPoint(
            threshold=float(thresholds[i]),
            premium_share=(n - k) / n,
            mean_quality=float((cheap_q[k] + premium_q[n] - premium_q[k]) / rated)
            if rated
            else None,
            labelled=int(rated),
            total_cost_usd=total,
            cost_per_media_hour_usd=total / duration * 3600 if duration else None,
            p95_latency_ms=p95.at(k),
            abstained=round(float(cheap_ab[k] + premium_ab[n] - premium_ab[k])),
        )
    return SweepResult(
        run_id=run_id,
        requests=n,
        media_duration_s=duration,
        points=tuple(p for p in points if p is not None),
        premium_quality=_mean(quality[PREMIUM]),
        cheap_quality=_mean(quality[CHEAP]),
        premium_labelled=int(known[PREMIUM].sum()),
        cheap_labelled=int(known[CHEAP].sum()),
    )


def _shared_cost_usd(ledger: Ledger, run_id: str, scenario: str) -> float:
    from assistant.ledger.queries.projection import run_projected_shared_cost_usd

    return run_projected_shared_cost_usd(ledger, run_id, scenario)


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
        f"{q(result.premium_quality)} ({result.premium_labelled} of {result.requests} labelled), "
        f"all-cheap {q(result.cheap_quality)} ({result.cheap_labelled} of {result.requests} "
        "labelled)",
        f"{'threshold':>9}  {'premium':>7}  {'quality':>7}  {'labelled':>8}  {'abstained':>9}  "
        f"{'cost USD':>10}  {'USD/hour':>9}  {'p95 ms':>8}",
    ]
    for p in rows:
        per_hour = (
            "n/a" if p.cost_per_media_hour_usd is None else f"{p.cost_per_media_hour_usd:.4f}"
        )
        mark = (" pareto" if id(p) in front_ids else "") + (" <- recommended" if p is best else "")
        lines.append(
            f"{p.threshold:>9.2f}  {p.premium_share:>7.0%}  {q(p.mean_quality):>7}  "
            f"{p.labelled:>8}  {p.abstained:>9}  {p.total_cost_usd:>10.6f}  {per_hour:>9}  "
            f"{p.p95_latency_ms:>8.0f}{mark}"
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
            f"{best.premium_share:.0%} premium, {format_usd(best.total_cost_usd)} "
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
