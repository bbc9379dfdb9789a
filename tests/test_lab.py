"""assistant.analysis (ab, offpolicy, benchmark) on small constructed inputs: bootstrap A/B, pairing, IPW, external benchmark."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assistant.analysis.ab import (
    Sample,
    bootstrap_ab,
    compare_samples,
    needed_requests,
    pair_samples,
    threshold_samples,
)
from assistant.analysis.offpolicy import EXPLORE_HINT, _ipw_arrays, ipw_curve
from assistant.analysis.routing_eval import evaluate, external_benchmark, load_suite
from assistant.routing.calibration import ipw_estimate
from assistant.views.lab import read_benchmark


def _sample(
    quality: np.ndarray,
    *,
    label: str = "arm",
    keys: list[str] | None = None,
    cost: np.ndarray | None = None,
    latency: np.ndarray | None = None,
    shared: float = 0.0,
    hours: float | None = 1.0,
) -> Sample:
    n = len(quality)
    return Sample(
        label=label,
        keys=tuple(keys if keys is not None else [f"q{i}" for i in range(n)]),
        cost_usd=np.full(n, 0.01) if cost is None else cost,
        quality=np.asarray(quality, dtype=float),
        latency_ms=np.full(n, 100.0) if latency is None else latency,
        shared_cost_usd=shared,
        media_hours=hours,
    )


def _metric(result: object, name: str) -> object:
    return next(m for m in result.metrics if m.metric == name)  # type: ignore[attr-defined]


# --- A/B ---------------------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_true_difference_and_excludes_zero() -> None:
    rng = np.random.default_rng(1)
    a = _sample(rng.normal(0.50, 0.1, 400), label="A")
    b = _sample(rng.normal(0.60, 0.1, 400), label="B", keys=[f"b{i}" for i in range(400)])
    result = bootstrap_ab(a, b, paired=False, resamples=1000, seed=3)
    quality = _metric(result, "mean_quality")
    assert quality.diff == pytest.approx(b.quality.mean() - a.quality.mean())
    assert quality.low < 0.10 < quality.high  # the true difference
    assert quality.low > 0 and quality.excludes_zero
    assert quality.verdict.startswith("B is better")
    assert "large enough for mean quality" in result.statement
    assert not result.paired and result.n_a == result.n_b == 400


def test_a_small_effect_on_few_requests_is_not_enough_and_says_how_many() -> None:
    rng = np.random.default_rng(2)
    a = _sample(rng.normal(0.50, 0.3, 20))
    b = _sample(rng.normal(0.52, 0.3, 20), keys=[f"b{i}" for i in range(20)])
    result = bootstrap_ab(a, b, paired=False, resamples=1000)
    quality = _metric(result, "mean_quality")
    assert quality.low < 0 < quality.high and not quality.excludes_zero
    assert quality.needed_n is not None and quality.needed_n > 20
    assert f"about {quality.needed_n} requests per arm" in result.statement
    assert "not large enough" in result.statement and "With 20 requests" in result.statement


def test_the_same_seed_gives_the_same_interval() -> None:
    rng = np.random.default_rng(3)
    a, b = _sample(rng.random(30)), _sample(rng.random(30), keys=[f"x{i}" for i in range(30)])
    first = bootstrap_ab(a, b, paired=False, resamples=200, seed=7)
    again = bootstrap_ab(a, b, paired=False, resamples=200, seed=7)
    assert first.table().equals(again.table())
    other = bootstrap_ab(a, b, paired=False, resamples=200, seed=8)
    bounds = ["low", "high"]
    assert not other.table()[bounds].equals(first.table()[bounds])  # the seed is used
    assert np.isfinite(first.table()[bounds].to_numpy(dtype=float)).all()


def test_runs_with_the_same_questions_are_paired_and_pairing_narrows_the_interval() -> None:
    rng = np.random.default_rng(4)
    difficulty = rng.uniform(0.0, 0.9, 40)  # questions differ a lot ...
    a = _sample(difficulty, label="A")
    order = rng.permutation(40)  # ... B asked them in another order
    b = _sample(
        (difficulty + 0.05)[order], label="B", keys=[f"q{i}" for i in order]
    )  # ... and B is a little better on every one
    result = compare_samples(a, b, resamples=1000)
    assert result.paired and "paired by question id (40 questions" in result.pairing
    quality = _metric(result, "mean_quality")
    assert quality.diff == pytest.approx(0.05)
    assert quality.excludes_zero  # every pair moves by +0.05
    unpaired = bootstrap_ab(a, b, paired=False, resamples=1000)
    assert not _metric(unpaired, "mean_quality").excludes_zero  # lost in between-question spread
    assert "questions per arm" not in result.statement  # nothing unclear about quality


def test_runs_without_shared_questions_are_unpaired() -> None:
    a = _sample(np.array([0.1, 0.2, 0.3]))
    b = _sample(np.array([0.4, 0.5, 0.6]), keys=["x", "y", "z"])
    assert pair_samples(a, b) is None
    result = compare_samples(a, b, resamples=100)
    assert not result.paired and result.pairing.startswith("unpaired")


def test_pairing_keeps_only_common_questions_and_says_so() -> None:
    a = _sample(np.array([0.1, 0.2, 0.3, 0.4]), keys=["q1", "q2", "q3", "q4"])
    b = _sample(np.array([0.9, 0.5, 0.6]), keys=["q9", "q3", "q2"])
    pa, pb = pair_samples(a, b) or (None, None)
    assert pa is not None and pb is not None
    assert pa.keys == pb.keys == ("q2", "q3")
    assert list(pa.quality) == [0.2, 0.3] and list(pb.quality) == [0.6, 0.5]
    assert pa.total_requests == 4 and pb.total_requests == 3  # cost per hour still scales
    assert (
        "3 requests asked in one run only are left out"
        in compare_samples(a, b, resamples=50).pairing
    )


def test_cost_per_media_hour_scales_resampled_requests_and_keeps_transcription() -> None:
    cost = np.array([1.0, 2.0, 3.0, 6.0])
    a = _sample(np.zeros(4), cost=cost, shared=10.0, hours=0.5)
    b = _sample(np.zeros(4), cost=cost * 2, shared=10.0, hours=0.5)
    result = bootstrap_ab(a, b, paired=True, resamples=500)
    per_hour = _metric(result, "cost_per_media_hour_usd")
    assert per_hour.a == pytest.approx((10 + 12) / 0.5)
    assert per_hour.b == pytest.approx((10 + 24) / 0.5)
    assert per_hour.low > 0  # doubling every request's cost is always more
    no_duration = bootstrap_ab(
        _sample(np.zeros(4), cost=cost, hours=None), b, paired=True, resamples=50
    )
    assert _metric(no_duration, "cost_per_media_hour_usd").title == "cost per request (USD)"


def test_p95_latency_is_numpy_linear_percentile() -> None:
    latency = np.arange(1.0, 21.0) * 100
    a = _sample(np.zeros(20), latency=latency)
    b = _sample(np.zeros(20), latency=latency + 50)
    result = bootstrap_ab(a, b, paired=True, resamples=200)
    p95 = _metric(result, "p95_latency_ms")
    assert p95.a == pytest.approx(np.percentile(latency, 95))
    assert p95.diff == pytest.approx(50.0)


def test_needed_requests_grows_with_noise_and_shrinks_with_effect() -> None:
    assert needed_requests(n=20, sd=0.1, effect=0.196) == 20  # (1.96 * 0.1 / 0.196)^2 * 20
    assert needed_requests(n=20, sd=0.2, effect=0.196) == 80
    assert needed_requests(n=20, sd=0.1, effect=0.392) == 5
    assert needed_requests(n=20, sd=0.1, effect=0.0) is None


def test_bootstrap_refuses_empty_or_misaligned_arms() -> None:
    with pytest.raises(ValueError):
        bootstrap_ab(_sample(np.array([])), _sample(np.array([0.1])), paired=False)
    with pytest.raises(ValueError):
        bootstrap_ab(_sample(np.array([0.1, 0.2])), _sample(np.array([0.1])), paired=True)


def _outcomes() -> pd.DataFrame:
    rows = []
    for i, score in enumerate([0.1, 0.4, 0.7, 0.9]):
        rows.append((f"r{i}", score, "cheap", 1.0, 0.0 + i * 0.1, 10.0))
        rows.append((f"r{i}", score, "premium", 5.0, 1.0, 100.0 + i))
    return pd.DataFrame(
        rows, columns=["request_id", "score", "tier", "cost_usd", "quality", "latency_ms"]
    )


def test_two_thresholds_take_each_requests_outcome_for_its_tier() -> None:
    a, b = threshold_samples(_outcomes(), 0.5, 0.0, shared_cost_usd=2.0, media_duration_s=3600)
    assert list(a.cost_usd) == [1.0, 1.0, 5.0, 5.0] and list(b.cost_usd) == [5.0] * 4
    assert list(a.quality) == pytest.approx([0.0, 0.1, 1.0, 1.0])
    assert a.keys == b.keys and a.media_hours == 1.0
    result = bootstrap_ab(a, b, paired=True, resamples=200)
    assert _metric(result, "cost_per_media_hour_usd").diff == pytest.approx((2 + 20) - (2 + 12))
    assert _metric(result, "mean_quality").diff == pytest.approx(1.0 - 0.525)
    assert "50% premium" in a.label and "100% premium" in b.label


# --- From live traffic -------------------------------------------------------------------------


def _requests(n: int, *, explore: float, threshold: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Logged traffic: quality is 1 on premium, and 1 on cheap only for scores below 0.3."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        score = float(rng.random())
        policy_premium = score >= threshold
        explored = bool(rng.random() < explore)
        premium = bool(rng.random() < 0.5) if explored else policy_premium
        p_premium = (1 - explore) * float(policy_premium) + explore / 2
        rows.append(
            {
                "request_id": f"r{i}",
                "question_id": f"q{i}",
                "score": score,
                "tier": "premium" if premium else "cheap",
                "explored": explored,
                "propensity": p_premium if premium else 1 - p_premium,
                "quality": 1.0 if premium or score < 0.3 else 0.0,
                "total_cost_usd": 2.0 if premium else 1.0,
                "threshold": threshold,
            }
        )
    return pd.DataFrame(rows)


def test_ipw_without_explored_requests_says_how_to_get_them() -> None:
    curve = ipw_curve(_requests(50, explore=0.0), run_id="plain")
    assert curve.points is None and curve.explored == 0
    assert curve.message is not None
    assert "no explored requests" in curve.message and "explore_share" in curve.message
    assert EXPLORE_HINT in curve.message


def test_ipw_recovers_another_thresholds_quality_within_its_interval() -> None:
    logged = _requests(3000, explore=0.3, threshold=0.5, seed=5)
    curve = ipw_curve(logged, run_id="x", thresholds=[0.3, 0.5, 0.8], resamples=300)
    assert curve.message is None and curve.points is not None
    assert curve.logged_threshold == 0.5 and curve.explored > 0
    truth = {0.3: 1.0, 0.5: 1 - 0.2, 0.8: 1 - 0.5}  # cheap fails on scores in [0.3, t)
    for row in curve.points.itertuples():
        assert row.quality_low <= truth[row.threshold] <= row.quality_high, row
        assert row.quality == pytest.approx(truth[row.threshold], abs=0.05)
        assert 0 < row.effective_n <= row.matched


def test_vectorised_bootstrap_matches_ipw_estimate_on_the_whole_sample() -> None:
    logged = _requests(200, explore=0.4, seed=6)
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    whole = np.arange(len(logged))[None, :]
    q = _ipw_arrays(
        logged["score"].to_numpy(),
        (logged["tier"] == "premium").to_numpy(),
        logged["propensity"].to_numpy(),
        logged["quality"].to_numpy(),
        grid,
        whole,
    )[0]
    records = logged.to_dict("records")
    for value, t in zip(q, grid, strict=True):
        assert value == pytest.approx(ipw_estimate(records, float(t)).quality)


def test_ipw_cost_per_media_hour_uses_the_runs_request_count() -> None:
    logged = _requests(400, explore=0.5, seed=7)
    curve = ipw_curve(
        logged, thresholds=[0.0], shared_cost_usd=5.0, media_duration_s=1800, resamples=100
    )
    assert curve.points is not None
    row = curve.points.iloc[0]
    assert row["cost_usd"] == pytest.approx(2.0)  # all premium
    assert row["cost_per_media_hour_usd"] == pytest.approx((5.0 + 400 * 2.0) / 0.5)


# --- External benchmark ------------------------------------------------------------------------


def _suite_csv(path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(8)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item_id", "suite", "turn", "prompt", "weak_score", "strong_score"])
        for i in range(n):
            hard = i % 2 == 0
            prompt = ("Prove and explain step by step why " if hard else "What is ") + f"item {i}?"
            weak = 0.0 if hard and rng.random() < 0.8 else 1.0
            writer.writerow([f"t-{i}", "toy", 1, prompt * (3 if hard else 1), weak, 1.0])
    return path


def test_external_benchmark_curves_go_from_weak_to_strong_and_the_oracle_leads(
    tmp_path: Path,
) -> None:
    path = _suite_csv(tmp_path / "toy.csv")
    view = external_benchmark([path], routers=("length", "heuristic"), draws=20, grid=11)
    suite = load_suite(path)
    assert view.suites == ("toy",)
    assert set(view.curves["router"]) == {"length", "heuristic", "oracle", "random"}
    for _, curve in view.curves.groupby("router"):
        assert len(curve) == 11
        assert curve["quality"].iloc[0] == pytest.approx(suite.weak.mean())
        assert curve["quality"].iloc[-1] == pytest.approx(suite.strong.mean())
    table = view.table.set_index("router")
    assert list(view.table["router"]) == ["length", "heuristic", "random", "oracle"]
    assert table.loc["oracle", "apgr"] >= table[["apgr"]].drop(index="oracle").max().item()
    assert table.loc["random", "apgr"] == pytest.approx(0.5, abs=0.15)
    assert table.loc["random", "apgr_sd"] > 0
    oracle = evaluate(suite.strong - suite.weak, suite.weak, suite.strong)
    assert table.loc["oracle", "apgr"] == pytest.approx(oracle.apgr)


def test_benchmark_without_csvs_says_where_to_put_them(tmp_path: Path) -> None:
    view = read_benchmark([])
    assert view.data is None and "routellm" in (view.message or "")
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,prompt\nx,hello\n", encoding="utf-8")
    broken = read_benchmark([bad])
    assert broken.data is None and "weak_score" in (broken.message or "")
