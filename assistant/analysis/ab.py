"""A/B of two samples of requests: cost per media hour, mean quality and p95 latency, with seeded
bootstrap 95% intervals on the differences B − A (:func:`compare_runs`, :func:`compare_thresholds`).

Two runs that replay the same questions are resampled *by question* (paired), otherwise each run's
requests are resampled on their own. Two thresholds on one ``--both-tiers`` run are always paired
by request (each request's outcome under either threshold is in ``tier_outcomes``). Every
comparison ends with a plain statement of whether the sample is large enough. No Streamlit here:
the page lays these out (through :mod:`assistant.views.lab`), the tests call them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from assistant.core.errors import LedgerError
from assistant.core.quality import ABSTAINED

if TYPE_CHECKING:
    import pandas as pd

    from assistant.ledger.store import Ledger

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

RESAMPLES = 2000
SEED = 0
Z95 = 1.96

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
    abstained: tuple[bool, ...] = ()  # per request: its answer declined (empty: not known)

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
            abstained=tuple(self.abstained[i] for i in idx) if self.abstained else (),
        )

    def abstentions(self) -> tuple[int, float | None, float | None]:
        """``(abstained requests, mean quality of the labelled answered ones, ... abstained
        ones)``; quality means are None where nothing is labelled."""
        if not self.abstained:
            return 0, _nanmean(self.quality), None
        mask = np.asarray(self.abstained, dtype=bool)
        return int(mask.sum()), _nanmean(self.quality[~mask]), _nanmean(self.quality[mask])

    @property
    def total_requests(self) -> int:
        return len(self.keys) if self.n_requests is None else self.n_requests


def _nanmean(values: FloatArray) -> float | None:
    known = values[~np.isnan(values)]
    return float(known.mean()) if known.size else None


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
        abstained=tuple(s == ABSTAINED for s in requests["status"])
        if "status" in requests
        else (),
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
    labelled_a: int = 0  # requests of A whose quality is known (mean quality is over these)
    labelled_b: int = 0
    # abstentions (answers that declined) per arm, and the mean quality of the labelled requests
    # that answered and of those that abstained
    abstained_a: int = 0
    abstained_b: int = 0
    answered_quality_a: float | None = None
    answered_quality_b: float | None = None
    abstained_quality_a: float | None = None
    abstained_quality_b: float | None = None

    @property
    def abstentions(self) -> str:
        """The abstentions of each arm and the quality of answered vs abstained, in words."""

        def q(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        return (
            f"abstained: A {self.abstained_a} of {self.n_a}, B {self.abstained_b} of {self.n_b}; "
            f"mean quality answered A {q(self.answered_quality_a)}, "
            f"B {q(self.answered_quality_b)}; abstained A {q(self.abstained_quality_a)}, "
            f"B {q(self.abstained_quality_b)}"
        )

    @property
    def labelled(self) -> str:
        """'n of m labelled' for each arm, in words."""
        return (
            f"mean quality over labelled requests: A {self.labelled_a} of {self.n_a}, "
            f"B {self.labelled_b} of {self.n_b} labelled"
        )

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
        labelled_a=int(np.count_nonzero(~np.isnan(a.quality))),
        labelled_b=int(np.count_nonzero(~np.isnan(b.quality))),
        **_abstention_fields(a, b),
    )


def _abstention_fields(a: Sample, b: Sample) -> dict[str, Any]:
    (na, qa, xa), (nb, qb, xb) = a.abstentions(), b.abstentions()
    return {
        "abstained_a": na,
        "abstained_b": nb,
        "answered_quality_a": qa,
        "answered_quality_b": qb,
        "abstained_quality_a": xa,
        "abstained_quality_b": xb,
    }


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
    from assistant.ledger.queries import run_media_processed_s

    return run_media_processed_s(ledger, run_id)


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
    declined: dict[str, np.ndarray] = {}
    if "status" in outcomes:
        status = outcomes.pivot(index="request_id", columns="tier", values="status")
        status = status.reindex(wide.index)
        declined = {t: (status[t] == ABSTAINED).to_numpy(dtype=bool) for t in ("cheap", "premium")}

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
            abstained=tuple(
                bool(x) for x in np.where(premium, declined["premium"], declined["cheap"])
            )
            if declined
            else (),
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
    scenario: str | None = None,
) -> ABResult:
    """Two router configurations (thresholds) counterfactually on one ``--both-tiers`` run,
    paired by request; with ``scenario``, costs are the run's projected costs under that price
    scenario (quality and latency as measured)."""
    from assistant.ledger.queries import run_shared_cost_usd, run_summary, run_tier_outcomes
    from assistant.ledger.queries.projection import run_projected_shared_cost_usd

    summary = run_summary(ledger, run_id)
    outcomes = run_tier_outcomes(ledger, run_id, scenario=scenario)
    if outcomes.empty:
        raise LedgerError(
            f"run {run_id} has no tier outcomes; replay with --both-tiers first "
            "(python -m assistant replay datasets/demo --stt recorded --both-tiers)"
        )
    a, b = threshold_samples(
        outcomes,
        threshold_a,
        threshold_b,
        shared_cost_usd=run_projected_shared_cost_usd(ledger, run_id, scenario)
        if scenario
        else run_shared_cost_usd(ledger, run_id),
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
